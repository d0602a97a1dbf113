"""The pygame side: window, input, rendering, the fixed-timestep loop and headless mode.

The loop runs the simulation at a fixed 60 Hz step (so the bot is deterministic
and physics does not depend on the frame rate), renders once per frame, and
calls the music director once per frame. The music only ever enqueues on the
game thread; the engine's beat and bar events come back through ``update()``
and drive both the HUD and the enemies.
"""

from __future__ import annotations

import faulthandler
import json
import math
import os
import random
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .bot import Bot
from .music import Metronome, MusicDirector, stats_dict
from .world import GameEvent, World, WorldConfig

__all__ = ["Options", "run"]

WIDTH, HEIGHT = 960, 600
SIM_HZ = 60  # the simulation always steps at 60 Hz, whatever the frame rate
STOP_TIMEOUT_S = 15.0

MOOD_COLORS: Mapping[str, tuple[int, int, int]] = {
    "explore": (70, 190, 160),
    "combat": (220, 120, 60),
    "boss": (230, 50, 70),
}
BACKGROUNDS: Mapping[str, tuple[int, int, int]] = {
    "explore": (14, 26, 36),
    "combat": (34, 20, 38),
    "boss": (44, 10, 16),
}


@dataclass(frozen=True)
class Options:
    headless: bool = False
    seconds: float | None = None
    out: Path | None = None
    report: Path | None = None
    seed: int | None = None
    bundle: Path | None = None
    raw: Path | None = None  # keep SDL's raw disk-audio file here (headless)
    screenshot: Path | None = None  # save the last frame as an image
    mute: bool = False
    fps: int = 60
    sample_rate: int = 48000
    buffer_frames: int = 512


class DemoError(Exception):
    """A failure the CLI reports in one line and turns into a nonzero exit."""


@dataclass
class Floater:
    text: str
    x: float
    y: float
    color: tuple[int, int, int]
    age: float = 0.0


@dataclass
class BundleInfo:
    name: str = "metronome"
    version: str = ""
    author: str = ""
    license: str = ""
    sources: list[Mapping[str, Any]] = field(default_factory=list)
    beats_per_bar: int = 4


def _bundle_info(bundle: Any) -> BundleInfo:
    m = bundle.manifest
    return BundleInfo(
        name=str(m.get("name", "?")),
        version=str(m.get("version", "")),
        author=str(m.get("author", "")),
        license=str(m.get("license", "")),
        sources=list(bundle.provenance),
        beats_per_bar=bundle.meter.numerator,
    )


def _lerp(a: tuple[int, int, int], b: tuple[int, int, int], t: float) -> tuple[int, int, int]:
    t = min(1.0, max(0.0, t))
    return (
        round(a[0] + (b[0] - a[0]) * t),
        round(a[1] + (b[1] - a[1]) * t),
        round(a[2] + (b[2] - a[2]) * t),
    )


