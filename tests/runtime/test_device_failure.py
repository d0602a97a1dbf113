"""A device that fails mid-session: the engine plays on silently from the same frame, and says so.

The real path: SDL's disk driver writing to a file the process may not grow past a
size limit (``RLIMIT_FSIZE``), so SDL's writes start failing mid-session and SDL
reports the device stopped (engine in this process); or to ``/dev/full``, which
refuses the first write (engine in its worker process, which forwards the event).
The interface path: an ``Output`` whose device gives up after a few blocks.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import adaptive
from runtime import MusicEngine, Output, read_disk_audio
from runtime.outputs import FillFn

FAILING_DEVICE_SCRIPT = textwrap.dedent(
    """
    import json, os, resource, signal, sys, time
    limit = int(sys.argv[3])
    if limit:  # the file SDL writes may not grow past this: its writes then fail
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a failed write, not a killed process
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    import runtime
    engine = runtime.MusicEngine(runtime.load_bundle(sys.argv[1]), output="sdl", seed=4,
                                 worker=sys.argv[2])
    events, outputs = [], []
    with engine:
        started = time.monotonic()
        failed_at = None
        while time.monotonic() - started < 12.0:
            for e in engine.update():
                events.append([e.kind, e.frame, e.bar, e.name])
                if e.kind == "error" and failed_at is None:
                    failed_at = time.monotonic()
            outputs.append(engine.output)
            if failed_at is not None and time.monotonic() - failed_at > 1.6:
                break
            time.sleep(1 / 60)
        stats = engine.stats()
    timing = engine.timing
    print(json.dumps({
        "events": events, "output": engine.output, "outputs": sorted(set(outputs)),
        "stats_output": stats.output, "frames": engine.frame,
        "bar_starts": {str(e[2]): timing.bar_start(e[2]) for e in events if e[0] == "bar"},
    }))
    """
)


def play_on_a_failing_device(
    tiny_bundle_path: Path, tmp_path: Path, worker: str, device: str, limit: int
) -> tuple[dict, str]:
    done = subprocess.run(
        [sys.executable, "-c", FAILING_DEVICE_SCRIPT, str(tiny_bundle_path), worker, str(limit)],
        env=dict(
            os.environ, SDL_VIDEODRIVER="dummy", SDL_AUDIODRIVER="disk", SDL_DISKAUDIOFILE=device
        ),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1]), done.stderr


def assert_played_on_from_the_same_frame(result: dict) -> dict:
    """One error event naming the failure; bars on their lines, none skipped, before and after it."""
    events = result["events"]
    errors = [e for e in events if e[0] == "error"]
    assert len(errors) == 1, errors
    (_, error_frame, _, message) = errors[0]
    assert "failed while playing" in message and "silent output" in message
    assert result["output"] == "silent" and result["stats_output"] == "silent"
    bars = [e for e in events if e[0] == "bar"]
    indices = [bar for _, _, bar, _ in bars]
    assert indices == list(range(indices[0], indices[0] + len(indices)))  # none lost or repeated
    assert all(frame == result["bar_starts"][str(bar)] for _, frame, bar, _ in bars)
    beats_after = [e for e in events if e[0] == "beat" and e[1] > error_frame]
    assert len(beats_after) >= 2  # the silent output drives the music on in real time
    beats = [frame for kind, frame, _, _ in events if kind == "beat"]
    assert beats == sorted(set(beats))  # the clock never went back, never repeated a beat
    return errors[0]


def test_device_whose_writes_fail_mid_session_falls_back_to_silent(
    tiny_bundle_path: Path, tmp_path: Path
) -> None:
    raw = tmp_path / "device.raw"
    limit = 48000 * 8 // 2  # half a second of float32 stereo, then every write fails
    result, stderr = play_on_a_failing_device(tiny_bundle_path, tmp_path, "thread", str(raw), limit)
    assert_played_on_from_the_same_frame(result)
    assert "sdl" in result["outputs"]  # it did play on the device first
    audio = read_disk_audio(raw)
    assert raw.stat().st_size == limit and float(np.abs(audio).max()) > 0.01
    assert "failed while playing" in stderr  # the logging warning


def test_device_that_refuses_the_first_write_falls_back_to_silent_in_the_worker(
    tiny_bundle_path: Path, tmp_path: Path
) -> None:
    result, stderr = play_on_a_failing_device(tiny_bundle_path, tmp_path, "process", "/dev/full", 0)
    error = assert_played_on_from_the_same_frame(result)  # the worker's event reaches the game
    assert "stopped" in error[3] and "failed while playing" in stderr


class GivingUpOutput(Output):
    """A device that plays ``blocks`` blocks in real time on its own thread, then fails for good."""

    name = "flaky"

    def __init__(self, blocks: int) -> None:
        super().__init__()
        self.blocks = blocks
        self.played = 0
        self.stopped = False
        self._thread: threading.Thread | None = None

    def start(self, fill: FillFn, sample_rate: int, block_frames: int) -> None:
        block = np.zeros((block_frames, 2), dtype=np.float32)

        def play_then_fail() -> None:
            while self.played < self.blocks and not self.stopped:
                fill(block)
                self.played += 1
                time.sleep(block_frames / sample_rate)
            if not self.stopped:
                self.failed("the flaky device went away")  # as a driver reports it: then gone

        self._thread = threading.Thread(target=play_then_fail, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.stopped = True
        if self._thread is not None:
            self._thread.join(timeout=5)


def test_an_output_that_fails_is_replaced_by_silence_at_the_same_frame(
    bundle: adaptive.Bundle, caplog: pytest.LogCaptureFixture
) -> None:
    device = GivingUpOutput(blocks=40)
    engine = MusicEngine(bundle, output=device, seed=5, buffer_frames=512)
    events: list = []
    with caplog.at_level(logging.WARNING, logger="runtime.outputs"), engine:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not any(e.kind == "error" for e in events):
            events += engine.update()
            time.sleep(0.01)
        failed_frame = engine.frame
        assert device.played == 40 and failed_frame >= 40 * 512
        while time.monotonic() < deadline and engine.frame < engine.timing.bar_start(1) + 4800:
            events += engine.update()
            time.sleep(0.01)
        assert engine.output == "silent"
    events += engine.update()
    (error,) = [e for e in events if e.kind == "error"]
    assert "'flaky' failed while playing: the flaky device went away" in (error.name or "")
    assert device.stopped and device.played == 40  # never driven again
    bars = [e for e in events if e.kind == "bar"]
    assert [b.bar for b in bars] == list(range(bars[0].bar, bars[0].bar + len(bars)))
    assert all(b.frame == engine.timing.bar_start(b.bar) for b in bars)
    assert any("failed while playing" in r.getMessage() for r in caplog.records)
