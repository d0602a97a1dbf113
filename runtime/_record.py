"""Replay logs: what crossed into the engine's deterministic core, stamped in samples.

A live engine's music depends on when things happened: the look-ahead worker
composes a bar when the wall clock lets it (reading the parameters and the
state schedule as they stand then), composes stale bars again, steps the CPU
budget's level, and the mixer repeats a bar when the composer is late. Given
the same inputs in the same order, though, the composer and the mixer are
exact functions. So the log keeps those inputs, in the order the core saw
them, and ``replay`` drives an offline mixer and composer with them: the same
compose calls (the discarded ones too, because each bar's model context, ring-out
and effect tails come from the bar composed before it), the same bar versions
played, the same commands at the same frames, in blocks of the same sizes.

Why those inputs are enough (each read in the code): a bar's randomness is a
generator seeded by (seed, bar index); its recurrent state and chord history,
the previous bar's ring-out and the effect tails are kept per bar index and
taken from the last compose of the bar before, so the order of compose calls
and of the contexts dropped (``f``) matters and is logged; a compose call reads
its plan, the parameters, the budget's level and the tempo map once
(``BarInputs``);
the tempo map a bar is composed on is the one current then, so it is logged;
the instruments' caches and the stingers' fitted versions are pure functions
of their keys, but whether a fitted version was ready when a stinger started
depended on the worker, so its chord is logged; ONNX runs single-threaded;
commands apply at block starts and the gain ramps per block, so block sizes
are logged; a late bar's repeat and a change within a bar landing late are in
``k`` and ``w``.

A replay rebuilds the music from the session's first frame, so every engine
keeps a journal of these entries from its first frame (packed in memory, about
25 bytes an entry, up to ``JOURNAL_BYTES``). ``MusicEngine.record(path)``
writes that journal and then every entry after it; the log's ``from_frame``
says where the call came, and ``adaptive render --replay`` writes the audio
from there on. ``record(None)`` or ``stop()`` ends the log; a session has one.
A journal that outgrew its bytes, or a session that hot-reloaded, cannot start
a log mid-session (``record`` says so): call ``record`` before ``start()``
then. A hot reload while recording is refused (``reload`` returns False with
an ``error`` event); stop recording first.

The file is a stream of msgpack objects. The first is the header map:

=====================  ===========================================================
``format``             ``"adaptive-replay"``
``version``            1
``bundle``             ``{"name", "sha256", "path"}``: the bundle played (its file's
                       sha256); ``adaptive render --replay`` finds it by path, or
                       takes the bundle argument, and refuses another digest
``seed``               the engine's seed
``sample_rate``        frames per second
``buffer_frames``      the output's block size, as asked
``max_frames``         the mixer's largest block (its scratch size)
``margin_frames``      how close to a bar line a state change may be asked for
``lookahead_bars``     bars composed ahead, and ``cpu_budget``: for the reader only
                       (what they changed is in the entries)
``output``             the output's name when the session started
``initial``            ``{"state", "parameters", "volume"}`` at frame 0
``from_frame``         the frame at which ``record`` was called: the recorded span
                       is ``from_frame`` .. the end (the entries start at frame 0)
=====================  ===========================================================

Then one array per entry, in the order the core saw them (frames are the
mixer's sample clock):

=============================================  ====================================
``["b", frame, frames]``                       blocks are ``frames`` long from here
``["c", frame, kind, name, value, sync, bars]``  a command the mixer applied at
                                               ``frame`` (``sync`` nil: the rule's)
``["t", sample_rate, tempo, numerator,         the tempo map the compose calls after
denominator, origin_bar, origin_frame,         it read (``MusicalClock``; changes are
changes]``                                     ``[bar, tempo]``), logged when it changes
``["p", serial, index, plan, parameters,       compose call number ``serial`` (from
change, level]``                               1, in order) for bar ``index``, with
                                               what it read: ``plan`` is ``[state,
                                               phrase_bar, transition_bar,
                                               from_state]`` (``BarPlan``), ``change``
                                               nil or ``StateChange``'s fields in order
``["f", index]``                               the composer dropped contexts before
                                               bar ``index``
``["k", frame, index, serial]``                bar ``index`` started, playing compose
                                               call ``serial`` (0: the last bar
                                               repeated, the composer was late)
``["w", frame, index, serial]``                a change within bar ``index`` took
                                               compose call ``serial`` at ``frame``
``["s", frame, name, chord, version]``         a stinger started; ``version`` 1: a
                                               version for its bar's chord and tempo
                                               was ready (``chord``: its chord, -1 as
                                               written), 0: it played as written
``["x", reason]``                              entries were lost (the writer fell
                                               behind): the log cannot replay
``["e", frame]``                               the end: frames 0..frame were mixed
=============================================  ====================================

The audio thread only appends small tuples to a deque (bounded: past
``MAX_PENDING`` entries the log is marked lost instead of growing); the worker
packs them into the journal, and a writer thread writes an open log.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import threading
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

import msgpack
import numpy as np

from adaptive import load_bundle
from adaptive._bundle import Bundle
from adaptive._errors import EngineError
from adaptive._music import Meter

from ._bar import BarAudio
from ._clock import MusicalClock
from ._composer import BarInputs, Composer
from ._control import BarPlan, Command, Control, StateChange, Sync
from ._reload import build_program, fit_stingers_to_chords, make_mixer

__all__ = [
    "Recorder", "ReplayError", "ReplayLog", "read_log", "replay", "replay_into",
    "compare_to_capture", "FORMAT", "VERSION",
    "MAX_PENDING",
]  # fmt: skip

logger = logging.getLogger("runtime")

FORMAT = "adaptive-replay"
VERSION = 1
MAX_PENDING = 1 << 16  # entries waiting for the writer; past this the log is marked lost
PACK_EVERY = 256  # entries that wait before the worker packs them into the journal
JOURNAL_BYTES = 8 << 20  # the journal in memory, before a log starts: about 25 bytes an entry
WRITE_PERIOD_SECONDS = 0.05
END_WAIT_SECONDS = 2.0  # record(None) while playing: how long the audio thread has to end it


class ReplayError(EngineError):
    """A replay log that cannot be read or replayed; the message names the file and field."""


_CHANGE_FIELDS = tuple(f.name for f in fields(StateChange))


def _change_list(change: StateChange | None) -> list[Any] | None:
    """A state change as its fields' values, in their order (``StateChange(*values)``)."""
    return None if change is None else [getattr(change, name) for name in _CHANGE_FIELDS]