class Renderer:
    """Draws the world and the music HUD; owns nothing but fonts and fades."""

    def __init__(self, screen: Any, info: BundleInfo, muted: bool) -> None:
        import pygame

        self.pg = pygame
        self.screen = screen
        self.info = info
        self.muted = muted
        self.font = pygame.font.Font(None, 22)
        self.small = pygame.font.Font(None, 18)
        self.big = pygame.font.Font(None, 34)
        self.bg: tuple[int, int, int] = BACKGROUNDS["explore"]
        self.overlay = pygame.Surface((WIDTH, HEIGHT), pygame.SRCALPHA)
        self.show_credits = False

    def text(
        self, s: str, pos: tuple[float, float], color: tuple[int, int, int], font: Any = None
    ) -> None:
        surf = (font or self.font).render(s, True, color)
        self.screen.blit(surf, pos)

    def draw(
        self, world: World, director: MusicDirector, floaters: Sequence[Floater], dt: float
    ) -> None:
        pg, screen, view = self.pg, self.screen, director.view
        # Color by what the music plays (it changes on the bar), not by what was asked.
        mood = view.state or view.mood
        # The room darkens towards the mood's color and brightens with intensity.
        target = _lerp(
            BACKGROUNDS.get(mood, BACKGROUNDS["explore"]), (70, 30, 40), view.intensity * 0.35
        )
        self.bg = _lerp(self.bg, target, 1.0 - math.exp(-dt / 0.4))
        screen.fill(self.bg)

        # Floor grid breathes on every beat.
        grid = _lerp(self.bg, (120, 120, 150), 0.12 + 0.25 * view.beat_pulse)
        for x in range(0, WIDTH, 60):
            pg.draw.line(screen, grid, (x, 0), (x, HEIGHT))
        for y in range(0, HEIGHT, 60):
            pg.draw.line(screen, grid, (0, y), (WIDTH, y))

        for pk in world.pickups:
            bob = 3.0 * view.beat_pulse
            if pk.kind == "gem":
                r = pk.radius + bob
                pts = [
                    (pk.x, pk.y - r),
                    (pk.x + r * 0.7, pk.y),
                    (pk.x, pk.y + r),
                    (pk.x - r * 0.7, pk.y),
                ]
                pg.draw.polygon(screen, (250, 210, 70), pts)
            else:
                pg.draw.circle(screen, (90, 230, 250), (pk.x, pk.y), pk.radius + bob)
                pg.draw.circle(screen, (220, 255, 255), (pk.x, pk.y), pk.radius + 6 + 2 * bob, 2)

        for e in world.enemies:
            r = e.radius * (1.0 + 0.3 * e.pulse)
            if e.chasing:
                color = (235, 70, 70)
            elif e.resting_s > 0:
                color = (120, 110, 120)
            else:
                color = (200, 140, 80)
            pg.draw.circle(screen, color, (e.x, e.y), r)
            if e.chasing:
                pg.draw.circle(screen, (255, 200, 200), (e.x, e.y), r + 4, 1)

        if world.boss is not None:
            b = world.boss
            r = b.radius * (1.0 + 0.12 * b.pulse)
            pg.draw.circle(screen, (150, 20, 40), (b.x, b.y), r)
            pg.draw.circle(screen, (255, 90, 110), (b.x, b.y), r + 3 + 10 * b.charge / 3, 3)
            w = 70
            pg.draw.rect(screen, (60, 0, 0), (b.x - w / 2, b.y - r - 16, w, 6))
            pg.draw.rect(screen, (255, 60, 80), (b.x - w / 2, b.y - r - 16, w * b.hp / b.max_hp, 6))

        p = world.player
        if p.invulnerable <= 0 or int(p.invulnerable * 10) % 2 == 0:
            pg.draw.circle(screen, (180, 255, 190), (p.x, p.y), p.radius)
            pg.draw.circle(screen, (255, 255, 255), (p.x, p.y), p.radius, 2)

        for f in floaters:
            alpha = max(0.0, 1.0 - f.age / 0.9)
            color = _lerp(self.bg, f.color, alpha)
            self.text(f.text, (f.x - 10, f.y - 20 - 40 * f.age), color, self.font)

        self._hud(world, director)
        if self.show_credits:
            self._credits()

    def _hud(self, world: World, director: MusicDirector) -> None:
        pg, screen, view = self.pg, self.screen, director.view
        ov = self.overlay
        ov.fill((0, 0, 0, 0))
        # The panel pulses on each beat; the whole frame flashes on each bar.
        pg.draw.rect(ov, (0, 0, 0, 150 + int(40 * view.beat_pulse)), (0, 0, WIDTH, 62))
        pg.draw.rect(ov, (0, 0, 0, 150), (0, HEIGHT - 26, WIDTH, 26))
        if view.bar_flash > 0.02:
            pg.draw.rect(ov, (255, 255, 255, int(120 * view.bar_flash)), (0, 0, WIDTH, HEIGHT), 6)
        screen.blit(ov, (0, 0))

        state = view.state or "…"
        color = MOOD_COLORS.get(state, (200, 200, 220))
        self.text(state.upper(), (14, 8), color, self.big)
        if view.pending is not None:
            self.text(f"-> {view.pending} on next bar", (14, 38), (200, 200, 200), self.small)
        elif self.muted:
            self.text("muted: metronome only", (14, 38), (160, 160, 160), self.small)

        # Intensity meter.
        x0 = 200
        self.text(f"intensity {view.intensity:.2f}", (x0, 8), (220, 220, 230))
        pg.draw.rect(screen, (60, 60, 70), (x0, 30, 180, 10))
        pg.draw.rect(
            screen,
            _lerp((80, 200, 150), (240, 60, 60), view.intensity),
            (x0, 30, 180 * view.intensity, 10),
        )

        # Beat dots: the current beat lit and swelling with the pulse.
        x1 = 410
        beats = max(1, self.info.beats_per_bar)
        for i in range(beats):
            lit = i == view.beat
            r = 6 + (4 * view.beat_pulse if lit else 0)
            col = (255, 230, 120) if lit else (90, 90, 100)
            pg.draw.circle(screen, col, (x1 + 10 + i * 26, 20), r)
        self.text(
            f"bar {view.bar + 1} : beat {view.beat + 1}", (x1, 36), (200, 200, 210), self.small
        )

        # Engine health: underruns should stay at zero.
        x2 = 560
        stats = view.stats
        self.text(
            f"underruns {stats.get('underruns', 0)}  fallback bars {stats.get('fallback_bars', 0)}",
            (x2, 8),
            (200, 200, 210),
            self.small,
        )
        self.text(
            f"bars composed {stats.get('bars_generated', director.bars)}",
            (x2, 24),
            (200, 200, 210),
            self.small,
        )
        if view.last_stinger and view.stinger_flash > 0.05:
            self.text(
                f"stinger: {view.last_stinger}",
                (x2, 40),
                _lerp((40, 40, 40), (255, 220, 120), view.stinger_flash),
                self.small,
            )

        x3 = 790
        p = world.player
        for i in range(world.config.player_hp):
            col = (240, 70, 90) if i < p.hp else (70, 50, 55)
            pg.draw.rect(screen, col, (x3 + i * 18, 10, 14, 14))
        self.text(f"score {world.score}", (x3, 32), (230, 230, 230))

        n = len(self.info.sources)
        line = (
            f"Music style: {self.info.name} — trained on {n} source"
            f"{'' if n == 1 else 's'}; press C for credits"
        )
        self.text(line, (10, HEIGHT - 20), (190, 190, 200), self.small)
        self.text(
            "arrows/WASD move  B boss  Esc quit",
            (WIDTH - 230, HEIGHT - 20),
            (140, 140, 150),
            self.small,
        )

    def _credits(self) -> None:
        pg, info = self.pg, self.info
        panel = pg.Surface((WIDTH - 120, HEIGHT - 140), pg.SRCALPHA)
        panel.fill((0, 0, 0, 215))
        self.screen.blit(panel, (60, 70))
        y = 86
        title = f"{info.name} {info.version}".strip()
        if info.author:
            title += f" by {info.author}"
        if info.license:
            title += f" ({info.license})"
        self.text(f"Music: {title}", (80, y), (255, 255, 255))
        self.text("C closes", (WIDTH - 140, y), (150, 150, 160), self.small)
        y += 28
        self.text(f"Trained on {len(info.sources)} sources:", (80, y), (220, 220, 220))
        y += 22
        max_lines = (HEIGHT - 160 - y) // 18
        for i, src in enumerate(info.sources):
            if i >= max_lines:
                self.text(
                    f"... and {len(info.sources) - i} more", (80, y), (180, 180, 180), self.small
                )
                break
            self.text(
                f"{src.get('file', '?')} — {src.get('attribution', '?')} "
                f"({src.get('license', '?')})",
                (80, y),
                (200, 200, 200),
                self.small,
            )
            y += 18


