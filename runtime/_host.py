"""The engine host: the whole engine in a worker process, so the game's process carries no audio.

Measured on the SDL queue output: a game thread that spends 8 ms of every 16 ms
frame in pure Python kept the feeder thread from the GIL long enough to drain a
43 ms queue 38 times in 10 s on a loaded machine, and none with an idle game. In
its own process the engine has its own GIL: the composer releases it inside
every onnxruntime call, and the game's frames no longer pay for composing.

The game's process keeps ``HostedEngine``, a proxy with the same methods as
``LocalEngine``:

- commands go to the worker as fixed-size records in a shared-memory ring:
  a copy and a store, no system call, no pickling (the worker polls it);
- a parameter's latest target is one float in a shared table, which the worker
  compares with what it last saw each time it polls: a game sets a parameter
  every frame, and a single store is the least a call can touch (the game's own
  work evicts the caches between frames, so each step of a call costs
  microseconds there);
- events come back through a second ring, which ``update()`` reads without a
  system call; stats, replies and errors come on a pipe that ``update()`` reads
  only when the worker has flagged a message, so ``stats()`` just returns the
  latest snapshot;
- the worker forks from the game (Linux), so it starts in milliseconds with the
  bundle already in memory; it ignores Ctrl-C and exits when the game's end of
  the pipe closes, so it never outlives the game.
- a hot reload sends the bundle's bytes and the grown name tables on the pipe,
  then a marker record on the command ring: the worker reads the bundle in its
  listening thread and takes the tables at the marker, so commands written
  after the reload are read with the names they were written with.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import math
import multiprocessing
import os
import signal
import struct
import sys
import threading
import time
import warnings
from collections import deque
from pathlib import Path
from typing import Any

from adaptive._bundle import Bundle, decode_bundle, encode_bundle
from adaptive._errors import EngineError

from ._clock import MusicalClock
from ._control import Command
from ._local import EngineSettings, LocalEngine
from ._mixer import MusicEvent
from ._report import EngineStats, Percentiles
from ._ring import Ring, shared_memory
from ._wire import Wire

__all__ = ["HostedEngine"]

log = logging.getLogger("runtime")

START_TIMEOUT_SECONDS = 20.0
REPLY_TIMEOUT_SECONDS = 20.0
EVENT_PERIOD_SECONDS = 0.004  # how often the worker sends events: well inside a 60 fps frame
STATS_PERIOD_SECONDS = 0.1
WORKER_SWITCH_SECONDS = 0.001
PARAMETER_SLOTS = 256  # parameters in the target table; names beyond (after reloads) use the ring


class HostedEngine:
    def __init__(self, bundle: Bundle, settings: EngineSettings) -> None:
        self._args: tuple[Bundle, EngineSettings] = (bundle, settings)
        self._bundle = bundle
        self._output_name = str(settings.output)
        self._context = multiprocessing.get_context("fork")
        self._process: Any = None
        self._control: Any = None  # a Connection: control messages, both ways
        self._wire = Wire(bundle)
        self._rings: Rings | None = None
        self._send_lock = threading.Lock()  # control messages only
        self._read_lock = threading.Lock()  # the pipe and the event ring have one reader each
        self._pending: deque[Command] = deque()  # commands before start(): sent when it plays
        self._inbox: deque[MusicEvent] = deque()
        self._replies: dict[int, Any] = {}
        self._ids = itertools.count()
        self._stats: EngineStats | None = None
        self._final: tuple[dict[str, Any], list[Any]] | None = None
        self._problem: str | None = None  # the worker died: told once, as an "error" event
        self.sample_rate = settings.sample_rate
        self._generations = itertools.count(1)
        self._timing = _start_clock(bundle, self.sample_rate)
        self._record_path: str | None = None  # the replay log the next worker writes

    # --- lifecycle ------------------------------------------------------------------------

    def start(self) -> HostedEngine:
        if self._process is not None:
            return self
        control, worker_control = self._context.Pipe(duplex=True)
        rings = Rings()
        process = self._context.Process(
            target=_serve,
            args=(self._args, worker_control, rings, self._wire.tables(), self._record_path),
            name="adaptive-engine",
            daemon=True,
        )
        process.start()
        worker_control.close()
        self._process, self._control, self._rings = process, control, rings
        self._final = None
        bundle = self._args[0]  # a new worker starts its clock, and the latest bundle, afresh
        self._timing = _start_clock(bundle, self.sample_rate)
        if not control.poll(START_TIMEOUT_SECONDS):
            self._kill()
            raise EngineError("the engine's worker process did not start in time")
        try:
            kind, output, warning = control.recv()
        except (EOFError, OSError, ValueError) as exc:
            self._kill()
            raise EngineError(f"the engine's worker process failed to start: {exc}") from None
        if kind == "failed":
            self._kill()
            raise EngineError(f"the engine's worker process failed to start: {output}")
        self._output_name = output
        if warning:
            warnings.warn(warning, RuntimeWarning, stacklevel=4)
        while self._pending:
            self.submit(self._pending.popleft())
        return self

    def stop(self) -> None:
        if self._process is None:
            return
        try:
            self._send(("stop",))
            deadline = time.monotonic() + REPLY_TIMEOUT_SECONDS
            while self._final is None and time.monotonic() < deadline and self._process.is_alive():
                self._read(0.05)
        finally:
            self._process.join(timeout=5.0)
            self._kill()
            self._record_path = None  # the worker's stop() ended and wrote the log

    def _kill(self) -> None:
        if self._process is not None and self._process.is_alive():
            self._process.kill()
            self._process.join(timeout=5.0)
        if self._control is not None:
            self._control.close()
        self._process, self._control, self._rings = None, None, None

    # --- the pipes ------------------------------------------------------------------------

    def _send(self, message: tuple[Any, ...]) -> bool:
        with self._send_lock:
            if self._control is None:
                return False
            try:
                self._control.send(message)
                return True
            except (OSError, ValueError):  # the worker is gone; update() says so
                self._problem = self._problem or "the engine's worker process stopped"
                return False

    def _read(self, wait: float = 0.0) -> None:
        # a game thread finding another one reading goes without: update() never waits
        if not (self._read_lock.acquire(timeout=wait) if wait else self._read_lock.acquire(False)):
            return
        try:
            self._read_now(wait)
        finally:
            self._read_lock.release()

    def _read_now(self, wait: float) -> None:
        rings = self._rings
        if rings is not None:
            for record in rings.events.read():
                self._inbox.extend(self._wire.unpack_events(record))
        control = self._control
        if control is None or (wait == 0.0 and rings is not None and not rings.flags.pending()):
            return  # nothing on the pipe: no system call
        if rings is not None:
            for _ in rings.flags.read():
                pass
        try:
            while control.poll(wait):
                wait = 0.0
                message = control.recv()
                kind = message[0]
                if kind == "stats":
                    self._stats = message[1]
                elif kind == "reply":
                    self._replies[message[1]] = message[2]
                elif kind == "error":
                    self._inbox.append(MusicEvent("error", message[1], -1, 0, message[2], 0.0))
                elif kind == "reload_failed":
                    log.warning("%s", message[2])
                    self._inbox.append(MusicEvent("error", message[1], -1, 0, message[2], 0.0))
                elif kind == "stopped":
                    self._stats, self._final = message[1], (message[2], message[3])
                    if rings is not None:
                        for record in rings.events.read():
                            self._inbox.extend(self._wire.unpack_events(record))
        except (EOFError, OSError):
            if self._final is None:
                self._problem = self._problem or "the engine's worker process stopped"
            self._control = None
        if self._process is not None and not self._process.is_alive() and self._final is None:
            self._problem = self._problem or "the engine's worker process stopped"

    def _ask(self, question: str, *args: Any) -> Any:
        if self._process is None:
            if self._final is not None:
                if question == "played_bars":
                    raise EngineError("played_bars() after stop() needs worker='thread'")
                return self._final[0] if question == "report" else self._final[1]
            raise EngineError(f"{question}() needs a started engine")
        ticket = next(self._ids)
        if not self._send(("ask", ticket, question, args)):
            raise EngineError(f"{question}(): the engine's worker process stopped")
        deadline = time.monotonic() + REPLY_TIMEOUT_SECONDS
        while ticket not in self._replies:
            if time.monotonic() > deadline or self._control is None:
                raise EngineError(f"{question}(): the engine's worker process did not answer")
            self._read(0.05)
        answer = self._replies.pop(ticket)
        if isinstance(answer, EngineError):  # the worker refused (record())
            raise EngineError(str(answer))
        return answer

    # --- the core's interface -------------------------------------------------------------

    def submit(self, command: Command) -> None:
        if self._rings is None:
            self._pending.append(command)
        else:
            self._rings.commands.write(self._wire.pack_command(command))

    def record(self, path: str | os.PathLike[str] | None) -> None:
        """The worker writes the replay log: from its first frame, whenever it is asked."""
        if path is None:
            if self._process is not None and self._record_path is not None:
                self._ask("end_recording")  # the worker has written the log when it answers
            self._record_path = None
            return
        if self._record_path is not None:
            raise EngineError(
                f"record(): already recording to {self._record_path}; record(None) first"
            )
        where = os.path.abspath(os.fspath(path))
        if self._process is not None:
            self._ask("record", where)  # raises what the worker refused
        else:
            try:
                open(where, "wb").close()  # a bad path fails here, not in the worker
            except OSError as exc:
                raise EngineError(f"record(): cannot write {where}: {exc.strerror}") from None
        self._record_path = where

    @property
    def recording(self) -> str | None:
        return self._record_path

    def submit_parameter(self, name: str, value: float) -> None:
        """``submit`` for the call a game makes every frame: one store into the target table."""
        rings, slot = self._rings, self._wire.parameter_slot(name)
        if rings is None or slot >= PARAMETER_SLOTS:
            self.submit(Command("parameter", name, value))
        else:
            rings.targets[slot] = value

    def reload(self, bundle: Bundle) -> None:
        """Send ``bundle`` to the worker, which switches to it at a bar line (see the docstring)."""
        if self._record_path is not None:
            raise EngineError(
                f"reload() while recording to {self._record_path}: a replay log holds one "
                "bundle; record(None) first"
            )
        self._bundle = bundle
        self._wire.extend(bundle)  # commands kept since before start() still pack
        self._args = (bundle, self._args[1])  # a later start() begins with it
        if self._rings is None:  # not playing: the worker starts with it
            return
        data = _bundle_bytes(bundle)
        generation = next(self._generations)
        where = str(bundle.path) if bundle.path else bundle.name
        if self._send(("reload", generation, where, data, self._wire.tables())):
            self._rings.commands.write(
                self._wire.pack_command(Command("reload", "", float(generation)))
            )

    def note_error(self, text: str) -> None:
        self._inbox.append(MusicEvent("error", self.frame, -1, 0, text, 0.0))

    @property
    def timing(self) -> MusicalClock:
        return self._timing

    def update(self) -> list[MusicEvent]:
        self._read()
        out, inbox = [], self._inbox
        while inbox:  # popleft: an event another thread (watch()'s too) appends meanwhile is kept
            out.append(inbox.popleft())
        for event in out:
            if event.kind == "reload":  # the bar grid of the bundle heard from here on
                clock = MusicalClock(self.sample_rate, self._bundle.tempo, self._bundle.meter)
                if (clock.tempo, clock.meter) != (self._timing.tempo, self._timing.meter):
                    self._timing = clock.rebased(event.bar, event.frame)
            elif event.kind == "bar":  # the grid from the bar heard, at its state's tempo
                self._timing = _bar_clock(self._timing, self._bundle, event)
        problem, self._problem = self._problem, None
        if problem is not None:
            out.append(MusicEvent("error", self.frame, -1, 0, problem, 0.0))
        return out

    def stats(self) -> EngineStats:
        if self._stats is not None:  # as of the last update(): reading here would cost a syscall
            return self._stats
        empty = Percentiles()
        return EngineStats(
            output=self.output, frames=0, seconds=0.0, state=self.state, bar=-1, callbacks=0,
            underruns=0, fallback_bars=0, bars_generated=0, bars_regenerated=0, lookahead_ms=0.0,
            callback_ms=empty, generate_ms=empty, render_ms=empty, stingers_dropped=0,
        )  # fmt: skip

    def report(self) -> dict[str, Any]:
        return self._ask("report")  # type: ignore[no-any-return]

    def played_notes(self) -> list[tuple[str, int, int, int, int]]:
        return self._ask("played_notes")  # type: ignore[no-any-return]

    def played_bars(self) -> list[Any]:
        return self._ask("played_bars")  # type: ignore[no-any-return]

    def render(self, frames: int, stems: bool = False) -> Any:
        raise EngineError("render() needs output='offline'")

    @property
    def output(self) -> str:
        if self._stats is not None:  # "silent" once a device that failed mid-session gave way
            return self._stats.output
        return self._output_name

    @property
    def state(self) -> str:
        if self._stats is not None:
            return self._stats.state
        return self._bundle.spec.default_state

    @property
    def frame(self) -> int:
        return self._stats.frames if self._stats is not None else 0

    @property
    def parameters(self) -> dict[str, float]:
        if self._stats is not None and self._stats.parameters:
            return dict(self._stats.parameters)
        return {name: float(spec["default"]) for name, spec in self._bundle.parameters.items()}


class Rings:
    """The shared memory between the game and the worker: commands, events, message flags,
    and the parameters' latest targets (NaN: never set)."""

    def __init__(self) -> None:
        sizes = ((Wire.command_size, 4096), (Wire.event_size, 8192), (1, 1024))
        table = 8 * PARAMETER_SLOTS
        memory = shared_memory(table + sum(8 + size * slots for size, slots in sizes))
        self.targets = memoryview(memory)[:table].cast("d")  # 8-byte aligned: one atomic store
        for slot in range(PARAMETER_SLOTS):
            self.targets[slot] = math.nan
        offset, rings = table, []
        for size, slots in sizes:
            ring = Ring(memory, offset, size, slots)
            rings.append(ring)
            offset += ring.size
        self.commands, self.events, self.flags = rings


