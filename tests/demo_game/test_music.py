"""The music director: intensity, moods, state requests, stingers, beat sync."""

from __future__ import annotations

import math
from typing import Any

import pytest

from demo_game.music import IntensitySmoother, MoodMachine, MusicDirector
from demo_game.world import Enemy, GameEvent, World


def calm_world() -> World:
    w = World(seed=0)
    w.enemies.clear()
    return w


def test_smoother_rises_fast_and_falls_slowly() -> None:
    s = IntensitySmoother(rise_s=0.4, fall_s=2.5)
    for _ in range(30):  # half a second of danger
        s.update(1.0, 1 / 60)
    risen = s.value
    assert risen > 0.6
    for _ in range(30):  # half a second of calm
        s.update(0.0, 1 / 60)
    assert risen - s.value < risen * 0.3  # lingers
    assert 0.0 <= s.value <= 1.0


def test_smoother_ignores_nan_and_clamps() -> None:
    s = IntensitySmoother(value=0.5)
    assert s.update(math.nan, 1 / 60) == 0.5
    for _ in range(1000):
        s.update(5.0, 1 / 60)
    assert s.value == 1.0


def test_mood_machine_explore_combat_boss_and_back() -> None:
    m = MoodMachine(calm_hold_s=3.0, min_dwell_s=2.0)
    w = calm_world()
    dt = 1 / 60

    def run(seconds: float) -> list[str]:
        return [m.update(w, dt) for _ in range(round(seconds / dt))]

    assert set(run(1.0)) == {"explore"}
    e = Enemy(w.player.x + 100, w.player.y, 12.0, 0.0, chasing=True)
    w.enemies.append(e)
    assert run(0.1)[-1] == "combat"  # danger is heard at once
    e.chasing = False
    e.x += 1000  # gone
    assert set(run(2.5)) == {"combat"}  # held for calm_hold_s
    assert run(1.0)[-1] == "explore"
    w.summon_boss()
    assert run(0.1)[-1] == "boss"  # escalation never waits
    w.boss = None
    moods = run(8.0)
    steps = [m for i, m in enumerate(moods) if i == 0 or moods[i - 1] != m]
    assert steps == ["boss", "combat", "explore"]  # calming down goes through combat


