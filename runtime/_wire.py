"""Commands and events as fixed-size records, for the rings between the game and the engine's worker.

Fixed-size records need no pickling and fit a shared-memory ring slot: game
threads write commands with one copy, and the worker
writes events the same way. Names travel as indices into the bundle's tables.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator, Sequence

from adaptive._bundle import Bundle

from ._control import Command, Sync
from ._mixer import MusicEvent

__all__ = ["Wire"]

_COMMAND = struct.Struct("<BBHdB7x")  # kind, sync kind, name index, value, sync bars
_EVENT = struct.Struct("<BxHiqddH6x")  # kind, beat, bar, frame, time, at, name index
_COMMAND_KINDS = ("parameter", "state", "stinger")
_SYNC_KINDS = ("", "immediate", "beat", "bar", "cue")
_EVENT_KINDS = ("beat", "bar", "transition", "stinger")
_NO_TIME = -1.0  # an event's ``at`` when the output cannot predict it


class Wire:
    """Packs and unpacks one bundle's commands and events."""

    command_size = _COMMAND.size
    event_size = _EVENT.size

    def __init__(self, bundle: Bundle) -> None:
        self.names: dict[str, tuple[str, ...]] = {
            "parameter": tuple(bundle.parameters),
            "state": tuple(bundle.states),
            "stinger": tuple(bundle.stingers),
        }
        self.event_names: tuple[str | None, ...] = (None, *bundle.states, *bundle.stingers)
        self._event_index = {name: i for i, name in enumerate(self.event_names)}

    def pack_command(self, command: Command) -> bytes:
        sync = command.sync
        return _COMMAND.pack(
            _COMMAND_KINDS.index(command.kind),
            0 if sync is None else _SYNC_KINDS.index(sync.kind),
            self.names[command.kind].index(command.name),
            command.value,
            1 if sync is None else sync.bars,
        )

    def unpack_commands(self, data: bytes) -> Iterator[Command]:
        for kind, sync_kind, name, value, bars in _COMMAND.iter_unpack(data):
            kind_name = _COMMAND_KINDS[kind]
            sync = Sync(_SYNC_KINDS[sync_kind], bars) if sync_kind else None
            yield Command(kind_name, self.names[kind_name][name], value, sync)

    def pack_events(self, events: Sequence[MusicEvent]) -> bytes:
        return b"".join(
            _EVENT.pack(
                _EVENT_KINDS.index(e.kind),
                e.beat,
                e.bar,
                e.frame,
                e.time,
                _NO_TIME if e.at is None else e.at,
                self._event_index[e.name],
            )
            for e in events
            if e.kind in _EVENT_KINDS
        )

    def unpack_events(self, data: bytes) -> Iterator[MusicEvent]:
        for kind, beat, bar, frame, seconds, at, name in _EVENT.iter_unpack(data):
            yield MusicEvent(
                _EVENT_KINDS[kind],
                frame,
                bar,
                beat,
                self.event_names[name],
                seconds,
                None if at == _NO_TIME else at,
            )
