"""Helpers for the demo game tests: a hand-driven clock and a recording engine."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from demo_game.music import MusicDirector
from demo_game.world import World
from runtime import MusicEvent


class ClockedEngine:
    """A stand-in engine on a hand-driven clock: beats, bars, bar-quantized
    transitions and beat-quantized stingers, in the real engine's event order.

    The director's tests need music time they control; the real engine keeps
    real time (its silent output is tested in test_music and test_cli).
    """

    def __init__(
        self,
        tempo: float = 120.0,
        beats_per_bar: int = 4,
        beat_unit: int = 4,
        clock: Callable[[], float] = time.perf_counter,
        sample_rate: int = 48000,
    ) -> None:
        # tempo counts quarter notes; a beat is one beat_unit (as in the engine)
        self.beat_s = 60.0 / tempo * 4.0 / beat_unit
        self.beats_per_bar = beats_per_bar
        self.sample_rate = sample_rate
        self._clock = clock
        self._t0 = clock()
        self._next_beat = 0  # index of the next beat to emit, counted from the start
        self._pending_state: str | None = None
        self._pending_stingers: list[str] = []
        self.parameters: dict[str, float] = {}
        self.state: str | None = None
        self._bars = 0

    def start(self) -> ClockedEngine:
        self._t0 = self._clock()
        return self

    def stop(self) -> None:
        pass

    def set_parameter(self, name: str, value: float) -> None:
        self.parameters[name] = value

    def set_state(self, name: str, sync: str | None = None) -> None:
        self._pending_state = name

    def trigger(self, name: str) -> None:
        self._pending_stingers.append(name)

    def update(self) -> list[MusicEvent]:
        now = self._clock() - self._t0
        out: list[MusicEvent] = []
        while self._next_beat * self.beat_s <= now:
            n = self._next_beat
            self._next_beat += 1
            t = n * self.beat_s
            frame = round(t * self.sample_rate)
            bar, beat = divmod(n, self.beats_per_bar)
            if beat == 0:
                # Same order and fields as the engine: bar (named by its state), then
                # the transition if the state changed, then the beat.
                self._bars += 1
                changed = self._pending_state is not None and self._pending_state != self.state
                if self._pending_state is not None:
                    self.state, self._pending_state = self._pending_state, None
                out.append(MusicEvent("bar", frame, bar, 0, self.state, t))
                if changed:
                    out.append(MusicEvent("transition", frame, bar, 0, self.state, t))
            out.append(MusicEvent("beat", frame, bar, beat, None, t))
            for name in self._pending_stingers:
                out.append(MusicEvent("stinger", frame, bar, beat, name, t))
            self._pending_stingers.clear()
        return out

    def stats(self) -> dict[str, Any]:
        return {"underruns": 0, "fallback_bars": 0, "bars_generated": self._bars}

    def report(self) -> dict[str, Any]:
        return {"transitions": [], "underruns": 0, "fallback_bars": 0, "output": "clocked"}


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class RecordingEngine(ClockedEngine):
    """A ClockedEngine that also records every call the director makes."""

    def __init__(self, clock: FakeClock, tempo: float = 120.0) -> None:
        super().__init__(tempo, 4, clock=clock)
        self.calls: list[tuple[Any, ...]] = []

    def set_parameter(self, name: str, value: float) -> None:
        self.calls.append(("set_parameter", name, value))
        super().set_parameter(name, value)

    def set_state(self, name: str, sync: str | None = None) -> None:
        self.calls.append(("set_state", name, sync))
        super().set_state(name, sync)

    def trigger(self, name: str) -> None:
        self.calls.append(("trigger", name))
        super().trigger(name)

    def of(self, kind: str) -> list[tuple[Any, ...]]:
        return [c for c in self.calls if c[0] == kind]


def _play(
    world: World,
    director: MusicDirector,
    clock: FakeClock,
    seconds: float,
    move: Any = None,
    dt: float = 1 / 60,
) -> list[str]:
    """Run the game loop by hand: sim step, music frame, beats back into the world.

    ``move(world, dt)`` returns ((dx, dy), dash), like ``Bot.decide``.
    """
    moods: list[str] = []
    for _ in range(round(seconds / dt)):
        direction, dash = move(world, dt) if move is not None else ((0.0, 0.0), False)
        events = world.step(dt, direction, dash)
        clock.now += dt
        for ev in director.frame(world, events, dt):
            if ev.kind == "beat":
                world.on_beat()
            elif ev.kind == "bar":
                world.on_bar()
        if not moods or moods[-1] != director.view.mood:
            moods.append(director.view.mood)
    return moods


# Test modules get these helpers through fixtures: importing from a conftest is
# fragile (tests/ has its own conftest module).


@pytest.fixture
def play() -> Callable[..., list[str]]:
    return _play


@pytest.fixture
def make_engine() -> Callable[..., RecordingEngine]:
    return RecordingEngine


@pytest.fixture
def make_clock() -> Callable[[], FakeClock]:
    return FakeClock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def engine(clock: FakeClock) -> RecordingEngine:
    return RecordingEngine(clock)


@pytest.fixture
def director(engine: RecordingEngine) -> MusicDirector:
    d = MusicDirector(
        engine,
        states=["explore", "combat", "boss"],
        stingers=["pickup", "hit"],
        parameters={"intensity": {"min": 0.0, "max": 1.0, "default": 0.3}},
    )
    d.begin()
    return d
