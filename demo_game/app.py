"""The pygame side: the window, input, scenes, the fixed-timestep loop and headless mode.

Scenes: title (a menu with the player's options) -> play -> victory or game
over -> play again. The loop steps the simulation at a fixed 60 Hz (so the bot
is deterministic and physics does not depend on the frame rate), renders once
per frame and calls the music director once per frame. On the game thread the
engine is only told things; its beat and bar events come back through
``update()`` and move the enemies, the spawns and the lights.
"""

from __future__ import annotations

import contextlib
import faulthandler
import json
import os
import random
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .art import CORE_COLOR, MOOD_COLORS, PLAYER_COLOR, SHARD_COLOR
from .bot import Bot
from .music import MusicDirector, Scene, open_engine, read_stats
from .render import HEIGHT, WIDTH, BundleInfo, DevInfo, MenuItem, Renderer
from .world import GameEvent, World, WorldConfig

__all__ = ["DemoError", "Options", "run"]

SIM_HZ = 60  # the simulation always steps at 60 Hz, whatever the frame rate
STOP_TIMEOUT_S = 15.0
BOT_TITLE_S = 1.0  # the headless bot waits this long on the title screen...
BOT_END_S = 3.0  # ...and on victory / game over, before it plays again
# What SDL's disk driver prints (as CRITICAL) when it opens: expected in headless mode.
CUE_BARS = 4  # the engine's exit cues mark the end of every 4-bar phrase (sync "cue")
END_GRACE_S = 0.8  # a dash key still held at the end must not skip the end screen
DISK_BANNER = ("SDL disk i/o audio driver", "Writing to file [")


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
    mute: bool = False  # the engine plays into its silent output
    fps: int = 60
    fullscreen: bool = False
    # Music volume 0..1 (the engine's master volume); None: full.
    volume: float | None = None
    watch: bool = False  # hot-reload the --bundle file whenever it changes
    overlay: bool = False  # start with the developer overlay shown
    gallery: Path | None = None  # save every scene's screenshot here and exit
    bot: bool = False  # the scripted bot plays in the window (an attract mode)
    sample_rate: int = 48000
    buffer_frames: int = 512


class DemoError(Exception):
    """A failure the CLI reports in one line and turns into a nonzero exit."""


def bundle_info(bundle: Any) -> BundleInfo:
    m = bundle.manifest
    return BundleInfo(
        name=str(m.get("name", "?")),
        version=str(m.get("version", "")),
        author=str(m.get("author", "")),
        license=str(m.get("license", "")),
        description=str(m.get("description", "")),
        sources=list(bundle.provenance),
        beats_per_bar=bundle.meter.numerator,
    )


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
    as_dict = getattr(obj, "as_dict", None)
    if callable(as_dict):
        return as_dict()
    return repr(obj)


@contextlib.contextmanager
def without_sdl_disk_banner() -> Iterator[None]:
    """Hide SDL's "CRITICAL: You are using the SDL disk i/o audio driver!" lines.

    SDL prints them from C straight to file descriptor 2 when the disk driver
    opens, which is exactly what headless mode asks for, so they would only
    alarm a newcomer. They may come from the engine's worker process, which
    inherits fd 2, so fd 2 becomes a pipe for the whole session: a thread passes
    every other line on to the real stderr, and tracebacks are never lost.
    """
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except OSError:  # no real fd 2 (embedded interpreters): nothing to hide
        yield
        return
    read_fd, write_fd = os.pipe()
    os.dup2(write_fd, 2)
    os.close(write_fd)

    def pump() -> None:
        with os.fdopen(read_fd, "rb") as pipe:
            for raw in pipe:
                if not any(part in raw.decode(errors="replace") for part in DISK_BANNER):
                    os.write(saved, raw)

    thread = threading.Thread(target=pump, name="demo-game-stderr", daemon=True)
    thread.start()
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)  # closes this process's last write end of the pipe
        thread.join(timeout=2.0)  # a worker process still holding it keeps it open
        if not thread.is_alive():
            os.close(saved)


