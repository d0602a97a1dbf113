"""The game world as a pure simulation: entities, movement, collisions and threat.

Nothing here imports pygame or the engine, so the rules are unit-testable and the
headless bot run is deterministic for a given seed and beat schedule. The music
reaches the world only through ``on_beat`` / ``on_bar``: enemies lunge on each
beat and the boss charges on each bar, so the gameplay moves with the music.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Literal

__all__ = [
    "Boss",
    "Enemy",
    "GameEvent",
    "GameEventKind",
    "Pickup",
    "Player",
    "World",
    "WorldConfig",
]

GameEventKind = Literal[
    "pickup",  # a gem was collected
    "core",  # a power core was collected; it damages the boss
    "hit",  # the player took damage
    "player_down",  # health reached zero; the player respawned
    "boss_spawned",
    "boss_defeated",
    "enemy_spawned",
]


@dataclass(frozen=True, slots=True)
class GameEvent:
    kind: GameEventKind
    x: float
    y: float


@dataclass(frozen=True, slots=True)
class WorldConfig:
    width: float = 960.0
    height: float = 600.0
    player_speed: float = 250.0
    player_radius: float = 14.0
    player_hp: int = 5
    invulnerable_s: float = 1.2
    enemy_start: int = 3
    enemy_max: int = 6
    enemy_spawn_every_s: float = 9.0
    enemy_speed: float = 85.0
    enemy_radius: float = 12.0
    chase_radius: float = 200.0  # an enemy this close starts chasing
    give_up_radius: float = 290.0  # ...and keeps chasing until the player is this far
    chase_stamina_s: float = 7.0  # after chasing this long an enemy gives up...
    rest_s: float = 4.0  # ...and wanders for this long: the music gets to breathe
    threat_radius: float = 360.0  # beyond this an enemy adds no threat
    beat_lunge: float = 1.6  # extra speed fraction an enemy gets on a beat
    pickups_on_field: int = 3
    boss_after_pickups: int = 7
    boss_after_s: float = 25.0  # the boss also comes when the player dawdles
    boss_hp: int = 4
    boss_speed: float = 55.0
    boss_radius: float = 34.0
    boss_charge: float = 3.0  # extra speed fraction the boss gets on a bar
    spawn_margin: float = 40.0
    grace_s: float = 3.5  # enemies ignore the player at first: every game opens calm


@dataclass(slots=True)
class Player:
    x: float
    y: float
    hp: int
    radius: float
    invulnerable: float = 0.0
    vx: float = 0.0
    vy: float = 0.0


@dataclass(slots=True)
class Enemy:
    x: float
    y: float
    radius: float
    heading: float  # wander direction, radians
    chasing: bool = False
    chased_s: float = 0.0
    resting_s: float = 0.0
    lunge: float = 0.0  # decays after each beat
    pulse: float = 0.0  # 1 on a beat, decays; for the renderer


@dataclass(slots=True)
class Pickup:
    x: float
    y: float
    kind: Literal["gem", "core"]
    radius: float = 10.0


@dataclass(slots=True)
class Boss:
    x: float
    y: float
    hp: int
    max_hp: int
    radius: float
    charge: float = 0.0  # decays after each bar
    pulse: float = 0.0


def _dist(ax: float, ay: float, bx: float, by: float) -> float:
    return math.hypot(ax - bx, ay - by)


def _clamp(v: float, lo: float, hi: float) -> float:
    return lo if v < lo else hi if v > hi else v


@dataclass
class World:
    """The whole game state; advance it with ``step`` at a fixed timestep."""

    config: WorldConfig = field(default_factory=WorldConfig)
    seed: int = 0

    def __post_init__(self) -> None:
        c = self.config
        # One private RNG: same seed + same inputs + same beat schedule = same game.
        self.rng = random.Random(self.seed)
        self.time = 0.0
        self.player = Player(c.width / 2, c.height / 2, c.player_hp, c.player_radius)
        self.enemies: list[Enemy] = []
        self.pickups: list[Pickup] = []
        self.boss: Boss | None = None
        self.score = 0
        self.pickups_collected = 0
        self.hits_taken = 0
        self.downs = 0
        self.bosses_defeated = 0
        self._since_boss_pickups = 0
        self._since_boss_s = 0.0
        self._next_enemy_s = c.enemy_spawn_every_s
        for _ in range(c.enemy_start):
            self._spawn_enemy().resting_s = c.grace_s
        for _ in range(c.pickups_on_field):
            self._spawn_pickup("gem")

    # --- music hooks ------------------------------------------------------------------

    def on_beat(self) -> None:
        """A beat of the music: chasing enemies lunge, everything pulses."""
        for e in self.enemies:
            e.pulse = 1.0
            if e.chasing:
                e.lunge = self.config.beat_lunge
        if self.boss is not None:
            self.boss.pulse = 1.0

    def on_bar(self) -> None:
        """A downbeat: the boss charges."""
        if self.boss is not None:
            self.boss.charge = self.config.boss_charge

    # --- queries ----------------------------------------------------------------------

    def chasing_count(self) -> int:
        return sum(1 for e in self.enemies if e.chasing)

    def nearest_enemy_distance(self) -> float:
        p = self.player
        return min((_dist(p.x, p.y, e.x, e.y) for e in self.enemies), default=math.inf)

    def threat(self) -> float:
        """Danger right now in [0, 1]; the music's intensity follows it (smoothed).

        Each enemy contributes by closeness (squared, so near ones dominate) and
        the contributions combine like independent probabilities, so many far
        enemies never outweigh one at your throat. A live boss sets a high floor.
        """
        c, p = self.config, self.player
        calm = 1.0
        for e in self.enemies:
            closeness = _clamp(1.0 - _dist(p.x, p.y, e.x, e.y) / c.threat_radius, 0.0, 1.0)
            calm *= 1.0 - 0.7 * closeness * closeness
        threat = 1.0 - calm
        threat += 0.04 * self.chasing_count()  # being hunted by a pack is worse
        if self.boss is not None:
            b = self.boss
            closeness = _clamp(1.0 - _dist(p.x, p.y, b.x, b.y) / c.threat_radius, 0.0, 1.0)
            threat = max(threat, 0.6 + 0.4 * closeness)
        if p.hp <= 2:
            threat += 0.1
        return _clamp(threat, 0.0, 1.0)

    # --- simulation -------------------------------------------------------------------

    def step(self, dt: float, move: tuple[float, float]) -> list[GameEvent]:
        """Advance ``dt`` seconds; ``move`` is the wanted direction (length <= 1)."""
        c = self.config
        events: list[GameEvent] = []
        self.time += dt
        self._move_player(dt, move)
        self._move_enemies(dt)
        self._move_boss(dt)
        self._collide(events)
        self._collect(events)

        self._next_enemy_s -= dt
        if self._next_enemy_s <= 0.0:
            self._next_enemy_s = c.enemy_spawn_every_s
            if len(self.enemies) < c.enemy_max:
                e = self._spawn_enemy()
                events.append(GameEvent("enemy_spawned", e.x, e.y))

        if self.boss is None:
            self._since_boss_s += dt
            if (
                self._since_boss_pickups >= c.boss_after_pickups
                or self._since_boss_s >= c.boss_after_s
            ):
                events.append(self._spawn_boss())
        return events

    def _move_player(self, dt: float, move: tuple[float, float]) -> None:
        c, p = self.config, self.player
        mx, my = move
        n = math.hypot(mx, my)
        if n > 1.0:
            mx, my = mx / n, my / n
        # Knockback velocity decays; input adds on top of it.
        decay = math.exp(-8.0 * dt)
        p.vx *= decay
        p.vy *= decay
        p.x = _clamp(p.x + (mx * c.player_speed + p.vx) * dt, p.radius, c.width - p.radius)
        p.y = _clamp(p.y + (my * c.player_speed + p.vy) * dt, p.radius, c.height - p.radius)
        p.invulnerable = max(0.0, p.invulnerable - dt)

    def _move_enemies(self, dt: float) -> None:
        c, p = self.config, self.player
        decay = math.exp(-5.0 * dt)
        for e in self.enemies:
            d = _dist(p.x, p.y, e.x, e.y)
            e.resting_s = max(0.0, e.resting_s - dt)
            e.chasing = e.resting_s <= 0.0 and d < (
                c.give_up_radius if e.chasing else c.chase_radius
            )
            e.chased_s = e.chased_s + dt if e.chasing else 0.0
            if e.chased_s > c.chase_stamina_s:
                e.chasing, e.chased_s, e.resting_s = False, 0.0, c.rest_s
                # Turn away from the player so the rest reads as giving up.
                e.heading = math.atan2(e.y - p.y, e.x - p.x)
            e.lunge *= decay
            e.pulse *= math.exp(-6.0 * dt)
            if e.chasing and d > 1e-6:
                speed = c.enemy_speed * (1.0 + e.lunge)
                e.x += (p.x - e.x) / d * speed * dt
                e.y += (p.y - e.y) / d * speed * dt
            else:
                e.heading += self.rng.uniform(-2.0, 2.0) * dt
                speed = c.enemy_speed * 0.45
                e.x += math.cos(e.heading) * speed * dt
                e.y += math.sin(e.heading) * speed * dt
            # Bounce off the walls by turning around.
            if not e.radius <= e.x <= c.width - e.radius:
                e.heading = math.pi - e.heading
            if not e.radius <= e.y <= c.height - e.radius:
                e.heading = -e.heading
            e.x = _clamp(e.x, e.radius, c.width - e.radius)
            e.y = _clamp(e.y, e.radius, c.height - e.radius)
        # Keep the pack from collapsing into one blob.
        for i, a in enumerate(self.enemies):
            for b in self.enemies[i + 1 :]:
                d = _dist(a.x, a.y, b.x, b.y)
                overlap = a.radius + b.radius - d
                if overlap > 0 and d > 1e-6:
                    ux, uy = (a.x - b.x) / d, (a.y - b.y) / d
                    a.x += ux * overlap / 2
                    a.y += uy * overlap / 2
                    b.x -= ux * overlap / 2
                    b.y -= uy * overlap / 2

    def _move_boss(self, dt: float) -> None:
        b, p, c = self.boss, self.player, self.config
        if b is None:
            return
        b.charge *= math.exp(-3.0 * dt)
        b.pulse *= math.exp(-6.0 * dt)
        d = _dist(p.x, p.y, b.x, b.y)
        if d > 1e-6:
            speed = c.boss_speed * (1.0 + b.charge)
            b.x = _clamp(b.x + (p.x - b.x) / d * speed * dt, b.radius, c.width - b.radius)
            b.y = _clamp(b.y + (p.y - b.y) / d * speed * dt, b.radius, c.height - b.radius)

    def _collide(self, events: list[GameEvent]) -> None:
        p = self.player
        if p.invulnerable > 0.0:
            return
        attackers: list[tuple[float, float, float, float]] = [
            (e.x, e.y, e.radius, 420.0) for e in self.enemies
        ]
        if self.boss is not None:
            attackers.append((self.boss.x, self.boss.y, self.boss.radius, 700.0))
        for ax, ay, ar, knock in attackers:
            d = _dist(p.x, p.y, ax, ay)
            if d < p.radius + ar:
                ux, uy = ((p.x - ax) / d, (p.y - ay) / d) if d > 1e-6 else (1.0, 0.0)
                p.vx, p.vy = ux * knock, uy * knock
                p.hp -= 1
                p.invulnerable = self.config.invulnerable_s
                self.hits_taken += 1
                events.append(GameEvent("hit", p.x, p.y))
                if p.hp <= 0:
                    events.append(self._respawn_player())
                return

    def _respawn_player(self) -> GameEvent:
        # No game over: the demo should keep the music going. Respawn in the
        # middle and shove anything close away so the player gets a breather.
        c, p = self.config, self.player
        self.downs += 1
        p.x, p.y, p.vx, p.vy = c.width / 2, c.height / 2, 0.0, 0.0
        p.hp = c.player_hp
        p.invulnerable = 2.5
        for e in self.enemies:
            if _dist(p.x, p.y, e.x, e.y) < c.chase_radius:
                e.x, e.y = self._edge_point()
                e.chasing = False
        return GameEvent("player_down", p.x, p.y)

    def _collect(self, events: list[GameEvent]) -> None:
        p = self.player
        for pk in list(self.pickups):
            if _dist(p.x, p.y, pk.x, pk.y) >= p.radius + pk.radius:
                continue
            self.pickups.remove(pk)
            if pk.kind == "gem":
                self.score += 1
                self.pickups_collected += 1
                self._since_boss_pickups += 1
                events.append(GameEvent("pickup", pk.x, pk.y))
                self._spawn_pickup("gem")
            else:
                self.score += 3
                events.append(GameEvent("core", pk.x, pk.y))
                boss = self.boss
                if boss is not None:
                    boss.hp -= 1
                    if boss.hp <= 0:
                        events.append(self._defeat_boss())
                    else:
                        self._spawn_pickup("core")

    def _defeat_boss(self) -> GameEvent:
        assert self.boss is not None
        b = self.boss
        self.boss = None
        self.bosses_defeated += 1
        self.score += 10
        self._since_boss_pickups = 0
        self._since_boss_s = 0.0
        # A lull after the victory: the pack thins out and stops hunting for a
        # while, so the music gets to come back down to explore.
        del self.enemies[self.config.enemy_start :]
        for e in self.enemies:
            e.chasing, e.chased_s, e.resting_s = False, 0.0, self.config.grace_s + 2.0
        self.pickups = [pk for pk in self.pickups if pk.kind == "gem"]
        while len(self.pickups) < self.config.pickups_on_field:
            self._spawn_pickup("gem")
        return GameEvent("boss_defeated", b.x, b.y)

    def summon_boss(self) -> GameEvent | None:
        """Bring the boss now (a showcase key); None if it is already here."""
        return self._spawn_boss() if self.boss is None else None

    # --- spawning ---------------------------------------------------------------------

    def _edge_point(self) -> tuple[float, float]:
        c, m = self.config, self.config.spawn_margin
        side = self.rng.randrange(4)
        if side == 0:
            return self.rng.uniform(m, c.width - m), m
        if side == 1:
            return self.rng.uniform(m, c.width - m), c.height - m
        if side == 2:
            return m, self.rng.uniform(m, c.height - m)
        return c.width - m, self.rng.uniform(m, c.height - m)

    def _free_point(self, min_player_distance: float) -> tuple[float, float]:
        c, m, p = self.config, self.config.spawn_margin, self.player
        x, y = m, m
        for _ in range(32):  # bounded: fall back to the last try
            x = self.rng.uniform(m, c.width - m)
            y = self.rng.uniform(m, c.height - m)
            if _dist(x, y, p.x, p.y) >= min_player_distance:
                break
        return x, y

    def _spawn_enemy(self) -> Enemy:
        c = self.config
        x, y = self._edge_point()
        # Start outside chase range so every game opens calm (the explore state).
        for _ in range(32):
            if _dist(x, y, self.player.x, self.player.y) >= c.chase_radius + 20:
                break
            x, y = self._edge_point()
        e = Enemy(x, y, c.enemy_radius, self.rng.uniform(0, 2 * math.pi))
        self.enemies.append(e)
        return e

    def _spawn_pickup(self, kind: Literal["gem", "core"]) -> None:
        # Cores spawn far away so the boss fight lasts a few bars.
        x, y = self._free_point(280.0 if kind == "core" else 150.0)
        self.pickups.append(Pickup(x, y, kind, 12.0 if kind == "core" else 10.0))

    def _spawn_boss(self) -> GameEvent:
        c, p = self.config, self.player
        corners = [
            (c.boss_radius + 10, c.boss_radius + 10),
            (c.width - c.boss_radius - 10, c.boss_radius + 10),
            (c.boss_radius + 10, c.height - c.boss_radius - 10),
            (c.width - c.boss_radius - 10, c.height - c.boss_radius - 10),
        ]
        x, y = max(corners, key=lambda q: _dist(q[0], q[1], p.x, p.y))
        self.boss = Boss(x, y, c.boss_hp, c.boss_hp, c.boss_radius)
        # During the fight the gems give way to cores, which hurt the boss.
        self.pickups = []
        self._spawn_pickup("core")
        return GameEvent("boss_spawned", x, y)