def _clock_entry(clock: MusicalClock) -> tuple[Any, ...]:
    """A tempo map as what rebuilds it (``MusicalClock`` derives the rest)."""
    return (
        "t", clock.sample_rate, clock.tempo, clock.meter.numerator, clock.meter.denominator,
        clock.origin_bar, clock.origin_frame, [list(change) for change in clock.changes],
    )  # fmt: skip


class Recorder:
    """The session's journal: entries from the mixer's and the composer's threads, in order.

    Every live or offline engine keeps one from its first frame, so ``record``
    may start a log at any time: the log holds the journal so far (a replay
    needs the whole session to rebuild the music) and then everything after.
    Until then the entries are packed into memory (``pack``, a chore on the
    composer's worker, or the offline render's thread), up to
    ``JOURNAL_BYTES``; past that, or after a reload, the journal is dropped and
    only a log begun before ``start()`` can replay.

    The hooks never block: each appends one small tuple to a deque (atomic in
    CPython) and returns. ``end`` (or the audio thread, once ``stopping`` is set)
    closes the log at a block boundary; ``close`` writes what is left.
    """

    def __init__(
        self, header: dict[str, Any], chores: deque[Callable[[], None]] | None = None
    ) -> None:
        self.header = header  # the session at frame 0
        self.path: Path | None = None  # the log file, once ``start_log`` opened it
        self._chores = chores  # the composer's worker packs the journal when it has time
        self._packer = msgpack.Packer(use_bin_type=True)
        self._sink: Any = io.BytesIO()  # the journal in memory, then the log file
        self._lock = threading.Lock()  # between the two that pack (never taken by a hook)
        self._entries: deque[tuple[Any, ...]] = deque()
        self._pack_asked = False
        self._block = -1
        self._clock: MusicalClock | None = None  # the tempo map the last compose entry used
        self._written_end = False
        self.ended = threading.Event()
        self.stopping = False  # set by record(None): the audio thread ends at its next block
        self.lost = False  # entries were dropped while the writer was behind
        self.dropped: str | None = None  # why the journal can no longer start a log
        self.failed: str | None = None  # the log file could not be written
        self._quit = threading.Event()
        self._writer: threading.Thread | None = None

    # --- hooks (the mixer's thread, the composer's thread) --------------------------------

    def _add(self, entry: tuple[Any, ...]) -> None:
        if self.ended.is_set() or self.dropped is not None:
            return
        entries = self._entries
        if len(entries) >= MAX_PENDING:
            self.lost = True
            return
        entries.append(entry)
        if self.path is None and len(entries) >= PACK_EVERY and not self._pack_asked:
            if self._chores is not None:
                self._pack_asked = True
                self._chores.append(self.pack)

    def block(self, frame: int, frames: int) -> None:
        if self.stopping and not self.ended.is_set():
            self.end(frame)  # on the audio thread, at a block boundary: the span ends here
            return
        if frames != self._block:
            self._block = frames
            self._add(("b", frame, frames))

    def command(self, frame: int, command: Command) -> None:
        sync = command.sync
        self._add(
            (
                "c", frame, command.kind, command.name, command.value,
                None if sync is None else sync.kind, 1 if sync is None else sync.bars,
            )
        )  # fmt: skip

    def take(self, frame: int, index: int, serial: int) -> None:
        self._add(("k", frame, index, serial))

    def swap(self, frame: int, index: int, serial: int) -> None:
        self._add(("w", frame, index, serial))

    def stinger(self, frame: int, name: str, chord: int, version: bool) -> None:
        self._add(("s", frame, name, chord, int(version)))

    def composed(self, serial: int, inputs: BarInputs) -> None:
        if inputs.clock != self._clock:  # another tempo map: once, before the first bar on it
            self._clock = inputs.clock
            self._add(_clock_entry(inputs.clock))
        self._add(
            (
                "p", serial, inputs.index, list(inputs.plan), inputs.parameters,
                _change_list(inputs.change), inputs.level,
            )
        )  # fmt: skip

    def forgot(self, index: int) -> None:
        self._add(("f", index))

    # --- the journal in memory ------------------------------------------------------------

    def pack(self) -> None:
        """Pack waiting entries into the journal in memory (not the audio thread)."""
        self._pack_asked = False
        with self._lock:
            if self.path is not None or self.dropped is not None:
                return
            if self.lost:
                self.drop(f"more than {MAX_PENDING} entries waited to be packed")
                return
            self._flush()
            if self._sink.tell() > JOURNAL_BYTES:
                self.drop(f"the session's journal outgrew {JOURNAL_BYTES >> 20} MiB")

    def drop(self, why: str) -> None:
        """Give the journal up (a reload, or too long a session): a later log cannot replay."""
        if self.path is None and self.dropped is None:
            self.dropped = why
            self._sink = io.BytesIO()
            self._entries.clear()

    # --- the log file ---------------------------------------------------------------------

    def start_log(self, path: str | os.PathLike[str], from_frame: int) -> None:
        """Write the journal so far to ``path`` and keep writing there (a writer thread)."""
        where = Path(path)
        if self.path is not None:
            raise EngineError(f"record(): this session was already recorded to {self.path}")
        if self.dropped is not None:
            raise EngineError(
                f"record() cannot start mid-session here: {self.dropped}; call record() "
                "before start() to log this session"
            )
        try:
            file = open(where, "wb")  # noqa: SIM115 - the writer thread closes it
        except OSError as exc:
            raise EngineError(f"record(): cannot write {where}: {exc.strerror}") from None
        with self._lock:
            try:
                file.write(self._packer.pack(self.header | {"from_frame": from_frame}))
                file.write(self._sink.getbuffer())
            except OSError as exc:
                with contextlib.suppress(OSError):  # its buffer cannot be written either
                    file.close()
                raise EngineError(f"record(): cannot write {where}: {exc.strerror}") from None
            self._sink, self.path = file, where
            self._flush()
        self._writer = threading.Thread(
            target=self._write_loop, name="adaptive-record", daemon=True
        )
        self._writer.start()

    def end(self, frame: int) -> None:
        """Close the span at ``frame``: entries after this are not kept."""
        if self.ended.is_set():
            return
        if self.lost:
            self._entries.append(("x", f"more than {MAX_PENDING} entries waited for the writer"))
        self._entries.append(("e", frame))
        self.ended.set()

    def close(self) -> None:
        """Write what is left and close the file (after ``end``)."""
        self._quit.set()
        if self._writer is not None:
            self._writer.join(timeout=10.0)
            if self._writer.is_alive():  # never: the writer only packs and writes
                return
        with self._lock:
            self._flush()
            try:
                self._sink.close()
            except OSError as exc:
                self.failed = self.failed or f"{self.path}: {exc.strerror or exc}"

    def _write_loop(self) -> None:
        while not self._quit.wait(WRITE_PERIOD_SECONDS):
            with self._lock:
                self._flush()

    def _flush(self) -> None:
        """Pack the waiting entries into the sink (its lock held)."""
        entries, pack, chunks = self._entries, self._packer.pack, []
        while entries and not self._written_end:
            entry = entries.popleft()
            chunks.append(pack(entry))
            # the composer's thread may slip one in after the end: it belongs to no bar played
            self._written_end = entry[0] == "e"
        if chunks and not self._sink.closed and self.failed is None:
            try:
                self._sink.write(b"".join(chunks))
                if self.path is not None:
                    self._sink.flush()
            except OSError as exc:  # a full disk: the music plays on, the log stops here
                self.failed = f"{self.path}: {exc.strerror or exc}"
                self.dropped = f"the log could not be written ({self.failed})"
                self._entries.clear()
                logger.warning("replay log %s; it ends here, truncated", self.failed)


