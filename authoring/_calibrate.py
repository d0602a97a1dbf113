"""Calibrate a melody or bass model's soft scale prior against its sources, at bake.

The model's logits already carry the sources' pitch classes; temperature,
nucleus sampling and the chord-tone bias then decide how many chromatic notes
get through, and that share is not the sources' (nucleus sampling alone cuts
the rare chromatic tail). So the bake measures it: it plays the exported ONNX
model through the runtime's own sampler (``runtime.generators.SequenceGenerator``)
on the sources' chord progressions, states and moods, at intensities spread
over the range where the stem is heard, and finds (a scan, then bisection) the logit
offset for the style's chromatic pitch classes (those outside the seven the
role's sources use most) at which the generated bars' mean scale consistency
(share of a bar's notes in its best-fitting major scale, as ``adaptive
evaluate`` measures it) equals the sources'. Common random numbers (the same
seeds at every offset) keep the search stable.

The offset and what it was fitted to go in ``meta["sampling"]``: ``chromatic``
(pitch classes), ``chromatic_offset`` (logits) and ``calibration``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from adaptive._bundle import ModelEntry
from adaptive._music import MAJOR_SCALE, Note

__all__ = ["ScaleTarget", "scale_consistency", "scale_target", "calibrated"]

RUNS = 24  # renders per offset tried
BARS = 16  # bars per render
GRID = (-4.0, -2.0, 0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0)  # offsets scanned, lowest first
BISECTIONS = 4  # then halvings between the two grid points around the target


def scale_consistency(pitches: Sequence[int]) -> float:
    """Share of the notes in the best-fitting major scale (nan without notes)."""
    if not pitches:
        return float("nan")
    histogram = np.bincount(np.asarray(pitches) % 12, minlength=12)
    return float(
        max(sum(histogram[(t + s) % 12] for s in MAJOR_SCALE) for t in range(12)) / histogram.sum()
    )


@dataclass(frozen=True)
class ScaleTarget:
    """What the sampler is calibrated to: plain data, so a worker process can take it."""

    consistency: float  # mean per-bar scale consistency of the sources' bars with notes
    chromatic: tuple[int, ...]  # pitch classes outside the seven the sources use most
    runs: tuple[tuple[str, float, float, tuple[int, ...]], ...]  # (state, valence, arousal, chords)
    heard_from: float  # the intensity from which the stem is faded in


def scale_target(
    bars: Sequence[Sequence[Note]],
    runs: Sequence[tuple[str, float, float, Sequence[int]]],
    heard_from: float,
) -> ScaleTarget:
    """The target for one role from its source bars (key-normalized) and chord runs."""
    values = [scale_consistency([n.pitch for n in bar]) for bar in bars if bar]
    histogram = np.bincount([n.pitch % 12 for bar in bars for n in bar], minlength=12)
    common = set(np.argsort(-histogram, kind="stable")[:7].tolist())
    return ScaleTarget(
        consistency=float(np.mean(values)) if values else 1.0,
        chromatic=tuple(pc for pc in range(12) if pc not in common),
        runs=tuple((s, float(v), float(a), tuple(c)) for s, v, a, c in runs if c),
        heard_from=float(heard_from),
    )


def _measure(entry: ModelEntry, target: ScaleTarget, offset: float) -> float:
    from adaptive._tokens import Vocabulary
    from runtime.generators import Conditions, OnnxModel, SequenceGenerator

    sampling = {**entry.meta.get("sampling", {}), "chromatic": list(target.chromatic)}
    sampling["chromatic_offset"] = offset
    model = OnnxModel(replace(entry, meta={**entry.meta, "sampling": sampling}))
    spb = int(entry.meta.get("steps_per_bar", 16))
    generator = SequenceGenerator(model, Vocabulary.default(), spb)
    values = []
    for k in range(RUNS):
        state, valence, arousal, chords = target.runs[k % len(target.runs)]
        intensity = target.heard_from + (1.0 - target.heard_from) * (k + 0.5) / RUNS
        rng = np.random.default_rng((7, k))
        start = int(rng.integers(len(chords)))
        context = generator.initial_context()
        for b in range(BARS):
            chord = chords[(start + b) % len(chords)]
            conditions = Conditions(intensity, valence, state, chord, b, arousal)
            notes, context = generator.generate_bar(context, rng, conditions)
            if notes:
                values.append(scale_consistency([n.pitch for n in notes]))
    return float(np.mean(values)) if values else 1.0


def calibrated(entry: ModelEntry, target: ScaleTarget | None) -> ModelEntry:
    """``entry`` with the chromatic offset at which it matches ``target`` in its meta."""
    if target is None or not target.runs or not target.chromatic:
        return entry
    # Consistency falls as the offset rises, until chromatic notes become so many
    # that they form a scale of their own (the five black keys fit F# major): so scan
    # up from the lowest offset to the first that reaches the target, then bisect.
    measured: dict[float, float] = {}
    lo = GRID[0]
    measured[lo] = _measure(entry, target, lo)
    hi = None
    for offset in GRID[1:]:
        measured[offset] = _measure(entry, target, offset)
        if measured[offset] <= target.consistency:
            hi = offset
            break
        lo = offset
    if hi is not None and measured[lo] > target.consistency:
        for _ in range(BISECTIONS):
            mid = 0.5 * (lo + hi)
            measured[mid] = _measure(entry, target, mid)
            if measured[mid] > target.consistency:
                lo = mid
            else:
                hi = mid
    best = min(measured, key=lambda o: abs(measured[o] - target.consistency))
    sampling: dict[str, Any] = dict(entry.meta.get("sampling", {}))
    sampling.update(
        chromatic=list(target.chromatic),
        chromatic_offset=round(best, 4),
        calibration={
            "scale_consistency_sources": round(target.consistency, 4),
            "scale_consistency_generated": round(measured[best], 4),
            "bars": RUNS * BARS,
        },
    )
    return replace(entry, meta={**entry.meta, "sampling": sampling})


def uncalibrated(meta: Mapping[str, Any]) -> dict[str, Any]:
    """``meta`` without what ``calibrated`` added (to tell whether a calibration still holds)."""
    out = dict(meta)
    if "sampling" in out:
        sampling = dict(out["sampling"])
        for key in ("chromatic", "chromatic_offset", "calibration"):
            sampling.pop(key, None)
        out["sampling"] = sampling
    return out
