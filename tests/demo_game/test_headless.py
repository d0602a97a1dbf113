"""End to end: the real game loop, the real engine, SDL's disk audio driver.

These run ``python -m demo_game --headless`` in a subprocess for real seconds,
so they are marked slow (CI still runs them). The audio is checked from the raw
file SDL's disk driver wrote, i.e. exactly what a sound card would have played.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from runtime import read_disk_audio, read_wav

ROOT = Path(__file__).resolve().parents[2]
SAMPLE_RATE = 48000


def headless(tmp_path: Path, seconds: float, seed: int, *extra: str) -> dict[str, Any]:
    out, raw, report = tmp_path / "session.wav", tmp_path / "session.raw", tmp_path / "r.json"
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "demo_game",
            "--headless",
            "--seconds",
            str(seconds),
            "--seed",
            str(seed),
            "--out",
            str(out),
            "--raw",
            str(raw),
            "--report",
            str(report),
            *extra,
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=seconds + 120,
    )
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("demo_game: "), result.stdout
    print(lines[0])  # shown with -s / on failure: the numbers of this run

    audio = read_disk_audio(raw, channels=2)
    wav, rate = read_wav(out)
    return {
        "audio": audio,
        "wav": wav,
        "rate": rate,
        "report": json.loads(report.read_text()),
        "summary": lines[0],
    }


def check_session(run: dict[str, Any], seconds: float) -> dict[str, Any]:
    audio: np.ndarray = run["audio"]
    report = run["report"]
    game = report["game"]

    # SDL wrote (nearly) the whole session; its disk driver paces itself in real time.
    assert audio.dtype == np.float32 and audio.shape[1] == 2
    assert audio.shape[0] >= 0.75 * seconds * SAMPLE_RATE
    rms = float(np.sqrt(np.mean(audio.astype(np.float64) ** 2)))
    peak = float(np.abs(audio).max())
    assert rms > 0.01, f"silent: rms {rms}"
    assert peak < 0.999, f"clipping: peak {peak}"
    # Not silent anywhere for long: every second of the session has sound.
    per_second = audio[: audio.shape[0] // SAMPLE_RATE * SAMPLE_RATE].reshape(-1, SAMPLE_RATE, 2)
    quiet = [i for i, sec in enumerate(per_second) if np.sqrt(np.mean(sec**2)) < 1e-3]
    assert quiet == [], f"silent seconds: {quiet}"

    # The WAV is that same stream, 16-bit.
    assert run["rate"] == SAMPLE_RATE
    assert run["wav"].shape == audio.shape
    assert np.max(np.abs(run["wav"] - audio)) < 2.0 / 32767

    assert report["audio"]["frames"] == audio.shape[0]
    assert abs(report["audio"]["rms"] - rms) < 1e-4

    # A real fixed-timestep loop ran for the whole time.
    assert game["seconds"] >= seconds
    assert abs(game["frames_simulated"] - 60 * game["seconds"]) <= 0.05 * 60 * seconds
    assert game["frames_rendered"] > 0

    # The music followed the game.
    assert game["states_visited"][0] == "explore"
    assert len(set(game["states_visited"])) >= 2, game["states_visited"]
    assert report["engine"]["transitions"], "no transition landed"
    assert game["stingers_fired"].get("pickup", 0) >= 1
    assert game["beats"] >= 4 * (seconds // 4)
    # Underruns depend on the machine's load: reported, never asserted (benchmarks measure them).
    assert isinstance(report["engine"]["underruns"], int)
    return game


@pytest.mark.slow
def test_headless_session_with_the_default_style(tmp_path: Path) -> None:
    import adaptive

    bundle = adaptive.load_bundle()  # fails (not skips) when the default style is missing
    seconds = 20.0
    game = check_session(headless(tmp_path, seconds, seed=1), seconds)
    states = set(game["states_visited"])
    assert states <= set(bundle.states)
    assert set(game["stingers_fired"]) <= set(bundle.stingers)


@pytest.mark.slow
def test_headless_session_falls_back_with_a_smaller_bundle(
    tmp_path: Path, tiny_bundle_path: Path
) -> None:
    """The tiny test style has no boss state and no hit stinger: the game copes."""
    import adaptive

    bundle = adaptive.load_bundle(tiny_bundle_path)
    assert "boss" not in bundle.states and "hit" not in bundle.stingers
    seconds = 14.0
    run = headless(tmp_path, seconds, 2, "--bundle", str(tiny_bundle_path))
    game = check_session(run, seconds)
    assert set(game["states_visited"]) <= {"explore", "combat"}
    assert set(game["stingers_fired"]) <= {"pickup"}
    assert game["bundle"]["name"] == bundle.name
