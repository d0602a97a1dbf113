"""Calibrate a melody or bass model's sampling against its sources, at bake: the
interval prior's weight, the soft scale prior's chromatic offset, then the motif
memory's replay chance.

First the weight of the interval prior (the sources' leap histogram, see
``runtime.generators._sequence``) is set so that the generated bars' mean melodic
interval (as ``adaptive evaluate`` measures it) equals the sources': a small
model trained briefly leaps more than its sources, and how much more differs per
style. It is scanned over ``LEAP_GRID`` and interpolated.

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

Then the motif memory (``motif_copy``, the chance a bar replays the bar it
answers in the phrase, see ``runtime.generators._sequence``) is set so that the
generated line's 4-gram repetition equals the sources' over windows of
``BARS`` bars: game music built of loops gets loops, through-composed music
does not. It is scanned over ``COPY_GRID`` and interpolated.

What was fitted goes in ``meta["sampling"]``: ``interval_prior_weight``,
``chromatic`` (pitch classes), ``chromatic_offset`` (logits), ``motif_copy`` and
``calibration``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from adaptive._bundle import ModelEntry
from adaptive._music import MAJOR_SCALE, Note

__all__ = [
    "SamplingTarget",
    "calibrated",
    "melodic_interval",
    "ngram_repetition",
    "scale_consistency",
    "scale_target",
    "uncalibrated",
]

RUNS = 24  # renders per offset tried
BARS = 16  # bars per render
# motif_copy values scanned. At most 3 bars in 4 replay: a memory that always replays
# loops the first bars for good, and the game's intensity no longer reaches the line.
COPY_GRID = (0.0, 0.25, 0.5, 0.75)
LEAP_GRID = (0.0, 1.0, 2.0, 4.0)  # interval prior weights scanned
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


def _grams(line: Sequence[int], n: int) -> list[tuple[int, ...]]:
    return [tuple(line[i : i + n]) for i in range(len(line) - n + 1)]


def ngram_repetition(line: Sequence[int], n: int = 4) -> float:
    """Share of a line's n-grams of pitches that already occurred earlier in it."""
    grams = _grams(line, n)
    return float(1.0 - len(set(grams)) / len(grams)) if grams else float("nan")


@dataclass(frozen=True)
class SamplingTarget:
    """What the sampler is calibrated to: plain data, so a worker process can take it."""

    consistency: float  # mean per-bar scale consistency of the sources' bars with notes
    chromatic: tuple[int, ...]  # pitch classes outside the seven the sources use most
    runs: tuple[tuple[str, float, float, tuple[int, ...]], ...]  # (state, valence, arousal, chords)
    heard_from: float  # the intensity from which the stem is faded in
    repetition: float | None = None  # the sources' 4-gram repetition over BARS-bar windows
    interval: float | None = None  # the sources' mean per-bar melodic interval (semitones)


