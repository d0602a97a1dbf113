"""What the player sees, checked in pixels: the title, play, the overlay, game over, credits.

Rendered in-process with SDL's dummy video driver (the same drawing code as a
window); one test renders the gallery in a real X server (Xvfb) when it is there.
"""

from __future__ import annotations

import math
import os
import select
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def pg() -> Iterator[Any]:
    os.environ["SDL_VIDEODRIVER"] = "dummy"
    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
    import pygame

    from demo_game.render import HEIGHT, WIDTH

    pygame.display.init()
    pygame.font.init()
    pygame.display.set_mode((WIDTH, HEIGHT))
    yield pygame
    pygame.quit()


@pytest.fixture(scope="module")
def bundle() -> Any:
    import adaptive

    return adaptive.load_bundle()


@pytest.fixture
def stage(pg: Any, bundle: Any) -> Any:
    from demo_game.app import bundle_info
    from demo_game.gallery import Stage

    return Stage(pg.display.get_surface(), bundle, bundle_info(bundle), seed=1)


def pixels(pg: Any, rect: tuple[int, int, int, int]) -> np.ndarray:
    screen = pg.display.get_surface()
    return pg.surfarray.array3d(screen.subsurface(pg.Rect(rect))).copy()


def changed_box(a: np.ndarray, b: np.ndarray) -> tuple[int, int, int, int] | None:
    """The (x0, y0, x1, y1) box of pixels that differ between two full-screen arrays."""
    diff = np.any(a != b, axis=2)
    if not diff.any():
        return None
    xs, ys = np.nonzero(diff)
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def full(pg: Any) -> tuple[int, int, int, int]:
    return (0, 0, *pg.display.get_surface().get_size())


def test_the_title_screen_is_not_blank(pg: Any, stage: Any) -> None:
    from demo_game.render import ARENA

    stage.advance(0.5)
    assert stage.game.scene == "title"
    stage.draw()
    arena = pixels(pg, ARENA)
    colors = np.unique(arena.reshape(-1, 3), axis=0)
    assert len(colors) > 200  # a lit, textured floor, not a flat fill
    # The big title: bright pixels in its band.
    title = arena[200:760, 70:170]
    assert (title.max(axis=2) > 200).sum() > 3000
    # The menu is drawn: its highlighted row has the explore accent.
    menu = arena[280:680, 240:340]
    assert (np.abs(menu.astype(int) - (70, 200, 180)).sum(axis=2) < 60).sum() > 200


def test_sprites_never_reach_the_hud_or_the_footer(pg: Any, stage: Any) -> None:
    from demo_game.render import ARENA, FOOTER, HUD

    game = stage.game
    game.start_game()
    stage.advance(6.0)
    stage.draw()
    hud, footer, arena = pixels(pg, HUD), pixels(pg, FOOTER), pixels(pg, ARENA)

    # Push every sprite against the arena's top and bottom walls, and shake hard.
    w = game.world
    w.player.y = 0.0
    for i, e in enumerate(w.enemies):
        e.y = 0.0 if i % 2 == 0 else w.config.height
    for pk in w.pickups:
        pk.y = w.config.height
    w.summon_boss()
    assert w.boss is not None
    w.boss.y = 0.0
    w.boss.x = 300.0
    r = game.renderer
    r.particles.burst(500.0, 0.0, (255, 255, 255), count=200, speed=900.0, life=5.0, size=12)
    r.particles.update(0.05)
    r.shake = 18.0
    r.time = math.pi / 77.0  # the shake's phase that throws the arena up into the HUD
    r.floater("HIT", 400.0, 10.0, (255, 90, 90))
    stage.draw()

    assert not np.array_equal(pixels(pg, ARENA), arena)  # the sprites did move
    edge = pixels(pg, (ARENA[0], ARENA[1], ARENA[2], 40))
    assert (edge.max(axis=2) > 200).sum() > 200  # ...right up to the HUD's edge
    # The boss changes what the HUD says; everything else in the bands must be unchanged.
    assert np.array_equal(pixels(pg, FOOTER), footer)
    hud_after = pixels(pg, HUD)
    right = slice(560, HUD[2])  # hearts, dash, score: untouched by the boss
    assert np.array_equal(hud_after[right], hud[right])
    # No sprite color bled into the HUD: the bar under the boss label is the only new red.
    sprite_white = np.all(hud_after > 245, axis=2) & ~np.all(hud > 245, axis=2)
    assert sprite_white.sum() == 0


def test_the_overlay_is_off_by_default_and_f3_draws_it_over_the_arena(pg: Any, stage: Any) -> None:
    from demo_game.render import ARENA

    game = stage.game
    assert game.show_overlay is False
    game.start_game()
    stage.advance(3.0)
    stage.draw()
    before = pixels(pg, full(pg))
    game.key(pg.K_F3)
    assert game.show_overlay is True
    stage.draw()
    after = pixels(pg, full(pg))
    box = changed_box(before, after)
    assert box is not None
    x0, y0, x1, y1 = box
    assert ARENA[1] <= y0 and y1 <= ARENA[1] + ARENA[3]  # inside the arena, not the HUD
    assert (x1 - x0) * (y1 - y0) > 20000  # a real panel, not a stray pixel
    game.key(pg.K_F3)
    stage.draw()
    assert np.array_equal(pixels(pg, full(pg)), before)


