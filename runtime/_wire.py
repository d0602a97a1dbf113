"""Commands and events as fixed-size records, for the rings between the game and the engine's worker.

Fixed-size records need no pickling and fit a shared-memory ring slot: game
threads write commands with one copy, and the worker
writes events the same way. Names travel as indices into the bundle's tables.

A hot reload appends the new bundle's names to the tables (never removes or
reorders), so records written before and after it read the same on both sides;
the worker takes the game's tables at the reload's marker record in the ring.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator, Sequence
from typing import Any

from adaptive._bundle import Bundle

from ._control import Command, Sync
from ._mixer import MusicEvent

__all__ = ["Wire"]

_COMMAND = struct.Struct("<BBHdB7x")  # kind, sync kind, name index, value, sync bars
_EVENT = struct.Struct("<BxHiqddH6x")  # kind, beat, bar, frame, time, at, name index
_COMMAND_KINDS = ("parameter", "state", "stinger", "volume", "reload")
_SYNC_KINDS = ("", "immediate", "beat", "bar", "cue")
_EVENT_KINDS = ("beat", "bar", "transition", "stinger", "reload")
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
            "volume": ("",),
            "reload": ("",),
        }
        self.event_names: tuple[str | None, ...] = (None, *bundle.states, *bundle.stingers)
        self.extend(bundle)  # adds the bundle's name, for its "reload" event

    def extend(self, bundle: Bundle) -> None:
        """Add ``bundle``'s names that the tables lack, at their ends (a hot reload)."""
        for kind, table in (
            ("parameter", bundle.parameters),
            ("state", bundle.states),
            ("stinger", bundle.stingers),
        ):
            known = self.names[kind]
            self.names[kind] = known + tuple(n for n in table if n not in known)
        known_events = set(self.event_names)
        added = [
            n for n in (*bundle.states, *bundle.stingers, bundle.name) if n not in known_events
        ]
        self.event_names = self.event_names + tuple(dict.fromkeys(added))
        self._index_tables()

    def tables(self) -> tuple[Any, ...]:
        """The tables as plain data, for the worker to take over."""
        return dict(self.names), self.event_names

    def take_tables(self, tables: tuple[Any, ...]) -> None:
        self.names, self.event_names = dict(tables[0]), tuple(tables[1])
        self._index_tables()

    def _index_tables(self) -> None:
        """The lookups packing needs, made whenever the tables change."""
        self._parameter_slots = {name: i for i, name in enumerate(self.names["parameter"])}
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

    def parameter_slot(self, name: str) -> int:
        """The parameter's index in the tables: its place in the worker's target table."""
        return self._parameter_slots[name]

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
                self._event_index.get(e.name, 0),
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