# --- reading -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReplayLog:
    """A log read and checked: its header and its entries by kind."""

    path: Path
    header: dict[str, Any]
    end: int
    from_frame: int  # where record() was called: the span a replay writes
    blocks: list[tuple[int, int]]  # (frame, frames)
    commands: list[tuple[int, Command]]
    composes: list[tuple[Any, ...]]  # ("p", ...) and ("f", index), in order
    takes: list[tuple[int, int, int]]  # (frame, index, serial)
    swaps: list[tuple[int, int, int]]
    stingers: list[tuple[int, str, int, int]]


_HEADER_FIELDS: dict[str, type | tuple[type, ...]] = {
    "bundle": dict,
    "seed": int,
    "sample_rate": int,
    "buffer_frames": int,
    "max_frames": int,
    "margin_frames": int,
    "initial": dict,
}
# each entry's fields after its tag: the types allowed
_ENTRY_FIELDS: dict[str, tuple[type | tuple[type, ...], ...]] = {
    "b": (int, int),
    "c": (int, str, str, float, (str, type(None)), int),
    "p": (int, int, list, dict, (list, type(None)), int),
    "t": (int, float, int, int, int, int, list),
    "f": (int,),
    "k": (int, int, int),
    "w": (int, int, int),
    "s": (int, str, int, int),
    "x": (str,),
    "e": (int,),
}
_ENTRY_NAMES = {
    "b": ("frame", "frames"),
    "c": ("frame", "kind", "name", "value", "sync", "bars"),
    "p": ("serial", "index", "plan", "parameters", "change", "level"),
    "t": (
        "sample_rate",
        "tempo",
        "numerator",
        "denominator",
        "origin_bar",
        "origin_frame",
        "changes",
    ),  # fmt: skip
    "f": ("index",),
    "k": ("frame", "index", "serial"),
    "w": ("frame", "index", "serial"),
    "s": ("frame", "name", "chord", "version"),
    "x": ("reason",),
    "e": ("frame",),
}
_COMMAND_KINDS = ("parameter", "state", "stinger", "volume")


