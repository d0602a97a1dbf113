"""The audio callback's cost: an ordinary block against the worst case.

The worst case is a block that crosses a bar line, sees an intensity change and
starts a stinger, all at once. The real default bundle's bars are composed
beforehand (as the worker does live), so only the mixer is timed. Times are the
thread's CPU time (``time.thread_time``): what the callback costs, not how often
a busy machine preempted it; the wall-clock figures are recorded beside them.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

import adaptive
from runtime._clock import MusicalClock
from runtime._composer import Composer
from runtime._control import Command, Control
from runtime._mixer import Mixer, StemMix
from runtime._stingers import StingerVoices, render_stingers

BLOCK = 512
ROUNDS = 300


class Prebuilt:
    def __init__(self, bars: dict) -> None:
        self.bars = bars

    def take(self, index: int):  # type: ignore[no-untyped-def]
        return self.bars.get(index)

    def retire(self, bar, played: bool) -> None:  # type: ignore[no-untyped-def]
        pass


def _mixer(bundle: adaptive.Bundle, bars: int) -> tuple[Mixer, MusicalClock]:
    clock = MusicalClock(48000, bundle.tempo, bundle.meter)
    states = tuple(bundle.states)
    control = Control(states[0], {"intensity": 0.5}, {s: 0.5 for s in states})
    composer = Composer(bundle, clock, control, seed=4)
    source = Prebuilt({i: composer.compose(i) for i in range(bars)})
    names = tuple(bundle.stems)
    stems = StemMix(
        names,
        tuple(float(bundle.stems[n]["gain"]) for n in names),
        tuple(tuple(bundle.stems[n]["intensity"]) for n in names),  # type: ignore[misc]
        {
            s: tuple(float(sp["stems"].get(n, 1.0)) for n in names)
            for s, sp in bundle.states.items()
        },
    )
    gains = {n: float(s["gain"]) for n, s in bundle.stingers.items()}
    voices = StingerVoices(render_stingers(bundle, clock), gains, 48000)
    return Mixer(clock, control, source, stems, states, voices, (0.0, 1.0), 8192), clock


def test_callback_worst_case_against_ordinary(
    benchmark: pytest.FixtureRequest, default_bundle: adaptive.Bundle
) -> None:
    stinger = next(iter(default_bundle.stingers))
    mixer, clock = _mixer(default_bundle, bars=4)
    out = np.zeros((BLOCK, 2), dtype=np.float32)
    mixer.process(out)
    ordinary: list[float] = []
    worst: list[float] = []
    wall: list[float] = []

    def one_round() -> None:
        # an ordinary block, inside bar 1
        mixer.frame = clock.bar_start(1) + 10 * BLOCK
        mixer.bar = mixer.source.take(1)
        t0 = time.thread_time()
        mixer.process(out)
        ordinary.append(time.thread_time() - t0)
        # the worst case: across the bar line into bar 2, new intensity, a stinger due now
        mixer.frame = clock.bar_start(2) - BLOCK // 2
        mixer.control.commands.append(Command("parameter", "intensity", float(len(worst) % 7) / 7))
        mixer.control.commands.append(Command("stinger", stinger))
        mixer.stingers._last_start[stinger] = -(1 << 62)  # the cooldown would drop repeats
        t0, w0 = time.thread_time(), time.perf_counter()
        mixer.process(out)
        worst.append(time.thread_time() - t0)
        wall.append(time.perf_counter() - w0)
        for voice in mixer.stingers.voices:
            voice.active = False

    benchmark.pedantic(one_round, rounds=ROUNDS, iterations=1, warmup_rounds=10)
    ordinary_median = float(np.median(ordinary)) * 1000
    worst_p99 = float(np.percentile(worst, 99)) * 1000
    ratio = worst_p99 / ordinary_median
    benchmark.extra_info.update(
        ordinary_ms_median=ordinary_median,
        ordinary_ms_p99=float(np.percentile(ordinary, 99)) * 1000,
        worst_ms_median=float(np.median(worst)) * 1000,
        worst_ms_p99=worst_p99,
        worst_p99_over_ordinary_median=ratio,
        worst_wall_ms_p99=float(np.percentile(wall, 99)) * 1000,
        buffer_ms=BLOCK / 48000 * 1000,
    )
    print(
        f"callback: ordinary median {ordinary_median:.3f} ms, worst p99 {worst_p99:.3f} ms, ratio {ratio:.2f}"
    )