def _percentiles(values: Sequence[float]) -> dict[str, float]:
    if not values:
        return {"p50": 0.0, "p99": 0.0, "max": 0.0}
    arr = np.asarray(values, dtype=np.float64)
    return {
        "p50": round(float(np.percentile(arr, 50)), 3),
        "p99": round(float(np.percentile(arr, 99)), 3),
        "max": round(float(arr.max()), 3),
    }


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, set | frozenset | tuple):
        return list(obj)
    return repr(obj)


def _keyboard_move(pressed: Any, pg: Any) -> tuple[float, float]:
    dx = (pressed[pg.K_RIGHT] or pressed[pg.K_d]) - (pressed[pg.K_LEFT] or pressed[pg.K_a])
    dy = (pressed[pg.K_DOWN] or pressed[pg.K_s]) - (pressed[pg.K_UP] or pressed[pg.K_w])
    return float(dx), float(dy)


def _floater(ev: GameEvent) -> Floater | None:
    table = {
        "pickup": ("+1", (250, 220, 90)),
        "core": ("CORE!", (120, 240, 255)),
        "hit": ("HIT", (255, 90, 90)),
        "player_down": ("DOWN", (255, 60, 60)),
        "boss_spawned": ("BOSS!", (255, 80, 100)),
        "boss_defeated": ("VICTORY", (255, 240, 140)),
    }
    if ev.kind not in table:
        return None
    text, color = table[ev.kind]
    return Floater(text, ev.x, ev.y, color)


