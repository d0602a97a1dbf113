"""The outputs: SDL's device through its queue, the silent real-time output, the fallback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from runtime import OutputError, SdlOutput, SilentOutput, read_disk_audio

LIVE_SCRIPT = textwrap.dedent(
    """
    import json, sys, time
    import runtime
    bundle = runtime.load_bundle(sys.argv[1])
    events = []
    with runtime.MusicEngine(bundle, output="sdl", seed=1, worker=sys.argv[2]) as engine:
        engine.set_parameter("intensity", 0.9)
        started = time.monotonic()
        changed = False
        while time.monotonic() - started < 8.0:
            for event in engine.update():
                events.append([event.kind, event.at is not None])
                if event.kind == "bar" and event.bar == 1 and not changed:
                    engine.set_state("combat")
                    changed = True
            time.sleep(1 / 60)
        stats = engine.stats().as_dict()
        report = engine.report()
    print(json.dumps({"stats": stats, "events": events, "transitions": report["transitions"],
                      "starts": [b["start_frame"] for b in report["bars"]], "output": engine.output,
                      "worker": engine.worker}))
    """
)


def run_script(script: str, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", script, *args],
        env=dict(os.environ, SDL_VIDEODRIVER="dummy", **env),
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("worker", ["process", "thread"])
def test_live_engine_plays_through_sdl(tiny_bundle_path: Path, tmp_path: Path, worker: str) -> None:
    raw = tmp_path / "sdl.raw"
    done = run_script(
        LIVE_SCRIPT,
        str(tiny_bundle_path),
        worker,
        env={"SDL_AUDIODRIVER": "disk", "SDL_DISKAUDIOFILE": str(raw)},
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["output"] == "sdl" and result["worker"] == worker
    audio = read_disk_audio(raw)
    seconds = audio.shape[0] / 48000
    assert 6.0 < seconds < 11.0  # SDL pulled in real time
    assert float(np.sqrt(np.mean(audio.astype(np.float64) ** 2))) > 0.02
    assert np.abs(audio).max() <= 1.0
    kinds = {kind for kind, _ in result["events"]}
    assert {"beat", "bar", "transition"} <= kinds
    assert all(has_time for _, has_time in result["events"])  # every event says when it is heard
    (transition,) = result["transitions"]
    assert transition["to"] == "combat" and transition["landed_frame"] in result["starts"]
    assert "underruns" in result["stats"] and "fallback_bars" in result["stats"]


def test_missing_driver_warns_and_falls_back_to_silent(tiny_bundle_path: Path) -> None:
    script = textwrap.dedent(
        """
        import sys, time, warnings, runtime
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            engine = runtime.MusicEngine(runtime.load_bundle(sys.argv[1]), output="pygame", seed=2)
            engine.start()
        kinds = []
        started = time.monotonic()
        while time.monotonic() - started < 3.0:
            kinds += [e.kind for e in engine.update()]
            time.sleep(0.02)
        engine.stop()
        print(len(caught), str(caught[0].message) if caught else "")
        print(engine.output, kinds.count("bar"), kinds.count("beat"))
        """
    )
    done = run_script(script, str(tiny_bundle_path), env={"SDL_AUDIODRIVER": "nonexistent"})
    assert done.returncode == 0, done.stderr
    warned, status = done.stdout.strip().splitlines()[-2:]
    assert warned.startswith("1 ") and "silent output" in warned and "nonexistent" in warned
    output, bars, beats = status.split()
    assert output == "silent" and int(bars) >= 2 and int(beats) >= 4


STOP_SCRIPT = textwrap.dedent(
    """
    import sys, time
    import runtime
    engine = runtime.MusicEngine(runtime.load_bundle(sys.argv[1]), output="sdl", seed=1, buffer_frames=256)
    for cycle in range(40):
        engine.start()
        time.sleep(0.01 * (cycle % 5))
        engine.stop()
    print("stopped cleanly")
    """
)


def test_stop_never_deadlocks(tiny_bundle_path: Path, tmp_path: Path) -> None:
    env = {"SDL_AUDIODRIVER": "disk", "SDL_DISKAUDIOFILE": str(tmp_path / "x.raw")}
    done = run_script(STOP_SCRIPT, str(tiny_bundle_path), env=env)
    assert done.returncode == 0, done.stderr
    assert "stopped cleanly" in done.stdout


def test_sdl_plays_on_while_python_holds_the_gil(tmp_path: Path) -> None:
    """SDL's thread plays from SDL's queue: while the game holds the GIL, the music goes on."""
    script = textwrap.dedent(
        """
        import os, sys, time, numpy as np
        from runtime import SdlOutput
        counter = [0]
        def fill(out):
            n = out.shape[0]
            out[:, 0] = (np.arange(counter[0], counter[0] + n) % 480) / 480.0
            out[:, 1] = out[:, 0]
            counter[0] += n
        output = SdlOutput(queue_blocks=64)  # 64 x 512 frames: 680 ms of audio queued in C
        output.start(fill, 48000, 512)
        time.sleep(0.2)
        raw = os.environ["SDL_DISKAUDIOFILE"]
        sys.setswitchinterval(5.0)  # no thread of ours runs Python until this loop ends
        before = os.stat(raw).st_size
        spin = time.perf_counter()
        while time.perf_counter() - spin < 0.4:  # a game frame that never lets go of the GIL
            pass
        after = os.stat(raw).st_size
        sys.setswitchinterval(0.005)
        time.sleep(0.1)
        output.stop()
        print(before, after, counter[0])
        """
    )
    raw = tmp_path / "q.raw"
    done = run_script(script, env={"SDL_AUDIODRIVER": "disk", "SDL_DISKAUDIOFILE": str(raw)})
    assert done.returncode == 0, done.stderr
    before, after, mixed = (int(x) for x in done.stdout.split()[-3:])
    assert after - before >= 0.05 * 48000 * 8  # SDL wrote audio while Python could not run
    audio = read_disk_audio(raw)[:, 0]
    # SDL writes silence while the device opens paused; the music starts after it
    audio = audio[max(0, int(np.argmax(audio != 0.0)) - 1) :]
    # what SDL wrote is the mixer's ramp, frame for frame: no gap was filled with silence
    played = min(audio.shape[0], mixed)
    expected = (np.arange(played) % 480) / 480.0
    np.testing.assert_allclose(audio[:played], expected, atol=1e-6)


def test_silent_output_runs_in_real_time() -> None:
    frames = []
    lock = threading.Lock()

    def fill(out: np.ndarray) -> None:
        with lock:
            frames.append(out.shape[0])

    output = SilentOutput()
    output.start(fill, 48000, 480)
    time.sleep(0.5)
    output.stop()
    total = sum(frames) / 48000
    assert (
        0.3 < total < 1.5
    )  # about half a second of music, paced by the clock, not as fast as it can


def test_sdl_output_rejects_a_bad_queue_depth() -> None:
    with pytest.raises(OutputError, match="queue_blocks"):
        SdlOutput(queue_blocks=1)


def test_sdl_queue_deepens_after_the_feeder_was_kept_from_running(tmp_path: Path) -> None:
    """A feeder starved for most of its queue (here: the GIL held 300 ms) doubles the queue's depth."""
    script = textwrap.dedent(
        """
        import sys, time
        from runtime import SdlOutput
        output = SdlOutput(queue_blocks=2, max_queue_blocks=64)  # 2 x 512 frames: 21 ms
        output.start(lambda out: out.fill(0.1), 48000, 512)
        time.sleep(0.2)
        before = output.depth_blocks  # deeper while warming up
        sys.setswitchinterval(5.0)  # the feeder cannot run until this loop ends
        spin = time.perf_counter()
        while time.perf_counter() - spin < 0.3:
            pass
        sys.setswitchinterval(0.005)
        time.sleep(0.2)
        print(before, output.depth_blocks, output.late_wakeups, output.pending_frames())
        output.stop()
        """
    )
    env = {"SDL_AUDIODRIVER": "disk", "SDL_DISKAUDIOFILE": str(tmp_path / "deep.raw")}
    done = run_script(script, env=env)
    assert done.returncode == 0, done.stderr
    before, after, late, pending = (int(x) for x in done.stdout.split()[-4:])
    assert before >= 8 and after > before and late >= 1  # deepened (a busy machine: sooner)
    assert pending >= after * 512 // 2  # and the deeper queue is kept full
