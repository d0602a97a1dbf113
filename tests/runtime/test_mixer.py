"""The mixer on its own: bars in, audio and events out, under the rules of the audio path."""

from __future__ import annotations

import tracemalloc

import numpy as np

from adaptive import Meter
from runtime._bar import BarAudio
from runtime._clock import MusicalClock
from runtime._control import Command, Control, Sync
from runtime._mixer import EVENT_RING, MASTER_GAIN, Mixer, StemMix
from runtime._stingers import MAX_STINGER_VOICES, StingerVoices

from .conftest import constant_bar

STATES = ("explore", "combat")


class Bars:
    """A bar source that hands out constant bars and keeps what comes back."""

    def __init__(
        self, clock: MusicalClock, control: Control, missing: set[int] = frozenset()
    ) -> None:
        self.clock, self.control, self.missing = clock, control, missing
        self.retired: list[tuple[int, bool]] = []

    def take(self, index: int) -> BarAudio | None:
        if index in self.missing:
            return None
        return constant_bar(
            self.clock, index, 2, 0.1 * (index % 5 + 1), self.control.state_for_bar(index)
        )

    def retire(self, bar: BarAudio, played: bool) -> None:
        self.retired.append((bar.index, played))


def mixer(missing: set[int] = frozenset(), margin: int = 0) -> tuple[Mixer, Bars]:
    clock = MusicalClock(48000, 120.0, Meter(4, 4))  # 96000 frames a bar
    control = Control("explore", {"intensity": 0.5}, {s: 0.5 for s in STATES})
    bars = Bars(clock, control, missing)
    stems = StemMix(
        ("a", "b"),
        (1.0, 0.5),
        ((0.0, 0.0), (0.0, 0.0)),
        {"explore": (1.0, 1.0), "combat": (1.0, 0.0)},
    )
    click = np.full((480, 2), 0.25, dtype=np.float32)
    voices = StingerVoices({"click": click}, {"click": 1.0}, 48000)
    return Mixer(clock, control, bars, stems, STATES, voices, (0.0, 1.0), 8192, margin), bars


def run(m: Mixer, frames: int, block: int = 512) -> np.ndarray:
    out = np.zeros((frames, 2), dtype=np.float32)
    for pos in range(0, frames, block):
        m.process(out[pos : pos + block])
    return out


def test_bars_play_back_to_back_with_events_on_their_frames() -> None:
    m, bars = mixer()
    run(m, 96000 * 3 + 100)
    events = list(m.events)
    assert [(e.kind, e.frame) for e in events if e.kind == "bar"] == [
        ("bar", i * 96000) for i in range(4)
    ]
    beats = [e for e in events if e.kind == "beat"]
    assert [e.frame for e in beats[:5]] == [0, 24000, 48000, 72000, 96000]
    # each finished bar went back to its source, in order, marked as played
    assert bars.retired == [(0, True), (1, True), (2, True)]


def test_gains_settle_on_the_tables_target() -> None:
    m, _ = mixer()
    audio = run(m, 48000)
    # stems a (gain 1.0) and b (gain 0.5) both play 0.1 in bar 0
    assert np.allclose(audio[-1], 0.1 * (1.0 + 0.5) * MASTER_GAIN, atol=1e-4)


def test_a_missing_bar_repeats_the_last_one_and_is_counted() -> None:
    m, bars = mixer(missing={1})
    audio = run(m, 96000 * 2)
    assert m.fallback_bars == 1
    # bar 1 is bar 0 again: the music holds instead of going silent
    np.testing.assert_allclose(audio[96000 + 50000 : 96000 + 51000], audio[50000:51000], atol=1e-6)
    assert m.bar is not None and m.bar.fallback


def test_a_state_change_lands_on_the_next_bar_line() -> None:
    m, _ = mixer()
    run(m, 30000)
    m.control.commands.append(Command("state", "combat", sync=Sync(1)))
    run(m, 96000 * 2)
    (transition,) = m.transitions
    assert (transition.to_state, transition.landed_frame, transition.bar) == ("combat", 96000, 1)
    kinds = [e.kind for e in m.events if e.frame == 96000]
    assert kinds.index("transition") < kinds.index("bar")  # the bar event already says combat


def test_a_change_too_close_to_the_bar_line_waits_a_bar() -> None:
    m, _ = mixer(margin=12000)
    run(m, 96000 - 4096)  # 85 ms before the bar line: too close to compose in time
    m.control.commands.append(Command("state", "combat", sync=Sync(1)))
    run(m, 96000 * 2)
    (transition,) = m.transitions
    assert transition.bar == 2 and transition.landed_frame == 2 * 96000


def test_bars_n_sync_counts_bar_lines() -> None:
    m, _ = mixer()
    run(m, 10000)
    m.control.commands.append(Command("state", "combat", sync=Sync(3)))
    run(m, 96000 * 4)
    assert [t.bar for t in m.transitions] == [3]


def test_stingers_land_on_the_next_beat_and_are_capped() -> None:
    m, _ = mixer()
    run(m, 30000)
    m.control.commands.append(Command("stinger", "click"))
    run(m, 24000)
    (record,) = m.stinger_log
    assert record.landed_frame == 48000 and record.requested_frame == 30000
    for _ in range(10_000):  # a game that fires on every bullet
        m.control.commands.append(Command("stinger", "click"))
        run(m, 1024)
    assert sum(v.active for v in m.stingers.voices) <= MAX_STINGER_VOICES
    assert m.stingers.dropped > 0


def test_the_event_ring_is_bounded_when_nobody_drains_it() -> None:
    m, _ = mixer()
    block = np.zeros((8192, 2), dtype=np.float32)
    while m.frame < 96000 * 1000:  # 5,000 events: beats and bars
        m.process(block)
    assert len(m.events) == EVENT_RING


def test_the_callback_allocates_no_audio_buffers_in_steady_state() -> None:
    m, bars = mixer()
    prebuilt = {i: bars.take(i) for i in range(12)}  # composed beforehand, as the worker does
    bars.take = prebuilt.pop  # type: ignore[method-assign]
    out = np.zeros((8192, 2), dtype=np.float32)  # any block-sized temporary would be 64 KiB
    for _ in range(20):  # warm up past a bar line
        m.process(out)
    m.control.parameters["intensity"] = 0.9
    tracemalloc.start()
    try:
        start, _ = tracemalloc.get_traced_memory()
        for i in range(80):  # crosses bar lines, an intensity change, a stinger
            if i == 40:
                m.control.commands.append(Command("stinger", "click"))
            m.process(out)
            m.events.clear()  # the game drains them every frame
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert m.stinger_log and m.bar is not None and m.bar.index >= 5
    # small Python objects only (events, records): not even a temporary block-sized array
    assert peak - start < 32 * 1024, f"the callback allocated {peak - start} bytes at its peak"
