"""The scripted bot: deterministic for a seed, and it shows off every mood."""

from __future__ import annotations

from typing import Any

import pytest

from demo_game.bot import Bot
from demo_game.music import MusicDirector
from demo_game.world import World


def session(
    seed: int, helpers: Any, seconds: float = 20.0
) -> tuple[World, MusicDirector, list[str]]:
    make_clock, make_engine, play = helpers
    clock = make_clock()
    engine = make_engine(clock, tempo=112.0)
    director = MusicDirector(
        engine,
        states=["explore", "combat", "boss"],
        stingers=["pickup", "hit"],
        parameters={"intensity": {"min": 0.0, "max": 1.0}},
    )
    director.begin()
    world = World(seed=seed)
    bot = Bot(seed)
    moods = play(world, director, clock, seconds, move=bot.decide)
    return world, director, moods


def trace(seed: int) -> list[tuple[float, float, int, int]]:
    world, bot = World(seed=seed), Bot(seed)
    out = []
    for i in range(600):
        if i % 30 == 0:
            world.on_beat()
        move, dash = bot.decide(world, 1 / 60)
        world.step(1 / 60, move, dash)
        out.append((world.player.x, world.player.y, world.score, world.player.hp))
    return out


def test_bot_is_deterministic_for_a_seed() -> None:
    assert trace(7) == trace(7)


def test_different_seeds_play_differently() -> None:
    assert trace(1) != trace(2)


def test_bot_moves_are_unit_or_zero() -> None:
    world, bot = World(seed=4), Bot(4)
    for _ in range(300):
        dx, dy = bot.act(world, 1 / 60)
        assert abs((dx * dx + dy * dy) - 1.0) < 1e-9 or (dx, dy) == (0.0, 0.0)
        world.step(1 / 60, (dx, dy))


@pytest.fixture
def helpers(make_clock: Any, make_engine: Any, play: Any) -> Any:
    return make_clock, make_engine, play


def test_bot_collects_shards_smashes_enemies_and_survives(helpers: Any) -> None:
    world, _, _ = session(0, helpers)
    assert world.shards_collected >= 5
    assert world.kills >= 1
    assert world.phase == "play" and world.player.hp > 0


def test_bot_wins_a_whole_game(helpers: Any) -> None:
    world, director, _ = session(1, helpers, seconds=120.0)
    assert world.phase == "won", (world.wave, world.player.hp)
    assert world.bosses_defeated == world.config.waves // world.config.boss_every


def test_bot_meets_every_mood_within_twenty_seconds(helpers: Any) -> None:
    for seed in range(5):
        world, director, moods = session(seed, helpers)
        assert moods[0] == "explore", seed
        assert {"explore", "combat", "boss"} <= set(moods), (seed, moods)
        # ...and the bar-quantized states landed too, not just the requests.
        assert {"explore", "combat", "boss"} <= set(director.states_visited), (
            seed,
            director.states_visited,
        )
        assert director.stingers_fired["pickup"] >= 3