def run(opts: Options) -> int:
    """Play the game (or the headless bot session); returns the exit code."""
    try:
        return _run(opts)
    except DemoError as exc:
        print(f"demo_game: error: {exc}", file=sys.stderr)
        return 1


def _run(opts: Options) -> int:
    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")  # stdout is for the summary
    import adaptive
    import runtime

    seed = opts.seed if opts.seed is not None else random.randrange(2**31)
    raw_dir: tempfile.TemporaryDirectory[str] | None = None
    raw_path: Path | None = None
    if opts.headless:
        os.environ["SDL_VIDEODRIVER"] = "dummy"
        if not opts.mute:
            # SDL's disk driver writes the exact stream the device got, in real time.
            if opts.raw is not None:
                raw_path = opts.raw
                raw_path.parent.mkdir(parents=True, exist_ok=True)
                raw_path.unlink(missing_ok=True)
            else:
                raw_dir = tempfile.TemporaryDirectory(prefix="demo_game_")
                raw_path = Path(raw_dir.name) / "session.raw"
            os.environ["SDL_AUDIODRIVER"] = "disk"
            os.environ["SDL_DISKAUDIOFILE"] = str(raw_path)

    bundle: Any = None
    try:
        bundle = adaptive.load_bundle(opts.bundle)
    except adaptive.BundleError as exc:
        if not opts.mute:
            raise DemoError(f"cannot load the music bundle: {exc}") from exc
    info = _bundle_info(bundle) if bundle is not None else BundleInfo()

    import pygame

    # Video and fonts only: the engine's pygame output opens the audio device itself.
    pygame.display.init()
    pygame.font.init()
    try:
        screen = pygame.display.set_mode((WIDTH, HEIGHT))
        pygame.display.set_caption("adaptive demo — the music follows the danger")
        try:
            if opts.mute:
                return _session(opts, seed, bundle, info, screen, None, raw_path)
            try:
                engine = runtime.MusicEngine(
                    bundle,
                    output="pygame",
                    sample_rate=opts.sample_rate,
                    buffer_frames=opts.buffer_frames,
                    seed=seed,
                )
            except (adaptive.AdaptiveError, OSError, RuntimeError) as exc:
                raise DemoError(f"cannot create the music engine: {exc}") from exc
            return _session(opts, seed, bundle, info, screen, engine, raw_path)
        except adaptive.AdaptiveError as exc:
            raise DemoError(f"music engine failed: {exc}") from exc
    finally:
        pygame.quit()
        if raw_dir is not None:
            raw_dir.cleanup()