def _objects(path: Path, data: bytes) -> Iterator[Any]:
    unpacker = msgpack.Unpacker(raw=False, strict_map_key=False, max_buffer_size=len(data) + 1)
    unpacker.feed(data)
    try:
        yield from unpacker
    except (ValueError, msgpack.UnpackException) as exc:
        raise ReplayError(f"{path}: not a readable replay log (msgpack: {exc})") from None


def read_log(path: str | os.PathLike[str]) -> ReplayLog:
    """Read and check a replay log; ReplayError names the file and the field at fault."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ReplayError(f"{path}: replay log not found") from None
    except OSError as exc:
        raise ReplayError(f"{path}: cannot read the replay log: {exc.strerror}") from None
    objects = _objects(path, data)
    header = next(objects, None)
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise ReplayError(
            f"{path}: not an adaptive replay log (field 'format' must be {FORMAT!r}; "
            "write one with MusicEngine.record)"
        )
    version = header.get("version")
    if version != VERSION:
        raise ReplayError(
            f"{path}: field 'version' is {version!r}; this runtime replays version {VERSION}"
        )
    for name, kind in _HEADER_FIELDS.items():
        if not isinstance(header.get(name), kind) or isinstance(header.get(name), bool):
            raise ReplayError(f"{path}: field '{name}' is missing or not {_type_name(kind)}")
    for name in ("name", "sha256"):
        if not isinstance(header["bundle"].get(name), str):
            raise ReplayError(f"{path}: field 'bundle.{name}' is missing or not a string")
    initial = header["initial"]
    if not isinstance(initial.get("state"), str) or not isinstance(initial.get("parameters"), dict):
        raise ReplayError(f"{path}: field 'initial' needs 'state' and 'parameters'")
    end: int | None = None
    blocks, commands, composes, takes, swaps, stingers = [], [], [], [], [], []
    serial = 0
    for number, entry in enumerate(objects):
        where = f"entry {number + 1}"
        if end is not None:
            raise ReplayError(f"{path}: {where} comes after the end entry")
        if not isinstance(entry, list) or not entry or entry[0] not in _ENTRY_FIELDS:
            raise ReplayError(f"{path}: {where} is not a known entry: {str(entry)[:60]}")
        tag, fields = entry[0], entry[1:]
        kinds = _ENTRY_FIELDS[tag]
        if len(fields) != len(kinds):
            raise ReplayError(
                f"{path}: {where} ({tag!r}) has {len(fields)} fields, not {len(kinds)}"
            )
        for value, kind, name in zip(fields, kinds, _ENTRY_NAMES[tag], strict=True):
            if kind is float and isinstance(value, int) and not isinstance(value, bool):
                continue
            if not isinstance(value, kind) or isinstance(value, bool):
                raise ReplayError(
                    f"{path}: {where} ({tag!r}) field '{name}' must be {_type_name(kind)}, "
                    f"got {str(value)[:40]}"
                )
        if tag == "e":
            end = fields[0]
        elif tag == "x":
            raise ReplayError(f"{path}: the log lost entries while recording ({fields[0]})")
        elif tag == "b":
            if not 0 < fields[1] <= header["max_frames"]:
                raise ReplayError(
                    f"{path}: {where} ('b') field 'frames' is {fields[1]}, not in "
                    f"1..{header['max_frames']} (field 'max_frames')"
                )
            blocks.append((fields[0], fields[1]))
        elif tag == "c":
            frame, kind, name, value, sync, bars = fields
            if kind not in _COMMAND_KINDS:
                raise ReplayError(f"{path}: {where} field 'kind' {kind!r} is not a command")
            commands.append(
                (
                    frame,
                    Command(kind, name, float(value), None if sync is None else Sync(sync, bars)),
                )
            )
        elif tag == "p":
            serial += 1
            if fields[0] != serial:
                raise ReplayError(
                    f"{path}: {where} field 'serial' is {fields[0]}, expected {serial}: "
                    "compose calls are missing"
                )
            _check_compose(path, where, fields)
            composes.append(entry)
        elif tag in ("f", "t"):
            if tag == "t":
                _check_clock(path, where, fields, header)
            composes.append(entry)
        elif tag == "k":
            takes.append(tuple(fields))
        elif tag == "w":
            swaps.append(tuple(fields))
        else:
            stingers.append(tuple(fields))
    if end is None:
        raise ReplayError(
            f"{path}: the log is truncated (no 'e' end entry): the session was not stopped "
            "with record(None) or stop(), or the file was cut"
        )
    if not blocks or blocks[0][0] != 0:
        raise ReplayError(f"{path}: field 'b' (block size) is missing at frame 0")
    from_frame = header.get("from_frame", 0)
    if (
        isinstance(from_frame, bool)
        or not isinstance(from_frame, int)
        or not 0 <= from_frame <= end
    ):
        raise ReplayError(
            f"{path}: field 'from_frame' must be a frame in 0..{end}, got {from_frame!r}"
        )
    return ReplayLog(
        path, header, end, from_frame, blocks, commands, composes, takes, swaps, stingers
    )


_TYPE_NAMES = {int: "an integer", float: "a number", str: "a string", dict: "a map",
               list: "an array", type(None): "nil"}  # fmt: skip


def _check_compose(path: Path, where: str, fields: list[Any]) -> None:
    """A compose entry's plan, parameters and state change, as the composer will read them."""
    plan = fields[2]
    kinds = (str, int, bool, str)  # BarPlan: state, phrase_bar, transition_bar, from_state
    if len(plan) != len(kinds) or not all(
        isinstance(v, k) and (k is bool or not isinstance(v, bool))
        for v, k in zip(plan, kinds, strict=True)
    ):
        raise ReplayError(
            f"{path}: {where} ('p') field 'plan' must be [state, phrase_bar, transition_bar, "
            f"from_state], got {str(plan)[:60]}"
        )
    for name, value in fields[3].items():
        if (
            not isinstance(name, str)
            or isinstance(value, bool)
            or not isinstance(value, int | float)
        ):
            raise ReplayError(
                f"{path}: {where} ('p') field 'parameters' must map names to numbers, "
                f"got {name!r}: {str(value)[:40]}"
            )
    change = fields[4]
    if change is not None and len(change) != len(_CHANGE_FIELDS):
        raise ReplayError(
            f"{path}: {where} ('p') field 'change' must be [{', '.join(_CHANGE_FIELDS)}], "
            f"got {str(change)[:60]}"
        )