class Game:
    """Scenes, input and the world; the loop in ``_session`` drives it."""

    def __init__(
        self,
        opts: Options,
        seed: int,
        bundle: Any,
        info: BundleInfo,
        screen: Any,
        music: Music,
    ) -> None:
        import pygame

        self.pg = pygame
        self.opts = opts
        self.seed = seed
        self.bundle = bundle
        self.screen = screen
        self.music = music
        self.director = MusicDirector.for_bundle(music.engine, bundle)
        self.renderer = Renderer(screen, info, seed)
        self.scene: Scene = "title"
        self.scene_s = 0.0
        self.games = 0
        self.world = self._new_world()
        self.bot = Bot(seed) if opts.headless or opts.bot else None
        self.paused = False
        self.show_overlay = opts.overlay
        self.show_credits = False
        self.menu_index = 0
        self.volume = opts.volume if opts.volume is not None else 1.0
        self.music_on = not opts.mute and music.playing_on != "silent"
        self.fullscreen = opts.fullscreen
        self.running = True
        self.pending: list[GameEvent] = []
        self.scenes_seen: list[str] = ["title"]
        self.outcomes: list[str] = []
        self.director.set_volume(self.volume)

    def _new_world(self) -> World:
        from .render import ARENA

        return World(WorldConfig(width=ARENA[2], height=ARENA[3]), seed=self.seed + self.games)

    # --- scenes -----------------------------------------------------------------------

    def set_scene(self, scene: Scene) -> None:
        self.scene, self.scene_s = scene, 0.0
        self.scenes_seen.append(scene)
        self.paused = False

    def start_game(self) -> None:
        self.games += 1
        self.world = self._new_world()
        if self.bot is not None:
            self.bot = Bot(self.seed + self.games)
        self.director.restart()
        self.set_scene("play")

    def menu(self) -> list[MenuItem]:
        volume = f"{round(self.volume * 10)}/10" if self.director.has_volume else "-"
        return [
            MenuItem("Play"),
            MenuItem("Volume", volume, self.director.has_volume),
            MenuItem("Music", "on" if self.music_on else "off", not self.opts.headless),
            MenuItem("Display", "fullscreen" if self.fullscreen else "windowed"),
            MenuItem("Credits"),
            MenuItem("Quit"),
        ]

    def toggle_fullscreen(self) -> None:
        if self.opts.headless:
            return
        self.pg.display.toggle_fullscreen()
        self.fullscreen = not self.fullscreen

    def toggle_music(self) -> None:
        """Music off plays on the engine's silent output: beats, bars and spawns go on."""
        if self.opts.headless:
            return  # the headless session records one engine from start to end
        import dataclasses

        _stop(self.music.engine)
        opts = dataclasses.replace(self.opts, mute=self.music_on)
        self.music = _open_music(opts, self.bundle, self.seed)
        self.music_on = not opts.mute and self.music.playing_on != "silent"
        self.director.use_engine(self.music.engine)
        self.director.set_volume(self.volume)

    def change_volume(self, delta: float) -> None:
        self.volume = min(1.0, max(0.0, round(self.volume + delta, 2)))
        self.director.set_volume(self.volume)

    def _menu_key(self, key: int) -> None:
        pg = self.pg
        items = self.menu()
        if key in (pg.K_UP, pg.K_w):
            self.menu_index = (self.menu_index - 1) % len(items)
            return
        if key in (pg.K_DOWN, pg.K_s):
            self.menu_index = (self.menu_index + 1) % len(items)
            return
        label = items[self.menu_index].label
        step = {pg.K_LEFT: -0.1, pg.K_a: -0.1, pg.K_RIGHT: 0.1, pg.K_d: 0.1}.get(key)
        if label == "Volume" and step is not None:
            self.change_volume(step)
        elif key in (pg.K_RETURN, pg.K_KP_ENTER, pg.K_SPACE) or (
            step is not None and label in ("Music", "Display")
        ):
            if label == "Play":
                self.start_game()
            elif label == "Display":
                self.toggle_fullscreen()
            elif label == "Music":
                self.toggle_music()
            elif label == "Credits":
                self.show_credits = True
            elif label == "Quit":
                self.running = False

    def key(self, key: int) -> None:
        pg = self.pg
        if key == pg.K_F3:
            self.show_overlay = not self.show_overlay
        elif key == pg.K_F11:
            self.toggle_fullscreen()
        elif key == pg.K_m:
            self.toggle_music()
        elif key in (pg.K_MINUS, pg.K_KP_MINUS):
            self.change_volume(-0.1)
        elif key in (pg.K_EQUALS, pg.K_PLUS, pg.K_KP_PLUS):
            self.change_volume(0.1)
        elif self.show_credits:
            if key in (pg.K_c, pg.K_ESCAPE, pg.K_RETURN):
                self.show_credits = False
            elif key == pg.K_UP:
                self.renderer.credits_scroll = max(0, self.renderer.credits_scroll - 3)
            elif key == pg.K_DOWN:
                self.renderer.credits_scroll += 3
        elif key == pg.K_c:
            self.show_credits = True
        elif self.scene == "title":
            if key == pg.K_ESCAPE:
                self.running = False
            else:
                self._menu_key(key)
        elif self.scene == "play":
            if key == pg.K_ESCAPE:
                self.set_scene("title")
            elif key == pg.K_p:
                self.paused = not self.paused
            elif key == pg.K_b:
                summoned = self.world.summon_boss()
                if summoned is not None:
                    self.pending.append(summoned)
        elif key == pg.K_ESCAPE:
            self.set_scene("title")
        elif key in (pg.K_RETURN, pg.K_KP_ENTER, pg.K_SPACE) and self.scene_s >= END_GRACE_S:
            self.start_game()

    # --- a frame ----------------------------------------------------------------------

    def step(self, dt: float) -> list[GameEvent]:
        """One fixed simulation step."""
        self.scene_s += dt
        if self.scene == "won" and int(self.scene_s * 3) != int((self.scene_s - dt) * 3):
            self._fireworks()
        if self.bot is not None and self.scene in ("title", "won", "lost"):
            if self.scene_s >= (BOT_TITLE_S if self.scene == "title" else BOT_END_S):
                self.start_game()
            return []
        if self.scene in ("won", "lost"):
            return self.world.step(dt, (0.0, 0.0))  # the world is over; only its glow moves
        if self.scene != "play" or self.paused or self.show_credits:
            return []
        if self.bot is not None:
            move, dash = self.bot.decide(self.world, dt)
        else:
            move, dash = self._keyboard()
        events = self.world.step(dt, move, dash)
        if self.world.phase != "play":
            self.outcomes.append(self.world.phase)
            self.set_scene(self.world.phase)
        return events

    def _fireworks(self) -> None:
        rng, c = self.renderer.particles.rng, self.world.config
        color = rng.choice([SHARD_COLOR, CORE_COLOR, PLAYER_COLOR, (255, 150, 200)])
        x, y = rng.uniform(80, c.width - 80), rng.uniform(60, c.height * 0.45)
        self.renderer.particles.burst(x, y, color, 40, 320, 1.2, 7)

    def _keyboard(self) -> tuple[tuple[float, float], bool]:
        pg = self.pg
        pressed = pg.key.get_pressed()
        dx = (pressed[pg.K_RIGHT] or pressed[pg.K_d]) - (pressed[pg.K_LEFT] or pressed[pg.K_a])
        dy = (pressed[pg.K_DOWN] or pressed[pg.K_s]) - (pressed[pg.K_UP] or pressed[pg.K_w])
        dash = bool(pressed[pg.K_SPACE] or pressed[pg.K_LSHIFT] or pressed[pg.K_RSHIFT])
        return (float(dx), float(dy)), dash

    def effects(self, events: Sequence[GameEvent]) -> None:
        """Particles, shake and floating words for the game's events."""
        r = self.renderer
        for ev in events:
            if ev.kind == "pickup":
                r.particles.burst(ev.x, ev.y, SHARD_COLOR, 18, 200, 0.5, 6)
                r.floater("+1", ev.x, ev.y, SHARD_COLOR)
            elif ev.kind == "core":
                r.particles.burst(ev.x, ev.y, CORE_COLOR, 26, 260, 0.7, 7)
                r.floater("CORE", ev.x, ev.y, CORE_COLOR)
                if self.world.boss is not None:
                    b = self.world.boss
                    r.particles.burst(b.x, b.y, (255, 120, 150), 30, 320, 0.7, 8)
                    r.add_shake(8)
            elif ev.kind == "hit":
                r.particles.burst(ev.x, ev.y, (255, 80, 80), 24, 280, 0.5, 7)
                r.add_shake(12)
                r.hurt = 1.0
                r.floater("HIT", ev.x, ev.y, (255, 90, 90))
            elif ev.kind == "enemy_killed":
                r.particles.burst(ev.x, ev.y, (255, 160, 90), 22, 300, 0.5, 6)
                r.add_shake(4)
            elif ev.kind == "dash":
                r.particles.burst(ev.x, ev.y, PLAYER_COLOR, 10, 120, 0.35, 5)
            elif ev.kind == "enemy_spawned":
                r.particles.burst(ev.x, ev.y, (255, 90, 110), 14, 160, 0.45, 5)
            elif ev.kind == "boss_spawned":
                r.add_shake(14)
                r.floater("BOSS", ev.x, ev.y, MOOD_COLORS["boss"])
            elif ev.kind == "boss_defeated":
                r.particles.burst(ev.x, ev.y, (255, 220, 140), 80, 420, 1.1, 9)
                r.add_shake(18)
            elif ev.kind == "wave":
                r.floater(f"WAVE {self.world.wave}", ev.x, ev.y - 30, (230, 230, 250))
            elif ev.kind == "player_down":
                r.particles.burst(ev.x, ev.y, PLAYER_COLOR, 60, 360, 1.0, 8)
                r.add_shake(18)

    def music_events(self, events: Sequence[Any]) -> list[GameEvent]:
        """Beats and bars move the world; returns what the world did on them."""
        out: list[GameEvent] = []
        for ev in events:
            if ev.kind == "reload":  # a hot-reloaded bundle: its name and credits from now on
                self.bundle = getattr(self.music.engine, "bundle", self.bundle)
                self.renderer.info = bundle_info(self.bundle)
            elif ev.kind == "beat":
                self.world.on_beat()
            elif ev.kind == "bar":
                out += self.world.on_bar()
                self.renderer.backdrop.on_bar(0.6 + 0.4 * self.director.view.intensity)
        return out

    def visual_mood(self) -> str:
        """The light of the arena: what the music plays, or the ending's own color."""
        if self.scene == "won":
            return "victory"
        if self.scene == "lost":
            return "game_over"
        view = self.director.view
        return view.state or view.mood

    def draw(self, dev: DevInfo) -> None:
        r, view = self.renderer, self.director.view
        if self.scene == "title":
            r.backdrop.set_mood("explore")
            r.backdrop.draw(r.arena, view.beat_pulse, 0.1)
            r.particles.draw(r.arena, self.pg.BLEND_RGB_ADD)
            r.draw_title(self.menu(), self.menu_index, view)
        else:
            r.draw_arena(self.world, view)
            if self.scene in ("won", "lost"):
                r.draw_end(self.world, self.scene == "won")
            elif self.paused:
                r.draw_paused()
        r.blit_arena()
        r.draw_hud(self.world, view, self.scene, self.visual_mood())
        hints = {
            "title": "M music  ·  -/+ volume  ·  F11 fullscreen  ·  F3 overlay  ·  Esc quit",
            "play": "WASD/arrows move  ·  Space dash  ·  P pause  ·  F3 overlay  ·  Esc title",
        }
        r.draw_footer(hints.get(self.scene, "Enter play again  ·  Esc title  ·  C credits"))
        if self.show_credits:
            r.draw_credits()
        if self.show_overlay:
            r.draw_overlay(view, dev)


