"""The bake's calibration of the soft scale prior, on a real tiny bake's melody model."""

from __future__ import annotations

from pathlib import Path

import pytest

import adaptive
from authoring._calibrate import (
    SamplingTarget,
    _interval,
    _measure,
    calibrated,
    melodic_interval,
    scale_consistency,
    uncalibrated,
)


def test_scale_consistency_is_the_share_in_the_best_major_scale() -> None:
    assert scale_consistency([60, 62, 64, 65]) == 1.0
    assert scale_consistency([60, 61, 62, 63]) == pytest.approx(0.75)  # no scale holds all four
    assert scale_consistency([]) != scale_consistency([])  # nan without notes


def test_calibration_meets_the_sources_chromatic_rate(tiny_bundle_path: Path) -> None:
    entry = adaptive.load_bundle(tiny_bundle_path).models["melody"]
    runs = (("explore", 0.6, 0.4, (0, 5, 7, 0)), ("combat", 0.3, 0.7, (9, 2, 4, 9)))

    def target(consistency: float) -> SamplingTarget:
        return SamplingTarget(consistency, (1, 3, 6, 8, 10), runs, heard_from=0.2)

    def fitted(consistency: float) -> tuple[float, float]:
        sampling = calibrated(entry, target(consistency)).meta["sampling"]
        return sampling["chromatic_offset"], sampling["calibration"]["scale_consistency_generated"]

    reachable = _measure(entry, target(1.0), 2.0)  # what this tiny model gives at offset 2
    assert reachable < 1.0
    strict_offset, strict = fitted(1.0)
    loose_offset, loose = fitted(reachable)
    assert loose_offset > strict_offset  # more chromatic notes wanted: a higher offset
    assert strict > 0.995 and loose == pytest.approx(reachable, abs=0.004)
    assert uncalibrated(calibrated(entry, None).meta) == uncalibrated(entry.meta)


def test_calibration_meets_the_sources_repetition(tiny_bundle_path: Path) -> None:
    entry = adaptive.load_bundle(tiny_bundle_path).models["melody"]
    runs = (("explore", 0.6, 0.4, (0, 5, 7, 0)),)
    loops = calibrated(entry, SamplingTarget(1.0, (1, 3, 6, 8, 10), runs, 0.0, repetition=0.6))
    free = calibrated(entry, SamplingTarget(1.0, (1, 3, 6, 8, 10), runs, 0.0, repetition=0.0))
    assert loops.meta["sampling"]["motif_copy"] > free.meta["sampling"]["motif_copy"]
    assert free.meta["sampling"]["motif_copy"] == 0.0
    # what the style configured is kept, so a rebuild can tell the calibration still holds
    configured = uncalibrated(entry.meta)["sampling"]["motif_copy"]
    assert uncalibrated(loops.meta)["sampling"]["motif_copy"] == configured


def test_calibration_meets_the_sources_leaps(tiny_bundle_path: Path) -> None:
    from adaptive._music import Note

    entry = adaptive.load_bundle(tiny_bundle_path).models["melody"]
    runs = (("explore", 0.6, 0.4, (0, 5, 7, 0)),)

    def target(interval: float) -> SamplingTarget:
        return SamplingTarget(1.0, (1, 3, 6, 8, 10), runs, 0.0, interval=interval)

    free, held = _interval(entry, target(0.0), 0.0), _interval(entry, target(0.0), 4.0)
    assert held < free  # a heavier interval prior: smaller leaps
    wanted = 0.5 * (free + held)
    sampling = calibrated(entry, target(wanted)).meta["sampling"]
    assert 0.0 < sampling["interval_prior_weight"] < 4.0
    assert sampling["calibration"]["interval_generated"] == pytest.approx(wanted, abs=0.3)
    configured = uncalibrated(entry.meta)["sampling"].get("interval_prior_weight")
    assert (
        uncalibrated(calibrated(entry, target(wanted)).meta)["sampling"].get(
            "interval_prior_weight"
        )
        == configured
    )
    # the measure evaluate uses: chords top note first
    assert melodic_interval([Note(60, 0, 1, 90), Note(64, 0, 1, 90), Note(62, 2, 1, 90)]) == 3.0