def _check_clock(path: Path, where: str, fields: list[Any], header: dict[str, Any]) -> None:
    """A tempo map entry: the session's sample rate, a meter, tempo changes as (bar, tempo)."""
    rate, tempo, numerator, denominator, *_, changes = fields
    if rate != header["sample_rate"] or not 0 < tempo < 10_000 or not 0 < numerator <= 64:
        raise ReplayError(f"{path}: {where} ('t') is not a tempo map of this session")
    if denominator not in (1, 2, 4, 8, 16, 32) or not all(
        isinstance(c, list) and len(c) == 2 and isinstance(c[0], int) and 0 < c[1] < 10_000
        for c in changes
    ):
        raise ReplayError(f"{path}: {where} ('t') field 'changes' must be [bar, tempo] pairs")


def _type_name(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(_TYPE_NAMES.get(k, k.__name__) for k in kinds)


# --- replaying -----------------------------------------------------------------------------


def find_bundle(log: ReplayLog, bundle: Bundle | str | os.PathLike[str] | None = None) -> Bundle:
    """The bundle the log was recorded with: ``bundle`` if given, else the recorded path,
    else the default style; its digest must be the recorded one."""
    wanted = log.header["bundle"]
    digest = wanted["sha256"]
    candidates: list[Bundle | str | None] = []
    if bundle is not None:
        candidates.append(bundle if isinstance(bundle, Bundle) else os.fspath(bundle))
    else:
        if isinstance(wanted.get("path"), str) and Path(wanted["path"]).is_file():
            candidates.append(wanted["path"])
        candidates.append(None)  # the default style
    seen = []
    for candidate in candidates:
        found = candidate if isinstance(candidate, Bundle) else load_bundle(candidate)
        if found.sha256 == digest:
            return found
        seen.append(f"{found.path or found.name} has {found.sha256[:16]}")
    raise ReplayError(
        f"{log.path}: field 'bundle.sha256' is {digest[:16]}... (bundle {wanted['name']!r} "
        f"from {wanted.get('path')}), but {'; '.join(seen)}; pass the bundle it was recorded with"
    )


class ReplaySource:
    """The mixer's bar source in a replay: the logged compose calls, in order, and the logged
    choice of which composed bar plays where."""

    def __init__(self, log: ReplayLog, composer: Composer, frame: Callable[[], int]) -> None:
        self.log = log
        self.composer = composer
        self.frame = frame
        self._composes = deque(log.composes)
        self._takes = deque(log.takes)
        self._swaps = deque(log.swaps)
        self._needed = {t[2] for t in log.takes} | {s[2] for s in log.swaps}
        self._made: dict[int, BarAudio] = {}
        self._clock: MusicalClock | None = None  # the tempo map the next compose entries use

    def _bar(self, serial: int) -> BarAudio:
        while serial not in self._made:
            if not self._composes:
                raise ReplayError(
                    f"{self.log.path}: entry 'k'/'w' plays compose call {serial}, "
                    "which the log never made"
                )
            entry = self._composes.popleft()
            if entry[0] == "f":
                self.composer.forget_before(entry[1])
                continue
            if entry[0] == "t":
                _, rate, tempo, numerator, denominator, bar, frame, changes = entry
                self._clock = MusicalClock(
                    rate, float(tempo), Meter(numerator, denominator), bar, frame,
                    tuple((int(b), float(t)) for b, t in changes),
                )  # fmt: skip
                continue
            _, number, index, plan, parameters, change, level = entry
            if self._clock is None:
                raise ReplayError(f"{self.log.path}: a compose entry 'p' before any tempo map 't'")
            inputs = BarInputs(
                index,
                BarPlan(*plan),
                {str(k): float(v) for k, v in parameters.items()},
                None if change is None else StateChange(*change),
                level,
                self._clock,
            )
            bar = self.composer.compose(index, inputs)
            if number in self._needed:
                self._made[number] = bar
        return self._made.pop(serial)

    def _diverged(self, what: str) -> ReplayError:
        return ReplayError(
            f"{self.log.path}: the replay diverged from the log at frame {self.frame()}: {what}"
        )

    def take(self, index: int) -> BarAudio | None:
        if not self._takes:
            raise self._diverged(f"bar {index} starts, the log has no more bar starts ('k')")
        frame, logged, serial = self._takes.popleft()
        if (frame, logged) != (self.frame(), index):
            raise self._diverged(
                f"bar {index} starts, the log's next 'k' is bar {logged} at {frame}"
            )
        return None if serial == 0 else self._bar(serial)

    def replacement(self, index: int, state: str) -> BarAudio | None:
        if self._swaps and self._swaps[0][:2] == (self.frame(), index):
            return self._bar(self._swaps.popleft()[2])
        return None  # live, it was not composed yet here

    def retire(self, bar: BarAudio, played: bool) -> None:
        pass


CHUNK_FRAMES = 1 << 16  # a replay hands its audio on in pieces this long (at most)


def replay(
    path: str | os.PathLike[str], bundle: Bundle | str | os.PathLike[str] | None = None
) -> tuple[np.ndarray, ReplayLog, Bundle]:
    """Render a replay log's session again: float32 (frames, 2) from frame 0 to the log's end,
    bit for bit as it was mixed (the recorded span is ``[log.from_frame:]``)."""
    pieces: list[np.ndarray] = []
    log, found = replay_into(path, lambda audio: pieces.append(audio.copy()), bundle)
    audio = np.concatenate(pieces) if pieces else np.zeros((0, 2), np.float32)
    return audio, log, found


def replay_into(
    path: str | os.PathLike[str] | ReplayLog,
    emit: Callable[[np.ndarray], None],
    bundle: Bundle | str | os.PathLike[str] | None = None,
) -> tuple[ReplayLog, Bundle]:
    """``replay``, handing the audio to ``emit`` in order, piece by piece (reused buffers),
    so a long session never sits in memory whole. ``path`` may be a log already read."""
    log = path if isinstance(path, ReplayLog) else read_log(path)
    header = log.header
    found = find_bundle(log, bundle)
    initial = header["initial"]
    if initial["state"] not in found.states:
        raise ReplayError(
            f"{log.path}: field 'initial.state' {initial['state']!r} is not in the bundle"
        )
    parameters = initial["parameters"]
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in parameters.values()):
        raise ReplayError(f"{log.path}: field 'initial.parameters' must map names to numbers")
    volume = initial.get("volume", 1.0)
    if isinstance(volume, bool) or not isinstance(volume, int | float):
        raise ReplayError(f"{log.path}: field 'initial.volume' must be a number, got {volume!r}")
    control = Control(
        initial_state=initial["state"],
        parameters={str(k): float(v) for k, v in parameters.items()},
        valence={name: float(spec["valence"]) for name, spec in found.states.items()},
    )
    program = build_program(found, header["sample_rate"], header["seed"], control)
    fit_stingers_to_chords(
        program
    )  # the stingers as the engine sets them up (their versions: the log's)
    holder: list[Any] = []
    source = ReplaySource(log, program.composer, lambda: holder[0].frame)
    mixer = make_mixer(program, control, source, header["max_frames"], header["margin_frames"])
    holder.append(mixer)
    mixer.volume = mixer._volume_gain = float(volume)
    try:
        _drive(log, mixer, control, source, emit)
    except ReplayError:
        raise
    except Exception as exc:  # a log that reads well but names what this bundle cannot play
        raise ReplayError(
            f"{log.path}: the replay failed at frame {mixer.frame}: {type(exc).__name__}: {exc}"
        ) from None
    return log, found