def run(opts: Options) -> int:
    """Play the game (or the headless bot session); returns the exit code."""
    try:
        return _run(opts)
    except DemoError as exc:
        print(f"demo_game: error: {exc}", file=sys.stderr)
        return 1


def _prepare_headless(opts: Options) -> tuple[Path | None, tempfile.TemporaryDirectory[str] | None]:
    os.environ["SDL_VIDEODRIVER"] = "dummy"
    if opts.mute:
        return None, None
    # SDL's disk driver writes the exact stream the device got, in real time.
    raw_dir: tempfile.TemporaryDirectory[str] | None = None
    if opts.raw is not None:
        raw_path = opts.raw
        raw_path.parent.mkdir(parents=True, exist_ok=True)
        raw_path.unlink(missing_ok=True)
    else:
        raw_dir = tempfile.TemporaryDirectory(prefix="demo_game_")
        raw_path = Path(raw_dir.name) / "session.raw"
    os.environ["SDL_AUDIODRIVER"] = "disk"
    os.environ["SDL_DISKAUDIOFILE"] = str(raw_path)
    return raw_path, raw_dir


@dataclass
class Music:
    """The started engine and the name of what it plays into."""

    engine: Any
    output: str

    @property
    def playing_on(self) -> str:
        """What the engine says it plays on (it falls back to silence on its own)."""
        name = getattr(self.engine, "output", None)
        return name if isinstance(name, str) else self.output


