"""The engine host: the whole engine in a worker process, so the game's process carries no audio.

Measured on the SDL queue output: a game thread that spends 8 ms of every 16 ms
frame in pure Python kept the feeder thread from the GIL long enough to drain a
43 ms queue 38 times in 10 s on a loaded machine, and none with an idle game. In
its own process the engine has its own GIL: the composer releases it inside
every onnxruntime call, and the game's frames no longer pay for composing.

The game's process keeps ``HostedEngine``, a proxy with the same methods as
``LocalEngine``:

- commands go to the worker through a pipe; a lock keeps two game threads from
  interleaving one message (held for one small write);
- events, stats and replies come back on a second pipe, read without blocking;
- the worker forks from the game (Linux), so it starts in milliseconds with the
  bundle already in memory; it ignores Ctrl-C and exits when the game's end of
  the pipe closes, so it never outlives the game.
"""

from __future__ import annotations

import itertools
import multiprocessing
import signal
import threading
import time
import warnings
from collections import deque
from typing import Any

from adaptive._bundle import Bundle
from adaptive._errors import EngineError

from ._control import Command
from ._local import LocalEngine
from ._mixer import MusicEvent
from ._report import EngineStats, Percentiles
from .outputs import Output

__all__ = ["HostedEngine"]

START_TIMEOUT_SECONDS = 20.0
REPLY_TIMEOUT_SECONDS = 20.0
EVENT_PERIOD_SECONDS = 0.004  # how often the worker sends events: well inside a 60 fps frame
STATS_PERIOD_SECONDS = 0.1


class HostedEngine:
    def __init__(
        self,
        bundle: Bundle,
        output: str | Output,
        sample_rate: int,
        buffer_frames: int,
        seed: int,
        lookahead_bars: int,
    ) -> None:
        self._args = (bundle, output, sample_rate, buffer_frames, seed, lookahead_bars)
        self._bundle = bundle
        self._output_name = str(output)
        self._context = multiprocessing.get_context("fork")
        self._process: Any = None
        self._commands: Any = None  # our end: we send
        self._events: Any = None  # our end: we receive
        self._send_lock = threading.Lock()
        self._pending: deque[Command] = deque()  # commands before start(): sent when it plays
        self._inbox: deque[MusicEvent] = deque()
        self._replies: dict[int, Any] = {}
        self._ids = itertools.count()
        self._stats: EngineStats | None = None
        self._final: tuple[dict[str, Any], list[Any]] | None = None
        self._problem: str | None = None  # the worker died: told once, as an "error" event
        self.sample_rate = sample_rate

    # --- lifecycle ------------------------------------------------------------------------

    def start(self) -> HostedEngine:
        if self._process is not None:
            return self
        commands_in, commands_out = self._context.Pipe(duplex=False)
        events_in, events_out = self._context.Pipe(duplex=False)
        process = self._context.Process(
            target=_serve,
            args=(self._args, commands_in, events_out),
            name="adaptive-engine",
            daemon=True,
        )
        process.start()
        commands_in.close()
        events_out.close()
        self._process, self._commands, self._events = process, commands_out, events_in
        self._final = None
        if not events_in.poll(START_TIMEOUT_SECONDS):
            self._kill()
            raise EngineError("the engine's worker process did not start in time")
        try:
            kind, output, warning = events_in.recv()
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
            self._send(("command", self._pending.popleft()))
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

    def _kill(self) -> None:
        if self._process is not None and self._process.is_alive():
            self._process.kill()
            self._process.join(timeout=5.0)
        for end in (self._commands, self._events):
            if end is not None:
                end.close()
        self._process = self._commands = self._events = None

    # --- the pipes ------------------------------------------------------------------------

    def _send(self, message: tuple[Any, ...]) -> bool:
        with self._send_lock:
            if self._commands is None:
                return False
            try:
                self._commands.send(message)
                return True
            except (OSError, ValueError):  # the worker is gone; update() says so
                self._problem = self._problem or "the engine's worker process stopped"
                return False

    def _read(self, wait: float = 0.0) -> None:
        events = self._events
        if events is None:
            return
        try:
            while events.poll(wait):
                wait = 0.0
                message = events.recv()
                kind = message[0]
                if kind == "events":
                    self._inbox.extend(MusicEvent(*fields) for fields in message[1])
                elif kind == "stats":
                    self._stats = message[1]
                elif kind == "reply":
                    self._replies[message[1]] = message[2]
                elif kind == "stopped":
                    self._stats, self._final = message[1], (message[2], message[3])
        except (EOFError, OSError):
            if self._final is None:
                self._problem = self._problem or "the engine's worker process stopped"
            self._events = None

    def _ask(self, question: str) -> Any:
        if self._process is None:
            if self._final is not None:
                return self._final[0] if question == "report" else self._final[1]
            raise EngineError(f"{question}() needs a started engine")
        ticket = next(self._ids)
        if not self._send(("ask", ticket, question)):
            raise EngineError(f"{question}(): the engine's worker process stopped")
        deadline = time.monotonic() + REPLY_TIMEOUT_SECONDS
        while ticket not in self._replies:
            if time.monotonic() > deadline or self._events is None:
                raise EngineError(f"{question}(): the engine's worker process did not answer")
            self._read(0.05)
        return self._replies.pop(ticket)

    # --- the core's interface -------------------------------------------------------------

    def submit(self, command: Command) -> None:
        if self._process is None:
            self._pending.append(command)
        else:
            self._send(("command", command))

    def update(self) -> list[MusicEvent]:
        self._read()
        out = list(self._inbox)
        self._inbox.clear()
        if self._problem is not None:
            out.append(MusicEvent("error", self.frame, -1, 0, self._problem, 0.0))
            self._problem = None
        return out

    def stats(self) -> EngineStats:
        self._read()
        if self._stats is not None:
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

    def render(self, frames: int, stems: bool = False) -> Any:
        raise EngineError("render() needs output='offline'")

    @property
    def output(self) -> str:
        return self._output_name

    @property
    def state(self) -> str:
        if self._stats is not None:
            return self._stats.state
        return str(self._bundle.manifest.get("default_state") or next(iter(self._bundle.states)))

    @property
    def frame(self) -> int:
        return self._stats.frames if self._stats is not None else 0

    @property
    def parameters(self) -> dict[str, float]:
        if self._stats is not None and self._stats.parameters:
            return dict(self._stats.parameters)
        return {name: float(spec["default"]) for name, spec in self._bundle.parameters.items()}


