"""A daemon thread that runs a loop until asked to stop: the worker's and the silent output's."""

from __future__ import annotations

import threading
from collections.abc import Callable

__all__ = ["LoopThread"]


class LoopThread:
    """``running`` is True from ``start`` until ``stop``; the loop checks it."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.running = False
        self._thread: threading.Thread | None = None

    def start(self, loop: Callable[[], None]) -> bool:
        """Start ``loop`` unless it is running; False if it already was."""
        if self.running:
            return False
        self.running = True
        self._thread = threading.Thread(target=loop, name=self.name, daemon=True)
        self._thread.start()
        return True

    def stop(self, timeout: float = 5.0) -> None:
        self.running = False
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=timeout)
        self._thread = None
