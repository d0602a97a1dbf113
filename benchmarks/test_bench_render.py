"""Offline render speed and per-bar composing time of the default bundle."""

from __future__ import annotations

import time

import numpy as np
import pytest

import adaptive
from adaptive import MusicEngine

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
        bar = engine.clock.bar_frames(0)
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
    engine = MusicEngine(default_bundle, output="offline", seed=1)
    engine.set_parameter("intensity", 0.8)
    engine.render(16)
    composer = engine.composer
    index = iter(range(10_000))
    times: list[float] = []

    def compose() -> None:
        bar = composer.compose(next(index))
        times.append(bar.generate_ms)

    benchmark.pedantic(compose, rounds=64, iterations=1, warmup_rounds=4)
    bar_ms = engine.clock.frames_per_bar / engine.sample_rate * 1000
    p99 = float(np.percentile(times, 99))
    benchmark.extra_info.update(
        generate_ms_p50=float(np.percentile(times, 50)),
        generate_ms_p99=p99,
        bar_ms=bar_ms,
        p99_share_of_bar=p99 / bar_ms,
    )
    assert p99 < bar_ms, "composing a bar takes longer than playing it"


def test_mixer_callback_share_of_buffer(
    benchmark: pytest.FixtureRequest, default_bundle: adaptive.Bundle
) -> None:
    """The audio callback's cost per 512-frame buffer, as a share of the buffer's duration."""
    engine = MusicEngine(default_bundle, output="offline", seed=2)
    engine.set_parameter("intensity", 0.9)
    engine.render(engine.clock.bar_frames(0) * 2)  # bars composed; now time only mixing
    out = np.zeros((512, 2), dtype=np.float32)
    mixer = engine.mixer
    bar = mixer.bar
    assert bar is not None

    def mix() -> None:
        # stay inside the current bar so composing is not part of the figure
        if mixer.frame + 512 >= bar.start_frame + bar.frames:
            mixer.frame = bar.start_frame
        mixer.process(out)

    benchmark.pedantic(mix, rounds=400, iterations=1, warmup_rounds=10)
    buffer_ms = 512 / engine.sample_rate * 1000
    share = benchmark.stats.stats.median * 1000 / buffer_ms
    benchmark.extra_info.update(
        callback_ms_median=benchmark.stats.stats.median * 1000,
        buffer_ms=buffer_ms,
        share_of_buffer=share,
    )
    assert share < 0.5
