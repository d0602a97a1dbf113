"""Maps the game to the music engine: the only module that talks to the engine.

Every frame the director turns the world's threat into the ``intensity``
parameter (smoothed: quick to rise, slow to fall, the way a film score follows
danger), the world's ``danger`` into the bundle's mood parameter if it declares
one, picks a mood (explore / combat / boss / victory / game over) with
hysteresis so the music does not flap, asks for a state change only when the
mood changes, fires stingers for game events, and hands the engine's beat/bar
events back to the game so gameplay and visuals move with the music.

It also measures what the engine costs the game: the wall time spent inside the
engine's calls, per frame.

Music off is the engine itself on its silent output, so beats, bars and spawns
keep the same timing with or without sound.
"""

from __future__ import annotations

import math
import time
from collections import Counter, deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from .world import GameEvent, World

__all__ = [
    "EngineLike",
    "GAME_STINGERS",
    "IntensitySmoother",
    "MOOD_PARAMETERS",
    "MOOD_STATES",
    "MoodMachine",
    "MusicDirector",
    "MusicView",
    "Scene",
    "open_engine",
    "read_stats",
]

Scene = Literal["title", "play", "won", "lost"]

# Which bundle state plays each mood, best first. A bundle without "boss" still
# gets a fight; one without "victory" or "game_over" falls back to the closest
# mood it has (the calm of explore), and the stingers carry the moment.
MOOD_STATES: Mapping[str, tuple[str, ...]] = {
    "explore": ("explore",),
    "combat": ("combat",),
    "boss": ("boss", "combat"),
    "victory": ("victory", "explore"),
    "game_over": ("game_over", "gameover", "defeat", "explore"),
}

# How each mood change is quantized: a fight may not wait a whole bar, an ending
# should land with the downbeat. Engines that know fewer sync modes get "bar".
MOOD_SYNC: Mapping[str, str] = {
    "explore": "bar",
    "combat": "bar",
    "boss": "bar",
    "victory": "bar",
    "game_over": "beat",
}

# Which stinger each game event fires, best first; events with no match stay quiet.
GAME_STINGERS: Mapping[str, tuple[str, ...]] = {
    "pickup": ("pickup",),
    "core": ("pickup",),
    "hit": ("hit",),
    "enemy_killed": ("kill", "smash"),
    "player_down": ("game_over", "down", "hit"),
    "boss_spawned": ("boss",),
    "boss_defeated": ("victory", "win"),
}

# The second parameter: world.danger() in [0, 1] drives whichever the bundle declares.
# (name, inverted): valence is the opposite of danger.
MOOD_PARAMETERS: tuple[tuple[str, bool], ...] = (("danger", False), ("valence", True))


class EngineLike(Protocol):
    """The slice of ``runtime.MusicEngine`` the game uses."""

    def set_parameter(self, name: str, value: float) -> None: ...
    def set_state(self, name: str, sync: str = ...) -> None: ...
    def trigger(self, name: str) -> None: ...
    def update(self) -> Sequence[Any]: ...
    def stats(self) -> Any: ...


def read_stats(engine: EngineLike) -> dict[str, Any]:
    """The engine's stats as a plain dict, whether it returns a dict or a typed record."""
    stats = engine.stats()
    as_dict = getattr(stats, "as_dict", None)
    return dict(as_dict()) if callable(as_dict) else dict(stats)


