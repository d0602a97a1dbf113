"""The musical clock: bars and beats on one sample clock, without drift."""

from __future__ import annotations

import pytest

from adaptive import Meter
from runtime import MusicalClock, _clock


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


def exact_starts(sr: int, anchors: list[tuple[int, int, float]], bars: int) -> list[int]:
    """Bar starts worked out by hand from (bar, frame, tempo) anchors in 4/4: rounded from
    each bar's exact position in its segment, and each segment starting where the one
    before put its first bar."""
    starts = []
    for index in range(bars):
        bar, frame, tempo = [a for a in anchors if a[0] <= index][-1]
        starts.append(frame + int(round((index - bar) * sr * 240.0 / tempo)))
    return starts


def test_a_tempo_change_starts_a_new_segment_on_its_bar_line() -> None:
    clock = MusicalClock(48000, 112.0, Meter(4, 4)).retimed(5, 150.0)
    at_five = int(round(5 * 48000 * 240.0 / 112.0))
    assert clock.bar_start(5) == at_five
    assert [clock.bar_start(i) for i in range(40)] == exact_starts(
        48000, [(0, 0, 112.0), (5, at_five, 150.0)], 40
    )
    assert clock.bar_frames(4) == round(5 * 102857.142857) - round(4 * 102857.142857)
    assert clock.bar_frames(5) == 76800 and clock.tempo_at(4) == 112.0 and clock.tempo_at(5) == 150
    for index in (0, 4, 5, 6, 39):  # bar_at inverts bar_start on both sides of the change
        assert clock.bar_at(clock.bar_start(index)) == index
        assert clock.bar_at(clock.bar_start(index) - 1) == index - 1 if index else True
    # beats are the beats of the bar they fall in, at its tempo
    assert clock.next_beat(clock.bar_start(5) + 1) == (clock.bar_start(5) + 19200, 5, 1)
    assert clock.beat_start(4, 1) - clock.bar_start(4) == round(48000 * 60 / 112)


def test_a_later_change_replaces_what_was_planned_from_its_bar_on() -> None:
    clock = MusicalClock(48000, 120.0, Meter(4, 4)).retimed(4, 150.0).retimed(8, 90.0)
    assert [t for _, t in clock.changes] == [150.0, 90.0]
    again = clock.retimed(6, 120.0)  # a change landing earlier drops the one at bar 8
    assert again.changes == ((4, 150.0), (6, 120.0))
    assert again.bar_start(6) == clock.bar_start(6)  # bars before it keep their place
    assert clock.retimed(4, 120.0).changes == ()  # back to the tempo before: no segment


def test_a_ramp_steps_monotonically_and_then_holds() -> None:
    clock = MusicalClock(48000, 100.0, Meter(4, 4)).retimed(3, 160.0, ramp_bars=3)
    tempos = [clock.tempo_at(i) for i in range(10)]
    assert tempos[:3] == [100.0] * 3
    assert tempos[3:6] == [115.0, 130.0, 145.0]  # old + (new - old) * k / (N + 1)
    assert tempos[6:] == [160.0] * 4
    lengths = [clock.bar_frames(i) for i in range(10)]
    assert all(a > b for a, b in zip(lengths[2:7], lengths[3:7], strict=False))
    slower = MusicalClock(48000, 160.0, Meter(4, 4)).retimed(2, 100.0, ramp_bars=1)
    assert [slower.tempo_at(i) for i in range(1, 5)] == [160.0, 130.0, 100.0, 100.0]


def test_long_sessions_fold_old_segments_without_moving_bar_lines(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def session() -> MusicalClock:
        clock = MusicalClock(44100, 120.0, Meter(3, 4))
        for k in range(1, 200):
            clock = clock.retimed(3 * k, 120.0 + (k % 2) * 30.0)
        return clock

    folded = session()
    monkeypatch.setattr(_clock, "MAX_SEGMENTS", 1 << 30)
    whole = session()
    assert len(folded.segments) <= _clock.MAX_SEGMENTS and len(whole.segments) == 200
    recent = range(folded.origin_bar, 700)  # the bars still to play are where they were
    assert folded.origin_bar >= 3 * 150
    assert [folded.bar_start(i) for i in recent] == [whole.bar_start(i) for i in recent]
