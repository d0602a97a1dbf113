"""Loudness: the gain from a reference render brings a different default render to the target."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import adaptive
from authoring._loudness import calibrate, integrated_loudness, reference_timeline
from runtime import MusicEngine, load_timeline, render_timeline

pytest.importorskip("pyloudnorm")

TIMELINE = Path(__file__).resolve().parents[2] / "examples" / "timeline.json"


def test_integrated_loudness_of_a_known_tone() -> None:
    rate = 48000
    t = np.arange(rate * 5) / rate
    tone = 0.1 * np.sin(2 * np.pi * 1000 * t)  # a 1 kHz sine peaking at -20 dBFS
    stereo = np.stack([tone, tone], axis=1)
    # BS.1770: a full-scale 1 kHz sine in both channels reads 0 LUFS (about -3 in one)
    assert integrated_loudness(stereo, rate) == pytest.approx(-20.0, abs=0.2)
    assert integrated_loudness(stereo * [1.0, 0.0], rate) == pytest.approx(-23.0, abs=0.2)


def test_default_render_meets_the_loudness_target_after_the_master_gain() -> None:
    bundle = adaptive.load_bundle()
    result = calibrate(bundle, seed=0)
    assert np.isfinite(result.measured_lufs)
    # a different session and seed than the reference: the example timeline
    engine = MusicEngine(bundle, output="offline", seed=7)
    audio = render_timeline(engine, load_timeline(TIMELINE))
    after = audio.astype(np.float64) * 10.0 ** (result.gain_db / 20.0)
    loudness = integrated_loudness(after, engine.sample_rate)
    assert abs(loudness - result.target_lufs) <= 1.0, (loudness, result)


def test_a_baked_bundle_plays_at_its_loudness_target(tiny_bundle_path: Path) -> None:
    bundle = adaptive.load_bundle(tiny_bundle_path)
    target = bundle.spec.mix.loudness_lufs
    assert bundle.spec.mix.master_gain_db != 0.0, "the bake stored no master gain"
    engine = MusicEngine(bundle, output="offline", seed=11)  # not the reference's seed
    audio = render_timeline(engine, reference_timeline(bundle))
    assert abs(integrated_loudness(audio, engine.sample_rate) - target) <= 1.0