def _session(
    opts: Options,
    seed: int,
    bundle: Any,
    info: BundleInfo,
    screen: Any,
    engine: Any,
    raw_path: Path | None,
) -> int:
    import pygame

    world = World(WorldConfig(width=WIDTH, height=HEIGHT), seed=seed)
    bot = Bot(seed) if opts.headless else None
    if engine is None:
        tempo = bundle.tempo if bundle is not None else 120.0
        unit = bundle.meter.denominator if bundle is not None else 4
        metronome = Metronome(tempo, info.beats_per_bar, unit, sample_rate=opts.sample_rate)
        states = list(bundle.states) if bundle is not None else ["explore", "combat", "boss"]
        director = MusicDirector(
            metronome,
            states=states,
            stingers=(),
            parameters={"intensity": {"min": 0.0, "max": 1.0}},
        )
    else:
        director = MusicDirector.for_bundle(engine, bundle)
    renderer = Renderer(screen, info, muted=engine is None)
    floaters: list[Floater] = []
    clock = pygame.time.Clock()
    step = 1.0 / SIM_HZ
    work_ms: list[float] = []
    interval_ms: list[float] = []
    music_ms: list[float] = []
    sim_frames = 0
    rendered = 0
    moods: list[str] = []
    running = True
    pending: list[GameEvent] = []  # events from input, handled with the next frame's

    # Draw one frame before the music starts: the first draw warms pygame's font
    # and surface caches, and would otherwise hold the GIL while audio starts up.
    renderer.draw(world, director, floaters, 0.0)
    if engine is not None:
        import adaptive

        try:
            engine.start()
        except (adaptive.AdaptiveError, OSError, RuntimeError, pygame.error) as exc:
            raise DemoError(
                f"cannot start the music: {exc} (no sound card? try --mute, "
                "or --headless to record to a WAV)"
            ) from exc
    try:
        director.begin()
        start = last = time.perf_counter()
        acc = 0.0
        while running:
            t0 = time.perf_counter()
            elapsed = t0 - last
            last = t0
            if rendered:
                interval_ms.append(elapsed * 1000.0)
            acc += min(elapsed, 0.25)  # after a stall, slow down instead of spiralling

            for event in pygame.event.get():
                if event.type == pygame.QUIT:
                    running = False
                elif event.type == pygame.KEYDOWN:
                    if event.key == pygame.K_ESCAPE:
                        running = False
                    elif event.key == pygame.K_c:
                        renderer.show_credits = not renderer.show_credits
                    elif event.key == pygame.K_b:
                        summoned = world.summon_boss()
                        if summoned is not None:
                            pending.append(summoned)

            game_events, pending = pending, []
            while acc >= step:
                acc -= step
                if bot is not None:
                    move = bot.act(world, step)
                else:
                    move = _keyboard_move(pygame.key.get_pressed(), pygame)
                game_events += world.step(step, move)
                sim_frames += 1

            m0 = time.perf_counter()
            music_events = director.frame(world, game_events, elapsed)
            music_ms.append((time.perf_counter() - m0) * 1000.0)
            if not moods or moods[-1] != director.view.mood:
                moods.append(director.view.mood)
            # Gameplay on the music: enemies lunge on beats, the boss charges on bars.
            for mev in music_events:
                if mev.kind == "beat":
                    world.on_beat()
                elif mev.kind == "bar":
                    world.on_bar()

            for gev in game_events:
                f = _floater(gev)
                if f is not None:
                    floaters.append(f)
            for f in floaters:
                f.age += elapsed
            floaters[:] = [f for f in floaters if f.age < 0.9]

            renderer.draw(world, director, floaters, elapsed)
            pygame.display.flip()
            rendered += 1
            work_ms.append((time.perf_counter() - t0) * 1000.0)
            if opts.seconds is not None and time.perf_counter() - start >= opts.seconds:
                running = False
            if not running and opts.screenshot is not None:
                opts.screenshot.parent.mkdir(parents=True, exist_ok=True)
                pygame.image.save(screen, str(opts.screenshot))
            if not running:
                break
            clock.tick(opts.fps)
        wall = time.perf_counter() - start
    finally:
        if engine is not None:
            _stop(engine)

    game: dict[str, Any] = {
        "seed": seed,
        "seconds": round(wall, 3),
        "frames_rendered": rendered,
        "frames_simulated": sim_frames,
        "fps": round(rendered / wall, 2) if wall > 0 else 0.0,
        "states_visited": director.states_visited,
        "states_requested": director.states_requested,
        "moods": moods,
        "stingers_fired": dict(director.stingers_fired),
        "stingers_landed": dict(director.stingers_landed),
        "beats": director.beats,
        "bars": director.bars,
        "frame_work_ms": _percentiles(work_ms),
        "frame_interval_ms": _percentiles(interval_ms),
        "music_calls_ms": _percentiles(music_ms),
        "score": world.score,
        "pickups": world.pickups_collected,
        "hits": world.hits_taken,
        "downs": world.downs,
        "bosses_defeated": world.bosses_defeated,
        "bundle": {
            "name": info.name,
            "sources": len(info.sources),
            "sha256": getattr(bundle, "sha256", ""),
        },
    }
    report: dict[str, Any] = {"game": game}
    if engine is not None:
        report["engine"] = engine.report()
        report["stats"] = stats_dict(engine.stats())
    audio: dict[str, Any] | None = None
    if raw_path is not None:
        audio = _collect_audio(raw_path, opts)
        report["audio"] = audio
    if opts.report is not None:
        opts.report.parent.mkdir(parents=True, exist_ok=True)
        opts.report.write_text(json.dumps(report, indent=2, default=_jsonable) + "\n")

    stingers = " ".join(f"{k}x{v}" for k, v in sorted(director.stingers_fired.items())) or "-"
    summary = (
        f"demo_game: {wall:.1f} s, {rendered} frames ({sim_frames} sim), "
        f"states {' > '.join(director.states_visited) or '-'}, stingers {stingers}, "
        f"frame p50 {game['frame_work_ms']['p50']:.2f} ms p99 "
        f"{game['frame_work_ms']['p99']:.2f} ms"
    )
    if engine is not None:
        stats = report["stats"]
        summary += (
            f", underruns {stats.get('underruns', '?')}, "
            f"fallback bars {stats.get('fallback_bars', '?')}"
        )
    if audio is not None:
        summary += f", audio peak {audio['peak']:.3f} rms {audio['rms']:.4f}"
        if opts.out is not None:
            summary += f" -> {opts.out}"
    print(summary)
    if audio is not None and audio["rms"] < 1e-4:
        raise DemoError(
            f"the audio SDL wrote is silent (rms {audio['rms']:.2e}); "
            "see the report for engine stats"
        )
    return 0