def _start_clock(bundle: Bundle, sample_rate: int) -> MusicalClock:
    """The grid the music starts on: the default state's tempo."""
    return MusicalClock(sample_rate, bundle.spec.tempo_for(bundle.spec.default_state), bundle.meter)


def _bar_clock(timing: MusicalClock, bundle: Bundle, event: MusicEvent) -> MusicalClock:
    """The game's view of the worker's tempo map, anchored on each bar event: exact for the
    bars heard; bars ahead at the state's tempo (within a tempo ramp, the map is told
    bar by bar)."""
    states = bundle.spec.states
    tempo = bundle.spec.tempo_for(event.name) if event.name in states else timing.tempo
    if timing.bar_start(event.bar) == event.frame and timing.tempo_at(event.bar) == tempo:
        return timing
    return MusicalClock(timing.sample_rate, tempo, timing.meter, event.bar, event.frame)


class TargetReader:
    """The worker's side of the target table: a command for each target that changed."""

    def __init__(self, targets: memoryview) -> None:
        self.targets = targets
        self.seen = [math.nan] * PARAMETER_SLOTS

    def changes(self, names: tuple[str, ...]) -> list[Command]:
        found = []
        for slot, name in enumerate(names[:PARAMETER_SLOTS]):
            value = self.targets[slot]
            if value == value and value != self.seen[slot]:  # NaN: not set
                self.seen[slot] = value
                found.append(Command("parameter", name, value))
        return found


