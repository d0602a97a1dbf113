"""The pygame output through a real SDL audio device: SDL's disk driver writes what it played."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np

from runtime import read_disk_audio

SCRIPT = textwrap.dedent(
    """
    import json, sys, time
    import adaptive
    bundle = adaptive.load_bundle(sys.argv[1])
    events = []
    with adaptive.MusicEngine(bundle, output="pygame", seed=1, buffer_frames=512) as engine:
        engine.set_parameter("intensity", 0.9)
        started = time.monotonic()
        changed = False
        while time.monotonic() - started < 8.0:
            for event in engine.update():
                events.append(event.kind)
                if event.kind == "bar" and event.bar == 1 and not changed:
                    engine.set_state("combat")
                    changed = True
            time.sleep(1 / 60)
        stats = engine.stats()
        report = engine.report()
    print(json.dumps({"stats": stats, "events": events, "transitions": report["transitions"],
                      "starts": [b["start_frame"] for b in report["bars"]]}))
    """
)


def test_live_engine_plays_through_sdl(tiny_bundle_path: Path, tmp_path: Path) -> None:
    raw = tmp_path / "sdl.raw"
    env = dict(
        os.environ, SDL_AUDIODRIVER="disk", SDL_DISKAUDIOFILE=str(raw), SDL_VIDEODRIVER="dummy"
    )
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tiny_bundle_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    audio = read_disk_audio(raw)
    seconds = audio.shape[0] / 48000
    assert 6.0 < seconds < 11.0  # SDL pulled in real time
    assert float(np.sqrt(np.mean(audio.astype(np.float64) ** 2))) > 0.02
    assert np.abs(audio).max() <= 1.0
    stats = result["stats"]
    assert (
        stats["underruns"] <= 2
    )  # late callbacks on a loaded machine; see test_late_callbacks_count
    assert "beat" in result["events"] and "bar" in result["events"]
    (transition,) = result["transitions"]
    assert transition["to"] == "combat" and transition["landed_frame"] in result["starts"]


STOP_SCRIPT = textwrap.dedent(
    """
    import sys, time
    import adaptive
    bundle = adaptive.load_bundle(sys.argv[1])
    engine = adaptive.MusicEngine(bundle, output="pygame", seed=1, buffer_frames=256)
    engine.composer  # the same engine is started and stopped again and again
    for cycle in range(40):
        engine.start()
        time.sleep(0.01 * (cycle % 5))
        engine.stop()
    print("stopped cleanly")
    """
)


def test_stop_never_deadlocks_with_the_audio_thread(tiny_bundle_path: Path, tmp_path: Path) -> None:
    env = dict(os.environ, SDL_AUDIODRIVER="disk", SDL_DISKAUDIOFILE=str(tmp_path / "x.raw"))
    done = subprocess.run(
        [sys.executable, "-c", STOP_SCRIPT, str(tiny_bundle_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "stopped cleanly" in done.stdout


def test_late_callbacks_count_as_underruns() -> None:
    from runtime._outputs import PygameOutput

    calls = []
    output = PygameOutput(calls.append, sample_rate=48000, buffer_frames=480)  # 10 ms buffers
    memory = memoryview(bytearray(480 * 2 * 4))
    output._callback(None, memory)
    output._callback(None, memory)  # on time
    assert output.late_callbacks == 0
    time.sleep(0.05)  # five buffers: the device ran dry
    output._callback(None, memory)
    assert output.late_callbacks == 1 and len(calls) == 3


def test_failing_fill_plays_silence_and_counts() -> None:
    from runtime._outputs import PygameOutput

    def broken(out: np.ndarray) -> None:
        out.fill(0.5)
        raise RuntimeError("boom")

    output = PygameOutput(broken, sample_rate=48000, buffer_frames=64)
    memory = memoryview(bytearray(64 * 2 * 4))
    output._callback(None, memory)
    assert output.errors == 1
    assert not np.frombuffer(memory, dtype=np.float32).any()
