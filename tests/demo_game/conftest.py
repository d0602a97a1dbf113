"""Helpers for the demo game tests: a hand-driven clock and a recording engine."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from demo_game.music import Metronome, MusicDirector
from demo_game.world import World


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class RecordingEngine(Metronome):
    """A Metronome that also records every call the director makes."""

    def __init__(self, clock: FakeClock, tempo: float = 120.0) -> None:
        super().__init__(tempo, 4, clock=clock)
        self.calls: list[tuple[Any, ...]] = []

    def set_parameter(self, name: str, value: float) -> None:
        self.calls.append(("set_parameter", name, value))
        super().set_parameter(name, value)

    def set_state(self, name: str, sync: str = "bar") -> None:
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
