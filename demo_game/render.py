"""Everything the player sees: the arena, the HUD band, the menus, the credits and
the developer overlay.

The screen is cut into three bands that never overlap: the HUD at the top, the
arena (its own surface, so sprites are clipped to it and the screen shake moves
only the arena) and a one-line footer. The renderer reads the world and a
``MusicView``; it never talks to the engine.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .art import (
    CORE_COLOR,
    MOOD_COLORS,
    PLAYER_COLOR,
    SHARD_COLOR,
    Backdrop,
    Color,
    Particles,
    Sprites,
    lerp_color,
    rotation_index,
)
from .music import MusicView
from .world import World

__all__ = [
    "ARENA",
    "FOOTER",
    "HEIGHT",
    "HUD",
    "WIDTH",
    "BundleInfo",
    "DevInfo",
    "MenuItem",
    "Renderer",
    "wrap_text",
]

WIDTH = 960
HUD_H = 58
ARENA_H = 584
FOOTER_H = 24
HEIGHT = HUD_H + ARENA_H + FOOTER_H
HUD = (0, 0, WIDTH, HUD_H)
ARENA = (0, HUD_H, WIDTH, ARENA_H)
FOOTER = (0, HUD_H + ARENA_H, WIDTH, FOOTER_H)

TEXT: Color = (225, 228, 240)
DIM: Color = (140, 145, 165)
PANEL: tuple[int, int, int, int] = (8, 10, 18, 220)


@dataclass
class BundleInfo:
    name: str = "?"
    version: str = ""
    author: str = ""
    license: str = ""
    description: str = ""
    sources: list[Mapping[str, Any]] = field(default_factory=list)
    beats_per_bar: int = 4


@dataclass
class DevInfo:
    """What the F3 overlay shows besides the music view; filled by the game loop."""

    output: str = "?"
    engine_ms_p50: float | None = None  # None: not measured (yet)
    engine_ms_p99: float | None = None
    frame_ms_p50: float | None = None
    frame_ms_p99: float | None = None
    fps: float | None = None
    mood_parameter: str | None = None


@dataclass
class MenuItem:
    label: str
    value: str = ""
    enabled: bool = True


def wrap_text(font: Any, text: str, width: int) -> list[str]:
    """Split ``text`` into lines that render at most ``width`` pixels wide.

    Breaks between words; a single word wider than the box is cut by characters.
    """
    lines: list[str] = []
    for paragraph in text.split("\n"):
        line = ""
        for word in paragraph.split(" "):
            candidate = word if not line else f"{line} {word}"
            if font.size(candidate)[0] <= width:
                line = candidate
                continue
            if line:
                lines.append(line)
            line = ""
            while font.size(word)[0] > width:  # a long file name: cut it
                cut = len(word)
                while cut > 1 and font.size(word[:cut])[0] > width:
                    cut -= 1
                lines.append(word[:cut])
                word = word[cut:]
            line = word
        lines.append(line)
    return lines


class Renderer:
    """Draws one frame; owns the fonts, cached sprites, particles and backdrop."""

    def __init__(self, screen: Any, info: BundleInfo, seed: int = 0) -> None:
        import pygame

        self.pg = pygame
        self.screen = screen
        self.info = info
        self.arena = pygame.Surface(ARENA[2:]).convert()
        self.font = pygame.font.Font(None, 24)
        self.small = pygame.font.Font(None, 19)
        self.mono = pygame.font.SysFont("dejavusansmono,monospace", 13)
        self.big = pygame.font.Font(None, 40)
        self.huge = pygame.font.Font(None, 112)
        self.sprites = Sprites(pygame)
        self.particles = Particles(self.sprites, seed)
        self.backdrop = Backdrop(pygame, ARENA[2:], self.sprites, seed)
        self.backdrop.prepare(list(MOOD_COLORS))
        self.shake = 0.0
        self.hurt = 0.0  # 1 when the player is hit, decays: the arena's edges flash red
        self.time = 0.0
        self.floaters: list[list[Any]] = []  # [text surface, x, y, age]
        self._text_cache: dict[tuple[str, int, Color], Any] = {}
        self.credits_scroll = 0
        self.credits_box = (80, HUD_H + 40, WIDTH - 160, ARENA_H - 80)
        self._dim = pygame.Surface(ARENA[2:], pygame.SRCALPHA)
        self._dim.fill((4, 4, 10, 170))

    # --- text -------------------------------------------------------------------------

    def render_text(self, text: str, font: Any, color: Color) -> Any:
        key = (text, id(font), color)
        surf = self._text_cache.get(key)
        if surf is None:
            if len(self._text_cache) > 600:  # HUD numbers change; keep the cache bounded
                self._text_cache.clear()
            surf = font.render(text, True, color)
            self._text_cache[key] = surf
        return surf

    def text(
        self,
        target: Any,
        text: str,
        pos: tuple[float, float],
        color: Color = TEXT,
        font: Any = None,
        anchor: str = "topleft",
    ) -> Any:
        surf = self.render_text(text, font or self.font, color)
        rect = surf.get_rect(**{anchor: (round(pos[0]), round(pos[1]))})
        target.blit(surf, rect)
        return rect

    # --- effects ----------------------------------------------------------------------

    def add_shake(self, amount: float) -> None:
        self.shake = min(18.0, self.shake + amount)

    def floater(self, text: str, x: float, y: float, color: Color) -> None:
        # Its own surface, not the text cache's: each floater fades with its own alpha.
        self.floaters.append([self.font.render(text, True, color), x, y, 0.0])

    def update(self, dt: float, view: MusicView, mood: str) -> None:
        self.time += dt
        self.shake *= math.exp(-dt / 0.12)
        self.hurt *= math.exp(-dt / 0.18)
        self.particles.update(dt)
        self.backdrop.set_mood(mood)
        self.backdrop.update(dt, view.beat_pulse)
        for f in self.floaters:
            f[3] += dt
        self.floaters = [f for f in self.floaters if f[3] < 0.9]

    # --- the arena --------------------------------------------------------------------

    def draw_arena(self, world: World, view: MusicView) -> None:
        pg, surf, sp = self.pg, self.arena, self.sprites
        add = pg.BLEND_RGB_ADD
        self.backdrop.draw(surf, view.beat_pulse, view.intensity)
        self._pylons(surf, view)
        t = self.time

        for mark in world.marks:  # where the next bar's enemies will appear
            r = 34 - 22 * min(1.0, mark.age / 1.5)
            color = lerp_color((60, 20, 30), (255, 90, 110), 0.5 + 0.5 * view.beat_pulse)
            pg.draw.circle(surf, color, (mark.x, mark.y), r, 2)
            pg.draw.circle(surf, color, (mark.x, mark.y), 4)

        for pk in world.pickups:
            bob = math.sin(pk.age * 3.0) * 3.0 - 2.0 * view.beat_pulse
            if pk.kind == "shard":
                glow = sp.glow(lerp_color((0, 0, 0), SHARD_COLOR, 0.35 + 0.3 * view.beat_pulse), 22)
                surf.blit(glow, (pk.x - 22, pk.y - 22 + bob), special_flags=add)
                frame = sp.shard_frames[int(pk.age * 10) % len(sp.shard_frames)]
                surf.blit(frame, frame.get_rect(center=(pk.x, pk.y + bob)))
            else:
                glow = sp.glow(lerp_color((0, 0, 0), CORE_COLOR, 0.45 + 0.4 * view.beat_pulse), 30)
                surf.blit(glow, (pk.x - 30, pk.y - 30 + bob), special_flags=add)
                surf.blit(sp.core, sp.core.get_rect(center=(pk.x, pk.y + bob)))

        for e in world.enemies:
            mode = "chase" if e.chasing else ("rest" if e.resting_s > 0 else "wander")
            if e.chasing:
                glow = sp.glow((70, 14, 18), 26)
                surf.blit(glow, (e.x - 26, e.y - 26), special_flags=add)
            image = sp.enemy(e.kind, mode, e.pulse, e.heading)
            surf.blit(image, image.get_rect(center=(e.x, e.y)))

        b = world.boss
        if b is not None:
            glow = sp.glow(lerp_color((40, 0, 10), (150, 20, 50), b.pulse), 90)
            surf.blit(glow, (b.x - 90, b.y - 90), special_flags=add)
            ring = sp.boss_ring[int(t * 12 + 10 * b.charge) % len(sp.boss_ring)]
            surf.blit(ring, ring.get_rect(center=(b.x, b.y)))
            body = sp.boss_body_hurt if b.hurt > 0.5 else sp.boss_body
            surf.blit(body, body.get_rect(center=(b.x, b.y)))
            p = world.player
            d = max(1e-6, math.hypot(p.x - b.x, p.y - b.y))
            ex, ey = b.x + (p.x - b.x) / d * 6, b.y + (p.y - b.y) / d * 6
            pg.draw.circle(surf, (40, 0, 10), (ex, ey), 7 + 2 * b.pulse)

        p = world.player
        if world.phase != "lost":
            glow = sp.glow((20, 70, 60) if p.dash_s <= 0 else (80, 160, 140), 44)
            surf.blit(glow, (p.x - 44, p.y - 44), special_flags=add)
            blink = p.invulnerable > 0 and int(p.invulnerable * 12) % 2 == 1
            if not blink:
                image = sp.player[rotation_index(p.heading)]
                surf.blit(image, image.get_rect(center=(p.x, p.y)))
            if p.dash_s > 0:
                self.particles.burst(p.x, p.y, PLAYER_COLOR, count=2, speed=60, life=0.3, size=5)

        self.particles.draw(surf, add)
        # Low health: the edges throb red with the music's beat.
        low = 0.5 * view.beat_pulse if world.phase == "play" and p.hp <= 2 else 0.0
        glow_level = max(self.hurt, low)
        if glow_level > 0.05:
            self._edge_glow(surf, (round(150 * glow_level), 0, round(20 * glow_level)))
        for image, x, y, age in self.floaters:
            image.set_alpha(round(255 * max(0.0, 1.0 - age / 0.9)))
            surf.blit(image, image.get_rect(center=(x, y - 24 - 40 * age)))

    def _pylons(self, surf: Any, view: MusicView) -> None:
        """Four lamps in the corners: they flare on every bar, glow on every beat."""
        light = MOOD_COLORS.get(self.backdrop.mood, MOOD_COLORS["explore"])
        level = round(3 * max(view.bar_flash, 0.4 * view.beat_pulse))  # a few cached glows
        glow = self.sprites.glow(lerp_color((0, 0, 0), light, 0.25 + 0.2 * level), 70)
        core = lerp_color((40, 40, 50), light, 0.5 + 0.15 * level)
        w, h = ARENA[2], ARENA[3]
        for x, y in ((26, 26), (w - 26, 26), (26, h - 26), (w - 26, h - 26)):
            surf.blit(glow, (x - 70, y - 70), special_flags=self.pg.BLEND_RGB_ADD)
            self.pg.draw.circle(surf, (20, 22, 30), (x, y), 9)
            self.pg.draw.circle(surf, core, (x, y), 6)

    def _edge_glow(self, surf: Any, color: Color) -> None:
        """Light the arena's edges additively (four thin bands, cheap to fill)."""
        add = self.pg.BLEND_RGB_ADD
        w, h = ARENA[2], ARENA[3]
        for depth in (18, 10, 4):
            surf.fill(color, (0, 0, w, depth), special_flags=add)
            surf.fill(color, (0, h - depth, w, depth), special_flags=add)
            surf.fill(color, (0, 0, depth, h), special_flags=add)
            surf.fill(color, (w - depth, 0, depth, h), special_flags=add)

    def blit_arena(self) -> None:
        pg = self.pg
        ox = oy = 0
        if self.shake > 0.4:
            ox = round(math.sin(self.time * 91.0) * self.shake)
            oy = round(math.cos(self.time * 77.0) * self.shake)
        # The clip keeps a shaken arena out of the HUD and the footer.
        self.screen.set_clip(pg.Rect(ARENA))
        if ox or oy:
            self.screen.fill((0, 0, 0), ARENA)
        self.screen.blit(self.arena, (ARENA[0] + ox, ARENA[1] + oy))
        self.screen.set_clip(None)

    # --- bands ------------------------------------------------------------------------

    def _band(self, rect: tuple[int, int, int, int], accent: Color, glow: float) -> None:
        pg, screen = self.pg, self.screen
        screen.fill((12, 13, 22), rect)
        x, y, w, h = rect
        edge_y = y + h - 1 if y == 0 else y
        pg.draw.line(
            screen, lerp_color((40, 42, 60), accent, 0.35 + 0.5 * glow), (x, edge_y), (w, edge_y), 2
        )

    def draw_hud(self, world: World, view: MusicView, scene: str, mood: str) -> None:
        """The top band; ``mood`` picks its accent (the music's state, or the ending's)."""
        pg, screen = self.pg, self.screen
        accent = MOOD_COLORS.get(mood, MOOD_COLORS["explore"])
        self._band(HUD, accent, view.beat_pulse)
        if scene == "title":
            self.text(screen, "an adaptive music demo", (18, 20), DIM, self.font)
            self._beat_dots(view, accent, WIDTH - 140)
            return

        # Left: the wave, or the boss's health.
        if world.boss is not None:
            b = world.boss
            self.text(screen, "BOSS", (18, 8), MOOD_COLORS["boss"], self.big)
            x0, w = 110, 260
            pg.draw.rect(screen, (50, 10, 20), (x0, 18, w, 14), border_radius=4)
            fill = w * b.hp / b.max_hp
            pg.draw.rect(screen, (235, 60, 90), (x0, 18, fill, 14), border_radius=4)
            self.text(screen, "collect the cores", (x0, 36), DIM, self.small)
        else:
            self.text(screen, f"WAVE {world.wave}/{world.config.waves}", (18, 8), accent, self.big)
            quota = world.wave_quota
            for i in range(quota):
                cx = 22 + i * 18
                lit = i < world.wave_shards
                col = SHARD_COLOR if lit else (60, 58, 50)
                pg.draw.polygon(screen, col, [(cx, 38), (cx + 5, 44), (cx, 50), (cx - 5, 44)])

        # Middle: the music's beat, the way a drummer counts it in.
        self._beat_dots(view, accent, 430)
        self.text(screen, mood.replace("_", " "), (430 + 48, 46), DIM, self.small, "center")

        # Right: health, dash and score.
        p = world.player
        for i in range(world.config.player_hp):
            heart = self.sprites.heart if i < p.hp else self.sprites.heart_empty
            screen.blit(heart, (640 + i * 22, 10))
        ready = max(0.0, min(1.0, 1.0 - p.dash_cooldown / world.config.dash_cooldown_s))
        pg.draw.rect(screen, (40, 44, 60), (640, 36, 106, 8), border_radius=3)
        pg.draw.rect(
            screen,
            PLAYER_COLOR if ready >= 1.0 else (70, 120, 110),
            (640, 36, 106 * ready, 8),
            border_radius=3,
        )
        self.text(screen, "dash", (752, 32), DIM, self.small)
        self.text(screen, f"{world.score:05d}", (WIDTH - 18, 12), TEXT, self.big, "topright")

    def _beat_dots(self, view: MusicView, accent: Color, x0: int) -> None:
        beats = max(1, self.info.beats_per_bar)
        for i in range(beats):
            lit = i == view.beat
            r = 6 + (5 * view.beat_pulse if lit else 0)
            base = lerp_color((55, 57, 72), accent, 0.6)
            col = lerp_color(base, (255, 255, 255), 0.5 * view.beat_pulse) if lit else (55, 57, 72)
            self.pg.draw.circle(self.screen, col, (x0 + 12 + i * 24, 24), r)

    def draw_footer(self, hint: str) -> None:
        self._band(FOOTER, (60, 60, 80), 0.0)
        n = len(self.info.sources)
        left = f"music: {self.info.name}, composed live from {n} source{'' if n == 1 else 's'}"
        self.text(self.screen, left, (12, FOOTER[1] + 5), DIM, self.small)
        self.text(self.screen, hint, (WIDTH - 12, FOOTER[1] + 5), DIM, self.small, "topright")

    # --- menus ------------------------------------------------------------------------

    def draw_title(self, items: Sequence[MenuItem], selected: int, view: MusicView) -> None:
        surf = self.arena
        accent = MOOD_COLORS["explore"]
        cx = ARENA[2] / 2
        pulse = view.beat_pulse
        glow = self.sprites.glow(lerp_color((0, 0, 0), (30, 90, 80), 0.6 + 0.4 * pulse), 240)
        surf.blit(glow, (cx - 240, 150 - 240), special_flags=self.pg.BLEND_RGB_ADD)
        self._title_parade(surf, cx, view)
        shadow = self.render_text("SHARDFALL", self.huge, (10, 30, 30))
        surf.blit(shadow, shadow.get_rect(center=(cx + 4, 124)))
        self.text(
            surf,
            "SHARDFALL",
            (cx, 120),
            lerp_color(accent, (240, 255, 250), 0.4 + 0.4 * pulse),
            self.huge,
            "center",
        )
        self.text(
            surf,
            "collect the shards, outrun the pack, break the boss: the music follows the danger",
            (cx, 180),
            DIM,
            self.font,
            "center",
        )
        y = 250
        for i, item in enumerate(items):
            chosen = i == selected
            color = TEXT if item.enabled else (95, 98, 115)
            if chosen:
                color = lerp_color(accent, (255, 255, 255), 0.3 + 0.3 * pulse)
                self.pg.draw.rect(surf, (20, 40, 44), (cx - 190, y - 6, 380, 34), border_radius=8)
                self.pg.draw.rect(surf, accent, (cx - 190, y - 6, 380, 34), 2, border_radius=8)
            self.text(surf, item.label, (cx - 170, y), color, self.font)
            if item.value:
                self.text(surf, item.value, (cx + 170, y), color, self.font, "topright")
            y += 42
        self.text(
            surf,
            "arrows choose  ·  Enter / Space select  ·  left/right change",
            (cx, ARENA_H - 40),
            DIM,
            self.small,
            "center",
        )

    def _title_parade(self, surf: Any, cx: float, view: MusicView) -> None:
        """The cast circles the menu: the ship chased by crawlers and darts, and shards."""
        sp, t = self.sprites, self.time
        cy = ARENA_H / 2 + 20
        cast = [("player", 0.0)] + [("crawler", 0.5), ("dart", 0.85), ("crawler", 1.2)]
        for k in range(3):
            cast.append(("shard", 2.4 + 1.3 * k))
        for name, lag in cast:
            a = t * 0.35 - lag
            x, y = cx + math.cos(a) * 400, cy + math.sin(a) * 230
            heading = a + math.pi / 2
            if name == "player":
                image = sp.player[rotation_index(heading)]
            elif name == "shard":
                image = sp.shard_frames[int(t * 10 + lag * 7) % len(sp.shard_frames)]
            else:
                image = sp.enemy(name, "chase", view.beat_pulse, heading)
            surf.blit(image, image.get_rect(center=(x, y)))

    def draw_end(self, world: World, won: bool) -> None:
        surf = self.arena
        surf.blit(self._dim, (0, 0))
        if won:  # the fireworks shine through the dimmed arena
            self.particles.draw(surf, self.pg.BLEND_RGB_ADD)
        cx = ARENA[2] / 2
        color = MOOD_COLORS["victory"] if won else (235, 80, 95)
        self.text(surf, "VICTORY" if won else "GAME OVER", (cx, 170), color, self.huge, "center")
        lines = [
            f"score {world.score}",
            f"wave {world.wave} of {world.config.waves}   ·   shards {world.shards_collected}"
            f"   ·   smashed {world.kills}   ·   bosses {world.bosses_defeated}",
        ]
        y = 250
        for line in lines:
            self.text(surf, line, (cx, y), TEXT, self.font, "center")
            y += 32
        self.text(
            surf, "Enter: play again   ·   Esc: title", (cx, y + 30), DIM, self.font, "center"
        )

    def draw_paused(self) -> None:
        self.arena.blit(self._dim, (0, 0))
        cx = ARENA[2] / 2
        self.text(self.arena, "PAUSED", (cx, ARENA_H / 2 - 20), TEXT, self.huge, "center")
        self.text(
            self.arena, "P resume  ·  Esc title", (cx, ARENA_H / 2 + 40), DIM, self.font, "center"
        )

    # --- credits ----------------------------------------------------------------------

    def credits_lines(self) -> list[tuple[str, Any, Color]]:
        """Every line of the credits, wrapped to the box: (text, font, color)."""
        info = self.info
        width = self.credits_box[2] - 40
        out: list[tuple[str, Any, Color]] = []

        def add(text: str, font: Any, color: Color) -> None:
            out.extend((line, font, color) for line in wrap_text(font, text, width))

        title = f"{info.name} {info.version}".strip()
        if info.author:
            title += f" by {info.author}"
        add(f"Music: {title}", self.font, (255, 255, 255))
        if info.license:
            add(f"License: {info.license}", self.small, DIM)
        if info.description:
            add(info.description, self.small, DIM)
        add(f"Trained on {len(info.sources)} sources:", self.font, TEXT)
        for src in info.sources:
            add(f"{src.get('file', '?')} ({src.get('license', '?')})", self.small, (235, 220, 160))
            add(str(src.get("attribution", "")), self.small, (190, 194, 210))
        return out

    def credit_line_rects(self) -> list[tuple[Any, Any]]:
        """The rendered credit lines with the rects where ``draw_credits`` puts them."""
        x, y, w, h = self.credits_box
        lines = self.credits_lines()
        top = y + 44
        per_page = (h - 64) // 20
        first = max(0, min(self.credits_scroll, max(0, len(lines) - per_page)))
        self.credits_scroll = first
        out = []
        for i, (text, font, color) in enumerate(lines[first : first + per_page]):
            surf = self.render_text(text, font, color)
            out.append((surf, surf.get_rect(topleft=(x + 20, top + i * 20))))
        return out

    def draw_credits(self) -> None:
        pg, screen = self.pg, self.screen
        x, y, w, h = self.credits_box
        panel = pg.Surface((w, h), pg.SRCALPHA)
        panel.fill(PANEL)
        screen.blit(panel, (x, y))
        pg.draw.rect(screen, (80, 90, 120), (x, y, w, h), 2, border_radius=6)
        self.text(screen, "CREDITS", (x + 20, y + 14), (255, 255, 255), self.font)
        total = len(self.credits_lines())
        self.text(
            screen,
            f"up/down scroll  ·  C close  ·  line {self.credits_scroll + 1} of {total}",
            (x + w - 20, y + 16),
            DIM,
            self.small,
            "topright",
        )
        screen.set_clip(pg.Rect(x, y, w, h))
        for surf, rect in self.credit_line_rects():
            screen.blit(surf, rect)
        screen.set_clip(None)

    # --- the developer overlay --------------------------------------------------------

    def draw_overlay(self, view: MusicView, dev: DevInfo) -> Any:
        """The F3 panel over the arena's top right corner; returns its rect."""
        pg, screen = self.pg, self.screen
        stats = view.stats
        rows: list[tuple[str, Color]] = []
        state = view.state or "-"
        if view.pending:
            state += f" -> {view.pending}"
        rows.append((f"bar {view.bar + 1}  beat {view.beat + 1}  state {state}", TEXT))
        rows.append((f"mood {view.mood}  intensity {view.intensity:.2f}", TEXT))
        if dev.mood_parameter:
            # the game's danger, and where the engine's seek has brought the parameter
            name = dev.mood_parameter
            label = "danger" if name == "danger" else f"{name} from danger"
            heard = (stats.get("parameters") or {}).get(name)
            engine = f"  (engine {float(heard):.2f})" if isinstance(heard, int | float) else ""
            rows.append((f"{label} {view.danger:.2f}{engine}", TEXT))
        rows.append((f"output {dev.output}  fps {_num(dev.fps, 0)}", TEXT))
        engine_cost = f"p50 {_num(dev.engine_ms_p50, 3)} p99 {_num(dev.engine_ms_p99, 3)} ms"
        rows.append((f"engine calls/frame {engine_cost}", TEXT))
        frame_cost = f"p50 {_num(dev.frame_ms_p50, 2)} p99 {_num(dev.frame_ms_p99, 2)} ms"
        rows.append((f"game frame {frame_cost}", TEXT))
        margin = _first(stats, "lookahead_margin_ms", "lookahead_ms", "margin_ms")
        if margin is not None:
            rows.append((f"look-ahead margin {float(margin):.0f} ms", TEXT))
        else:
            ahead = _first(stats, "bars_generated")
            if ahead is not None:
                rows.append((f"bars composed {ahead} (playing bar {view.bar + 1})", TEXT))
        under = _first(stats, "underruns")
        fallback = _first(stats, "fallback_bars")
        warn = (255, 140, 120) if (under or fallback) else TEXT
        rows.append(
            (
                f"underruns {under if under is not None else '-'}  fallback bars "
                f"{fallback if fallback is not None else '-'}",
                warn,
            )
        )
        if view.last_error:
            rows.append((f"engine error: {view.last_error}"[:52], (255, 110, 110)))
        gains = _first(stats, "stem_gains", "gains")
        meters = dict(gains) if isinstance(gains, Mapping) else {}

        w = 372
        h = 14 + 17 * len(rows) + (18 * len(meters) + 8 if meters else 0)
        x, y = ARENA[0] + ARENA[2] - w - 10, ARENA[1] + 10
        panel = pg.Surface((w, h), pg.SRCALPHA)
        panel.fill((0, 0, 0, 190))
        screen.blit(panel, (x, y))
        pg.draw.rect(screen, (90, 255, 170), (x, y, w, h), 1)
        ty = y + 8
        for text, color in rows:
            self.text(screen, text, (x + 10, ty), color, self.mono)
            ty += 17
        if meters:
            ty += 4
            for name, gain in meters.items():
                g = max(0.0, min(1.5, float(gain)))
                self.text(screen, f"{name:>8}", (x + 10, ty), DIM, self.mono)
                pg.draw.rect(screen, (40, 44, 60), (x + 90, ty + 3, 200, 9))
                pg.draw.rect(screen, (90, 255, 170), (x + 90, ty + 3, 200 * g / 1.5, 9))
                self.text(screen, f"{float(gain):.2f}", (x + 300, ty), DIM, self.mono)
                ty += 18
        return pg.Rect(x, y, w, h)


def _num(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _first(stats: Mapping[str, Any], *names: str) -> Any:
    for name in names:
        if name in stats:
            return stats[name]
    return None
