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


def grab(w: World, kind: str = "shard") -> list[str]:
    """Put the player on the first pickup of ``kind`` and step once; the event kinds."""
    pk = next(p for p in w.pickups if p.kind == kind)
    w.player.x, w.player.y = pk.x, pk.y
    w.player.invulnerable = 10.0  # enemies or the boss may be close; not under test here
    return [e.kind for e in w.step(1 / 60, (0, 0))]


def test_collecting_a_shard_scores_and_respawns() -> None:
    w = World(seed=3)
    w.enemies.clear()
    pk = w.pickups[0]
    assert grab(w) == ["pickup"]
    assert w.score == 1 and w.shards_collected == 1 and w.wave_shards == 1
    assert len(w.pickups) == w.config.pickups_on_field
    assert pk not in w.pickups


def test_a_full_quota_starts_the_next_wave_whose_enemies_enter_on_the_bar() -> None:
    w = World(WorldConfig(shards_per_wave=2), seed=5)
    w.enemies.clear()
    kinds = grab(w) + grab(w)
    assert kinds == ["pickup", "pickup", "wave"]
    assert w.wave == 2 and w.wave_shards == 0 and w.wave_quota == 3
    marks = len(w.marks)
    assert marks >= 2 and w.enemies == []  # announced, not there yet
    for _ in range(120):  # two seconds without a bar: still only marks
        w.step(1 / 60, (0, 0))
    assert w.enemies == [] and len(w.marks) == marks
    spawned = [e.kind for e in w.on_bar()]
    assert spawned == ["enemy_spawned"] * min(marks, w.config.spawns_per_bar)
    assert len(w.enemies) == len(spawned)
    assert {e.kind for e in w.enemies} <= {"crawler", "dart"}


def test_a_wave_also_ends_when_the_player_dawdles() -> None:
    w = World(WorldConfig(wave_max_s=2.0), seed=2)
    w.player.invulnerable = 100.0
    kinds = [e.kind for _ in range(130) for e in w.step(1 / 60, (0, 0))]
    assert "wave" in kinds and w.wave == 2


def test_every_third_wave_brings_a_boss_that_falls_to_cores() -> None:
    w = World(WorldConfig(shards_per_wave=1, boss_hp=2), seed=5)
    w.enemies.clear()
    assert grab(w) == ["pickup", "wave"]
    assert grab(w) == ["pickup"]  # wave 2 needs one shard more
    assert grab(w) == ["pickup", "wave", "boss_spawned"]
    assert w.wave == 3 and w.is_boss_wave and w.boss is not None
    assert [pk.kind for pk in w.pickups] == ["core"]  # shards give way to cores
    assert grab(w, "core") == ["core"]
    assert w.boss.hp == 1 and w.boss.hurt == 1.0
    kinds = grab(w, "core")
    assert kinds[:3] == ["core", "boss_defeated", "wave"]
    assert w.boss is None and w.bosses_defeated == 1 and w.wave == 4
    assert all(pk.kind == "shard" for pk in w.pickups)
    assert w.phase == "play"


def test_beating_the_last_boss_wins_the_game() -> None:
    w = World(WorldConfig(shards_per_wave=1, boss_hp=1, waves=3), seed=6)
    w.enemies.clear()
    while w.boss is None:
        grab(w)
    assert w.wave == 3
    assert grab(w, "core") == ["core", "boss_defeated", "victory"]
    assert w.phase == "won"
    assert w.step(1 / 60, (1, 0)) == []  # the world stands still after the end
    assert w.threat() == 0.0 and w.on_bar() == []


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


def test_losing_all_health_is_game_over() -> None:
    w = lone_world()
    w.player.hp = 1
    add_enemy(w, 5.0)
    kinds = [e.kind for e in w.step(1 / 60, (0, 0))]
    assert kinds == ["hit", "player_down"]
    assert w.phase == "lost" and w.player.hp == 0
    assert w.danger() == 1.0


def test_a_dash_smashes_enemies_and_cannot_be_spammed() -> None:
    w = lone_world()
    e = add_enemy(w, 60.0)
    kinds = [k.kind for k in w.step(1 / 60, (1.0, 0.0), dash=True)]
    assert kinds == ["dash"]
    for _ in range(12):
        kinds += [k.kind for k in w.step(1 / 60, (1.0, 0.0))]
    assert "enemy_killed" in kinds and e not in w.enemies
    assert w.player.hp == w.config.player_hp  # dashing through does not hurt
    assert w.kills == 1
    assert [k.kind for k in w.step(1 / 60, (1.0, 0.0), dash=True)] == []  # cooling down


def test_danger_grows_with_lost_health_and_the_pack() -> None:
    w = lone_world()
    calm = w.danger()
    w.player.hp = 2
    hurt = w.danger()
    for i in range(6):
        add_enemy(w, 300.0, 10.0 * i)
    assert calm < hurt < w.danger() <= 1.0


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


def test_beating_a_boss_brings_a_lull() -> None:
    w = World(WorldConfig(boss_hp=1), seed=4)
    for _ in range(5):
        add_enemy(w, 100.0, 0.0)
    w.summon_boss()
    assert "boss_defeated" in grab(w, "core")
    assert len(w.enemies) == w.config.enemy_start
    w.step(1 / 60, (0, 0))
    assert w.chasing_count() == 0  # nobody hunts for a while: the music can calm down