def test_game_over_shows_its_panel_and_enter_plays_again(pg: Any, stage: Any) -> None:
    from demo_game.render import ARENA

    game = stage.game
    game.bot = None  # a human at the keys: nothing restarts by itself
    game.start_game()
    stage.advance(2.0)
    stage.draw()
    playing = pixels(pg, ARENA)
    w = game.world
    w.player.hp = 1
    w.player.invulnerable = w.player.dash_s = 0.0
    w.enemies[0].x, w.enemies[0].y = w.player.x, w.player.y
    stage.advance(0.5)
    assert game.scene == "lost" and game.outcomes == ["lost"]
    game.key(pg.K_SPACE)  # the dash key, still hammered as the player died
    assert game.scene == "lost"  # ...does not skip the game over screen
    stage.draw()
    over = pixels(pg, ARENA)
    assert not np.array_equal(over, playing)
    # The big red words in the middle of the arena.
    middle = over[250:710, 130:230]
    red = (middle[..., 0] > 200) & (middle[..., 1] < 110) & (middle[..., 2] < 130)
    assert red.sum() > 2000
    stage.advance(5.0)
    assert game.scene == "lost"  # it waits for the player
    game.key(pg.K_RETURN)
    assert game.scene == "play" and game.world.phase == "play" and game.games == 2


def test_the_credits_wrap_inside_their_box(pg: Any, stage: Any) -> None:
    r = stage.game.renderer
    long = {
        "file": "midi/" + "an_extremely_long_file_name_without_any_space" * 3 + ".mid",
        "license": "CC-BY-4.0",
        "attribution": "A very long attribution " * 30,
    }
    r.info.sources = [long, *r.info.sources]
    x, y, w, h = r.credits_box
    for scroll in (0, 40, 10_000):
        r.credits_scroll = scroll
        rects = r.credit_line_rects()
        assert rects
        for surf, rect in rects:
            assert rect.left >= x + 20 and rect.right <= x + w - 20, rect
            assert rect.top >= y and rect.bottom <= y + h, rect
            assert surf.get_width() == rect.width
    texts = [text for text, _, _ in r.credits_lines()]
    joined = " ".join(texts)
    assert "an_extremely_long_file_name" in joined and "CC-BY-4.0" in joined
    for src in r.info.sources[1:4]:  # real attributions are all there, word for word
        words = str(src["attribution"]).split()
        assert " ".join(words) in " ".join(joined.split())


def test_wrap_text_keeps_every_word_and_fits(pg: Any) -> None:
    from demo_game.render import wrap_text

    font = pg.font.Font(None, 19)
    text = "Johann Sebastian Bach, four-part chorale BWV 101.7; " * 6 + "x" * 300
    lines = wrap_text(font, text, 240)
    assert all(font.size(line)[0] <= 240 for line in lines)
    assert "".join("".join(lines).split()) == "".join(text.split())


@pytest.mark.skipif(shutil.which("Xvfb") is None, reason="Xvfb is not installed")
def test_the_gallery_renders_in_a_real_x_server(tmp_path: Path) -> None:
    # Xvfb picks a free display and says which once it is ready: no guess, no sleep
    ready, tell = os.pipe()
    server = subprocess.Popen(
        ["Xvfb", "-displayfd", str(tell), "-screen", "0", "1280x800x24", "-nolisten", "tcp"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        pass_fds=(tell,),
    )
    os.close(tell)
    try:
        if not select.select([ready], [], [], 30.0)[0]:
            pytest.fail("Xvfb did not start in 30 s")
        display = ":" + os.read(ready, 32).decode().strip()
        env = dict(os.environ)
        env.pop("SDL_VIDEODRIVER", None)
        env["DISPLAY"] = display
        env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
        result = subprocess.run(
            [sys.executable, "-m", "demo_game", "--gallery", str(tmp_path)],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        os.close(ready)
        server.terminate()
        server.wait(timeout=10)
    assert result.returncode == 0, result.stderr
    from demo_game.gallery import SHOTS

    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
    import pygame

    for name in SHOTS:
        image = pygame.image.load(str(tmp_path / f"{name}.png"))
        arr = pygame.surfarray.array3d(image)
        assert arr.shape[:2] == (960, 666), name
        assert len(np.unique(arr.reshape(-1, 3)[::7], axis=0)) > 100, name


def test_the_title_menu_is_driven_by_the_keyboard(pg: Any, stage: Any) -> None:
    game = stage.game
    game.bot = None
    labels = [item.label for item in game.menu()]
    assert labels == ["Play", "Volume", "Music", "Display", "Credits", "Quit"]
    game.key(pg.K_UP)  # wraps around to Quit
    assert game.menu()[game.menu_index].label == "Quit"
    game.key(pg.K_UP)
    game.key(pg.K_RETURN)  # Credits
    assert game.show_credits
    stage.draw()
    game.key(pg.K_DOWN)  # scrolls the credits, not the menu
    assert game.renderer.credits_scroll == 3 and game.menu()[game.menu_index].label == "Credits"
    game.key(pg.K_ESCAPE)
    assert not game.show_credits and game.running  # Esc closed the credits, not the game
    game.key(pg.K_DOWN)
    game.key(pg.K_RETURN)  # Quit
    assert not game.running
    game.running = True
    game.menu_index = 0
    game.key(pg.K_RETURN)
    assert game.scene == "play"
    game.key(pg.K_p)
    assert game.paused
    stage.advance(1.0)
    assert game.world.time == 0.0  # paused: the world waits
    game.key(pg.K_ESCAPE)
    assert game.scene == "title"
