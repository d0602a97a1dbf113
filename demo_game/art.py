"""The game's art, drawn in code: sprites, glows, particles and the living backdrop.

Everything expensive happens once, at start-up: sprites are drawn three times
too large with pygame's primitives and smooth-scaled down (cheap antialiasing),
then cached for every rotation and pulse size the game asks for. Per frame the
game only blits cached surfaces and draws a few lines, so a frame stays far
under its 16 ms even in Python.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "MOOD_COLORS",
    "Backdrop",
    "Color",
    "Particles",
    "Sprites",
    "lerp_color",
]

Color = tuple[int, int, int]

SUPERSAMPLE = 3
ROTATIONS = 32  # cached headings per sprite; 11.25 degrees apart reads as smooth
PULSE_STEPS = 4  # cached beat-pulse sizes

# The light of each mood: the backdrop, the grid and the HUD accents take it on.
MOOD_COLORS: Mapping[str, Color] = {
    "explore": (70, 200, 180),
    "combat": (235, 130, 60),
    "boss": (235, 55, 85),
    "victory": (250, 210, 90),
    "game_over": (120, 110, 150),
}
# The floor of each mood (dark, tinted by the light).
FLOORS: Mapping[str, Color] = {
    "explore": (10, 22, 32),
    "combat": (26, 16, 32),
    "boss": (34, 8, 16),
    "victory": (28, 24, 14),
    "game_over": (14, 12, 20),
}

PLAYER_COLOR: Color = (120, 245, 220)
SHARD_COLOR: Color = (255, 205, 80)
CORE_COLOR: Color = (100, 220, 255)
ENEMY_COLORS: Mapping[str, Color] = {
    "wander": (215, 140, 70),
    "chase": (240, 70, 80),
    "rest": (120, 112, 128),
}
DART_COLORS: Mapping[str, Color] = {
    "wander": (190, 110, 230),
    "chase": (255, 90, 200),
    "rest": (115, 105, 135),
}


def lerp_color(a: Color, b: Color, t: float) -> Color:
    t = 0.0 if t < 0.0 else 1.0 if t > 1.0 else t
    return (
        round(a[0] + (b[0] - a[0]) * t),
        round(a[1] + (b[1] - a[1]) * t),
        round(a[2] + (b[2] - a[2]) * t),
    )


def _shade(c: Color, k: float) -> Color:
    return (min(255, round(c[0] * k)), min(255, round(c[1] * k)), min(255, round(c[2] * k)))


def _rotations(pg: Any, base: Any) -> list[Any]:
    # rotozoom filters, so rotated sprites keep their smooth edges.
    return [pg.transform.rotozoom(base, -360.0 * i / ROTATIONS, 1.0) for i in range(ROTATIONS)]


def rotation_index(angle: float) -> int:
    return round(angle / (2 * math.pi) * ROTATIONS) % ROTATIONS


class Sprites:
    """Every sprite of the game, cached. Build once after the display exists."""

    def __init__(self, pg: Any) -> None:
        self.pg = pg
        self._glows: dict[tuple[Color, int], Any] = {}
        self.player = _rotations(pg, self._draw_player())
        self.enemies: dict[tuple[str, str], list[list[Any]]] = {}
        for kind, colors in (("crawler", ENEMY_COLORS), ("dart", DART_COLORS)):
            for mode, color in colors.items():
                base = self._draw_crawler(color) if kind == "crawler" else self._draw_dart(color)
                sizes = []
                for step in range(PULSE_STEPS):
                    scale = 1.0 + 0.3 * step / (PULSE_STEPS - 1)
                    scaled = pg.transform.rotozoom(base, 0.0, scale)
                    sizes.append(_rotations(pg, scaled))
                self.enemies[(kind, mode)] = sizes
        self.boss_body = self._draw_boss_body((150, 25, 50))
        self.boss_body_hurt = self._draw_boss_body((255, 235, 240))
        self.boss_ring = _rotations(pg, self._draw_boss_ring())
        self.shard_frames = self._draw_shard_frames()
        self.core = self._draw_core()
        self.heart = self._draw_heart((240, 70, 95))
        self.heart_empty = self._draw_heart((70, 50, 60))

    # --- helpers ----------------------------------------------------------------------

    def _canvas(self, size: int) -> tuple[Any, int]:
        s = size * SUPERSAMPLE
        return self.pg.Surface((s, s), self.pg.SRCALPHA), s

    def _finish(self, surf: Any, size: int) -> Any:
        return self.pg.transform.smoothscale(surf, (size, size))

    def glow(self, color: Color, radius: int) -> Any:
        """A soft additive light (RGB on black): blit with BLEND_RGB_ADD."""
        key = (color, radius)
        cached = self._glows.get(key)
        if cached is None:
            d = radius * 2
            yy, xx = np.mgrid[0:d, 0:d].astype(np.float32)
            r = np.hypot(xx - radius + 0.5, yy - radius + 0.5) / radius
            fall = np.clip(1.0 - r, 0.0, 1.0) ** 2
            rgb = (fall[..., None] * np.asarray(color, np.float32)).astype(np.uint8)
            cached = self.pg.surfarray.make_surface(rgb.transpose(1, 0, 2))
            self._glows[key] = cached
        return cached

    # --- sprites ----------------------------------------------------------------------

    def _draw_player(self) -> Any:
        pg = self.pg
        size = 44
        surf, s = self._canvas(size)
        c = s / 2
        k = SUPERSAMPLE
        # An arrowhead craft facing +x: swept wings, a bright nose and a cockpit.
        hull = [(c + 17 * k, c), (c - 9 * k, c - 13 * k), (c - 4 * k, c), (c - 9 * k, c + 13 * k)]
        pg.draw.polygon(surf, _shade(PLAYER_COLOR, 0.55), [(x + k, y + k) for x, y in hull])
        pg.draw.polygon(surf, PLAYER_COLOR, hull)
        pg.draw.polygon(surf, (235, 255, 250), hull, 2 * k)
        pg.draw.polygon(
            surf,
            _shade(PLAYER_COLOR, 0.7),
            [(c + 6 * k, c), (c - 6 * k, c - 6 * k), (c - 2 * k, c)],
        )
        pg.draw.circle(surf, (255, 255, 255), (c + 3 * k, c), 3 * k)
        pg.draw.circle(surf, (255, 190, 90), (c - 7 * k, c), 3 * k)  # engine
        return self._finish(surf, size)

    def _draw_crawler(self, color: Color) -> Any:
        pg = self.pg
        size = 40
        surf, s = self._canvas(size)
        c = s / 2
        k = SUPERSAMPLE
        # A spiky urchin facing +x, with two eyes towards its heading.
        spikes = []
        for i in range(18):
            a = 2 * math.pi * i / 18
            r = (15 if i % 2 == 0 else 10) * k
            spikes.append((c + math.cos(a) * r, c + math.sin(a) * r))
        pg.draw.polygon(surf, _shade(color, 0.5), spikes)
        pg.draw.circle(surf, color, (c, c), 10 * k)
        pg.draw.circle(surf, _shade(color, 1.3), (c - 2 * k, c - 3 * k), 5 * k)
        for side in (-1, 1):
            ex, ey = c + 4 * k, c + side * 4 * k
            pg.draw.circle(surf, (255, 250, 235), (ex, ey), 3 * k)
            pg.draw.circle(surf, (20, 10, 20), (ex + k, ey), int(1.6 * k))
        return self._finish(surf, size)

    def _draw_dart(self, color: Color) -> Any:
        pg = self.pg
        size = 36
        surf, s = self._canvas(size)
        c = s / 2
        k = SUPERSAMPLE
        # A narrow hunter facing +x: a long beak, swept fins and a single eye.
        body = [
            (c + 15 * k, c),
            (c - 3 * k, c - 6 * k),
            (c - 13 * k, c - 12 * k),
            (c - 8 * k, c),
            (c - 13 * k, c + 12 * k),
            (c - 3 * k, c + 6 * k),
        ]
        pg.draw.polygon(surf, _shade(color, 0.5), [(x + k, y + k) for x, y in body])
        pg.draw.polygon(surf, color, body)
        pg.draw.polygon(surf, _shade(color, 1.35), body, k * 2)
        pg.draw.circle(surf, (255, 250, 235), (c + 3 * k, c), 3 * k)
        pg.draw.circle(surf, (20, 10, 20), (c + 4 * k, c), int(1.5 * k))
        return self._finish(surf, size)

    def _draw_boss_body(self, color: Color) -> Any:
        pg = self.pg
        size = 96
        surf, s = self._canvas(size)
        c = s / 2
        k = SUPERSAMPLE
        crown = []
        for i in range(24):
            a = 2 * math.pi * i / 24
            r = (40 if i % 2 == 0 else 33) * k
            crown.append((c + math.cos(a) * r, c + math.sin(a) * r))
        pg.draw.polygon(surf, _shade(color, 0.45), crown)
        pg.draw.circle(surf, color, (c, c), 33 * k)
        pg.draw.circle(surf, _shade(color, 1.4), (c, c), 33 * k, 2 * k)
        pg.draw.circle(surf, _shade(color, 0.35), (c, c), 17 * k)  # the eye socket
        pg.draw.circle(surf, (255, 240, 220), (c, c), 13 * k)
        return self._finish(surf, size)

    def _draw_boss_ring(self) -> Any:
        pg = self.pg
        size = 120
        surf, s = self._canvas(size)
        c = s / 2
        k = SUPERSAMPLE
        pg.draw.circle(surf, (255, 90, 120), (c, c), 52 * k, 2 * k)
        for i in range(12):
            a = 2 * math.pi * i / 12
            tip = (c + math.cos(a) * 58 * k, c + math.sin(a) * 58 * k)
            left = (c + math.cos(a - 0.12) * 50 * k, c + math.sin(a - 0.12) * 50 * k)
            right = (c + math.cos(a + 0.12) * 50 * k, c + math.sin(a + 0.12) * 50 * k)
            pg.draw.polygon(surf, (255, 120, 140), [tip, left, right])
        return self._finish(surf, size)

    def _draw_shard_frames(self) -> list[Any]:
        pg = self.pg
        size = 30
        frames = []
        # A faceted crystal turning on its axis: 16 frames of its width.
        for i in range(16):
            w = abs(math.cos(math.pi * i / 16))
            surf, s = self._canvas(size)
            c = s / 2
            k = SUPERSAMPLE
            hw = max(1.5, 8 * w) * k
            outline = [(c, c - 13 * k), (c + hw, c - 3 * k), (c, c + 13 * k), (c - hw, c - 3 * k)]
            pg.draw.polygon(surf, _shade(SHARD_COLOR, 0.6), outline)
            pg.draw.polygon(surf, SHARD_COLOR, [(c, c - 13 * k), (c + hw, c - 3 * k), (c, c)])
            pg.draw.polygon(
                surf, (255, 245, 200), [(c, c - 13 * k), (c - hw * 0.5, c - 4 * k), (c, c)]
            )
            pg.draw.polygon(surf, (255, 250, 220), outline, k)
            frames.append(self._finish(surf, size))
        return frames

    def _draw_core(self) -> Any:
        pg = self.pg
        size = 34
        surf, s = self._canvas(size)
        c = s / 2
        k = SUPERSAMPLE
        pg.draw.circle(surf, _shade(CORE_COLOR, 0.5), (c, c), 12 * k)
        pg.draw.circle(surf, CORE_COLOR, (c, c), 9 * k)
        pg.draw.circle(surf, (230, 255, 255), (c - 3 * k, c - 3 * k), 4 * k)
        pg.draw.circle(surf, (200, 250, 255), (c, c), 15 * k, k * 2)
        return self._finish(surf, size)

    def _draw_heart(self, color: Color) -> Any:
        pg = self.pg
        size = 20
        surf, s = self._canvas(size)
        k = SUPERSAMPLE
        pg.draw.circle(surf, color, (6 * k, 7 * k), 5 * k)
        pg.draw.circle(surf, color, (14 * k, 7 * k), 5 * k)
        pg.draw.polygon(surf, color, [(1.2 * k, 9 * k), (18.8 * k, 9 * k), (10 * k, 18 * k)])
        pg.draw.circle(surf, _shade(color, 1.5), (6 * k, 6 * k), 2 * k)
        return self._finish(surf, size)

    # --- lookup -----------------------------------------------------------------------

    def enemy(self, kind: str, mode: str, pulse: float, heading: float) -> Any:
        step = min(PULSE_STEPS - 1, max(0, round(pulse * (PULSE_STEPS - 1))))
        return self.enemies[(kind, mode)][step][rotation_index(heading)]


@dataclass(slots=True)
class _Particle:
    x: float
    y: float
    vx: float
    vy: float
    life: float
    age: float
    color: Color
    size: int


class Particles:
    """Sparks for hits, pickups and dashes: additive glows that fly, slow and fade."""

    CAP = 500
    FADE_STEPS = 6

    def __init__(self, sprites: Sprites, seed: int = 0) -> None:
        self.sprites = sprites
        self.items: list[_Particle] = []
        self.rng = random.Random(seed)
        self._cache: dict[tuple[Color, int, int], Any] = {}

    def burst(
        self,
        x: float,
        y: float,
        color: Color,
        count: int = 16,
        speed: float = 220.0,
        life: float = 0.6,
        size: int = 6,
    ) -> None:
        rng = self.rng
        for _ in range(count):
            if len(self.items) >= self.CAP:
                self.items.pop(0)
            a = rng.uniform(0, 2 * math.pi)
            v = speed * rng.uniform(0.3, 1.0)
            self.items.append(
                _Particle(
                    x,
                    y,
                    math.cos(a) * v,
                    math.sin(a) * v,
                    life * rng.uniform(0.6, 1.2),
                    0.0,
                    color,
                    max(2, size + rng.randint(-2, 2)),
                )
            )

    def update(self, dt: float) -> None:
        drag = math.exp(-4.0 * dt)
        alive = []
        for p in self.items:
            p.age += dt
            if p.age < p.life:
                p.x += p.vx * dt
                p.y += p.vy * dt
                p.vx *= drag
                p.vy *= drag
                alive.append(p)
        self.items = alive

    def _dot(self, color: Color, size: int, fade: int) -> Any:
        key = (color, size, fade)
        surf = self._cache.get(key)
        if surf is None:
            k = 1.0 - fade / self.FADE_STEPS
            surf = self.sprites.glow(_shade(color, k), size)
            self._cache[key] = surf
        return surf

    def draw(self, target: Any, add_flag: int) -> None:
        steps = self.FADE_STEPS
        for p in self.items:
            fade = min(steps - 1, int(p.age / p.life * steps))
            dot = self._dot(p.color, p.size, fade)
            target.blit(dot, (p.x - p.size, p.y - p.size), special_flags=add_flag)


class Backdrop:
    """The arena floor: a tinted gradient per mood, a grid that breathes on the beat,
    light rings that roll out on each bar and motes drifting through the light."""

    def __init__(self, pg: Any, size: tuple[int, int], sprites: Sprites, seed: int = 0) -> None:
        self.pg = pg
        self.size = size
        self.sprites = sprites
        self._bases: dict[str, Any] = {}
        self.mood = "explore"
        self._previous: str | None = None
        self._fade = 1.0
        self.rings: list[list[float]] = []  # [radius, strength]
        rng = random.Random(seed + 99)
        w, h = size
        self.motes = [
            [rng.uniform(0, w), rng.uniform(0, h), rng.uniform(0.3, 1.0), rng.uniform(0, 6.3)]
            for _ in range(36)
        ]
        self.time = 0.0

    def _base(self, mood: str) -> Any:
        surf = self._bases.get(mood)
        if surf is None:
            w, h = self.size
            floor = np.asarray(FLOORS.get(mood, FLOORS["explore"]), np.float32)
            light = np.asarray(MOOD_COLORS.get(mood, MOOD_COLORS["explore"]), np.float32)
            yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
            # A pool of light in the middle fading to a dark vignette at the walls.
            r = np.hypot((xx - w / 2) / (w / 2), (yy - h / 2) / (h / 2))
            pool = np.clip(1.0 - r / 1.25, 0.0, 1.0) ** 1.6
            rng = np.random.default_rng(7)
            # Each 48 px floor plate a shade lighter or darker: texture that stays cheap
            # to draw and small in a screenshot (per-pixel grain would be neither).
            plates = rng.normal(0.0, 2.2, (h // 48 + 1, w // 48 + 1)).astype(np.float32)
            grain = plates[(yy // 48).astype(int), (xx // 48).astype(int)]
            rgb = floor * (0.55 + 0.6 * pool[..., None]) + light * (0.07 * pool[..., None])
            rgb += grain[..., None]
            # Floor plates: a faint darker seam every 48 px.
            seams = ((xx % 48) < 1.5) | ((yy % 48) < 1.5)
            rgb[seams] *= 0.82
            arr = np.clip(rgb, 0, 255).astype(np.uint8)
            surf = self.pg.surfarray.make_surface(arr.transpose(1, 0, 2)).convert()
            self._bases[mood] = surf
        return surf

    def prepare(self, moods: list[str]) -> None:
        for mood in moods:
            self._base(mood)

    def set_mood(self, mood: str) -> None:
        if mood != self.mood:
            self._previous, self.mood, self._fade = self.mood, mood, 0.0

    def on_bar(self, strength: float = 1.0) -> None:
        self.rings.append([20.0, strength])

    def update(self, dt: float, beat_pulse: float) -> None:
        self.time += dt
        self._fade = min(1.0, self._fade + dt / 1.2)
        for ring in self.rings:
            ring[0] += 420.0 * dt
            ring[1] *= math.exp(-1.6 * dt)
        self.rings = [r for r in self.rings if r[1] > 0.04 and r[0] < 800]
        w, h = self.size
        for m in self.motes:
            m[0] = (m[0] + math.cos(m[3] + self.time * 0.1) * 9.0 * m[2] * dt) % w
            m[1] = (m[1] - 12.0 * m[2] * dt * (1.0 + beat_pulse)) % h

    def draw(self, target: Any, beat_pulse: float, intensity: float) -> None:
        pg = self.pg
        if self._previous is not None and self._fade < 1.0:
            target.blit(self._base(self._previous), (0, 0))
            fresh = self._base(self.mood)
            fresh.set_alpha(round(255 * self._fade))
            target.blit(fresh, (0, 0))
            fresh.set_alpha(None)
        else:
            target.blit(self._base(self.mood), (0, 0))
        w, h = self.size
        light = MOOD_COLORS.get(self.mood, MOOD_COLORS["explore"])
        floor = FLOORS.get(self.mood, FLOORS["explore"])
        # The grid: dim, lit by the beat, brighter as danger rises.
        grid = lerp_color(floor, light, 0.10 + 0.28 * beat_pulse + 0.08 * intensity)
        # fill() of one-pixel rects: several times cheaper than draw.line.
        for x in range(0, w, 48):
            target.fill(grid, (x, 0, 1, h))
        for y in range(0, h, 48):
            target.fill(grid, (0, y, w, 1))
        cx, cy = w / 2, h / 2
        for radius, strength in self.rings:
            color = lerp_color(floor, light, 0.6 * strength)
            pg.draw.circle(target, color, (cx, cy), radius, 3)
        add = pg.BLEND_RGB_ADD
        level = round(beat_pulse * 3)  # a few cached brightness levels, not one per frame
        for m in self.motes:
            big = m[2] > 0.7
            size = 6 if big else 4
            glow = self.sprites.glow(_shade(light, 0.3 + 0.25 * big + 0.15 * level), size)
            target.blit(glow, (m[0] - size, m[1] - size), special_flags=add)