def _open_music(opts: Options, bundle: Any, seed: int) -> Music:
    """Start the engine: on the SDL device, or on its silent output when muted.

    If the device cannot open, the engine itself warns once and plays silently.
    The volume is the engine's own (``set_volume``), so the engine keeps its
    worker process whatever the volume.
    """
    import adaptive

    output = "silent" if opts.mute else "sdl"
    try:
        engine = open_engine(
            bundle,
            output,
            sample_rate=opts.sample_rate,
            buffer_frames=opts.buffer_frames,
            seed=seed,
        )
        engine.start()
        if opts.watch and opts.bundle is not None:
            engine.watch(opts.bundle)  # a style edit, re-baked, is heard at a bar line
    except (adaptive.AdaptiveError, OSError, RuntimeError) as exc:
        raise DemoError(f"cannot start the music: {exc}") from exc
    return Music(engine, output)


def _run(opts: Options) -> int:
    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")  # stdout is for the summary
    import adaptive

    seed = opts.seed if opts.seed is not None else random.randrange(2**31)
    raw_path: Path | None = None
    raw_dir: tempfile.TemporaryDirectory[str] | None = None
    if opts.headless:
        raw_path, raw_dir = _prepare_headless(opts)
    try:
        bundle = adaptive.load_bundle(opts.bundle)
    except adaptive.BundleError as exc:
        raise DemoError(f"cannot load the music bundle: {exc}") from exc
    info = bundle_info(bundle)

    import pygame

    # Video and fonts only: the engine's output opens the audio device itself.
    pygame.display.init()
    pygame.font.init()
    try:
        flags = 0 if opts.headless else pygame.SCALED
        if opts.fullscreen and not opts.headless:
            flags |= pygame.FULLSCREEN
        screen = pygame.display.set_mode((WIDTH, HEIGHT), flags)
        pygame.display.set_caption("Shardfall: the music follows the danger")
        with without_sdl_disk_banner() if opts.headless else contextlib.nullcontext():
            music = _open_music(opts, bundle, seed)
            try:
                game = Game(opts, seed, bundle, info, screen, music)
                return _session(game, raw_path)
            except adaptive.AdaptiveError as exc:
                raise DemoError(f"music engine failed: {exc}") from exc
            finally:
                _stop(game.music.engine if "game" in locals() else music.engine)
    finally:
        pygame.quit()
        if raw_dir is not None:
            raw_dir.cleanup()


