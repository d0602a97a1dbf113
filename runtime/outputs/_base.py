"""The ``Output`` interface every driver implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable

import numpy as np

from adaptive._errors import EngineError

__all__ = ["Output", "OutputError", "FillFn", "OUTPUT_NAMES"]

FillFn = Callable[[np.ndarray], None]  # fills a (frames, 2) float32 block with the next music
OUTPUT_NAMES = ("sdl", "pygame", "silent", "offline")


class OutputError(EngineError):
    """An output could not start (no device, no driver)."""


class Output(ABC):
    """A place the mix goes. The engine calls ``start`` once and ``stop`` once.

    A real-time output calls ``fill`` from its own thread, block after block, at
    the pace of the device; ``fill`` is the mixer's ``process`` and obeys its rules.
    """

    name: str = "output"
    realtime: bool = True

    def __init__(self) -> None:
        self.underruns = 0  # times the device ran dry, as the driver saw it

    @abstractmethod
    def start(self, fill: FillFn, sample_rate: int, block_frames: int) -> None:
        """Begin pulling audio; raises OutputError if the device cannot be opened."""

    @abstractmethod
    def stop(self) -> None:
        """Stop pulling and release the device. Safe to call twice."""

    def pending_frames(self) -> int:
        """Frames mixed but not yet heard: how far the mixer runs ahead of the speaker."""
        return 0