def scale_target(
    bars: Sequence[Sequence[Note]],
    runs: Sequence[tuple[str, float, float, Sequence[int]]],
    heard_from: float,
    pieces: Sequence[Sequence[Sequence[Note]]] = (),
) -> SamplingTarget:
    """The target for one role from its source bars (key-normalized), chord runs and
    pieces (each a list of bars, for the repetition)."""
    values = [scale_consistency([n.pitch for n in bar]) for bar in bars if bar]
    histogram = np.bincount([n.pitch % 12 for bar in bars for n in bar], minlength=12)
    common = set(np.argsort(-histogram, kind="stable")[:7].tolist())
    windows = []
    for piece in pieces:
        for start in range(0, max(1, len(piece) - BARS + 1), BARS // 2):
            repetition = ngram_repetition(_line(piece[start : start + BARS]))
            if np.isfinite(repetition):
                windows.append(repetition)
    leaps = [interval for bar in bars if np.isfinite(interval := melodic_interval(bar))]
    return SamplingTarget(
        interval=float(np.mean(leaps)) if leaps else None,
        consistency=float(np.mean(values)) if values else 1.0,
        chromatic=tuple(pc for pc in range(12) if pc not in common),
        runs=tuple((s, float(v), float(a), tuple(c)) for s, v, a, c in runs if c),
        heard_from=float(heard_from),
        repetition=float(np.mean(windows)) if windows else None,
    )


def melodic_interval(bar: Sequence[Note]) -> float:
    """A bar's mean leap between successive notes (chords top note first; nan below 2 notes)."""
    line = _line([bar])
    return float(np.mean(np.abs(np.diff(line)))) if len(line) >= 2 else float("nan")


def _line(bars: Sequence[Sequence[Note]]) -> list[int]:
    """A stem's pitches in order (chords top note first), as ``adaptive evaluate`` reads it."""
    return [n.pitch for bar in bars for n in sorted(bar, key=lambda n: (n.start, -n.pitch))]


def _render(
    entry: ModelEntry, target: SamplingTarget, sampling: Mapping[str, Any], runs: int = RUNS
) -> list[list[list[Note]]]:
    """``runs`` renders of BARS bars through the runtime's sampler with these settings."""
    from adaptive._tokens import Vocabulary
    from runtime.generators import Conditions, OnnxModel, SequenceGenerator

    # the line as it plays: phrase rests would only thin the bars that are measured
    merged = {**entry.meta.get("sampling", {}), "presence": [], **sampling}
    model = OnnxModel(replace(entry, meta={**entry.meta, "sampling": merged}))
    spb = int(entry.meta.get("steps_per_bar", 16))
    generator = SequenceGenerator(model, Vocabulary.default(), spb)
    renders = []
    for k in range(runs):
        state, valence, arousal, chords = target.runs[k % len(target.runs)]
        intensity = target.heard_from + (1.0 - target.heard_from) * (k + 0.5) / runs
        rng = np.random.default_rng((7, k))
        start = int(rng.integers(len(chords)))
        context = generator.initial_context()
        bars = []
        for b in range(BARS):
            chord = chords[(start + b) % len(chords)]
            conditions = Conditions(intensity, valence, state, chord, b, arousal)
            notes, context = generator.generate_bar(context, rng, conditions)
            bars.append(notes)
        renders.append(bars)
    return renders


def _measure(entry: ModelEntry, target: SamplingTarget, offset: float) -> float:
    sampling = {"chromatic": list(target.chromatic), "chromatic_offset": offset}
    renders = _render(entry, target, sampling)
    values = [scale_consistency([n.pitch for n in bar]) for bars in renders for bar in bars if bar]
    return float(np.mean(values)) if values else 1.0


def _repetition(entry: ModelEntry, target: SamplingTarget, copy: float) -> float:
    renders = _render(entry, target, {"motif_copy": copy})
    values = [ngram_repetition(_line(bars)) for bars in renders]
    finite = [v for v in values if np.isfinite(v)]
    return float(np.mean(finite)) if finite else 0.0


def _interval(entry: ModelEntry, target: SamplingTarget, weight: float) -> float:
    # half the renders: a mean leap over 192 bars is steady to about 0.1 semitone
    renders = _render(entry, target, {"interval_prior_weight": weight}, RUNS // 2)
    values = [melodic_interval(bar) for bars in renders for bar in bars]
    finite = [v for v in values if np.isfinite(v)]
    return float(np.mean(finite)) if finite else 0.0


def _on_scan(
    points: Sequence[tuple[float, float]], target: float, rising: bool
) -> tuple[float, float]:
    """The setting whose measure meets ``target``, interpolated between two neighbouring
    scanned settings whose measures bracket it, moving the way the measure is expected to
    (``rising`` along the scan, or falling); out of reach, the nearest scanned one.
    Returns (setting, measure)."""
    for (s0, m0), (s1, m1) in zip(points, points[1:], strict=False):
        low, high = (m0, m1) if rising else (m1, m0)
        if low <= target <= high and high > low:
            share = (target - m0) / (m1 - m0)
            return s0 + share * (s1 - s0), m0 + share * (m1 - m0)
    return min(points, key=lambda p: abs(p[1] - target))


def _interval_weight(entry: ModelEntry, target: SamplingTarget) -> tuple[float, float]:
    """The interval prior weight whose leaps meet the target (leaps shrink as it grows)."""
    assert target.interval is not None
    points = [(w, _interval(entry, target, w)) for w in LEAP_GRID]
    return _on_scan(points, target.interval, rising=False)


def _motif_copy(entry: ModelEntry, target: SamplingTarget) -> tuple[float, float]:
    """The motif_copy whose repetition meets the target (repetition grows with it)."""
    assert target.repetition is not None
    points = [(c, _repetition(entry, target, c)) for c in COPY_GRID]
    return _on_scan(points, target.repetition, rising=True)


def calibrated(entry: ModelEntry, target: SamplingTarget | None) -> ModelEntry:
    """``entry`` with the chromatic offset at which it matches ``target`` in its meta."""
    if target is None or not target.runs or not target.chromatic:
        return entry
    entry = replace(entry, meta=uncalibrated(entry.meta))  # fit afresh, from the style's values
    leaps: dict[str, Any] = {}
    if target.interval is not None:
        weight, interval = _interval_weight(entry, target)
        configured = entry.meta.get("sampling", {}).get("interval_prior_weight")
        sampling = {**entry.meta.get("sampling", {}), "interval_prior_weight": round(weight, 4)}
        entry = replace(entry, meta={**entry.meta, "sampling": sampling})
        leaps = {
            "interval_prior_weight_configured": configured,
            "interval_sources": round(target.interval, 4),
            "interval_generated": round(interval, 4),
        }
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
    sampling.update(chromatic=list(target.chromatic), chromatic_offset=round(best, 4))
    calibration = {
        "scale_consistency_sources": round(target.consistency, 4),
        "scale_consistency_generated": round(measured[best], 4),
        "bars": RUNS * BARS,
        **leaps,
    }
    entry = replace(entry, meta={**entry.meta, "sampling": sampling})
    if target.repetition is not None:
        copy, repetition = _motif_copy(entry, target)
        calibration["motif_copy_configured"] = sampling.get("motif_copy")
        sampling["motif_copy"] = round(copy, 4)
        calibration["repetition_sources"] = round(target.repetition, 4)
        calibration["repetition_generated"] = round(repetition, 4)
    sampling["calibration"] = calibration
    return replace(entry, meta={**entry.meta, "sampling": sampling})


def uncalibrated(meta: Mapping[str, Any]) -> dict[str, Any]:
    """``meta`` without what ``calibrated`` added (to tell whether a calibration still holds)."""
    out = dict(meta)
    if "sampling" in out:
        sampling = dict(out["sampling"])
        calibration = sampling.get("calibration", {})
        for key in ("motif_copy", "interval_prior_weight"):
            if f"{key}_configured" in calibration:
                sampling[key] = calibration[f"{key}_configured"]
        for key in ("chromatic", "chromatic_offset", "calibration"):
            sampling.pop(key, None)
        out["sampling"] = sampling
    return out
