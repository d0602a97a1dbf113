"""The README's promises: its embedding example runs as written."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_embedding_example_runs(tmp_path: Path) -> None:
    (example,) = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    assert len(example.strip().splitlines()) <= 12
    # The example loops until the window closes: post QUIT after 3 s, like a player would.
    closing = "screen, clock = pygame.display.set_mode((640, 360)), pygame.time.Clock()\n"
    assert closing in example
    script = example.replace(closing, closing + "pygame.time.set_timer(pygame.QUIT, 3000)\n")
    raw = tmp_path / "readme.raw"
    env = dict(
        os.environ, SDL_VIDEODRIVER="dummy", SDL_AUDIODRIVER="disk", SDL_DISKAUDIOFILE=str(raw)
    )
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert raw.stat().st_size > 2 * 48000 * 8  # more than 2 s of stereo float32 went to SDL


def test_quickstart_has_exactly_two_commands() -> None:
    quickstart = README.read_text().split("## Quickstart")[1].split("\n## ")[0]
    commands = re.findall(r"```sh\n(.*?)```", quickstart, re.S)
    assert [c.strip().count("\n") for c in commands] == [0, 0]
    assert commands[0].strip().endswith("python -m demo_game")
    assert commands[1].strip().endswith("pytest")
    ci = (README.parent / ".ci" / "run").read_text()
    assert commands[1].strip().replace("pip install ", "pip install -q ") in ci
