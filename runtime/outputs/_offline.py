"""The offline output: no thread, no device; ``MusicEngine.render`` pulls the audio."""

from __future__ import annotations

import numpy as np

from ._base import FillFn, Output

__all__ = ["OfflineOutput"]


class OfflineOutput(Output):
    name = "offline"
    realtime = False

    def __init__(self) -> None:
        super().__init__()
        self._fill: FillFn | None = None
        self.block_frames = 512

    def start(self, fill: FillFn, sample_rate: int, block_frames: int) -> None:
        self._fill = fill
        self.block_frames = block_frames

    def stop(self) -> None:
        self._fill = None

    def pull(self, out: np.ndarray) -> None:
        """Fill ``out`` block by block, as a device would."""
        assert self._fill is not None, "the offline output was not started"
        pos, frames = 0, out.shape[0]
        while pos < frames:
            m = min(self.block_frames, frames - pos)
            self._fill(out[pos : pos + m])
            pos += m