def open_engine(
    bundle: Any,
    output: Any,
    *,
    sample_rate: int = 48000,
    buffer_frames: int = 512,
    seed: int | None = None,
) -> Any:
    """A ``runtime.MusicEngine`` for ``bundle`` on ``output`` (a name or an ``Output``).

    Raises the engine's own errors for a bad bundle or output.
    """
    from runtime import MusicEngine

    return MusicEngine(
        bundle, output=output, sample_rate=sample_rate, buffer_frames=buffer_frames, seed=seed
    )


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
    """explore / combat / boss during play, with hysteresis.

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
        self.reset()

    def reset(self) -> None:
        self.mood = "explore"
        self._calm_s = self.calm_hold_s
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
    """What the HUD and the overlay show about the music; updated by ``frame``."""

    mood: str = "explore"
    state: str | None = None  # the state the engine says is playing
    pending: str | None = None  # asked for, not yet landed
    intensity: float = 0.0
    danger: float = 0.0
    bar: int = 0
    beat: int = 0
    beat_pulse: float = 0.0  # 1 on a beat, decays; drives the visual pulse
    bar_flash: float = 0.0  # 1 on a bar, decays
    last_stinger: str | None = None
    stinger_flash: float = 0.0
    next_beat_at: float | None = None  # predicted perf_counter() of the next beat, if known
    last_error: str | None = None  # the engine's latest "error" event, for the overlay
    stats: Mapping[str, Any] = field(default_factory=dict)


class MusicDirector:
    """Game in, engine calls out; the game calls ``frame`` once per rendered frame."""

    STATS_EVERY_S = 0.25  # stats() may take a lock; the overlay needs it a few times a second
    COST_WINDOW = 240  # frames of engine-call cost kept for the overlay's p50/p99

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
        self.danger_smoother = IntensitySmoother(rise_s=1.5, fall_s=4.0)
        self.moods = MoodMachine()
        self.view = MusicView()
        # Scale [0, 1] onto the bundle's declared ranges, for the parameters it has.
        self._param = self._range(parameters, intensity_parameter, False)
        self._mood_param: tuple[str, float, float, bool] | None = None
        for name, inverted in MOOD_PARAMETERS:
            found = self._range(parameters, name, inverted)
            if found is not None:
                self._mood_param = found
                break
        self._requested: str | None = None
        self._sent: dict[str, int] = {}  # the step last sent per parameter
        self._stats_due = 0.0
        self.states_requested: list[str] = []
        self.states_visited: list[str] = []  # in the order transitions landed
        self.stingers_fired: Counter[str] = Counter()
        self.stingers_landed: Counter[str] = Counter()
        self.beats = 0
        self.bars = 0
        self.errors: list[str] = []  # the engine's "error" events, for the overlay and report
        self.reloads = 0
        self.engine_ms: deque[float] = deque(maxlen=self.COST_WINDOW)
        self.engine_ms_all: list[float] = []  # every frame's engine cost, for the report
        self._held: deque[Any] = deque()  # events not yet heard (see _due)

    @staticmethod
    def _range(
        parameters: Mapping[str, Mapping[str, Any]], name: str, inverted: bool
    ) -> tuple[str, float, float, bool] | None:
        spec = parameters.get(name)
        if spec is None:
            return None
        return name, float(spec.get("min", 0.0)), float(spec.get("max", 1.0)), inverted

    @classmethod
    def for_bundle(cls, engine: EngineLike, bundle: Any) -> MusicDirector:
        return cls(
            engine,
            states=bundle.states.keys(),
            stingers=bundle.stingers.keys(),
            parameters=bundle.parameters,
        )

    @property
    def mood_parameter(self) -> str | None:
        return self._mood_param[0] if self._mood_param is not None else None

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
        self._request(self.state_for("explore"), "bar")

    def use_bundle(self, bundle: Any) -> None:
        """Steer another bundle (a hot reload): its states, stingers and parameter ranges."""
        fresh = MusicDirector.for_bundle(self.engine, bundle)
        self.states, self.stingers = fresh.states, fresh.stingers
        self._param, self._mood_param = fresh._param, fresh._mood_param
        self._sent.clear()  # the ranges may have changed: send the parameters again
        if self._requested not in self.states:
            self._requested = None  # the engine fell back to its default state; ask again

    def use_engine(self, engine: EngineLike) -> None:
        """Carry on with another engine (music on/off): ask it for the current state."""
        self.engine = engine
        state, self._requested = self._requested, None
        self._request(state, "bar")

    def restart(self) -> None:
        """A new game: calm moods, the same engine and the same counters."""
        self.moods.reset()
        self.smoother.value = 0.0

    def _request(self, state: str | None, sync: str) -> None:
        if state is None or state == self._requested:
            return
        from adaptive import EngineError

        self._requested = state
        self.states_requested.append(state)
        self.view.pending = state
        try:
            self.engine.set_state(state, sync=sync)
        except EngineError:
            if sync == "bar":
                raise
            self.engine.set_state(state, sync="bar")  # an engine that knows only "bar"

    def _landed(self, state: str) -> None:
        self.view.state = state
        if not self.states_visited or self.states_visited[-1] != state:
            self.states_visited.append(state)
        if self.view.pending == state:
            self.view.pending = None

    PARAMETER_STEPS = 100  # a parameter is sent when it moves by 1/100 of its range

    def _send(self, param: tuple[str, float, float, bool], fraction: float) -> None:
        """Send ``fraction`` of the parameter's range, only when it moved a step.

        A call costs the engine a message (measured 0.14 ms at p50 to the engine's
        worker process); the music cannot hear a change of a hundredth.
        """
        name, lo, hi, inverted = param
        step = round((1.0 - fraction if inverted else fraction) * self.PARAMETER_STEPS)
        if self._sent.get(name) == step:
            return
        self._sent[name] = step
        self.engine.set_parameter(name, lo + (hi - lo) * step / self.PARAMETER_STEPS)

    def mood_for(self, world: World, scene: Scene, dt: float) -> str:
        """The mood the music should have: the scene's, or during play the mood machine's."""
        if scene == "won":
            return "victory"
        if scene == "lost":
            return "game_over"
        if scene == "title":
            return "explore"
        return self.moods.update(world, dt)

    def frame(
        self,
        world: World,
        game_events: Iterable[GameEvent],
        dt: float,
        scene: Scene = "play",
    ) -> list[Any]:
        """Feed this frame's game to the engine; returns the engine's musical events."""
        view = self.view
        threat = world.threat() if scene == "play" else (0.12 if scene == "title" else 0.0)
        view.intensity = self.smoother.update(threat, dt)
        view.danger = self.danger_smoother.update(world.danger() if scene != "title" else 0.0, dt)
        view.mood = self.mood_for(world, scene, dt)

        t0 = time.perf_counter()
        if self._param is not None:
            self._send(self._param, view.intensity)
        if self._mood_param is not None:
            self._send(self._mood_param, view.danger)
        self._request(self.state_for(view.mood), MOOD_SYNC.get(view.mood, "bar"))

        for ev in game_events:
            for stinger in GAME_STINGERS.get(ev.kind, ()):
                if stinger in self.stingers:
                    self.engine.trigger(stinger)
                    self.stingers_fired[stinger] += 1
                    break

        self._held.extend(self.engine.update())
        self._stats_due -= dt
        if self._stats_due <= 0.0:
            self._stats_due = self.STATS_EVERY_S
            view.stats = read_stats(self.engine)
        cost = (time.perf_counter() - t0) * 1000.0
        self.engine_ms.append(cost)
        self.engine_ms_all.append(cost)
        events = self._due(time.perf_counter())

        decay_beat, decay_bar = math.exp(-dt / 0.12), math.exp(-dt / 0.25)
        view.beat_pulse *= decay_beat
        view.bar_flash *= decay_bar
        view.stinger_flash *= decay_bar
        for ev in events:
            if ev.kind == "beat":
                self.beats += 1
                view.beat_pulse = 1.0
                view.bar, view.beat = ev.bar, ev.beat
                view.next_beat_at = getattr(ev, "at", None)
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
            elif ev.kind == "error":  # the composer failed and restarted; the music held
                self.errors.append(str(ev.name))
                view.last_error = str(ev.name)
            elif ev.kind == "reload":  # a hot-reloaded style is heard from here on
                self.reloads += 1
                bundle = getattr(self.engine, "bundle", None)
                if bundle is not None:
                    self.use_bundle(bundle)
        return events

    MAX_HOLD_S = 0.5  # an event predicted further ahead than this is released at once

    def _due(self, now: float) -> list[Any]:
        """The events whose sound is heard by now.

        ``update()`` hands events over as soon as the mix is scheduled, which is
        ahead of the speaker by the output latency. An engine that stamps each
        event with ``at`` (its predicted ``perf_counter()`` at the speaker) lets
        the game hold the pulse until then, so the lights hit with the sound.
        """
        due = []
        held = self._held
        while held:
            at = getattr(held[0], "at", None)
            if at is not None and now < at < now + self.MAX_HOLD_S:
                break
            due.append(held.popleft())
        return due

    def set_volume(self, volume: float) -> bool:
        """The player's music volume in [0, 1]; False when the engine has no volume.

        The slider is perceptual: the engine's linear master volume gets its
        square, so each step sounds about as big as the last.
        """
        if not self.has_volume:
            return False
        level = min(1.0, max(0.0, volume))
        self.engine.set_volume(level * level)  # type: ignore[attr-defined]
        return True

    @property
    def has_volume(self) -> bool:
        return callable(getattr(self.engine, "set_volume", None))
