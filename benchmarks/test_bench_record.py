"""What the replay journal costs: the audio callback with it and without, and its bytes.

Every engine keeps a journal from its first frame (``runtime._record``), so its
cost is paid by games that never record. The mixer is the offline engine's, on
the default bundle, in 512-frame blocks, with a parameter command every 50
blocks; bars are composed on demand at bar lines, so only blocks without a bar
line are timed (their thread CPU time), the two cases interleaved block by
block, and the figure is the ratio of the medians.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

import adaptive
from runtime import MusicEngine
from runtime._control import Command

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
