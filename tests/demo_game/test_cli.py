"""The command line, the public-API rule, and a short muted headless run."""

from __future__ import annotations

import ast
import copy
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from demo_game.__main__ import parse_args

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "demo_game"


def run_game(*args: str, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env["SDL_VIDEODRIVER"] = "dummy"
    return subprocess.run(
        [sys.executable, "-m", "demo_game", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_headless_defaults_to_twenty_seconds(monkeypatch: pytest.MonkeyPatch) -> None:
    opts = parse_args(["--headless"])
    assert opts.headless and opts.seconds == 20.0 and opts.fps == 60
    monkeypatch.setenv("DISPLAY", ":0")
    monkeypatch.delenv("SDL_VIDEODRIVER", raising=False)
    assert parse_args([]).seconds is None  # interactive: until the player quits


def test_no_display_falls_back_to_a_headless_session(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    opts = parse_args([])
    assert opts.headless and opts.seconds == 20.0
    assert str(opts.out) == "session.wav" and str(opts.report) == "report.json"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--out", "x.wav"], "--out needs --headless"),
        (["--headless", "--mute", "--out", "x.wav"], "exclude each other"),
        (["--raw", "x.raw"], "--raw needs --headless"),
        (["--bundle", "/nonexistent/x.adaptive"], "no such file"),
        (["--seconds", "0"], "must be > 0"),
        (["--fps", "5"], "--fps must be in"),
        (["--seed", "-3"], "--seed must be >= 0"),
        (["--volume", "1.5"], "--volume must be in 0..1"),
        (["--fullscreen", "--windowed"], "not allowed with"),
        (["--watch"], "--watch needs --bundle"),
    ],
)
def test_bad_arguments_exit_2_with_a_message(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        parse_args(argv)
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


def test_player_options_reach_the_game(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISPLAY", ":0")
    monkeypatch.delenv("SDL_VIDEODRIVER", raising=False)  # other tests draw off-screen
    opts = parse_args(["--fullscreen", "--volume", "0.25", "--no-music", "--overlay", "--bot"])
    assert opts.fullscreen and opts.volume == 0.25 and opts.mute and opts.overlay and opts.bot
    assert not opts.headless
    plain = parse_args([])
    assert not plain.fullscreen and plain.volume is None and not plain.mute and not plain.overlay


def test_watch_hot_reloads_the_bundle_while_playing(tmp_path: Path) -> None:
    """A muted headless session with --watch: the bundle file is re-written while it plays."""
    import adaptive

    bundle = adaptive.load_bundle()
    live = tmp_path / "live.adaptive"
    versions = []
    for drums in (0.8, 1.2):  # two mixes, written in turn (bars of about a second)
        manifest = copy.deepcopy(dict(bundle.manifest))
        manifest["tempo"] = 224
        manifest["stems"]["drums"]["gain"] = drums
        versions.append(tmp_path / f"drums{drums}.adaptive")
        adaptive.write_bundle(versions[-1], manifest, bundle.models)
    live.write_bytes(versions[0].read_bytes())
    assert parse_args(["--bundle", str(live), "--watch"]).watch

    report = tmp_path / "report.json"
    env = dict(os.environ, SDL_VIDEODRIVER="dummy")
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    args = ["--headless", "--mute", "--seconds", "4", "--seed", "4", "--report", str(report)]
    game = subprocess.Popen(
        [sys.executable, "-m", "demo_game", *args, "--bundle", str(live), "--watch"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        turn = 1
        while game.poll() is None:  # a re-bake every 1.2 s, the way bake writes: os.replace
            time.sleep(1.2)
            staged = tmp_path / "staged.tmp"
            staged.write_bytes(versions[turn % 2].read_bytes())
            os.replace(staged, live)
            turn += 1
        _, stderr = game.communicate(timeout=60)
    finally:
        game.kill()
    assert game.returncode == 0, stderr
    played = json.loads(report.read_text())
    assert played["game"]["reloads"] >= 1 and played["engine"]["reloads"] >= 1
    assert played["game"]["engine_errors"] == []


def test_gallery_writes_every_scene(tmp_path: Path) -> None:
    from demo_game.gallery import SHOTS

    result = run_game("--gallery", str(tmp_path), "--seed", "2")
    assert result.returncode == 0, result.stderr
    for name in SHOTS:
        path = tmp_path / f"{name}.png"
        assert path.stat().st_size > 10_000, name  # a real picture, not an empty frame


def test_demo_game_uses_only_the_public_api() -> None:
    """No import of a private module or name from adaptive/runtime (or anything else)."""
    offences = []
    for path in sorted(PACKAGE.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [f"{node.module or ''}.{a.name}" for a in node.names]
                if node.level:  # our own modules
                    continue
            else:
                continue
            for name in names:
                parts = name.split(".")
                if parts[0] in ("adaptive", "runtime", "authoring") and any(
                    p.startswith("_") for p in parts
                ):
                    offences.append(f"{path.name}:{node.lineno} {name}")
                if parts[0] == "authoring" or "torch" in parts:
                    offences.append(f"{path.name}:{node.lineno} {name} (not for games)")
    assert offences == []


def test_muted_headless_run_writes_a_report(tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    result = run_game(
        "--headless", "--mute", "--seconds", "2", "--seed", "3", "--report", str(report)
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("demo_game: "), result.stdout
    game = json.loads(report.read_text())["game"]
    assert game["seed"] == 3
    assert 2.0 <= game["seconds"] < 4.0
    assert 100 <= game["frames_simulated"] <= 140  # a real 60 Hz loop in real time
    assert game["states_visited"] == ["explore"]
    assert game["beats"] >= 3
    assert game["frame_work_ms"]["p50"] > 0
    assert game["scenes"][:2] == ["title", "play"]  # the bot pressed start
    assert game["output"] == "silent"


def test_a_bad_bundle_fails_with_a_clear_message(tmp_path: Path) -> None:
    bad = tmp_path / "bad.adaptive"
    bad.write_bytes(b"not a bundle")
    result = run_game("--headless", "--seconds", "1", "--bundle", str(bad))
    assert result.returncode == 1
    assert "demo_game: error: cannot load the music bundle" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_disk_driver_banner_is_hidden_and_everything_else_is_kept() -> None:
    script = """
import os
from demo_game.app import without_sdl_disk_banner
with without_sdl_disk_banner():
    os.write(2, b"CRITICAL: You are using the SDL disk i/o audio driver!\\n")
    os.write(2, b"CRITICAL:  Writing to file [/tmp/x.raw].\\n")
    os.write(2, b"a real problem\\n")
    if os.fork() == 0:  # the engine's worker process inherits the filter
        os.write(2, b"from a worker process\\n")
        os._exit(0)
    os.wait()
os.write(2, b"after\\n")
"""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    result = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == "a real problem\nfrom a worker process\nafter\n"
