"""The world's rules: threat, chasing, pickups, hits and the boss."""

from __future__ import annotations

import math

import pytest

from demo_game.world import Enemy, World, WorldConfig


def lone_world(**config: float) -> World:
    """A world with no enemies and no pickups, the player in the middle."""
    w = World(WorldConfig(**config), seed=1)  # type: ignore[arg-type]
    w.enemies.clear()
    w.pickups.clear()
    return w


def add_enemy(w: World, dx: float, dy: float = 0.0) -> Enemy:
    p = w.player
    e = Enemy(p.x + dx, p.y + dy, w.config.enemy_radius, heading=0.0)
    w.enemies.append(e)
    return e


def test_world_opens_calm() -> None:
    for seed in range(10):
        w = World(seed=seed)
        assert w.chasing_count() == 0
        assert w.threat() < 0.5
        assert len(w.pickups) == w.config.pickups_on_field
        assert w.boss is None


def test_threat_rises_as_an_enemy_approaches() -> None:
    w = lone_world()
    assert w.threat() == 0.0
    e = add_enemy(w, 400.0)
    values = []
    for d in (400, 340, 280, 220, 160, 100, 40):
        e.x = w.player.x + d
        values.append(w.threat())
    assert values == sorted(values)
    assert values[0] == 0.0  # beyond the threat radius: nothing
    assert values[-1] > 0.5
    assert all(0.0 <= v <= 1.0 for v in values)


def test_threat_grows_with_more_enemies_and_stays_in_range() -> None:
    w = lone_world()
    add_enemy(w, 150.0)
    one = w.threat()
    add_enemy(w, -150.0)
    two = w.threat()
    assert two > one
    for i in range(20):
        add_enemy(w, 20.0 * math.cos(i), 20.0 * math.sin(i))
    w.player.hp = 1
    assert w.threat() == 1.0


def test_boss_sets_a_high_threat_floor() -> None:
    w = lone_world()
    assert w.summon_boss() is not None
    assert w.summon_boss() is None  # only one boss at a time
    assert w.threat() >= 0.6


def test_enemy_chases_within_radius_and_keeps_chasing_with_hysteresis() -> None:
    w = lone_world()
    c = w.config
    e = add_enemy(w, c.chase_radius + 30)
    w.step(1 / 60, (0, 0))
    assert not e.chasing
    e.x = w.player.x + c.chase_radius - 10
    w.step(1 / 60, (0, 0))
    assert e.chasing
    # Between the chase and give-up radii it keeps chasing.
    e.x = w.player.x + (c.chase_radius + c.give_up_radius) / 2
    w.step(1 / 60, (0, 0))
    assert e.chasing
    e.x = w.player.x + c.give_up_radius + 20
    w.step(1 / 60, (0, 0))
    assert not e.chasing


def test_enemy_tires_after_chasing_for_a_while() -> None:
    w = lone_world(chase_stamina_s=1.0, rest_s=2.0, player_speed=400.0)
    e = add_enemy(w, 150.0)
    w.player.invulnerable = 100.0
    chased = [w.step(1 / 60, (0, 0)) is not None and e.chasing for _ in range(90)]
    assert chased[0] and not chased[-1]
    assert e.resting_s > 0


def test_enemies_move_towards_the_player_and_lunge_on_the_beat() -> None:
    def distance_after(beat: bool) -> float:
        w = lone_world()
        e = add_enemy(w, 150.0)
        w.step(1 / 60, (0, 0))  # starts chasing
        if beat:
            w.on_beat()
        for _ in range(10):
            w.step(1 / 60, (0, 0))
        assert e.pulse < 1.0
        return e.x - w.player.x

    plain, on_beat = distance_after(False), distance_after(True)
    assert plain < 150.0
    assert on_beat < plain  # the beat made it step further


def test_boss_charges_on_the_bar() -> None:
    def boss_travel(bar: bool) -> float:
        w = lone_world()
        w.summon_boss()
        assert w.boss is not None
        x0, y0 = w.boss.x, w.boss.y
        if bar:
            w.on_bar()
        for _ in range(20):
            w.step(1 / 60, (0, 0))
        return math.hypot(w.boss.x - x0, w.boss.y - y0)

    assert boss_travel(True) > 1.5 * boss_travel(False)


