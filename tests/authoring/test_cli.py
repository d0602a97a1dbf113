"""The adaptive command line, run as a user runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import wave
from pathlib import Path

import mido
import pytest

TIMELINE = {
    "duration": 12.0,
    "events": [
        {"time": 0.0, "state": "explore"},
        {"time": 1.0, "parameter": "intensity", "value": 0.9},
        {"time": 3.1, "state": "combat", "sync": "bar"},
        {"time": 6.0, "stinger": "pickup"},
        {"time": 8.2, "state": "explore"},
    ],
}


def adaptive_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "authoring.cli", *args], capture_output=True, text=True, timeout=300
    )


def test_render_writes_wav_stems_midi_and_report(tiny_bundle_path: Path, tmp_path: Path) -> None:
    timeline = tmp_path / "t.json"
    timeline.write_text(json.dumps(TIMELINE))
    out, stems, midi, report_path = (
        tmp_path / "o.wav",
        tmp_path / "stems",
        tmp_path / "o.mid",
        tmp_path / "r.json",
    )
    done = adaptive_cli(
        "render",
        str(tiny_bundle_path),
        "--timeline",
        str(timeline),
        "--out",
        str(out),
        "--stems",
        str(stems),
        "--midi",
        str(midi),
        "--report",
        str(report_path),
        "--seed",
        "4",
    )
    assert done.returncode == 0, done.stderr
    assert "rendered 12.0 s" in done.stdout
    with wave.open(str(out)) as handle:
        assert handle.getnframes() == 12 * 48000 and handle.getnchannels() == 2
    assert sorted(p.name for p in stems.iterdir()) == [
        "bass.wav",
        "drums.wav",
        "harmony.wav",
        "melody.wav",
    ]
    assert len(mido.MidiFile(str(midi)).tracks) == 5
    report = json.loads(report_path.read_text())
    for field in (
        "sample_rate",
        "frames",
        "seed",
        "bundle",
        "bars",
        "transitions",
        "stingers",
        "underruns",
        "fallback_bars",
        "timing",
    ):
        assert field in report
    assert report["seed"] == 4 and report["frames"] == 12 * 48000
    assert [t["to"] for t in report["transitions"]] == ["combat", "explore"]
    starts = {b["start_frame"] for b in report["bars"]}
    assert all(t["landed_frame"] in starts for t in report["transitions"])
    assert report["underruns"] == 0
    bar = report["bars"][0]
    assert set(bar) >= {
        "index",
        "start_frame",
        "frames",
        "state",
        "tempo",
        "key",
        "chords",
        "stems",
    }
    assert set(bar["stems"]["melody"]) == {"notes", "gain"}
    assert report["timing"]["generate_ms"]["p99"] > 0


def test_inspect_shows_models_and_provenance(tiny_bundle_path: Path) -> None:
    done = adaptive_cli("inspect", str(tiny_bundle_path))
    assert done.returncode == 0, done.stderr
    for text in ("drums_generator", "provenance (4 sources)", "midi/explore_a.mid", "CC0-1.0"):
        assert text in done.stdout
    as_json = json.loads(adaptive_cli("inspect", str(tiny_bundle_path), "--json").stdout)
    assert len(as_json["manifest"]["provenance"]) == 4
    assert as_json["models"]["melody"]["bytes"] > 0


@pytest.mark.parametrize("content", [b"", b"\x93garbage", b"\x81\xa6format\xa3zip"])
def test_bad_bundle_gives_a_clear_error_and_exit_2(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "bad.adaptive"
    path.write_bytes(content)
    done = adaptive_cli("inspect", str(path))
    assert done.returncode == 2
    assert "bad.adaptive" in done.stderr and "Traceback" not in done.stderr


def test_render_with_unknown_state_names_the_event(tiny_bundle_path: Path, tmp_path: Path) -> None:
    timeline = tmp_path / "t.json"
    timeline.write_text(json.dumps({"duration": 2, "events": [{"time": 0.5, "state": "disco"}]}))
    done = adaptive_cli(
        "render",
        str(tiny_bundle_path),
        "--timeline",
        str(timeline),
        "--out",
        str(tmp_path / "o.wav"),
    )
    assert done.returncode == 2
    assert "events[0].state" in done.stderr and "disco" in done.stderr
    assert not (tmp_path / "o.wav").exists()


def test_play_runs_live_through_sdl(tiny_bundle_path: Path, tmp_path: Path) -> None:
    raw = tmp_path / "play.raw"
    env = dict(
        os.environ,
        SDL_AUDIODRIVER="disk",
        SDL_DISKAUDIOFILE=str(raw),
        SDL_VIDEODRIVER="dummy",
    )
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "authoring.cli",
            "play",
            str(tiny_bundle_path),
            "--seconds",
            "5",
            "--cycle",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    assert "transition" in done.stdout and "underruns" in done.stdout
    assert raw.stat().st_size > 48000 * 8 * 3  # at least 3 s of float32 stereo


def test_watch_arguments_are_checked(capsys: pytest.CaptureFixture[str]) -> None:
    from authoring.cli import build_parser

    parser = build_parser()
    args = parser.parse_args(["watch", "my_style/style.toml"])
    assert args.out is None and args.debounce == 0.3 and args.finetune == 0.2
    with pytest.raises(SystemExit):
        parser.parse_args(["watch", "my_style/style.toml", "--finetune", "0"])
    assert "--finetune: must be in (0, 1]" in capsys.readouterr().err
