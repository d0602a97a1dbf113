"""The tempo map's cost on the audio thread: reading it every block, and retiming it at a
state change, for the largest map the mixer keeps against a map of one tempo.

Reads (``bar_at`` at each bar line, ``beat_offsets_at`` in every block) scan the
segments from the newest; a state change rebuilds the map once (``retimed``).
Figures are medians of many calls, with the one-segment map timed in the same run.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from adaptive import Meter
from runtime._clock import MAX_SEGMENTS, MusicalClock

CALLS = 20000


def per_call_us(call: Callable[[], object], calls: int = CALLS) -> float:
    """The median over 5 runs of ``calls`` calls, in microseconds a call (thread CPU time)."""
    runs = []
    for _ in range(5):
        started = time.thread_time()
        for _ in range(calls):
            call()
        runs.append((time.thread_time() - started) / calls * 1e6)
    return sorted(runs)[2]


def largest_map() -> MusicalClock:
    clock = MusicalClock(48000, 112.0, Meter(4, 4))
    for k in range(1, MAX_SEGMENTS):
        clock = clock.retimed(2 * k, 112.0 + (k % 2) * 16.0)
    assert len(clock.segments) == MAX_SEGMENTS
    return clock


def test_tempo_map_reads_and_retiming(benchmark) -> None:  # type: ignore[no-untyped-def]
    one, many = MusicalClock(48000, 112.0, Meter(4, 4)), largest_map()
    bar = 2 * MAX_SEGMENTS + 3
    info = {}
    for name, clock in (("one_segment", one), ("largest", many)):
        frame = clock.bar_start(bar) + 17
        info[f"bar_at_us_{name}"] = per_call_us(lambda c=clock, f=frame: c.bar_at(f))
        info[f"beat_offsets_at_us_{name}"] = per_call_us(lambda c=clock: c.beat_offsets_at(bar))
    retime = per_call_us(lambda: many.retimed(bar + 1, 140.0, 2), calls=500)
    info["retimed_us_largest"] = retime
    info["bar_at_ratio_largest_over_one"] = (
        info["bar_at_us_largest"] / info["bar_at_us_one_segment"]
    )
    benchmark.extra_info.update(info)
    benchmark(lambda: many.bar_at(many.bar_start(bar) + 17))
    print({k: round(v, 2) for k, v in info.items()})