def test_mood_machine_does_not_flap() -> None:
    m = MoodMachine(calm_hold_s=1.0, min_dwell_s=2.0)
    w = calm_world()
    e = Enemy(w.player.x + 100, w.player.y, 12.0, 0.0)
    w.enemies.append(e)
    moods = []
    for i in range(600):  # an enemy flickering in and out of chase every 0.25 s
        e.chasing = (i // 15) % 2 == 0
        moods.append(m.update(w, 1 / 60))
    changes = sum(1 for a, b in zip(moods, moods[1:], strict=False) if a != b)
    assert changes <= 1


def test_director_requests_states_only_on_change_and_on_the_bar(
    director: MusicDirector, engine: Any, clock: Any, play: Any
) -> None:
    w = calm_world()
    play(w, director, clock, 2.0)
    assert engine.of("set_state") == [("set_state", "explore", "bar")]
    w.enemies.append(Enemy(w.player.x + 100, w.player.y, 12.0, 0.0))
    play(w, director, clock, 1.0)
    assert engine.of("set_state")[-1] == ("set_state", "combat", "bar")
    assert director.view.pending == "combat" or director.view.state == "combat"
    play(w, director, clock, 4.0)  # a bar is 2 s at 120 bpm in 4/4
    assert director.view.state == "combat" and director.view.pending is None
    assert len(engine.of("set_state")) == 2
    assert director.states_visited == ["explore", "combat"]


def test_director_sends_intensity_as_it_follows_threat(
    director: MusicDirector, engine: Any, clock: Any, play: Any
) -> None:
    w = calm_world()
    play(w, director, clock, 0.5)
    low = engine.of("set_parameter")[-1][2]
    w.enemies.append(Enemy(w.player.x + 60, w.player.y, 12.0, 0.0))
    w.player.invulnerable = 100.0
    play(w, director, clock, 1.0)
    calls = engine.of("set_parameter")
    assert all(name == "intensity" and 0.0 <= v <= 1.0 for _, name, v in calls)
    assert calls[-1][2] > low + 0.3
    # Sent as it moves, in steps of a hundredth, and never twice the same value in a row.
    values = [v for _, _, v in calls]
    assert 10 < len(values) < 90
    assert all(abs(b - a) >= 0.01 - 1e-9 for a, b in zip(values, values[1:], strict=False))
    assert calls[-1][2] == pytest.approx(round(director.view.intensity, 2))


def test_intensity_is_scaled_to_the_bundle_range(clock: Any, make_engine: Any, play: Any) -> None:
    engine = make_engine(clock)
    d = MusicDirector(
        engine,
        states=["explore"],
        stingers=[],
        parameters={"intensity": {"min": 10.0, "max": 20.0}},
    )
    w = calm_world()
    w.summon_boss()
    play(w, d, clock, 3.0)
    value = engine.of("set_parameter")[-1][2]
    assert 10.0 + 10.0 * 0.55 < value <= 20.0


def test_director_without_the_parameter_sends_none(clock: Any, make_engine: Any, play: Any) -> None:
    engine = make_engine(clock)
    d = MusicDirector(engine, states=["explore"], stingers=[], parameters={})
    play(calm_world(), d, clock, 0.5)
    assert engine.of("set_parameter") == []


def test_stingers_fire_for_game_events_only_if_the_bundle_has_them(
    clock: Any, make_engine: Any
) -> None:
    engine = make_engine(clock)
    d = MusicDirector(engine, states=["explore"], stingers=["pickup"], parameters={})
    w = calm_world()
    events = [
        GameEvent("pickup", 0, 0),
        GameEvent("hit", 0, 0),
        GameEvent("core", 0, 0),
        GameEvent("enemy_spawned", 0, 0),
    ]
    d.frame(w, events, 1 / 60)
    assert engine.of("trigger") == [("trigger", "pickup"), ("trigger", "pickup")]
    assert d.stingers_fired == {"pickup": 2}
    clock.now += 0.6  # the next beat: the stingers land
    d.frame(w, [], 1 / 60)
    assert d.stingers_landed == {"pickup": 2}
    assert d.view.last_stinger == "pickup"


@pytest.mark.parametrize(
    ("states", "expected"),
    [
        (["explore", "combat", "boss"], {"explore": "explore", "combat": "combat", "boss": "boss"}),
        (["explore", "combat"], {"explore": "explore", "combat": "combat", "boss": "combat"}),
        (["explore"], {"explore": "explore", "combat": None, "boss": None}),
        (["calm", "storm"], {"explore": "calm", "combat": None, "boss": None}),
    ],
)
def test_moods_fall_back_to_states_the_bundle_has(
    states: list[str], expected: dict[str, str | None], clock: Any, make_engine: Any
) -> None:
    d = MusicDirector(make_engine(clock), states=states, stingers=[], parameters={})
    assert {mood: d.state_for(mood) for mood in expected} == expected


def test_bundle_without_boss_state_fights_the_boss_in_combat(
    clock: Any, make_engine: Any, play: Any
) -> None:
    engine = make_engine(clock)
    d = MusicDirector(engine, states=["explore", "combat"], stingers=[], parameters={})
    d.begin()
    w = calm_world()
    w.summon_boss()
    w.player.invulnerable = 100.0
    play(w, d, clock, 1.0)
    assert [c[1] for c in engine.of("set_state")] == ["explore", "combat"]


def test_hud_view_pulses_on_beats_and_flashes_on_bars(director: MusicDirector, clock: Any) -> None:
    w = calm_world()
    director.frame(w, [], 1 / 60)  # bar 0, beat 0 at t=0
    assert director.view.beat_pulse == 1.0 and director.view.bar_flash == 1.0
    clock.now += 0.25
    director.frame(w, [], 0.25)
    assert director.view.beat_pulse < 0.2 and director.view.bar_flash < 0.5
    clock.now += 0.25
    director.frame(w, [], 0.25)
    assert director.view.beat_pulse == 1.0 and director.view.beat == 1
    assert director.view.stats["underruns"] == 0


@pytest.mark.parametrize(
    ("states", "victory", "game_over"),
    [
        (["explore", "combat", "boss"], "explore", "explore"),
        (["explore", "combat", "boss", "victory", "game_over"], "victory", "game_over"),
    ],
)
def test_endings_play_their_own_state_or_the_closest_one(
    states: list[str], victory: str, game_over: str, clock: Any, make_engine: Any
) -> None:
    d = MusicDirector(make_engine(clock), states=states, stingers=[], parameters={})
    assert d.state_for("victory") == victory
    assert d.state_for("game_over") == game_over


def test_the_scene_sets_the_mood_and_endings_calm_the_intensity(
    clock: Any, make_engine: Any
) -> None:
    engine = make_engine(clock)
    d = MusicDirector(
        engine,
        states=["explore", "combat", "boss", "victory"],
        stingers=[],
        parameters={"intensity": {"min": 0.0, "max": 1.0}},
    )
    w = calm_world()
    w.summon_boss()
    for _ in range(60):
        d.frame(w, [], 1 / 60, "play")
    assert d.view.mood == "boss" and d.view.intensity > 0.5
    for _ in range(240):
        d.frame(w, [], 1 / 60, "won")
    assert d.view.mood == "victory" and d.view.intensity < 0.3
    assert [c[1] for c in engine.of("set_state")] == ["boss", "victory"]
    d.frame(w, [], 1 / 60, "title")
    assert d.view.mood == "explore"


def test_danger_drives_the_mood_parameter_only_if_the_bundle_declares_it(
    clock: Any, make_engine: Any
) -> None:
    def run(parameters: dict[str, dict[str, float]]) -> list[tuple[Any, ...]]:
        engine = make_engine(clock)
        d = MusicDirector(engine, states=["explore"], stingers=[], parameters=parameters)
        w = calm_world()
        w.player.hp = 1
        for _ in range(120):
            d.frame(w, [], 1 / 60)
        return [c for c in engine.of("set_parameter") if c[1] != "intensity"]

    assert run({"intensity": {"min": 0.0, "max": 1.0}}) == []
    danger = run({"danger": {"min": 0.0, "max": 1.0}})
    assert len(danger) >= 3 and danger[-1][2] > danger[0][2] >= 0.0
    valence = run({"valence": {"min": -1.0, "max": 1.0}})
    assert valence[-1][2] < valence[0][2] <= 1.0  # valence falls as danger rises


def test_read_stats_accepts_a_dict_or_a_typed_record() -> None:
    from demo_game.music import read_stats

    class Record:
        def as_dict(self) -> dict[str, int]:
            return {"underruns": 2, "fallback_bars": 1}

    class DictEngine:
        def stats(self) -> dict[str, int]:
            return {"underruns": 0}

    class RecordEngine:
        def stats(self) -> Record:
            return Record()

    assert read_stats(DictEngine()) == {"underruns": 0}  # type: ignore[arg-type]
    assert read_stats(RecordEngine()) == {"underruns": 2, "fallback_bars": 1}  # type: ignore[arg-type]


class _Event:
    def __init__(self, kind: str, at: float | None) -> None:
        self.kind, self.frame, self.bar, self.beat, self.name, self.time = kind, 0, 0, 0, None, 0.0
        if at is not None:
            self.at = at


def test_events_stamped_with_their_hearing_time_are_held_until_then(
    clock: Any, make_engine: Any
) -> None:
    import time

    engine = make_engine(clock)
    d = MusicDirector(engine, states=["explore"], stingers=[], parameters={})
    soon = time.perf_counter() + 0.2
    queued = [_Event("beat", None), _Event("beat", soon), _Event("bar", soon + 0.01)]
    engine.update = lambda: [queued.pop(0) for _ in range(len(queued))]  # type: ignore[method-assign]
    first = d.frame(calm_world(), [], 1 / 60)
    assert [getattr(e, "at", None) for e in first] == [None]  # unstamped: at once
    time.sleep(0.25)
    later = d.frame(calm_world(), [], 1 / 60)
    assert [e.kind for e in later] == ["beat", "bar"]
    assert d.view.bar_flash == 1.0


def test_open_engine_gives_a_silent_engine_that_keeps_time() -> None:
    import time

    import adaptive
    from demo_game.music import open_engine

    engine = open_engine(adaptive.load_bundle(), "silent", seed=1)
    engine.start()
    try:
        engine.set_state("explore", sync="bar")
        deadline = time.perf_counter() + 10.0
        kinds: set[str] = set()
        while time.perf_counter() < deadline and not {"beat", "bar"} <= kinds:
            kinds |= {e.kind for e in engine.update()}
            time.sleep(0.05)
    finally:
        engine.stop()
    assert {"beat", "bar"} <= kinds


def test_the_volume_slider_sets_the_engines_master_volume() -> None:
    """The player's slider is perceptual (squared) and the engine's volume does the work."""
    import numpy as np

    import adaptive
    from demo_game.music import MusicDirector, open_engine

    bundle = adaptive.load_bundle()
    full, half = (open_engine(bundle, "offline", seed=2) for _ in range(2))
    director = MusicDirector.for_bundle(half, bundle)
    assert director.has_volume and director.set_volume(0.5)
    assert half.volume == pytest.approx(0.25)
    ref = np.concatenate([full.render(24000), full.render(24000)])
    out = np.concatenate([half.render(24000), half.render(24000)])
    settled = 12000  # past the fade to the new level
    assert np.abs(ref[settled:]).max() > 0.01
    assert np.array_equal(out[settled:], ref[settled:] * np.float32(0.25))


def test_engine_errors_reach_the_overlay_and_the_report(clock: Any, make_engine: Any) -> None:
    engine = make_engine(clock)
    d = MusicDirector(engine, states=["explore"], stingers=[], parameters={})
    failure = _Event("error", None)
    failure.name = "RuntimeError: the drums model failed"
    engine.update = lambda: [failure]  # type: ignore[method-assign]
    d.frame(calm_world(), [], 1 / 60)
    assert d.errors == ["RuntimeError: the drums model failed"]
    assert d.view.last_error == "RuntimeError: the drums model failed"
