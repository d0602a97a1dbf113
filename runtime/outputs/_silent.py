"""The silent output: drives the mixer in real time and throws the audio away.

Muted games and machines without a sound card use it, so the game still gets its
beat, bar and transition events on time.
"""

from __future__ import annotations

import time

import numpy as np

from .._thread import LoopThread
from ._base import FillFn, Output

__all__ = ["SilentOutput"]

MAX_CATCH_UP_SECONDS = 0.5  # after a long stall, skip ahead rather than render a burst


class SilentOutput(Output):
    name = "silent"

    def __init__(self) -> None:
        super().__init__()
        self._loop = LoopThread("adaptive-silent-output")

    def start(self, fill: FillFn, sample_rate: int, block_frames: int) -> None:
        block = np.zeros((block_frames, 2), dtype=np.float32)
        period = block_frames / sample_rate

        def run() -> None:
            due = time.perf_counter()
            while self._loop.running:
                now = time.perf_counter()
                if now - due > MAX_CATCH_UP_SECONDS:
                    self.underruns += 1
                    due = now
                while due <= now and self._loop.running:
                    fill(block)
                    due += period
                time.sleep(max(0.0, due - time.perf_counter()))

        self._loop.start(run)

    def stop(self) -> None:
        self._loop.stop()
