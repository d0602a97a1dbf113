"""A least-recently-used cache of rendered audio, bounded in bytes rather than entries.

Game music repeats itself, so rendered notes are worth keeping; but a long
session meets many (pitch, length, velocity) keys, and a bound on entries lets
long notes grow memory without limit. The bound here is the arrays' bytes.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable

import numpy as np

__all__ = ["AudioCache"]


class AudioCache:
    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.nbytes = 0
        self._items: OrderedDict[Hashable, np.ndarray] = OrderedDict()

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: Hashable) -> np.ndarray | None:
        item = self._items.get(key)
        if item is not None:
            self._items.move_to_end(key)
        return item

    def put(self, key: Hashable, audio: np.ndarray) -> None:
        if audio.nbytes > self.max_bytes or key in self._items:
            return
        self._items[key] = audio
        self.nbytes += audio.nbytes
        while self.nbytes > self.max_bytes:
            _, old = self._items.popitem(last=False)
            self.nbytes -= old.nbytes

    def clear(self) -> None:
        self._items.clear()
        self.nbytes = 0
