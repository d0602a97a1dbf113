"""What the engine costs a real game: the demo game's loop with and without the music engine.

Both runs are the same headless game (same seed, scripted bot, fixed 60 Hz
simulation, pygame drawing on SDL's dummy video driver). One plays the default
bundle live through SDL's disk audio driver; the other is ``--mute``. The
figures are ratios of the two, measured in the same benchmark.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SECONDS = "10"


def _play(tmp_path: Path, name: str, *extra: str) -> dict:
    report = tmp_path / f"{name}.json"
    env = dict(os.environ, SDL_VIDEODRIVER="dummy")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "demo_game",
            "--headless",
            "--seconds",
            SECONDS,
            "--seed",
            "3",
            "--report",
            str(report),
            *extra,
        ],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(report.read_text())


def test_frame_time_with_and_without_engine(
    benchmark: pytest.FixtureRequest, tmp_path: Path
) -> None:
    runs: dict[str, dict] = {}

    def both() -> None:
        runs["muted"] = _play(tmp_path, "muted", "--mute")
        runs["music"] = _play(tmp_path, "music", "--out", str(tmp_path / "music.wav"))

    benchmark.pedantic(both, rounds=1, iterations=1)
    muted, music = runs["muted"]["game"], runs["music"]["game"]
    info = {
        "frame_work_ms_p50": {
            "muted": muted["frame_work_ms"]["p50"],
            "music": music["frame_work_ms"]["p50"],
        },
        "frame_work_ms_p99": {
            "muted": muted["frame_work_ms"]["p99"],
            "music": music["frame_work_ms"]["p99"],
        },
        "frame_interval_ms_p99": {
            "muted": muted["frame_interval_ms"]["p99"],
            "music": music["frame_interval_ms"]["p99"],
        },
        "music_calls_ms_p99": music["music_calls_ms"]["p99"],
        "fps": {"muted": muted["fps"], "music": music["fps"]},
        "underruns": runs["music"]["stats"]["underruns"],
        "fallback_bars": runs["music"]["stats"]["fallback_bars"],
    }
    info["frame_work_p99_ratio"] = music["frame_work_ms"]["p99"] / max(
        muted["frame_work_ms"]["p99"], 1e-6
    )
    info["fps_ratio"] = music["fps"] / muted["fps"]
    benchmark.extra_info.update(info)
    print(json.dumps(info, indent=1))
    # the game still hits its 60 Hz simulation with the engine running
    assert (
        abs(music["frames_simulated"] - muted["frames_simulated"])
        <= 0.02 * muted["frames_simulated"]
    )