def _session(game: Game, raw_path: Path | None) -> int:
    import pygame

    opts = game.opts
    director = game.director
    clock = pygame.time.Clock()
    step = 1.0 / SIM_HZ
    work_ms: list[float] = []
    interval_ms: list[float] = []
    sim_frames = 0
    rendered = 0
    dev = DevInfo(output=game.music.playing_on, mood_parameter=director.mood_parameter)

    director.begin()
    start = last = time.perf_counter()
    acc = 0.0
    while game.running:
        t0 = time.perf_counter()
        elapsed = t0 - last
        last = t0
        if rendered:
            interval_ms.append(elapsed * 1000.0)
        acc += min(elapsed, 0.25)  # after a stall, slow down instead of spiralling

        for event in pygame.event.get():
            if event.type == pygame.QUIT:
                game.running = False
            elif event.type == pygame.KEYDOWN:
                game.key(event.key)
            elif event.type == pygame.WINDOWFOCUSLOST and game.scene == "play":
                game.paused = True  # the player looked away: the pack waits

        game_events, game.pending = game.pending, []
        while acc >= step:
            acc -= step
            game_events += game.step(step)
            sim_frames += 1

        music_events = director.frame(game.world, game_events, elapsed, game.scene)
        game_events += game.music_events(music_events)
        game.effects(game_events)
        game.renderer.update(elapsed, director.view, game.visual_mood())

        if rendered % 30 == 0 and work_ms:
            dev.output = game.music.playing_on
            recent = work_ms[-240:]
            costs = list(director.engine_ms)
            dev.frame_ms_p50, dev.frame_ms_p99 = _pair(recent)
            dev.engine_ms_p50, dev.engine_ms_p99 = _pair(costs)
            span = sum(interval_ms[-60:])
            dev.fps = 1000.0 * len(interval_ms[-60:]) / span if span > 0 else 0.0
        game.draw(dev)
        pygame.display.flip()
        rendered += 1
        work_ms.append((time.perf_counter() - t0) * 1000.0)
        if opts.seconds is not None and time.perf_counter() - start >= opts.seconds:
            game.running = False
        if not game.running and opts.screenshot is not None:
            opts.screenshot.parent.mkdir(parents=True, exist_ok=True)
            pygame.image.save(game.screen, str(opts.screenshot))
        if not game.running:
            break
        clock.tick(opts.fps)
    wall = time.perf_counter() - start
    return _finish(game, raw_path, wall, rendered, sim_frames, work_ms, interval_ms)


