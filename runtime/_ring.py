"""A ring of fixed-size records in shared memory, between the game and the engine's worker.

Writing is a copy into the mapping and a store of the write count: no system
call, so no wake-up of another process (on these machines a pipe write that
wakes its reader cost 20 to 200 us). The reader polls. One writer per ring at a
time: the game side takes a lock, which its threads hold for one copy.
"""

from __future__ import annotations

import mmap
import struct
import threading
from collections.abc import Iterator

__all__ = ["Ring", "shared_memory"]

_COUNT = struct.Struct("<Q")


def shared_memory(size: int) -> mmap.mmap:
    """Anonymous memory that a forked worker shares with this process."""
    return mmap.mmap(-1, size)  # MAP_SHARED | MAP_ANONYMOUS


class Ring:
    """``slots`` records of ``record_size`` bytes at ``offset`` in ``memory``."""

    def __init__(self, memory: mmap.mmap, offset: int, record_size: int, slots: int) -> None:
        self.memory, self.offset = memory, offset
        self.record_size, self.slots = record_size, slots
        self.size = _COUNT.size + record_size * slots
        self._lock = threading.Lock()
        self._read = 0  # the reader's own count
        self.lost = 0  # records the reader was too slow for (the writer lapped it)

    def write(self, record: bytes) -> None:
        with self._lock:
            count = _COUNT.unpack_from(self.memory, self.offset)[0]
            at = self.offset + _COUNT.size + (count % self.slots) * self.record_size
            self.memory[at : at + self.record_size] = record
            _COUNT.pack_into(self.memory, self.offset, count + 1)  # published after the record

    def read(self) -> Iterator[bytes]:
        count = _COUNT.unpack_from(self.memory, self.offset)[0]
        if count - self._read > self.slots:
            self.lost += count - self._read - self.slots
            self._read = count - self.slots
        base = self.offset + _COUNT.size
        while self._read < count:
            at = base + (self._read % self.slots) * self.record_size
            yield bytes(self.memory[at : at + self.record_size])
            self._read += 1

    def pending(self) -> bool:
        return _COUNT.unpack_from(self.memory, self.offset)[0] != self._read
