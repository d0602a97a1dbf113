"""Maps the world to the music engine: the only module that talks to the engine.

Every frame the director turns the world's threat into the ``intensity``
parameter (smoothed: quick to rise, slow to fall, the way a film score
follows danger), picks a mood (explore / combat / boss) with hysteresis so the
music does not flap, asks for state changes only when the mood changes (on the
next bar), fires stingers for game events, and hands the engine's beat/bar
events back to the game so gameplay and visuals can move with the music.

``Metronome`` is a silent stand-in with the same methods as the engine; it keeps
the game playable (and testable) without a bundle or an audio device.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from .world import GameEvent, World

__all__ = [
    "EngineLike",
    "IntensitySmoother",
    "Metronome",
    "MoodMachine",
    "MusicDirector",
    "MusicView",
    "Tick",
    "GAME_STINGERS",
    "MOOD_STATES",
]

# Which bundle state plays each mood, best first. A bundle without "boss" still
# gets a fight; a bundle without "combat" simply stays put and lets intensity work.
MOOD_STATES: Mapping[str, tuple[str, ...]] = {
    "explore": ("explore",),
    "combat": ("combat",),
    "boss": ("boss", "combat"),
}

# Which stinger each game event fires, best first; events with no match stay quiet.
GAME_STINGERS: Mapping[str, tuple[str, ...]] = {
    "pickup": ("pickup",),
    "core": ("pickup",),
    "hit": ("hit",),
    "player_down": ("down", "hit"),
    "boss_spawned": ("boss",),
    "boss_defeated": ("victory", "win"),
}


def stats_dict(stats: Any) -> dict[str, Any]:
    """The engine's stats as a plain dict, whether a typed record or already a mapping."""
    return stats.as_dict() if hasattr(stats, "as_dict") else dict(stats)


class EngineLike(Protocol):
    """The slice of ``adaptive.MusicEngine`` the game uses."""

    def set_parameter(self, name: str, value: float) -> None: ...
    def set_state(self, name: str, sync: str = ...) -> None: ...
    def trigger(self, name: str) -> None: ...
    def update(self) -> Sequence[Any]: ...
    def stats(self) -> Mapping[str, Any]: ...


@dataclass(frozen=True, slots=True)
class Tick:
    """A musical event from ``Metronome``; same fields as ``adaptive.MusicEvent``."""

    kind: str
    frame: int
    bar: int
    beat: int
    name: str | None
    time: float