def _pair(values: Sequence[float]) -> tuple[float, float]:
    if not values:
        return 0.0, 0.0
    arr = np.asarray(values, dtype=np.float64)
    return float(np.percentile(arr, 50)), float(np.percentile(arr, 99))


def _finish(
    game: Game,
    raw_path: Path | None,
    wall: float,
    rendered: int,
    sim_frames: int,
    work_ms: Sequence[float],
    interval_ms: Sequence[float],
) -> int:
    opts, director, world, engine = game.opts, game.director, game.world, game.music.engine
    # (after a music toggle the report covers the engine playing at the end)
    _stop(engine)  # the report must describe a finished session
    stats = read_stats(engine)
    engine_report: Mapping[str, Any] = engine.report() if hasattr(engine, "report") else {}
    transitions = _with_boundaries(engine_report, game.bundle.meter.numerator)
    frame_time = _percentiles(work_ms)
    game_numbers: dict[str, Any] = {
        "seed": game.seed,
        "seconds": round(wall, 3),
        "frames_rendered": rendered,
        "frames_simulated": sim_frames,
        "fps": round(rendered / wall, 2) if wall > 0 else 0.0,
        "output": game.music.playing_on,
        "scenes": game.scenes_seen,
        "games_played": game.games,
        "outcomes": game.outcomes,
        "states_visited": director.states_visited,
        "states_requested": director.states_requested,
        "stingers_fired": dict(director.stingers_fired),
        "stingers_landed": dict(director.stingers_landed),
        "engine_errors": director.errors,
        "reloads": director.reloads,
        "beats": director.beats,
        "bars": director.bars,
        "frame_work_ms": frame_time,
        "frame_interval_ms": _percentiles(interval_ms),
        "engine_calls_ms": _percentiles(director.engine_ms_all),
        "score": world.score,
        "wave": world.wave,
        "shards": world.shards_collected,
        "hits": world.hits_taken,
        "kills": world.kills,
        "bosses_defeated": world.bosses_defeated,
        "mood_parameter": director.mood_parameter,
        "parameters_sent": {k: list(v) for k, v in director.parameters_sent.items()},
        "bundle": {
            "name": game.renderer.info.name,
            "sources": len(game.renderer.info.sources),
            "sha256": getattr(game.bundle, "sha256", ""),
        },
    }
    report: dict[str, Any] = {
        "frames": rendered,
        "frame_time_ms": {"p50": frame_time["p50"], "p99": frame_time["p99"]},
        "transitions": transitions,
        "underruns": stats.get("underruns"),
        "fallback_bars": stats.get("fallback_bars"),
        "game": game_numbers,
        "engine": engine_report,
        "stats": stats,
    }
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
        f"frame p50 {frame_time['p50']:.2f} ms p99 {frame_time['p99']:.2f} ms, "
        f"underruns {stats.get('underruns', '?')}, fallback bars {stats.get('fallback_bars', '?')}"
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


def _with_boundaries(engine_report: Mapping[str, Any], beats_per_bar: int) -> list[dict[str, Any]]:
    """The engine's transitions, each marked with whether it landed on a bar or beat start,
    or on a phrase start (after the last bar of a ``CUE_BARS``-bar phrase: where ``cue`` lands).

    The boundaries come from the bars the engine played (their start and length),
    so the check does not trust the engine's own arithmetic. ``sync`` is the style's
    rule for the pair: the game asks for states without one.
    """
    bars = {bar["index"]: bar for bar in engine_report.get("bars", [])}
    out = []
    for t in engine_report.get("transitions", []):
        bar = bars.get(t.get("bar"))
        landed = t.get("landed_frame")
        on_bar = bar is not None and landed == bar["start_frame"]
        on_beat = bar is not None and any(
            abs(landed - (bar["start_frame"] + b * bar["frames"] / beats_per_bar)) <= 1.0
            for b in range(beats_per_bar)
        )
        # a phrase ends where the bar before was its last (phrases count from each entry)
        before = bars.get(t.get("bar", 0) - 1)
        on_phrase = on_bar and before is not None and before.get("phrase_bar") == CUE_BARS - 1
        out.append({**t, "on_bar_start": on_bar, "on_beat": on_beat, "on_phrase_start": on_phrase})
    return out


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
