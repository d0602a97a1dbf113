"""The conditioning vector every model receives, and the per-bar attributes in it.

Its layout is derived from the style's state names (and, for attribute-controlled
models, the attribute names and groove count), stored by name in each model's
manifest entry, and rebuilt by the runtime from those names, so both sides agree
without sharing code paths beyond this module.

Attribute control (as in FIGARO / MuseMorphose): in training every bar is
conditioned on attributes measured from that bar of its own stem (note density,
polyphony, mean velocity, register, rhythmic activity), each expressed as its
rank among all bars of that role in the corpus (0 = the sparsest bar, 1 = the
busiest). At run time the game's intensity, valence and arousal become target
ranks through the mapping stored in the model's ``meta["attributes"]``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from ._music import CHORDS, Note

__all__ = [
    "condition_features",
    "encode_condition",
    "bar_attributes",
    "attribute_targets",
    "arousal_shift",
    "rank_table",
    "ranks_of",
    "ATTRIBUTES",
    "PHRASE_BARS",
]

PHRASE_BARS = 4
# Per-bar attributes, measured on one stem's notes (see bar_attributes).
ATTRIBUTES: tuple[str, ...] = ("density", "polyphony", "velocity", "register", "activity")
QUANTILES = 21  # points of each attribute's stored quantile table (0%, 5%, ..., 100%)


def condition_features(
    states: Sequence[str], attributes: Sequence[str] | None = None, grooves: int = 0
) -> list[str]:
    """Feature names, in order.

    Without ``attributes`` (the harmony model and older bundles): intensity,
    valence, state:*, chord_root:*, chord_minor, phrase_bar:*. With them:
    attr:* replaces intensity, and ``grooves`` > 0 appends groove:0..grooves-1.
    """
    names = ["intensity"] if attributes is None else [f"attr:{a}" for a in attributes]
    names += ["valence"]
    names += [f"state:{s}" for s in states]
    names += [f"chord_root:{r}" for r in range(12)]
    names += ["chord_minor"]
    names += [f"phrase_bar:{b}" for b in range(PHRASE_BARS)]
    names += [f"groove:{g}" for g in range(grooves)]
    return names


def encode_condition(
    features: Sequence[str],
    *,
    intensity: float,
    valence: float,
    state: str,
    chord: int,
    bar_index: int,
    attributes: Mapping[str, float] | None = None,
    groove: int = -1,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Fill a float32 vector for ``features``; ``chord`` is an index into CHORDS.

    ``attributes`` maps attribute names to ranks in [0, 1]; a missing one is 0.5.
    """
    vector = np.zeros(len(features), dtype=np.float32) if out is None else out
    vector[:] = 0.0
    chord_value = CHORDS[chord] if 0 <= chord < len(CHORDS) else None
    active = {
        f"state:{state}",
        f"phrase_bar:{bar_index % PHRASE_BARS}",
        f"groove:{groove}",
    }
    if chord_value is not None:
        active.add(f"chord_root:{chord_value.root}")
    for i, name in enumerate(features):
        if name == "intensity":
            vector[i] = intensity
        elif name == "valence":
            vector[i] = valence
        elif name == "chord_minor":
            vector[i] = 1.0 if chord_value is not None and chord_value.quality == "min" else 0.0
        elif name.startswith("attr:"):
            vector[i] = 0.5 if attributes is None else attributes.get(name[5:], 0.5)
        elif name in active:
            vector[i] = 1.0
    return vector


def bar_attributes(notes: Iterable[Note], steps_per_bar: int, drums: bool = False) -> np.ndarray:
    """The ATTRIBUTES of one stem's bar, raw (before ranking).

    density: notes in the bar; polyphony: notes per distinct onset step;
    velocity: mean velocity (0..127); register: mean pitch (drums: the share of
    kick and tom hits, the low voices); activity: share of steps with an onset.
    An empty bar has zeros, except register which is NaN (no pitch to measure).
    """
    items = [n for n in notes if n.start < steps_per_bar]
    if not items:
        return np.array([0.0, 0.0, 0.0, np.nan, 0.0])
    onsets = {n.start for n in items}
    if drums:
        register = float(np.mean([n.pitch in (35, 36, 41, 43, 45, 47, 48, 50) for n in items]))
    else:
        register = float(np.mean([n.pitch for n in items]))
    return np.array(
        [
            float(len(items)),
            len(items) / len(onsets),
            float(np.mean([n.velocity for n in items])),
            register,
            len(onsets) / steps_per_bar,
        ]
    )