class _LoggedVersions(dict):  # type: ignore[type-arg]
    """A stinger's versions in a replay: whether one was ready when a voice started was up to
    the worker's timing live, so each lookup answers as the log says, in order."""

    def __init__(self, name: str, phrase: Any, mixer: Any, starts: deque[tuple[Any, ...]]) -> None:
        super().__init__()
        self.name, self.phrase, self.mixer, self.starts = name, phrase, mixer, starts
        self.rendered: dict[tuple[int, float], np.ndarray] = {}

    def get(self, key: Any, default: Any = None) -> Any:
        if not self.starts:
            raise ReplayError(f"stinger {self.name!r} started more often than the log says")
        frame, _, _, version = self.starts.popleft()
        if not version:
            return default
        # the step length the mixer looked up: the bar this voice starts in, on its map
        voices = self.mixer.stingers.voices
        voice = next((v for v in voices if v.name == self.name and v.start_frame == frame), None)
        if voice is None:
            raise ReplayError(f"stinger {self.name!r} did not start at frame {frame} as logged")
        fps = self.mixer.clock.frames_per_step_at(voice.bar)  # as the mixer, after the commands
        if key not in self.rendered:
            self.rendered[key] = self.phrase.render(key[0], fps)
        return self.rendered[key]

    def __setitem__(self, key: Any, value: Any) -> None:
        pass  # versions come from the log, not from rendering on demand


