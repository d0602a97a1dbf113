"""The musical clock: bars and beats on one sample clock, without drift."""

from __future__ import annotations

from adaptive import Meter
from runtime import MusicalClock


def test_bars_tile_the_sample_clock_without_drift() -> None:
    clock = MusicalClock(48000, 112.0, Meter(4, 4))  # 102857.14... frames a bar
    starts = [clock.bar_start(i) for i in range(2000)]
    assert all(clock.bar_frames(i) == starts[i + 1] - starts[i] for i in range(1999))
    assert abs(starts[1999] - 1999 * clock.frames_per_bar) <= 0.5  # rounded, never accumulated


def test_bar_at_inverts_bar_start() -> None:
    clock = MusicalClock(44100, 97.0, Meter(3, 4))
    for index in (0, 1, 7, 500):
        start = clock.bar_start(index)
        assert clock.bar_at(start) == index
        assert clock.bar_at(start - 1) == index - 1 if index else True


def test_next_beat_is_at_or_after_the_frame() -> None:
    clock = MusicalClock(48000, 120.0, Meter(4, 4))  # 24000 frames a beat
    assert clock.next_beat(0) == (0, 0, 0)
    assert clock.next_beat(1) == (24000, 0, 1)
    assert clock.next_beat(3 * 24000 + 5) == (4 * 24000, 1, 0)  # over the bar line
    assert clock.frames_per_step == 6000


def test_a_beat_is_the_meter_denominator() -> None:
    six_eight = MusicalClock(48000, 120.0, Meter(6, 8))
    assert six_eight.frames_per_beat == 12000  # an eighth note at 120 quarter notes a minute
    assert six_eight.frames_per_bar == 72000