def _playing(values: np.ndarray) -> np.ndarray:
    """Rows of bars where the stem plays (density > 0)."""
    return np.asarray(values, dtype=np.float64)[:, 0] > 0


def rank_table(values: np.ndarray) -> list[list[float]]:
    """Per attribute (column), the QUANTILES-point quantile table of the finite values
    of the bars where the stem plays (a whole-bar rest is not a sparse bar)."""
    values = np.asarray(values, dtype=np.float64)
    playing = _playing(values)
    if playing.any():
        values = values[playing]
    table = []
    for column in values.T:
        finite = column[np.isfinite(column)]
        if finite.size == 0:
            finite = np.zeros(1)
        table.append([float(q) for q in np.quantile(finite, np.linspace(0, 1, QUANTILES))])
    return table


def ranks_of(values: np.ndarray, corpus: np.ndarray) -> np.ndarray:
    """Mid-ranks in [0, 1] of ``values`` [N, A] within ``corpus`` [M, A], per column.

    Bars are ranked among the corpus' bars where the stem plays: a whole-bar rest
    is the stem sitting out (arrangement), not its sparsest bar, so it ranks 0 on
    density and activity and 0.5 on what it cannot measure (polyphony, velocity,
    register). Otherwise a style whose melody rests half the time would spend
    half its intensity range asking for silence. Ties share the middle of their
    rank range. NaN (nothing to measure) gets 0.5.
    """
    values = np.asarray(values, dtype=np.float64)
    corpus = np.asarray(corpus, dtype=np.float64)
    if _playing(corpus).any():
        corpus = corpus[_playing(corpus)]
    out = np.full(values.shape, 0.5)
    for a in range(values.shape[1]):
        column = np.sort(corpus[:, a][np.isfinite(corpus[:, a])])
        if column.size == 0:
            continue
        finite = np.isfinite(values[:, a])
        lo = np.searchsorted(column, values[finite, a], side="left")
        hi = np.searchsorted(column, values[finite, a], side="right")
        out[finite, a] = (lo + hi) / (2.0 * column.size)
    resting = ~_playing(values)
    out[resting] = 0.5
    out[resting, 0] = 0.0
    if values.shape[1] == len(ATTRIBUTES):
        out[resting, ATTRIBUTES.index("activity")] = 0.0
    return out


def arousal_shift(spec: Mapping[str, Any], arousal: float) -> float:
    """How far a mood's arousal moves intensity-driven targets (see attribute_targets)."""
    return float(spec.get("arousal_shift", 0.0)) * (arousal - 0.5)


def attribute_targets(
    spec: Mapping[str, Any], intensity: float, valence: float, arousal: float = 0.5
) -> dict[str, float]:
    """Target attribute ranks for a bar, from a model's ``meta["attributes"]``.

    ``spec["control"][name] = [at_zero, at_one, driver]``: the target rank moves
    linearly from ``at_zero`` to ``at_one`` as the driver ("intensity" or
    "valence") goes 0 -> 1. ``[at_zero, at_one, driver, knee, at_knee]`` bends the
    line at ``knee``: 0 -> knee runs from ``at_zero`` to ``at_knee``, knee -> 1 from
    ``at_knee`` to ``at_one`` (a stem that fades in at ``knee`` spends the span of the
    sources on the intensities where it is heard). ``spec["arousal_shift"]`` moves
    every intensity-driven attribute up by that much per unit of arousal above 0.5
    (so a driving mood is busier at the same intensity).
    """
    shift = arousal_shift(spec, arousal)
    targets: dict[str, float] = {}
    for name, line in spec.get("control", {}).items():
        at_zero, at_one, driver = float(line[0]), float(line[1]), line[2]
        x = min(1.0, max(0.0, valence if driver == "valence" else intensity))
        knee = float(line[3]) if len(line) >= 5 else 0.0
        if 0.0 < knee < 1.0:
            at_knee = float(line[4])
            if x < knee:
                value = at_zero + (at_knee - at_zero) * x / knee
            else:
                value = at_knee + (at_one - at_knee) * (x - knee) / (1.0 - knee)
        else:
            value = at_zero + (at_one - at_zero) * x
        if driver == "intensity":
            value += shift
        targets[name] = min(1.0, max(0.0, value))
    return targets