def _replay_versions(log: ReplayLog, mixer: Any) -> None:
    """Give each stinger the versions the log says played (``_LoggedVersions``)."""
    voices = mixer.stingers
    voices.fit_on_demand = False
    for name, settings in list(voices.stingers.items()):
        if settings.phrase is None:
            continue
        starts = deque(s for s in log.stingers if s[1] == name)
        versions = _LoggedVersions(name, settings.phrase, mixer, starts)
        voices.stingers[name] = replace(settings, fitted=versions)
    unknown = {s[1] for s in log.stingers} - set(voices.stingers)
    if unknown:
        raise ReplayError(
            f"{log.path}: entry 's' names stinger {sorted(unknown)[0]!r}, not in the bundle"
        )


def _drive(
    log: ReplayLog,
    mixer: Any,
    control: Control,
    source: ReplaySource,
    emit: Callable[[np.ndarray], None],
) -> None:
    """Mix the logged session: the logged blocks, commands and stinger versions."""
    _replay_versions(log, mixer)
    blocks, commands = deque(log.blocks), deque(log.commands)
    chunk = np.zeros((max(CHUNK_FRAMES, log.header["max_frames"]), 2), dtype=np.float32)
    size = filled = frame = 0
    while frame < log.end:
        while blocks and blocks[0][0] <= frame:
            at, size = blocks.popleft()
            if at != frame:
                raise source._diverged(f"a block size entry 'b' at frame {at} is not a block start")
        if commands and commands[0][0] < frame:
            raise source._diverged(
                f"a command ('c') at frame {commands[0][0]} is not a block start"
            )
        while commands and commands[0][0] == frame:
            control.commands.append(commands.popleft()[1])
        n = min(size, log.end - frame)
        if filled + n > chunk.shape[0]:
            emit(chunk[:filled])
            filled = 0
        mixer.process(chunk[filled : filled + n])
        filled += n
        frame += n
    if filled:
        emit(chunk[:filled])


