"""The README's promises: its embedding example runs as written."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np

README = Path(__file__).resolve().parents[1] / "README.md"


def test_embedding_example_runs(tmp_path: Path) -> None:
    (example,) = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    assert len(example.strip().splitlines()) <= 12
    # The example loops until the window closes: post QUIT 3 s after the music starts,
    # like a player would (counted from there, so a slow start-up shortens nothing)
    playing = re.search(r"^with runtime\.MusicEngine\(.*:\n", example, re.M)
    assert playing is not None
    script = example.replace(
        playing.group(0), playing.group(0) + "    pygame.time.set_timer(pygame.QUIT, 3000)\n"
    )
    raw = tmp_path / "readme.raw"
    env = dict(
        os.environ, SDL_VIDEODRIVER="dummy", SDL_AUDIODRIVER="disk", SDL_DISKAUDIOFILE=str(raw)
    )
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    audio = np.fromfile(raw, dtype=np.float32)
    assert audio.size > 2 * 48000 * 2  # more than 2 s of stereo float32 went to SDL
    assert np.sqrt(np.mean(audio.astype(np.float64) ** 2)) > 1e-3  # and it is music


def test_quickstart_has_exactly_two_commands() -> None:
    quickstart = README.read_text().split("## Quickstart")[1].split("\n## ")[0]
    commands = re.findall(r"```sh\n(.*?)```", quickstart, re.S)
    assert [c.strip().count("\n") for c in commands] == [0, 0]
    assert commands[0].strip().endswith("python -m demo_game")
    assert commands[1].strip().endswith("pytest")
    ci = (README.parent / ".ci" / "run").read_text()
    assert commands[1].strip().replace("pip install ", "pip install -q ") in ci
