"""Loudness: measure a style's integrated loudness (ITU-R BS.1770) and the gain that meets its target.

The measurement is pyloudnorm's BS.1770-4 meter (K-weighting, 400 ms blocks,
absolute and relative gates), which needs scipy: it belongs to authoring and
is never imported by the runtime. ``calibrate`` renders a reference session
offline, one that visits every trained state at a calm and at a busy intensity, and
returns the master gain that brings it to the style's target; the bake stores
it in the manifest as ``mix.master_gain_db``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

import adaptive
from adaptive._bundle import ModelEntry, decode_bundle, encode_bundle
from adaptive._schema import Manifest

__all__ = [
    "LoudnessResult",
    "calibrate",
    "calibrated_manifest",
    "integrated_loudness",
    "reference_timeline",
]

REFERENCE_SECONDS_PER_STATE = 16.0
REFERENCE_INTENSITIES = (0.35, 0.6, 0.85)


@dataclass(frozen=True)
class LoudnessResult:
    target_lufs: float
    measured_lufs: float  # the reference render before the gain
    gain_db: float  # add this to the master to meet the target
    seconds: float  # length of the reference render


def integrated_loudness(audio: np.ndarray, sample_rate: int) -> float:
    """Integrated loudness in LUFS of float audio (frames, channels); -inf for silence."""
    import pyloudnorm

    meter = pyloudnorm.Meter(sample_rate)  # BS.1770-4
    return float(meter.integrated_loudness(np.asarray(audio, dtype=np.float64)))


def reference_timeline(
    bundle: adaptive.Bundle, seconds_per_state: float = REFERENCE_SECONDS_PER_STATE
):  # type: ignore[no-untyped-def]
    """Every trained state in turn at REFERENCE_INTENSITIES (calm to busy, an equal share of
    its time each), changing on bars. The models re-compose with intensity, so the level
    spans the range a game plays, not two points of it. One of the style's stingers, in
    turn, plays in the middle of each state, as a game fires them over its music (about
    one every 16 s; left out, they leave a session with stingers louder than the target).

    A state that borrows another's material (a victory or game over) is left out: it is
    a mix of that material, and its level against it (a quiet game over) is the sound
    designer's choice, which the master gain must not undo.
    """
    from runtime._timeline import Timeline

    events = []
    states = bundle.spec.trained_states()
    for i, state in enumerate(states):
        start = i * seconds_per_state
        events.append({"time": start, "state": state, "sync": "bar"})
        share = seconds_per_state / len(REFERENCE_INTENSITIES)
        for k, level in enumerate(REFERENCE_INTENSITIES):
            events.append({"time": start + k * share, "parameter": "intensity", "value": level})
        stingers = list(bundle.spec.stingers)
        if stingers:
            name = stingers[i % len(stingers)]
            events.append({"time": start + 0.5 * seconds_per_state, "stinger": name})
    duration = seconds_per_state * len(states)
    return Timeline.from_dict({"duration": duration, "events": events}, "reference timeline")


def calibrate(
    bundle: adaptive.Bundle,
    *,
    target_lufs: float | None = None,
    seed: int = 0,
    sample_rate: int = 48000,
) -> LoudnessResult:
    """Render the reference session and return the gain that meets the loudness target.

    ``target_lufs`` defaults to the style's ``mix.loudness_lufs``.
    """
    from runtime import MusicEngine, render_timeline
    from runtime._mixbus import mix_settings

    target = mix_settings(bundle.manifest).loudness_lufs if target_lufs is None else target_lufs
    engine = MusicEngine(bundle, output="offline", sample_rate=sample_rate, seed=seed)
    audio = render_timeline(engine, reference_timeline(bundle))
    measured = integrated_loudness(audio, sample_rate)
    if not math.isfinite(measured):
        raise adaptive.AdaptiveError(
            f"bundle '{bundle.name}': the reference render is silent; cannot set its loudness"
        )
    return LoudnessResult(
        target_lufs=target,
        measured_lufs=measured,
        gain_db=target - measured,
        seconds=audio.shape[0] / sample_rate,
    )


MAX_MASTER_GAIN_DB = 24.0  # the schema's bound on mix.master_gain_db
CALIBRATION_TOLERANCE_LU = 0.2  # a second pass is run only when the first misses by more


def calibrated_manifest(
    manifest: Manifest,
    models: Mapping[str, ModelEntry],
    samplers: Mapping[str, Mapping[str, Any]] | None = None,
    *,
    seed: int = 0,
    passes: int = 2,
    on_pass: Callable[[int, LoudnessResult], None] | None = None,
) -> tuple[Manifest, LoudnessResult]:
    """``manifest`` with ``mix.master_gain_db`` set so that the bundle's reference
    session meets ``mix.loudness_lufs``, measured through the real engine (its
    limiter included, which is why a second pass may be needed).

    Returns the manifest and the last measurement, taken at the gain before its
    correction; ``measured_lufs + gain_db`` is where the stored gain lands.
    """
    gain = manifest.mix.master_gain_db
    result: LoudnessResult | None = None
    for index in range(passes):
        bundle = decode_bundle(encode_bundle(manifest, models, samplers))
        result = calibrate(bundle, seed=seed)
        if on_pass is not None:
            on_pass(index, result)
        if index > 0 and abs(result.gain_db) <= CALIBRATION_TOLERANCE_LU:
            break
        gain = min(max(gain + result.gain_db, -MAX_MASTER_GAIN_DB), MAX_MASTER_GAIN_DB)
        mix = dataclasses.replace(manifest.mix, master_gain_db=round(gain, 2))
        manifest = dataclasses.replace(manifest, mix=mix)
    assert result is not None
    return manifest, result
