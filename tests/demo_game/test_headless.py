"""End to end: the real game loop, the real engine, SDL's disk audio driver.

These run ``python -m demo_game --headless`` in a subprocess for real seconds,
so they are marked slow (CI still runs them). The audio is checked from the raw
file SDL's disk driver wrote, i.e. exactly what a sound card would have played.
Frame times and underruns are reported, never asserted: CI machines are busy.
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
# The bot meets the first boss after about 20 s (title, three waves of shards) and
# breaks it after about 35 s; 60 s leaves room for a busy machine.
SESSION_S = 60.0


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
        "stderr": result.stderr,
    }


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    import adaptive

    adaptive.load_bundle()  # fails (not skips) when the default style is missing
    return headless(tmp_path_factory.mktemp("session"), SESSION_S, seed=1)


def check_audio(run: dict[str, Any], seconds: float) -> None:
    audio: np.ndarray = run["audio"]
    # SDL wrote (nearly) the whole session; its disk driver paces itself in real time.
    assert audio.dtype == np.float32 and audio.shape[1] == 2
    assert audio.shape[0] >= 0.75 * seconds * SAMPLE_RATE
    rms = float(np.sqrt(np.mean(audio.astype(np.float64) ** 2)))
    peak = float(np.abs(audio).max())
    assert rms > 0.01, f"silent: rms {rms}"
    assert peak <= 1.0, f"clipping: peak {peak}"
    # Not silent anywhere for long: every second of the session has sound.
    per_second = audio[: audio.shape[0] // SAMPLE_RATE * SAMPLE_RATE].reshape(-1, SAMPLE_RATE, 2)
    quiet = [i for i, sec in enumerate(per_second) if np.sqrt(np.mean(sec**2)) < 1e-3]
    assert quiet == [], f"silent seconds: {quiet}"
    # The WAV is that same stream, 16-bit.
    assert run["rate"] == SAMPLE_RATE
    assert run["wav"].shape == audio.shape
    assert np.max(np.abs(run["wav"] - audio)) < 2.0 / 32767
    report = run["report"]
    assert report["audio"]["frames"] == audio.shape[0]
    assert abs(report["audio"]["rms"] - rms) < 1e-4


@pytest.mark.slow
def test_the_music_follows_the_bot_through_explore_combat_and_boss(
    session: dict[str, Any],
) -> None:
    game = session["report"]["game"]
    assert game["scenes"][:2] == ["title", "play"]
    assert game["states_visited"][0] == "explore"
    visited = game["states_visited"]
    assert "combat" in visited and "boss" in visited, session["summary"]
    assert visited.index("combat") < visited.index("boss"), session["summary"]
    assert game["stingers_fired"].get("pickup", 0) >= 3
    assert game["stingers_landed"].get("pickup", 0) >= 1
    assert game["beats"] >= 4 * (SESSION_S // 4)


def rule_sync(rule: Any) -> str:
    """A style rule's sync as the engine reports it."""
    return f"bars:{rule.bars}" if rule.sync == "bars" and rule.bars != 1 else rule.sync


@pytest.mark.slow
def test_every_transition_lands_on_the_boundary_its_rule_names(session: dict[str, Any]) -> None:
    """The game asks for states without a sync: the default style's rules decide.
    Fights and the boss change on the bar, the fanfare and game over on the beat,
    the calm after the fanfare at the end of the phrase."""
    import adaptive

    spec = adaptive.load_bundle().spec
    report = session["report"]
    bar_starts = {bar["start_frame"] for bar in report["engine"]["bars"]}
    transitions = report["transitions"]
    # Which state a change comes from depends on the play (combat may calm down to
    # explore before the boss comes); where it goes is what the test needs.
    landed_in = [t["to"] for t in transitions]
    assert "combat" in landed_in and "boss" in landed_in, (transitions, session["summary"])
    for t in transitions:
        assert t["landed_frame"] >= t["requested_frame"], t
        # the rule for the pair (or, when a request overtook another, into this state)
        assert t["sync"] in {rule_sync(spec.transition(s, t["to"])) for s in spec.states}, t
        if t["sync"] == "bar" or t["sync"].startswith("bars:") or t["sync"] == "cue":
            assert t["landed_frame"] in bar_starts, t
            assert t["on_bar_start"] is True and t["on_beat"] is True
        if t["sync"] == "cue":
            assert t["on_phrase_start"] is True, t
    # A change on the beat has the time to the next beat (at least 0.25 s) to compose
    # its bar again; on a busy machine it can miss, and then the engine counts it late.
    off_beat = [t for t in transitions if t["sync"] == "beat" and not t["on_beat"]]
    assert len(off_beat) <= report["engine"]["late_transitions"], off_beat
    bar_synced = [t for t in transitions if t["to"] in ("combat", "boss")]
    assert bar_synced and all(t["on_bar_start"] for t in bar_synced), bar_synced


@pytest.mark.slow
def test_the_boss_falling_or_the_player_down_plays_its_ending_on_the_beat(
    session: dict[str, Any],
) -> None:
    """The bot usually breaks the first boss after about 35 s: victory, on the next beat.

    Spawns follow the music's bars, so on a busy machine the fight can run past the
    session; whether it ends in time is not the music's behaviour, how it ends is
    (and tests/demo_game/test_music.py plays both endings on purpose)."""
    game, transitions = session["report"]["game"], session["report"]["transitions"]
    endings = [t for t in transitions if t["to"] in ("victory", "game_over")]
    assert bool(endings) == bool({"victory", "game_over"} & set(game["states_visited"]))
    assert all(t["sync"] == "beat" for t in endings), endings
    on_beat = [t for t in endings if t["on_beat"]]
    late = session["report"]["engine"]["late_transitions"]
    assert len(endings) - len(on_beat) <= late, endings  # a miss is counted late
    # danger (lost health, the pack, the boss) moved the mood while the bot played
    assert game["mood_parameter"] == "danger"
    low, high = game["parameters_sent"]["danger"]
    assert 0.0 <= low < high - 0.2 <= 0.8, game["parameters_sent"]


@pytest.mark.slow
def test_the_audio_sdl_wrote_is_music(session: dict[str, Any]) -> None:
    check_audio(session, SESSION_S)


@pytest.mark.slow
def test_the_report_carries_frame_times_underruns_and_fallback_bars(
    session: dict[str, Any],
) -> None:
    report, game = session["report"], session["report"]["game"]
    assert report["frames"] == game["frames_rendered"] > 0
    assert 0.0 < report["frame_time_ms"]["p50"] <= report["frame_time_ms"]["p99"]
    assert isinstance(report["underruns"], int) and report["underruns"] >= 0
    assert isinstance(report["fallback_bars"], int) and report["fallback_bars"] >= 0
    assert report["underruns"] == report["engine"]["underruns"]
    assert game["engine_calls_ms"]["p50"] > 0.0
    # A real fixed-timestep loop ran for the whole time.
    assert game["seconds"] >= SESSION_S
    assert abs(game["frames_simulated"] - 60 * game["seconds"]) <= 0.05 * 60 * SESSION_S


@pytest.mark.slow
def test_sdl_disk_driver_banner_is_not_shown(session: dict[str, Any]) -> None:
    assert "disk i/o audio driver" not in session["stderr"]
    assert "CRITICAL" not in session["stderr"]


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
    check_audio(run, seconds)
    game = run["report"]["game"]
    assert set(game["states_visited"]) <= {"explore", "combat"}
    assert set(game["stingers_fired"]) <= {"pickup"}
    assert game["bundle"]["name"] == bundle.name
