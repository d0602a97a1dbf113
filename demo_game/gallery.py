"""Deterministic screenshots of every scene: ``python -m demo_game --gallery DIR``.

The bot plays in simulated time (beats and bars on the bundle's tempo, not the
wall clock), so the gallery takes a second, looks the same on every machine
for a seed, and needs no audio device. The music view is filled the way the
engine would fill it. The README's pictures and the screen tests come from here.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from .app import Game, Music, Options
from .music import MusicView, open_engine, read_stats
from .render import DevInfo

__all__ = ["SHOTS", "Stage", "capture", "run_gallery"]

SHOTS = ("title", "play_overlay", "boss", "game_over", "victory", "credits")


class Stage:
    """A Game on a silent engine, advanced in simulated time."""

    def __init__(self, screen: Any, bundle: Any, info: Any, seed: int = 1) -> None:
        engine = open_engine(bundle, "silent", seed=seed)
        opts = Options(headless=True, seed=seed, mute=True)
        self.game = Game(opts, seed, bundle, info, screen, Music(engine, "silent"))
        self.beat_s = 60.0 / bundle.tempo * 4.0 / bundle.meter.denominator
        self.beats_per_bar = bundle.meter.numerator
        self.time = 0.0
        self._beats = 0
        # Simulated time: no engine calls or frame rate to show, only draw costs.
        self.dev = DevInfo(output="silent", mood_parameter=self.game.director.mood_parameter)

    @property
    def view(self) -> MusicView:
        return self.game.director.view

    def advance(self, seconds: float, dt: float = 1 / 60) -> None:
        """Play ``seconds`` of simulated time: bot, beats, bars, moods and effects."""
        game, director = self.game, self.game.director
        for _ in range(round(seconds / dt)):
            self.time += dt
            events = game.step(dt)
            view = director.view
            view.beat_pulse *= math.exp(-dt / 0.12)
            view.bar_flash *= math.exp(-dt / 0.25)
            view.mood = director.mood_for(game.world, game.scene, dt)
            view.intensity = director.smoother.update(
                game.world.threat() if game.scene == "play" else 0.1, dt
            )
            view.danger = director.danger_smoother.update(game.world.danger(), dt)
            while self._beats * self.beat_s <= self.time:
                bar, beat = divmod(self._beats, self.beats_per_bar)
                self._beats += 1
                view.bar, view.beat, view.beat_pulse = bar, beat, 1.0
                game.world.on_beat()
                if beat == 0:
                    view.bar_flash = 1.0
                    # The music lands the mood's state on the bar, as the engine does.
                    view.state = director.state_for(view.mood) or view.state
                    events += game.world.on_bar()
                    game.renderer.backdrop.on_bar(0.6 + 0.4 * view.intensity)
            game.effects(events)
            game.renderer.update(dt, view, game.visual_mood())

    def draw(self) -> None:
        self.game.draw(self.dev)


def capture(out_dir: Path, bundle: Any, info: Any, seed: int = 1) -> dict[str, Path]:
    """Render every scene to ``out_dir/<name>.png``; returns the paths by name."""
    import pygame

    out_dir.mkdir(parents=True, exist_ok=True)
    screen = pygame.display.get_surface()
    stage = Stage(screen, bundle, info, seed)
    game = stage.game
    paths: dict[str, Path] = {}

    def save(name: str) -> None:
        stage.draw()
        pygame.display.flip()
        path = out_dir / f"{name}.png"
        pygame.image.save(screen, str(path))
        paths[name] = path

    stage.advance(0.8)  # the bot starts playing after BOT_TITLE_S
    save("title")
    game.show_credits = True
    game.renderer.credits_scroll = 0
    save("credits")
    game.show_credits = False

    game.start_game()
    stage.advance(8.0)
    game.show_overlay = True
    stage.view.stats = read_stats(game.music.engine)
    save("play_overlay")
    game.show_overlay = False

    for _ in range(240):  # until the boss is in the middle of the fight
        if game.world.boss is not None and game.world.boss.hp < game.world.boss.max_hp:
            break
        stage.advance(0.5)
    stage.advance(0.4)
    save("boss")

    world = game.world
    world.player.hp = 1
    world.player.invulnerable = 0.0
    world.player.dash_s = 0.0
    world.player.dash_cooldown = 10.0  # the bot must not smash its way out of this one
    enemy = world.enemies[0] if world.enemies else None
    if enemy is not None:
        enemy.x, enemy.y = world.player.x, world.player.y
    else:  # no enemy left: the boss does it
        assert world.boss is not None
        world.boss.x, world.boss.y = world.player.x, world.player.y
    stage.advance(1.0)
    save("game_over")

    game.start_game()
    for _ in range(600):
        if game.scene == "won":
            break
        stage.advance(0.5)
    stage.advance(0.6)
    save("victory")
    return paths


def run_gallery(out_dir: Path, bundle_path: Path | None, seed: int) -> int:
    """The CLI's ``--gallery``: a window if there is a display, else SDL's dummy driver."""
    import os

    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
    import pygame

    import adaptive

    from .app import DemoError, bundle_info
    from .render import HEIGHT, WIDTH

    try:
        bundle = adaptive.load_bundle(bundle_path)
    except adaptive.BundleError as exc:
        raise DemoError(f"cannot load the music bundle: {exc}") from exc
    pygame.display.init()
    pygame.font.init()
    try:
        pygame.display.set_mode((WIDTH, HEIGHT))
        paths = capture(out_dir, bundle, bundle_info(bundle), seed)
    finally:
        pygame.quit()
    print("demo_game: gallery " + " ".join(str(p) for p in paths.values()))
    return 0
