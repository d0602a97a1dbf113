"""The ``Output`` interface every driver implements."""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Callable

import numpy as np

from adaptive._errors import EngineError

__all__ = ["Output", "OutputError", "FillFn", "FailFn", "OUTPUT_NAMES"]

FillFn = Callable[[np.ndarray], None]  # fills a (frames, 2) float32 block with the next music
FailFn = Callable[["Output", str], None]  # hears that an output's device failed, and why
OUTPUT_NAMES = ("sdl", "pygame", "silent", "offline")


class OutputError(EngineError):
    """An output could not start (no device, no driver), or its device failed while playing."""


class Output(ABC):
    """A place the mix goes. The engine calls ``start`` once and ``stop`` once.

    A real-time output calls ``fill`` from its own thread, block after block, at
    the pace of the device; ``fill`` is the mixer's ``process`` and obeys its rules.

    A device that fails after ``start`` (unplugged, its driver stopped, its writes
    refused) is the driver's to notice: it stops calling ``fill``, releases the
    device and calls ``failed``, which tells ``on_failure``. The engine listens
    there and plays on the silent output from the same frame.
    """

    name: str = "output"
    realtime: bool = True

    def __init__(self) -> None:
        self.underruns = 0  # times the device ran dry, as the driver saw it
        self.on_failure: FailFn | None = None  # set by whoever started it, before start()

    @abstractmethod
    def start(self, fill: FillFn, sample_rate: int, block_frames: int) -> None:
        """Begin pulling audio; raises OutputError if the device cannot be opened."""

    @abstractmethod
    def stop(self) -> None:
        """Stop pulling and release the device. Safe to call twice."""

    def pending_frames(self) -> int:
        """Frames mixed but not yet heard: how far the mixer runs ahead of the speaker."""
        return 0

    def failed(self, reason: str) -> None:
        """Called by the driver, on its own thread, once its device has failed for good."""
        handler = getattr(self, "on_failure", None)  # a subclass may skip __init__
        if handler is None:
            logging.getLogger("runtime.outputs").warning(
                "output %r failed: %s; nothing plays on", self.name, reason
            )
        else:
            handler(self, reason)