class Metronome:
    """A silent engine: beats, bars, bar-quantized transitions and beat-quantized stingers.

    Time comes from ``clock`` (seconds), so tests can drive it by hand.
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

    def set_parameter(self, name: str, value: float) -> None:
        self.parameters[name] = value

    def set_state(self, name: str, sync: str = "bar") -> None:
        self._pending_state = name

    def trigger(self, name: str) -> None:
        self._pending_stingers.append(name)

    def update(self) -> list[Tick]:
        now = self._clock() - self._t0
        out: list[Tick] = []
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
                out.append(Tick("bar", frame, bar, 0, self.state, t))
                if changed:
                    out.append(Tick("transition", frame, bar, 0, self.state, t))
            out.append(Tick("beat", frame, bar, beat, None, t))
            for name in self._pending_stingers:
                out.append(Tick("stinger", frame, bar, beat, name, t))
            self._pending_stingers.clear()
        return out

    def stats(self) -> dict[str, Any]:
        return {"underruns": 0, "fallback_bars": 0, "bars_generated": self._bars}


class IntensitySmoother:
    """One-pole smoothing with separate rise and fall times.

    Danger should be heard at once and linger after it passes; symmetric
    smoothing either lags the fight or pumps with every near miss.
    """

    def __init__(self, rise_s: float = 0.4, fall_s: float = 2.5, value: float = 0.0) -> None:
        self.rise_s = rise_s
        self.fall_s = fall_s
        self.value = value

    def update(self, target: float, dt: float) -> float:
        if not math.isfinite(target):
            return self.value  # never forward a NaN to the engine
        tau = self.rise_s if target > self.value else self.fall_s
        self.value += (target - self.value) * (1.0 - math.exp(-dt / tau))
        self.value = min(1.0, max(0.0, self.value))
        return self.value


class MoodMachine:
    """explore / combat / boss, with hysteresis.

    Escalate at once, calm down slowly: combat starts as soon as something
    hunts the player, but ends only after ``calm_hold_s`` of calm and no sooner
    than ``min_dwell_s`` after it began, so one enemy grazing the chase radius
    cannot toggle the score every bar.
    """

    RANK: Mapping[str, int] = {"explore": 0, "combat": 1, "boss": 2}

    def __init__(
        self, calm_hold_s: float = 3.0, min_dwell_s: float = 2.0, danger_threat: float = 0.5
    ) -> None:
        self.calm_hold_s = calm_hold_s
        self.min_dwell_s = min_dwell_s
        self.danger_threat = danger_threat
        self.mood = "explore"
        self._calm_s = calm_hold_s
        self._dwell_s = 0.0

    def update(self, world: World, dt: float) -> str:
        self._dwell_s += dt
        danger = world.boss is not None or world.chasing_count() > 0
        danger = danger or world.threat() >= self.danger_threat
        self._calm_s = 0.0 if danger else self._calm_s + dt
        if world.boss is not None:
            want = "boss"
        elif danger or self._calm_s < self.calm_hold_s:
            want = "combat" if (danger or self.mood != "explore") else "explore"
        else:
            want = "explore"
        escalate = self.RANK[want] > self.RANK[self.mood]
        if want != self.mood and (escalate or self._dwell_s >= self.min_dwell_s):
            self.mood = want
            self._dwell_s = 0.0
        return self.mood


@dataclass
class MusicView:
    """What the HUD shows about the music; updated by ``MusicDirector.frame``."""

    mood: str = "explore"
    state: str | None = None  # the state the engine says is playing
    pending: str | None = None  # asked for, not yet landed
    intensity: float = 0.0
    bar: int = 0
    beat: int = 0
    beat_pulse: float = 0.0  # 1 on a beat, decays; drives the HUD pulse
    bar_flash: float = 0.0  # 1 on a bar, decays
    last_stinger: str | None = None
    stinger_flash: float = 0.0
    stats: Mapping[str, Any] = field(default_factory=dict)


class MusicDirector:
    """World in, engine calls out; the game calls ``frame`` once per rendered frame."""

    STATS_EVERY_S = 0.5  # stats() may take a lock; a HUD needs it twice a second at most

    def __init__(
        self,
        engine: EngineLike,
        *,
        states: Iterable[str],
        stingers: Iterable[str],
        parameters: Mapping[str, Mapping[str, Any]],
        intensity_parameter: str = "intensity",
    ) -> None:
        self.engine = engine
        self.states = tuple(states)
        self.stingers = frozenset(stingers)
        self.smoother = IntensitySmoother()
        self.moods = MoodMachine()
        self.view = MusicView()
        # Scale [0, 1] threat onto the bundle's declared range, if it has the parameter.
        self._param: tuple[str, float, float] | None = None
        spec = parameters.get(intensity_parameter)
        if spec is not None:
            lo, hi = float(spec.get("min", 0.0)), float(spec.get("max", 1.0))
            self._param = (intensity_parameter, lo, hi)
        self._requested: str | None = None
        self._stats_due = 0.0
        self.states_requested: list[str] = []
        self.states_visited: list[str] = []  # in the order transitions landed
        self.stingers_fired: Counter[str] = Counter()
        self.stingers_landed: Counter[str] = Counter()
        self.beats = 0
        self.bars = 0

    @classmethod
    def for_bundle(cls, engine: EngineLike, bundle: Any) -> MusicDirector:
        return cls(
            engine,
            states=bundle.states.keys(),
            stingers=bundle.stingers.keys(),
            parameters=bundle.parameters,
        )

    def state_for(self, mood: str) -> str | None:
        """The bundle state that plays ``mood``, or None to leave the state alone."""
        for name in MOOD_STATES.get(mood, ()):
            if name in self.states:
                return name
        if mood == "explore" and self.states:
            return self.states[0]  # an unfamiliar bundle still gets a home state
        return None

    def begin(self) -> None:
        """Ask for the opening state; call once after the engine starts."""
        self._request(self.state_for("explore"))

    def _request(self, state: str | None) -> None:
        if state is None or state == self._requested:
            return
        self._requested = state
        self.states_requested.append(state)
        self.view.pending = state
        self.engine.set_state(state, sync="bar")

    def _landed(self, state: str) -> None:
        self.view.state = state
        if not self.states_visited or self.states_visited[-1] != state:
            self.states_visited.append(state)
        if self.view.pending == state:
            self.view.pending = None

    def frame(self, world: World, game_events: Iterable[GameEvent], dt: float) -> list[Any]:
        """Feed this frame's world to the engine; returns the engine's musical events."""
        view = self.view
        view.intensity = self.smoother.update(world.threat(), dt)
        if self._param is not None:
            name, lo, hi = self._param
            self.engine.set_parameter(name, lo + (hi - lo) * view.intensity)

        view.mood = self.moods.update(world, dt)
        self._request(self.state_for(view.mood))

        for ev in game_events:
            for stinger in GAME_STINGERS.get(ev.kind, ()):
                if stinger in self.stingers:
                    self.engine.trigger(stinger)
                    self.stingers_fired[stinger] += 1
                    break

        decay_beat, decay_bar = math.exp(-dt / 0.12), math.exp(-dt / 0.25)
        view.beat_pulse *= decay_beat
        view.bar_flash *= decay_bar
        view.stinger_flash *= decay_bar
        events = list(self.engine.update())
        for ev in events:
            if ev.kind == "beat":
                self.beats += 1
                view.beat_pulse = 1.0
                view.bar, view.beat = ev.bar, ev.beat
            elif ev.kind in ("bar", "transition"):
                if ev.kind == "bar":
                    self.bars += 1
                    view.bar_flash = 1.0
                    view.bar = ev.bar
                # A bar event names the state it plays, so the opening state counts
                # as visited even though no transition leads into it.
                if ev.name is not None:
                    self._landed(ev.name)
            elif ev.kind == "stinger" and ev.name is not None:
                self.stingers_landed[ev.name] += 1
                view.last_stinger = ev.name
                view.stinger_flash = 1.0

        self._stats_due -= dt
        if self._stats_due <= 0.0:
            self._stats_due = self.STATS_EVERY_S
            view.stats = stats_dict(self.engine.stats())
        return events