def _serve(args: tuple[Any, ...], commands: Any, events: Any) -> None:
    """The worker process: the engine with its device, steered through the pipes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the game decides when the music stops
    try:
        engine = LocalEngine(*args)
        engine.start()
    except BaseException as exc:  # told to the game, which raises it as an EngineError
        events.send(("failed", f"{type(exc).__name__}: {exc}", None))
        return
    events.send(("ready", engine.output, engine._output_warning))
    asked: deque[tuple[int, str]] = deque()
    stopping = threading.Event()

    def listen() -> None:
        try:
            while not stopping.is_set():
                message = commands.recv()  # blocks without the GIL
                if message[0] == "command":
                    engine.submit(message[1])
                elif message[0] == "ask":
                    asked.append((message[1], message[2]))
                elif message[0] == "stop":
                    break
        except (EOFError, OSError):
            pass  # the game closed its end, or exited
        stopping.set()

    threading.Thread(target=listen, name="adaptive-engine-commands", daemon=True).start()
    next_stats = 0.0
    while not stopping.wait(EVENT_PERIOD_SECONDS):
        found = engine.update()
        if found:
            events.send(("events", [_fields(e) for e in found]))
        now = time.monotonic()
        if now >= next_stats:
            events.send(("stats", engine.stats()))
            next_stats = now + STATS_PERIOD_SECONDS
        while asked:
            ticket, question = asked.popleft()
            answer = engine.report() if question == "report" else engine.played_notes()
            events.send(("reply", ticket, answer))
    engine.stop()
    found = engine.update()
    if found:
        events.send(("events", [_fields(e) for e in found]))
    events.send(("stopped", engine.stats(), engine.report(), engine.played_notes()))


def _fields(event: MusicEvent) -> tuple[Any, ...]:
    return (event.kind, event.frame, event.bar, event.beat, event.name, event.time, event.at)
