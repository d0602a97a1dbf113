"""A long offline session: memory stays flat, the clock never drifts, no bar falls back.

``ADAPTIVE_SOAK_MINUTES`` sets the minutes of music (default 4; the issue's figure:
120). The session changes state every 8 bars and moves intensity and fires a
stinger every bar, as a game would. RSS is sampled every simulated minute; its
slope is fitted after the first fifth of the session (caches warming up).
"""

from __future__ import annotations

import os
import resource

import numpy as np
import pytest

import adaptive
from runtime import MusicEngine

MINUTES = float(os.environ.get("ADAPTIVE_SOAK_MINUTES", "4"))


def _rss_mb() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * resource.getpagesize() / 2**20


def test_soak_memory_and_drift(
    benchmark: pytest.FixtureRequest, default_bundle: adaptive.Bundle
) -> None:
    result: dict[str, float] = {}

    def soak() -> None:
        engine = MusicEngine(default_bundle, output="offline", seed=11)
        timing, states = engine.timing, list(default_bundle.states)
        stingers = list(default_bundle.stingers)
        minute, total = 60 * engine.sample_rate, int(MINUTES * 60 * engine.sample_rate)
        bar, samples, done, index = timing.bar_frames(0), [], 0, 0
        rng = np.random.default_rng(1)
        while done < total:
            chunk = min(bar, total - done)
            engine.render(chunk)
            done += chunk
            index += 1
            engine.set_parameter("intensity", float(rng.random()))
            if stingers:
                engine.trigger(stingers[index % len(stingers)])
            if index % 8 == 0:
                engine.set_state(states[(index // 8) % len(states)])
            engine.update()  # the game drains events every frame
            if done // minute > len(samples) - 1:
                samples.append((done / minute, _rss_mb()))
        stats = engine.stats()
        minutes, rss = np.array(samples).T
        warm = minutes >= minutes[-1] / 5
        slope_per_minute = (
            float(np.polyfit(minutes[warm], rss[warm], 1)[0]) if warm.sum() > 2 else 0.0
        )
        result.update(
            minutes=float(minutes[-1]),
            rss_start_mb=float(rss[0]),
            rss_end_mb=float(rss[-1]),
            rss_slope_mb_per_music_hour=slope_per_minute * 60,
            drift_frames=float(engine.frame - total),
            fallback_bars=float(stats.fallback_bars),
        )

    benchmark.pedantic(soak, rounds=1, iterations=1)
    benchmark.extra_info.update(result)
    print(result)
    assert result["drift_frames"] == 0 and result["fallback_bars"] == 0