def test_collecting_a_pickup_scores_and_respawns() -> None:
    w = World(seed=3)
    w.enemies.clear()
    pk = w.pickups[0]
    w.player.x, w.player.y = pk.x, pk.y
    events = w.step(1 / 60, (0, 0))
    assert [e.kind for e in events] == ["pickup"]
    assert w.score == 1 and w.pickups_collected == 1
    assert len(w.pickups) == w.config.pickups_on_field
    assert pk not in w.pickups


def test_boss_arrives_after_enough_pickups_and_falls_to_cores() -> None:
    w = World(WorldConfig(boss_after_pickups=2, boss_hp=2), seed=5)
    w.enemies.clear()
    kinds: list[str] = []
    for _ in range(2):
        pk = w.pickups[0]
        w.player.x, w.player.y = pk.x, pk.y
        kinds += [e.kind for e in w.step(1 / 60, (0, 0))]
    assert kinds == ["pickup", "pickup", "boss_spawned"]
    assert w.boss is not None
    assert [pk.kind for pk in w.pickups] == ["core"]  # gems give way to cores
    for expected in (["core"], ["core", "boss_defeated"]):
        core = w.pickups[0]
        w.player.x, w.player.y = core.x, core.y
        w.player.invulnerable = 10.0  # the boss may be close; not under test here
        assert [e.kind for e in w.step(1 / 60, (0, 0))] == expected
    assert w.boss is None and w.bosses_defeated == 1
    assert all(pk.kind == "gem" for pk in w.pickups)


def test_boss_also_arrives_when_the_player_dawdles() -> None:
    w = World(WorldConfig(boss_after_s=2.0), seed=2)
    kinds = [e.kind for _ in range(130) for e in w.step(1 / 60, (0, 0))]
    assert "boss_spawned" in kinds


def test_touching_an_enemy_hurts_once_then_grants_invulnerability() -> None:
    w = lone_world()
    add_enemy(w, 5.0)
    events = w.step(1 / 60, (0, 0))
    assert [e.kind for e in events] == ["hit"]
    assert w.player.hp == w.config.player_hp - 1
    assert w.player.invulnerable > 0
    # Still overlapping right after: no second hit.
    w.enemies[0].x, w.enemies[0].y = w.player.x, w.player.y
    assert w.step(1 / 60, (0, 0)) == []


def test_losing_all_health_respawns_the_player() -> None:
    w = lone_world()
    w.player.hp = 1
    add_enemy(w, 5.0)
    kinds = [e.kind for e in w.step(1 / 60, (0, 0))]
    assert kinds == ["hit", "player_down"]
    assert w.player.hp == w.config.player_hp and w.downs == 1
    assert w.chasing_count() == 0  # the crowd was shoved away


@pytest.mark.parametrize("move", [(1.0, 0.0), (0.0, -1.0), (5.0, 5.0)])
def test_player_moves_at_most_at_full_speed_and_stays_inside(move: tuple[float, float]) -> None:
    w = lone_world()
    x0, y0 = w.player.x, w.player.y
    w.step(0.1, move)
    assert math.hypot(w.player.x - x0, w.player.y - y0) <= w.config.player_speed * 0.1 + 1e-9
    for _ in range(600):
        w.step(1 / 60, move)
    r = w.player.radius
    assert r <= w.player.x <= w.config.width - r
    assert r <= w.player.y <= w.config.height - r


def test_beating_the_boss_brings_a_lull() -> None:
    w = World(WorldConfig(boss_hp=1), seed=4)
    for _ in range(5):
        add_enemy(w, 100.0, 0.0)
    w.summon_boss()
    core = w.pickups[0]
    w.player.x, w.player.y = core.x, core.y
    w.player.invulnerable = 10.0
    assert "boss_defeated" in [e.kind for e in w.step(1 / 60, (0, 0))]
    assert len(w.enemies) == w.config.enemy_start
    w.step(1 / 60, (0, 0))
    assert w.chasing_count() == 0  # nobody hunts for a while: the music can calm down