def _bundle_bytes(bundle: Bundle) -> bytes:
    """The bundle's file bytes: its file if unchanged since it was read, else encoded anew."""
    if bundle.path is not None:
        try:
            data = Path(bundle.path).read_bytes()
        except OSError:
            data = b""
        if hashlib.sha256(data).hexdigest() == bundle.sha256:
            return data
    return encode_bundle(bundle.spec, bundle.models)


def _serve(
    args: tuple[Any, ...],
    control: Any,
    rings: Rings,
    tables: tuple[Any, ...],
    record_path: str | None = None,
) -> None:
    """The worker process: the engine with its device, steered through the rings and the pipe."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the game decides when the music stops
    # no game frames here: the feeder waits at most this long for the composer's GIL
    sys.setswitchinterval(WORKER_SWITCH_SECONDS)
    # a handler inherited from the game (SDL turns SIGTERM into a quit event) must not keep
    # the worker alive when the game's exit terminates it
    signal.signal(signal.SIGTERM, signal.SIG_DFL)

    send_lock = threading.Lock()  # the listening thread sends too (a failed reload)

    def send(message: tuple[Any, ...]) -> None:
        with send_lock:
            control.send(message)
        rings.flags.write(b"\x01")  # the game reads the pipe only when flagged

    try:
        engine = LocalEngine(*args)
        engine.count_whole_process()  # this process is the engine: its budget counts every thread
        if record_path is not None:
            engine.record(record_path)  # from frame 0: before the first bar is composed
        engine.start()
    except BaseException as exc:  # told to the game, which raises it as an EngineError
        control.send(("failed", f"{type(exc).__name__}: {exc}", None))
        return
    wire = Wire(args[0])
    wire.take_tables(tables)
    control.send(("ready", engine.output, engine._output_warning))
    asked: deque[tuple[int, str, tuple[Any, ...]]] = deque()
    reload_tables: dict[int, tuple[Any, ...]] = {}  # generation -> the game's name tables
    stopping = threading.Event()

    def reload(generation: int, where: str, data: bytes, tables: tuple[Any, ...]) -> None:
        reload_tables[generation] = tables  # first: the marker in the ring waits for it
        try:
            engine.reload(decode_bundle(data, Path(where)))
        except Exception as exc:  # the music plays on; the game hears why
            send(("reload_failed", engine.frame, f"reload failed: {where}: {exc}"))

    def listen_control() -> None:
        try:
            while not stopping.is_set():
                message = control.recv()  # blocks without the GIL
                if message[0] == "ask":
                    asked.append((message[1], message[2], message[3]))
                elif message[0] == "reload":
                    reload(*message[1:])
                elif message[0] == "stop":
                    break
        except (EOFError, OSError):
            pass  # the game closed its end, or exited
        stopping.set()

    threading.Thread(target=listen_control, name="adaptive-engine-control", daemon=True).start()
    next_stats = 0.0
    backlog: deque[bytes] = deque()  # command records, read in order
    targets = TargetReader(rings.targets)
    while not stopping.wait(EVENT_PERIOD_SECONDS):
        for command in targets.changes(wire.names["parameter"]):
            engine.submit(command)
        backlog.extend(rings.commands.read())
        while backlog:
            try:
                command = next(wire.unpack_commands(backlog[0]))
            except (IndexError, struct.error):  # never written by this game: skip it
                backlog.popleft()
                continue
            if command.kind == "reload":
                tables = reload_tables.pop(int(command.value), None)
                if tables is None:
                    break  # its message is still on the pipe: read on after it
                wire.take_tables(tables)
            else:
                engine.submit(command)
            backlog.popleft()
        _send_events(engine, wire, rings, send)
        now = time.monotonic()
        if now >= next_stats:
            send(("stats", engine.stats()))
            next_stats = now + STATS_PERIOD_SECONDS
        while asked:
            ticket, question, question_args = asked.popleft()
            # report, played_notes, played_bars, record or end_recording
            try:
                answer = getattr(engine, question)(*question_args)
            except EngineError as exc:  # record() refused: the game raises it
                answer = EngineError(str(exc))
            send(("reply", ticket, answer))
    engine.stop()
    _send_events(engine, wire, rings, send)
    send(("stopped", engine.stats(), engine.report(), engine.played_notes()))


def _send_events(engine: LocalEngine, wire: Wire, rings: Rings, send: Any) -> None:
    for event in engine.update():
        if event.kind == "error":
            send(("error", event.frame, event.name))
        else:
            rings.events.write(wire.pack_events([event]))
