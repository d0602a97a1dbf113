"""Replay: what the journal costs (the callback with it and without, its bytes), and live
sessions through SDL's disk driver against their replays, sample for sample.

Every engine keeps a journal from its first frame (``runtime._record``), so its
cost is paid by games that never record. The mixer is the offline engine's, on
the default bundle, in 512-frame blocks, with a parameter command every 50
blocks; bars are composed on demand at bar lines, so only blocks without a bar
line are timed (their thread CPU time), the two cases interleaved block by
block, and the figure is the ratio of the medians.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

import adaptive
from runtime import MusicEngine, read_disk_audio, read_wav
from runtime._control import Command
from runtime._record import compare_to_capture, replay
from runtime.cli import main

BLOCK = 512
BLOCKS = 4000


def test_journal_cost_in_the_callback(
    benchmark: pytest.FixtureRequest, default_bundle: adaptive.Bundle
) -> None:
    cores = []
    for journal in (True, False):
        core = MusicEngine(default_bundle, output="offline", seed=3, buffer_frames=BLOCK)._core
        if not journal:
            core._mixer.recorder = core._composer.recorder = None
        cores.append(core)
    out = np.zeros((BLOCK, 2), dtype=np.float32)
    times: list[list[float]] = [[], []]

    def run() -> None:
        for i in range(BLOCKS):
            for which, core in enumerate(cores):
                mixer = core._mixer
                if i % 50 == 0:
                    core._control.commands.append(Command("parameter", "intensity", i % 100 / 100))
                bar_line = (
                    mixer.bar is None
                    or mixer.frame + BLOCK > mixer.bar.start_frame + mixer.bar.frames
                )
                started = time.thread_time()
                mixer.process(out)
                if not bar_line:
                    times[which].append(time.thread_time() - started)
        for core in cores:
            core._journal.pack()

    benchmark.pedantic(run, rounds=1, iterations=1)
    with_journal, without = (float(np.median(t)) * 1e6 for t in times)
    journal_bytes = cores[0]._journal._sink.tell()
    seconds = cores[0]._mixer.frame / 48000
    benchmark.extra_info.update(
        callback_us_with_journal=with_journal,
        callback_us_without=without,
        ratio=with_journal / without,
        journal_bytes_per_minute=journal_bytes / seconds * 60,
    )
    print(
        f"callback median {with_journal:.1f} us with the journal, {without:.1f} us without "
        f"(x{with_journal / without:.3f}); journal {journal_bytes / seconds * 60:.0f} bytes a minute"
    )


SESSION = textwrap.dedent(
    """
    import random, sys, time
    import runtime
    worker, log, seconds, late = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4] == "late"
    engine = runtime.MusicEngine(runtime.load_bundle(), output="sdl", seed=21, worker=worker,
                                 cpu_budget=0.05)
    if not late:
        engine.record(log)
    pace = random.Random(9)
    engine.start()
    states, syncs = list(engine.states), [None, "bar", "beat", "immediate", "bars:2", "cue"]
    started, calls = time.monotonic(), 0
    while time.monotonic() - started < seconds:
        time.sleep(pace.uniform(0.02, 0.4))
        if late and calls == 20:
            engine.record(log)
        r = pace.random()
        if r < 0.4:
            engine.set_parameter(pace.choice(["intensity", "danger"]), pace.random())
        elif r < 0.6:
            engine.set_state(pace.choice(states), sync=pace.choice(syncs))
        elif r < 0.85:
            engine.trigger(pace.choice(list(engine.stingers)))
        else:
            engine.set_volume(pace.uniform(0.3, 1.0))
        calls += 1
        engine.update()
    engine.stop()
    """
)


@pytest.mark.parametrize("start", ["early", "late"])
@pytest.mark.parametrize("worker", ["thread", "process"])
def test_live_session_replays_bit_for_bit(
    benchmark: pytest.FixtureRequest, tmp_path: Path, worker: str, start: str
) -> None:
    """A live SDL session (disk driver) of ``ADAPTIVE_BENCH_REPLAY_SECONDS`` under random game
    calls, recorded from before start() or from mid-session, against its replay."""
    raw, log, out = tmp_path / "sdl.raw", tmp_path / "session.replay", tmp_path / "replay.wav"
    env = dict(
        os.environ, SDL_VIDEODRIVER="dummy", SDL_AUDIODRIVER="disk", SDL_DISKAUDIOFILE=str(raw),
        PYTHONPATH=os.pathsep.join(sys.path),
    )  # fmt: skip
    seconds = os.environ.get("ADAPTIVE_BENCH_REPLAY_SECONDS", "6")
    done = subprocess.run(
        [sys.executable, "-c", SESSION, worker, str(log), seconds, start],
        env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    benchmark.pedantic(
        lambda: main(["render", "--replay", str(log), "-o", str(out)]), rounds=1, iterations=1
    )
    span, _ = read_wav(out)
    full, read, _ = replay(log)
    assert np.array_equal(span.view(np.uint32), full[read.from_frame :].view(np.uint32))
    compared, differing, silence = compare_to_capture(read_disk_audio(raw), full)
    benchmark.extra_info.update(
        frames_compared=compared, samples_compared=2 * compared, frames_differing=differing,
        silence_frames=silence, from_frame=read.from_frame, end_frame=read.end,
        compose_calls=sum(e[0] == "p" for e in read.composes), bars=len(read.takes),
        repeated_bars=sum(t[2] == 0 for t in read.takes), swaps=len(read.swaps),
        stingers=len(read.stingers), commands=len(read.commands),
    )  # fmt: skip
    print(
        f"{worker}/{start}: {2 * compared} samples compared, {differing} frames differing, "
        f"{silence} frames of SDL's silence; log from frame {read.from_frame} to {read.end}, "
        f"{len(read.commands)} commands, {benchmark.extra_info['compose_calls']} compose calls"
    )
    assert differing == 0
