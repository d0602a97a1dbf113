"""Offline render speed and per-bar composing time of the default bundle."""

from __future__ import annotations

import time

import numpy as np
import pytest

import adaptive
from runtime import MusicEngine
from runtime._clock import MusicalClock
from runtime._composer import Composer
from runtime._control import Control

SECONDS = 20.0


def test_render_realtime_factor(
    benchmark: pytest.FixtureRequest, default_bundle: adaptive.Bundle
) -> None:
    """Seconds of music per second of CPU, rendering with a state change every 4 bars."""
    factors: list[float] = []

    def render() -> np.ndarray:
        engine = MusicEngine(default_bundle, output="offline", seed=len(factors))
        engine.set_parameter("intensity", 0.8)
        frames = int(SECONDS * engine.sample_rate)
        bar = engine.timing.bar_frames(0)
        states = list(default_bundle.states)
        out = []
        cpu = time.process_time()
        done = 0
        i = 0
        while done < frames:
            chunk = min(bar * 4, frames - done)
            out.append(engine.render(chunk))
            done += chunk
            i += 1
            engine.set_state(states[i % len(states)])
        factors.append(SECONDS / (time.process_time() - cpu))
        return np.concatenate(out)

    audio = benchmark.pedantic(render, rounds=3, iterations=1)
    assert audio.shape[0] == int(SECONDS * 48000)
    benchmark.extra_info["realtime_factor_cpu_median"] = float(np.median(factors))
    benchmark.extra_info["realtime_factor_cpu_all"] = factors
    assert min(factors) > 1.0, "offline render is slower than real time"


def test_bar_generation_time(
    benchmark: pytest.FixtureRequest, default_bundle: adaptive.Bundle
) -> None:
    """Composing one bar (harmony + melody + bass + drums through onnxruntime), without audio."""
    bundle = default_bundle
    clock = MusicalClock(48000, bundle.tempo, bundle.meter)
    control = Control(
        next(iter(bundle.states)),
        {"intensity": 0.8},
        {name: float(spec["valence"]) for name, spec in bundle.states.items()},
    )
    composer = Composer(bundle, clock, control, seed=1)
    index = iter(range(10_000))
    times: list[float] = []

    def compose() -> None:
        bar = composer.compose(next(index))
        times.append(bar.generate_ms)

    benchmark.pedantic(compose, rounds=64, iterations=1, warmup_rounds=4)
    bar_ms = clock.frames_per_bar / clock.sample_rate * 1000
    p99 = float(np.percentile(times, 99))
    benchmark.extra_info.update(
        generate_ms_p50=float(np.percentile(times, 50)),
        generate_ms_p99=p99,
        bar_ms=bar_ms,
        p99_share_of_bar=p99 / bar_ms,
    )
    assert p99 < bar_ms, "composing a bar takes longer than playing it"
