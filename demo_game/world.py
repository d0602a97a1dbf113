"""The game world as a pure simulation: waves, shards, a boss, collisions and threat.

Nothing here imports pygame or the engine, so the rules are unit-testable and the
headless bot run is deterministic for a given seed and beat schedule. The music
reaches the world only through ``on_beat`` / ``on_bar``:

- enemies lunge on each beat and the boss charges on each bar;
- new enemies are announced by a spawn mark and materialize on the next bar, so
  every wave enters on the music's downbeat.

The game: collect the wave's shards while the pack grows; dash (it smashes
crawlers) to get out of trouble; every ``boss_every`` waves a boss comes, and
collecting the charged cores breaks it. Beat the last boss to win; lose all
health and the game is over.
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
    "Phase",
    "Pickup",
    "Player",
    "SpawnMark",
    "World",
    "WorldConfig",
]

GameEventKind = Literal[
    "pickup",  # a shard was collected
    "core",  # a core was collected; it damages the boss
    "hit",  # the player took damage
    "dash",  # the player dashed
    "enemy_killed",  # a dash smashed an enemy
    "enemy_spawned",  # a spawn mark became an enemy (always on a bar)
    "wave",  # a new wave began
    "boss_spawned",
    "boss_defeated",
    "player_down",  # health reached zero: game over
    "victory",  # the last boss fell
]

Phase = Literal["play", "won", "lost"]
EnemyKind = Literal["crawler", "dart"]


@dataclass(frozen=True, slots=True)
class GameEvent:
    kind: GameEventKind
    x: float
    y: float


@dataclass(frozen=True, slots=True)
class WorldConfig:
    width: float = 960.0
    height: float = 584.0
    player_speed: float = 250.0
    player_radius: float = 14.0
    player_hp: int = 5
    invulnerable_s: float = 1.2
    dash_speed: float = 720.0
    dash_s: float = 0.18
    dash_cooldown_s: float = 1.4
    waves: int = 6  # the game is won after the boss of the last wave
    boss_every: int = 3  # waves 3 and 6 are boss waves
    shards_per_wave: int = 5  # wave n needs shards_per_wave + n - 1 shards
    wave_max_s: float = 22.0  # a wave also ends when the player dawdles this long
    enemy_start: int = 3
    enemy_per_wave: int = 2
    enemy_max: int = 8
    enemy_speed: float = 85.0
    dart_speed: float = 125.0
    enemy_radius: float = 13.0
    dart_radius: float = 10.0
    chase_radius: float = 200.0  # an enemy this close starts chasing
    give_up_radius: float = 290.0  # ...and keeps chasing until the player is this far
    chase_stamina_s: float = 7.0  # after chasing this long an enemy gives up...
    rest_s: float = 4.0  # ...and wanders for this long: the music gets to breathe
    threat_radius: float = 360.0  # beyond this an enemy adds no threat
    beat_lunge: float = 1.6  # extra speed fraction an enemy gets on a beat
    pickups_on_field: int = 3
    boss_hp: int = 4
    boss_speed: float = 55.0
    boss_radius: float = 36.0
    boss_charge: float = 3.0  # extra speed fraction the boss gets on a bar
    spawn_margin: float = 40.0
    spawns_per_bar: int = 2  # how many spawn marks materialize on one downbeat
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
    heading: float = -math.pi / 2  # facing, radians (for the sprite)
    dash_s: float = 0.0  # > 0 while dashing
    dash_cooldown: float = 0.0
    dash_dx: float = 0.0
    dash_dy: float = -1.0


@dataclass(slots=True)
class Enemy:
    x: float
    y: float
    radius: float
    heading: float  # wander direction, radians
    kind: EnemyKind = "crawler"
    chasing: bool = False
    chased_s: float = 0.0
    resting_s: float = 0.0
    lunge: float = 0.0  # decays after each beat
    pulse: float = 0.0  # 1 on a beat, decays; for the renderer


@dataclass(slots=True)
class Pickup:
    x: float
    y: float
    kind: Literal["shard", "core"]
    radius: float = 10.0
    age: float = 0.0


@dataclass(slots=True)
class Boss:
    x: float
    y: float
    hp: int
    max_hp: int
    radius: float
    charge: float = 0.0  # decays after each bar
    pulse: float = 0.0
    hurt: float = 0.0  # 1 when a core hits it, decays; for the renderer


@dataclass(slots=True)
class SpawnMark:
    """Where an enemy will appear on the next bar; the renderer draws a warning ring."""

    x: float
    y: float
    kind: EnemyKind
    age: float = 0.0


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
        self.phase: Phase = "play"
        self.player = Player(c.width / 2, c.height / 2, c.player_hp, c.player_radius)
        self.enemies: list[Enemy] = []
        self.marks: list[SpawnMark] = []
        self.pickups: list[Pickup] = []
        self.boss: Boss | None = None
        self.wave = 1
        self.wave_shards = 0  # shards collected in this wave
        self._wave_s = 0.0
        self.score = 0
        self.shards_collected = 0
        self.hits_taken = 0
        self.kills = 0
        self.bosses_defeated = 0
        self.bars = 0
        for _ in range(c.enemy_start):
            self._spawn_enemy(self._far_edge_point(), "crawler").resting_s = c.grace_s
        for _ in range(c.pickups_on_field):
            self._spawn_pickup("shard")

    # --- music hooks ------------------------------------------------------------------

    def on_beat(self) -> None:
        """A beat of the music: chasing enemies lunge, everything pulses."""
        for e in self.enemies:
            e.pulse = 1.0
            if e.chasing:
                e.lunge = self.config.beat_lunge
        if self.boss is not None:
            self.boss.pulse = 1.0

    def on_bar(self) -> list[GameEvent]:
        """A downbeat: the boss charges and waiting spawn marks become enemies."""
        self.bars += 1
        events: list[GameEvent] = []
        if self.phase != "play":
            return events
        if self.boss is not None:
            self.boss.charge = self.config.boss_charge
        for mark in self.marks[: self.config.spawns_per_bar]:
            self._spawn_enemy((mark.x, mark.y), mark.kind)
            events.append(GameEvent("enemy_spawned", mark.x, mark.y))
        del self.marks[: self.config.spawns_per_bar]
        return events

    # --- queries ----------------------------------------------------------------------

    @property
    def is_boss_wave(self) -> bool:
        return self.wave % self.config.boss_every == 0

    @property
    def wave_quota(self) -> int:
        return self.config.shards_per_wave + self.wave - 1

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
        if self.phase != "play":
            return 0.0
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

    def danger(self) -> float:
        """How grim things look in [0, 1]: lost health and the size of the pack.

        Slower than ``threat``: it drives the music's mood (``danger`` or a low
        valence), not its loudness.
        """
        c, p = self.config, self.player
        if self.phase == "won":
            return 0.0
        if self.phase == "lost":
            return 1.0
        hurt = 1.0 - p.hp / c.player_hp
        pack = min(1.0, len(self.enemies) / c.enemy_max)
        boss = 0.35 if self.boss is not None else 0.0
        return _clamp(0.5 * hurt + 0.3 * pack + boss, 0.0, 1.0)

    # --- simulation -------------------------------------------------------------------

    def step(self, dt: float, move: tuple[float, float], dash: bool = False) -> list[GameEvent]:
        """Advance ``dt`` seconds; ``move`` is the wanted direction (length <= 1)."""
        events: list[GameEvent] = []
        self.time += dt
        for pk in self.pickups:
            pk.age += dt
        for mark in self.marks:
            mark.age += dt
        if self.boss is not None:
            self.boss.hurt *= math.exp(-4.0 * dt)
        if self.phase != "play":
            return events
        if dash:
            self._start_dash(move, events)
        self._move_player(dt, move)
        self._move_enemies(dt)
        self._move_boss(dt)
        self._smash(events)
        self._collide(events)
        self._collect(events)

        self._wave_s += dt
        if not self.is_boss_wave and (
            self.wave_shards >= self.wave_quota or self._wave_s >= self.config.wave_max_s
        ):
            self._next_wave(events)
        return events

    def _start_dash(self, move: tuple[float, float], events: list[GameEvent]) -> None:
        p = self.player
        if p.dash_cooldown > 0.0 or p.dash_s > 0.0:
            return
        mx, my = move
        n = math.hypot(mx, my)
        if n > 1e-6:
            p.dash_dx, p.dash_dy = mx / n, my / n
        else:
            p.dash_dx, p.dash_dy = math.cos(p.heading), math.sin(p.heading)
        p.dash_s = self.config.dash_s
        p.dash_cooldown = self.config.dash_cooldown_s
        events.append(GameEvent("dash", p.x, p.y))

    def _move_player(self, dt: float, move: tuple[float, float]) -> None:
        c, p = self.config, self.player
        mx, my = move
        n = math.hypot(mx, my)
        if n > 1.0:
            mx, my = mx / n, my / n
        if n > 1e-6:
            p.heading = math.atan2(my, mx)
        # Knockback velocity decays; input adds on top of it.
        decay = math.exp(-8.0 * dt)
        p.vx *= decay
        p.vy *= decay
        vx, vy = mx * c.player_speed + p.vx, my * c.player_speed + p.vy
        if p.dash_s > 0.0:
            vx, vy = p.dash_dx * c.dash_speed, p.dash_dy * c.dash_speed
            p.heading = math.atan2(p.dash_dy, p.dash_dx)
            p.dash_s = max(0.0, p.dash_s - dt)
        p.x = _clamp(p.x + vx * dt, p.radius, c.width - p.radius)
        p.y = _clamp(p.y + vy * dt, p.radius, c.height - p.radius)
        p.invulnerable = max(0.0, p.invulnerable - dt)
        p.dash_cooldown = max(0.0, p.dash_cooldown - dt)

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
            base = c.dart_speed if e.kind == "dart" else c.enemy_speed
            if e.chasing and d > 1e-6:
                speed = base * (1.0 + e.lunge)
                e.heading = math.atan2(p.y - e.y, p.x - e.x)
                e.x += (p.x - e.x) / d * speed * dt
                e.y += (p.y - e.y) / d * speed * dt
            else:
                e.heading += self.rng.uniform(-2.0, 2.0) * dt
                speed = base * 0.45
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

    def _smash(self, events: list[GameEvent]) -> None:
        """A dashing player destroys the enemies it touches."""
        p = self.player
        if p.dash_s <= 0.0:
            return
        for e in list(self.enemies):
            if _dist(p.x, p.y, e.x, e.y) < p.radius + e.radius + 4.0:
                self.enemies.remove(e)
                self.kills += 1
                self.score += 2
                events.append(GameEvent("enemy_killed", e.x, e.y))

    def _collide(self, events: list[GameEvent]) -> None:
        p = self.player
        if p.invulnerable > 0.0 or p.dash_s > 0.0:
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
                    self.phase = "lost"
                    self.marks.clear()
                    events.append(GameEvent("player_down", p.x, p.y))
                return

    def _collect(self, events: list[GameEvent]) -> None:
        p = self.player
        for pk in list(self.pickups):
            if _dist(p.x, p.y, pk.x, pk.y) >= p.radius + pk.radius:
                continue
            self.pickups.remove(pk)
            if pk.kind == "shard":
                self.score += 1
                self.shards_collected += 1
                self.wave_shards += 1
                events.append(GameEvent("pickup", pk.x, pk.y))
                self._spawn_pickup("shard")
            else:
                self.score += 3
                events.append(GameEvent("core", pk.x, pk.y))
                boss = self.boss
                if boss is not None:
                    boss.hp -= 1
                    boss.hurt = 1.0
                    if boss.hp <= 0:
                        self._defeat_boss(events)
                    else:
                        self._spawn_pickup("core")

    def _next_wave(self, events: list[GameEvent]) -> None:
        c = self.config
        self.wave += 1
        self.wave_shards = 0
        self._wave_s = 0.0
        p = self.player
        events.append(GameEvent("wave", p.x, p.y))
        if self.is_boss_wave:
            events.append(self._spawn_boss())
            return
        room = c.enemy_max - len(self.enemies) - len(self.marks)
        for i in range(min(room, c.enemy_per_wave + self.wave // 2)):
            kind: EnemyKind = "dart" if self.wave >= 2 and i % 2 == 1 else "crawler"
            x, y = self._far_edge_point()
            self.marks.append(SpawnMark(x, y, kind))

    def _defeat_boss(self, events: list[GameEvent]) -> None:
        assert self.boss is not None
        b = self.boss
        self.boss = None
        self.bosses_defeated += 1
        self.score += 10
        events.append(GameEvent("boss_defeated", b.x, b.y))
        self.pickups = [pk for pk in self.pickups if pk.kind == "shard"]
        if self.wave >= self.config.waves:
            self.phase = "won"
            self.marks.clear()
            events.append(GameEvent("victory", b.x, b.y))
            return
        # A lull after the boss: the pack thins out and rests, the music comes down.
        del self.enemies[self.config.enemy_start :]
        for e in self.enemies:
            e.chasing, e.chased_s, e.resting_s = False, 0.0, self.config.grace_s + 2.0
        while len(self.pickups) < self.config.pickups_on_field:
            self._spawn_pickup("shard")
        self._next_wave(events)

    def summon_boss(self) -> GameEvent | None:
        """Bring the boss now (a showcase key); None if it is already here."""
        if self.boss is not None or self.phase != "play":
            return None
        return self._spawn_boss()

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

    def _far_edge_point(self) -> tuple[float, float]:
        # Outside chase range, so a spawn is a warning and never an ambush.
        p, c = self.player, self.config
        x, y = self._edge_point()
        for _ in range(32):  # bounded: fall back to the last try
            if _dist(x, y, p.x, p.y) >= c.chase_radius + 20:
                break
            x, y = self._edge_point()
        return x, y

    def _free_point(self, min_player_distance: float) -> tuple[float, float]:
        c, m, p = self.config, self.config.spawn_margin, self.player
        x, y = m, m
        for _ in range(32):  # bounded: fall back to the last try
            x = self.rng.uniform(m, c.width - m)
            y = self.rng.uniform(m, c.height - m)
            if _dist(x, y, p.x, p.y) >= min_player_distance:
                break
        return x, y

    def _spawn_enemy(self, at: tuple[float, float], kind: EnemyKind) -> Enemy:
        c = self.config
        radius = c.dart_radius if kind == "dart" else c.enemy_radius
        e = Enemy(at[0], at[1], radius, self.rng.uniform(0, 2 * math.pi), kind)
        self.enemies.append(e)
        return e

    def _spawn_pickup(self, kind: Literal["shard", "core"]) -> None:
        # Cores spawn far away so the boss fight lasts a few bars.
        x, y = self._free_point(300.0 if kind == "core" else 230.0)
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
        hp = c.boss_hp + (self.bosses_defeated * 2)
        self.boss = Boss(x, y, hp, hp, c.boss_radius)
        # During the fight the shards give way to cores, which hurt the boss.
        self.pickups = []
        self._spawn_pickup("core")
        return GameEvent("boss_spawned", x, y)