def _stop(engine: Any) -> None:
    # A stuck audio device must never hang the game (or CI) forever: if stop()
    # does not return in time, dump every thread's stack to stderr and exit 1.
    # (It runs in C, so it works even when a deadlock holds the GIL.)
    faulthandler.dump_traceback_later(STOP_TIMEOUT_S, exit=True)
    try:
        engine.stop()
    finally:
        faulthandler.cancel_dump_traceback_later()


def _collect_audio(raw_path: Path, opts: Options) -> dict[str, Any]:
    from runtime import read_disk_audio, write_wav

    if not raw_path.exists() or raw_path.stat().st_size == 0:
        raise DemoError(
            f"SDL's disk audio driver wrote nothing to {raw_path}; "
            "was SDL_AUDIODRIVER=disk honoured?"
        )
    audio = read_disk_audio(raw_path, channels=2)
    if opts.out is not None:
        opts.out.parent.mkdir(parents=True, exist_ok=True)
        write_wav(opts.out, audio, opts.sample_rate)
    data = np.asarray(audio, dtype=np.float64)
    return {
        "wav": str(opts.out) if opts.out is not None else None,
        "frames": int(data.shape[0]),
        "seconds": round(data.shape[0] / opts.sample_rate, 3),
        "sample_rate": opts.sample_rate,
        "peak": round(float(np.abs(data).max()) if data.size else 0.0, 5),
        "rms": round(float(np.sqrt(np.mean(data**2))) if data.size else 0.0, 6),
        "clipped_samples": int(np.count_nonzero(np.abs(data) >= 0.999)),
    }