def compare_to_capture(disk: np.ndarray, mixed: np.ndarray) -> tuple[int, int, int]:
    """Compare what a device captured (SDL's disk driver: ``read_disk_audio``) with what a
    replay mixed, frame for frame, bit for bit.

    SDL's file is the mixed stream with silence where the device had nothing to
    play (paused while the engine opened it, or a queue that ran dry), and it
    stops where the device was closed. Returns (frames compared, frames
    differing, frames of inserted silence)."""
    d = np.ascontiguousarray(disk, dtype=np.float32).view(np.uint32)
    m = np.ascontiguousarray(mixed, dtype=np.float32).view(np.uint32)
    i = j = compared = silence = 0
    while i < d.shape[0] and j < m.shape[0]:
        n = min(d.shape[0] - i, m.shape[0] - j)
        unequal = np.flatnonzero(np.any(d[i : i + n] != m[j : j + n], axis=1))
        if unequal.size == 0:
            return compared + n, 0, silence
        k = int(unequal[0])
        compared, i, j = compared + k, i + k, j + k
        zeros = np.flatnonzero(np.any(d[i:] != 0, axis=1))
        run = int(zeros[0]) if zeros.size else d.shape[0] - i
        if run == 0:  # not silence: the samples differ from here on
            rest = min(d.shape[0] - i, m.shape[0] - j)
            return compared, int(np.any(d[i : i + rest] != m[j : j + rest], axis=1).sum()), silence
        i, silence = i + run, silence + run
    return compared, 0, silence
