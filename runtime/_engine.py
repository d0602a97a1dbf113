"""MusicEngine: the one object a game talks to.

It checks every call (names, types, finite values) on the caller's thread, so a
mistake raises at once and names what is allowed, then hands the command to a
core: ``LocalEngine`` (everything in this process) or ``HostedEngine`` (the same
engine in a worker process, so the game's GIL and frame never carry the audio).
"""

from __future__ import annotations

import logging
import math
import multiprocessing
import os
import sys
import threading
from typing import Any

import numpy as np

from adaptive import load_bundle
from adaptive._bundle import Bundle
from adaptive._errors import EngineError, UnknownNameError

from ._bar import PlayedBar
from ._clock import MusicalClock
from ._control import Command, parse_sync
from ._local import EngineSettings, LocalEngine
from ._mixer import MusicEvent
from ._reload import BundleWatcher
from ._report import EngineStats
from ._scheduler import PLAYED_BARS_KEPT
from .outputs import Output
from .outputs._base import OUTPUT_NAMES

__all__ = ["MusicEngine", "WORKERS"]

MAX_RENDER_SECONDS = 600.0  # one render() call; longer renders are several calls
WORKERS = ("auto", "process", "thread")
MAX_VOLUME = 1.0

log = logging.getLogger("runtime")


class MusicEngine:
    """Composes, renders and plays a bundle's music, steered by the game.

    The game's threads call ``set_parameter``, ``set_state`` and ``trigger``;
    each checks its arguments, enqueues and returns (microseconds, never blocks).
    Call ``update()`` once per frame for the musical events since the last call.

    ``output`` is a name or an ``Output``: ``"sdl"`` (alias ``"pygame"``) plays on
    the audio device, ``"silent"`` runs in real time without sound, ``"offline"``
    renders on demand with ``render(frames)``, identical for identical seeds and
    calls. If the device cannot open, the engine warns once and plays silently;
    if it fails while playing, the music goes on silently from the same frame
    and ``update()`` returns an ``"error"`` event that says so.

    ``worker``: where a real-time engine composes and mixes. ``"process"`` runs it
    in a worker process, so a game that holds the GIL for whole frames neither
    starves the audio nor pays for composing; ``"thread"`` keeps it in this
    process. ``"auto"`` (the default) picks ``"process"`` for the ``"sdl"``
    output where processes can be forked (Linux), else ``"thread"``. An offline
    engine, or one given an ``Output`` instance, always composes in this process.

    ``report_bars``: how many played bars ``report()``, ``played_bars()`` and
    ``played_notes()`` keep (the oldest go first, so memory stays flat in long
    sessions); ``adaptive render`` raises it to cover its timeline.

    Calls made before ``start()`` (or between ``stop()`` and a new ``start()``)
    are kept and take effect when the music plays.

    ``reload()`` and ``watch()`` swap in another bundle while the music plays
    (hot reload: a sound designer's edit heard in the running game).
    """

    def __init__(
        self,
        bundle: Bundle | str | os.PathLike[str] | None = None,
        output: str | Output = "sdl",
        sample_rate: int = 48000,
        buffer_frames: int = 512,
        seed: int | None = None,
        lookahead_bars: int = 1,
        worker: str = "auto",
        report_bars: int = PLAYED_BARS_KEPT,
        cpu_budget: float | None = None,
    ) -> None:
        if not isinstance(output, Output):
            output = _choice("output", output, OUTPUT_NAMES, " or pass an Output")
        worker = _choice("worker", worker, WORKERS)
        sample_rate = _check_int("sample_rate", sample_rate, 8000, 192000)
        buffer_frames = _check_int("buffer_frames", buffer_frames, 32, 8192)
        lookahead_bars = _check_int("lookahead_bars", lookahead_bars, 1, 8)
        report_bars = _check_int("report_bars", report_bars, 1, 1 << 20)
        if cpu_budget is not None:
            cpu_budget = _check_share("cpu_budget", cpu_budget)
        if seed is not None:
            seed = _check_int("seed", seed, 0, 2**63 - 1)
        if isinstance(bundle, Bundle):
            self._bundle = bundle
        elif bundle is None or isinstance(bundle, str | os.PathLike):
            self._bundle = load_bundle(bundle)
        else:
            raise EngineError(
                f"bundle must be a Bundle, a path or None, got {type(bundle).__name__}"
            )
        self.sample_rate = sample_rate
        self.buffer_frames = buffer_frames
        self.seed = seed if seed is not None else int.from_bytes(os.urandom(4), "little")
        self.lookahead_bars = lookahead_bars
        self._requested_state = self._bundle.spec.default_state
        self._parameter_ranges = _parameter_ranges(self._bundle)
        self._volume = 1.0
        self._watcher: BundleWatcher | None = None
        # set_state's "already asked for" check and its enqueue are one step, or two game
        # threads could leave the music heading one way and the check believing the other
        self._state_lock = threading.Lock()
        settings = EngineSettings(
            output, sample_rate, buffer_frames, self.seed, lookahead_bars, report_bars, cpu_budget
        )
        if _use_process(worker, output):
            from ._host import HostedEngine

            self._core: Any = HostedEngine(self._bundle, settings)
            self.worker = "process"
        else:
            self._core = LocalEngine(self._bundle, settings)
            self.worker = "thread"
        self._offline = output == "offline" or (isinstance(output, Output) and not output.realtime)

    # --- lifecycle ------------------------------------------------------------------------

    def start(self) -> MusicEngine:
        """Start playing (real-time outputs); nothing to do offline. Idempotent."""
        self._core.start()
        return self

    def stop(self) -> None:
        """Stop the output, the worker, ``watch()`` and ``record()``. Safe to call twice;
        ``start()`` plays on."""
        self.unwatch()
        self._core.stop()

    def __enter__(self) -> MusicEngine:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    # --- what the game can read -----------------------------------------------------------

    @property
    def bundle(self) -> Bundle:
        return self._bundle

    @property
    def timing(self) -> MusicalClock:
        """The tempo map (read-only): bar and beat positions in frames, ``tempo_at(bar)``.

        A state with its own tempo changes it from a bar line (``bar_start`` of later
        bars follows). After a reload to other tempos, the map of the bundle heard now,
        anchored on the bar where it took over. With ``worker="process"`` it is
        re-anchored on each ``bar`` event that ``update()`` reads, at the state's tempo.
        """
        return self._core.timing  # type: ignore[no-any-return]

    @property
    def volume(self) -> float:
        """The master volume last set (``set_volume``)."""
        return self._volume

    @property
    def output(self) -> str:
        """The name of the output playing (``"silent"`` after a device fallback)."""
        return str(self._core.output)

    @property
    def states(self) -> tuple[str, ...]:
        """The states ``set_state`` knows: the bundle's, the latest reload's once it is asked."""
        return tuple(self._bundle.states)

    @property
    def stingers(self) -> tuple[str, ...]:
        """The stingers ``trigger`` knows."""
        return tuple(self._bundle.stingers)

    @property
    def stems(self) -> tuple[str, ...]:
        """The bundle's stems, in mix order (the names of ``render(stems=True)``)."""
        return tuple(self._bundle.stems)

    @property
    def parameters(self) -> dict[str, float]:
        """The parameters' values as the music last applied them."""
        return dict(self._core.parameters)

    @property
    def state(self) -> str:
        """The state the music is playing now."""
        return str(self._core.state)

    @property
    def frame(self) -> int:
        """Frames mixed so far, on the engine's sample clock."""
        return int(self._core.frame)

    # --- the game thread's API ------------------------------------------------------------

    def set_parameter(self, name: str, value: float) -> None:
        """Set a parameter (clamped to its range). Gain changes are heard within the output's latency."""
        # a game calls this every frame: a known name and a finite float take the fewest
        # steps (each step costs microseconds when the game's own work has evicted the caches)
        limits = self._parameter_ranges.get(name) if type(name) is str else None
        if limits is not None and type(value) is float and math.isfinite(value):
            self._core.submit_parameter(name, _clamp(value, limits))
            return
        name = self._known("parameter", name, self._bundle.parameters)
        if isinstance(value, bool) or not isinstance(value, int | float | np.floating | np.integer):
            raise EngineError(f"parameter {name!r} value must be a number, got {_show(value)}")
        try:
            number = float(value)
        except OverflowError:
            raise EngineError(
                f"parameter {name!r} value must be finite, got {_show(value)}"
            ) from None
        if not math.isfinite(number):
            raise EngineError(f"parameter {name!r} value must be finite, got {_show(value)}")
        self._core.submit_parameter(name, _clamp(number, self._parameter_ranges[name]))

    def set_state(self, name: str, sync: str | None = None) -> None:
        """Change state; the new music starts exactly on the boundary ``sync`` names.

        ``sync``: ``"immediate"`` (as soon as its music is composed), ``"beat"``,
        ``"bar"`` (the next bar line), ``"bars:N"`` (the N-th bar line from now) or
        ``"cue"`` (the end of the 4-bar phrase); None follows the style's
        transition rule for this pair of states (``[[transitions]]``), whose fade
        curve and length shape a change within a bar. A change asked for too close
        to its boundary for the music to be composed lands on the next one. Asking
        again for the state already asked for does nothing, so a game may call this
        every frame.
        """
        name = self._known("state", name, self._bundle.states)
        if sync is not None and not isinstance(sync, str):
            raise EngineError(f"sync must be a string or None, got {_show(sync)}")
        parsed = None if sync is None else parse_sync(_plain(sync))
        with self._state_lock:  # held for a compare and an append: never waits on the music
            if name == self._requested_state:
                return
            self._requested_state = name
            self._core.submit(Command("state", name, sync=parsed))

    def set_volume(self, volume: float) -> None:
        """Master volume, linear: 0 silent .. 1 as mixed (the default).

        Applied after the limiter, so 0.5 is exactly half the level; a change ramps
        over at most 30 ms, without a click, and is heard within the output's latency.
        """
        number = None
        if isinstance(volume, int | float | np.floating | np.integer) and not isinstance(
            volume, bool
        ):
            try:
                number = float(volume)
            except (OverflowError, ValueError):
                number = None
        if number is None or not math.isfinite(number) or not 0.0 <= number <= MAX_VOLUME:
            raise EngineError(f"volume must be a number in 0..{MAX_VOLUME:g}, got {_show(volume)}")
        self._volume = number
        self._core.submit(Command("volume", "", number))

    # --- hot reload -----------------------------------------------------------------------

    def reload(self, bundle: Bundle | str | os.PathLike[str] | None = None) -> bool:
        """Switch to another bundle at the next bar line; the music plays on meanwhile.

        ``bundle``: a ``Bundle``, a path, or None to read the playing bundle's file
        again. The new bundle is heard from the next bar line (or the one after,
        when the next is too close to compose for), with a short crossfade; the
        game gets a ``"reload"`` event on that bar. The state carries over (or the
        new bundle's default state if it has no state of that name), and so do the
        parameters (by name, clamped to the new ranges), the volume and the sample
        clock. A new tempo starts its bar grid on that bar (``timing``).

        A bundle that cannot be read or played changes nothing: ``reload`` returns
        False, logs a warning, and the game's next ``update()`` has an ``"error"``
        event naming the file and the problem. Otherwise it returns True, and from
        then on the engine checks names against the new bundle (a state only the
        new bundle has waits for its bar line). Reading and checking the file takes
        a moment on the calling thread; ``watch()`` does it in its own thread.
        """
        if bundle is None:
            if self._bundle.path is None:
                raise EngineError("reload() needs a bundle or a path: this bundle has no file")
            bundle = self._bundle.path
        if isinstance(bundle, Bundle):
            new, where = bundle, str(bundle.path or bundle.name)
        elif isinstance(bundle, str | os.PathLike):
            where = _path_text("reload()", bundle)
            try:
                new = load_bundle(bundle)
            except (
                Exception
            ) as exc:  # BundleError names the file; anything else still must not stop the music
                return self._reload_failed(str(exc) if where in str(exc) else f"{where}: {exc}")
        else:
            raise EngineError(
                f"reload() takes a Bundle, a path or None, got {type(bundle).__name__}"
            )
        try:
            self._core.reload(new)
        except Exception as exc:
            return self._reload_failed(f"{where}: {type(exc).__name__}: {exc}")
        self._bundle = new
        self._parameter_ranges = _parameter_ranges(new)
        if self._requested_state not in new.states:
            self._requested_state = new.spec.default_state
        return True

    def _reload_failed(self, problem: str) -> bool:
        text = f"reload failed: {problem}"
        log.warning("%s; the music plays on", text)
        self._core.note_error(text)
        return False

    def watch(self, path: str | os.PathLike[str] | None = None, poll: float = 0.5) -> None:
        """Reload ``path`` (default: the playing bundle's file) whenever it changes.

        A daemon thread checks the file's size and modification time every
        ``poll`` seconds and reloads once a change has held still for one poll, so
        a half-written file is not read; a write through a temporary file and
        ``os.replace`` (what ``adaptive bake`` does) is seen too. Each reload goes
        as ``reload()`` describes, errors included. One file at a time: a second
        call watches the new path instead; ``unwatch()`` or ``stop()`` ends it.
        """
        if path is None:
            if self._bundle.path is None:
                raise EngineError("watch() needs a path: this bundle has no file")
            path = self._bundle.path
        if not isinstance(path, str | os.PathLike):
            raise EngineError(f"watch() path must be a str or a path, got {type(path).__name__}")
        if isinstance(poll, bool) or not isinstance(poll, int | float) or not 0.01 <= poll <= 60.0:
            raise EngineError(f"watch() poll {_show(poll)} must be a number of seconds in 0.01..60")
        self.unwatch()
        self._watcher = BundleWatcher(path, self.reload, float(poll))

    def unwatch(self) -> None:
        """Stop watching (nothing to do if not watching)."""
        watcher, self._watcher = self._watcher, None
        if watcher is not None:
            watcher.stop()

    @property
    def watching(self) -> str | None:
        """The path ``watch()`` follows, or None."""
        return self._watcher.path if self._watcher is not None else None

    # --- replay logs ----------------------------------------------------------------------

    def record(self, path: str | os.PathLike[str] | None) -> None:
        """Write a replay log of this session to ``path``; ``record(None)`` ends it.

        The log holds, stamped in frames, every command as the mixer applied it,
        every compose call with what it read, and which composed bar played
        where, so ``adaptive render --replay LOG`` renders the same audio bit for
        bit, from the moment of this call to the end of the log. A replay
        rebuilds the session from its first frame, so the engine keeps a compact
        journal from the start; called mid-session, the log begins with it. It
        cannot after a hot reload, or once the journal outgrew 8 MiB (hours of
        play): call ``record`` before ``start()`` then, or it raises. The log
        ends with ``record(None)`` (its file complete when that returns) or
        ``stop()``; a session has one log. Nothing of it runs on the audio
        thread but an append to a bounded queue; another thread writes the
        file. A ``reload`` while recording is refused (a log holds one bundle).
        The format is described in ``runtime._record``.
        """
        if path is not None and not isinstance(path, str | os.PathLike):
            raise EngineError(f"record() path must be a str, a path or None, got {_show(path)}")
        self._core.record(None if path is None else _path_text("record()", path))

    @property
    def recording(self) -> str | None:
        """The replay log being written (``record``), or None."""
        return self._core.recording  # type: ignore[no-any-return]

    def trigger(self, stinger: str) -> None:
        """Play a stinger on the next beat (dropped if the same one started a moment ago)."""
        stinger = self._known("stinger", stinger, self._bundle.stingers)
        self._core.submit(Command("stinger", stinger))

    def _known(self, kind: str, name: object, table: Any) -> str:
        """``name`` as a plain ``str`` if ``table`` has it, else a clear EngineError."""
        if not isinstance(name, str):
            raise EngineError(
                f"{kind} name must be a string, got {type(name).__name__} {_show(name)}"
            )
        name = str.__str__(name)  # a plain str: a subclass's own __eq__ or __hash__ never runs
        if name not in table:
            known = ", ".join(table) or "none"
            raise UnknownNameError(
                f"{kind} {name!r:.60} is not in bundle {self._bundle.name!r}; known: {known}"
            )
        return name

    def update(self) -> list[MusicEvent]:
        """The musical events since the last call, oldest first. Never blocks.

        If the composer failed, an ``"error"`` event names the error, and the
        composer is restarted; the music holds or repeats bars meanwhile. If the
        device failed, an ``"error"`` event says so, and the music plays on the
        silent output (``output`` becomes ``"silent"``). Safe from any thread.
        """
        return self._core.update()  # type: ignore[no-any-return]

    # --- offline --------------------------------------------------------------------------

    def render(self, frames: int, stems: bool = False) -> Any:
        """Render the next ``frames`` frames offline: float32 (frames, 2).

        With ``stems=True`` returns ``(mix, {stem: (frames, 2)})``, each stem after
        its gain, before the master limiter.
        """
        if not self._offline:
            raise EngineError(
                f"render() needs output='offline'; a {self.output!r} engine plays in real time"
            )
        limit = int(MAX_RENDER_SECONDS * self.sample_rate)
        frames = _check_int("render frames", frames, 0, limit)
        if not isinstance(stems, bool | np.bool_):
            raise EngineError(f"render stems must be True or False, got {_show(stems)}")
        return self._core.render(frames, bool(stems))

    # --- measuring ------------------------------------------------------------------------

    def stats(self) -> EngineStats:
        """A snapshot for a HUD or a log line; cheap enough to call every frame."""
        return self._core.stats()  # type: ignore[no-any-return]

    def report(self) -> dict[str, Any]:
        """What was played, as the JSON report of ``adaptive render``."""
        return self._core.report()  # type: ignore[no-any-return]

    def played_bars(self) -> list[PlayedBar]:
        """Every bar played so far (the last few thousand), oldest first, without audio."""
        return self._core.played_bars()  # type: ignore[no-any-return]

    def played_notes(self) -> list[tuple[str, int, int, int, int]]:
        """Every note played so far: (stem, pitch, start_frame, frames, velocity), absolute frames."""
        return self._core.played_notes()  # type: ignore[no-any-return]


def _check_int(name: str, value: object, lo: int, hi: int) -> int:
    """``value`` as a plain int in ``lo..hi`` (numpy integers too; never a bool)."""
    number: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = int.__int__(value)  # a plain int, whatever a subclass overrides
    elif isinstance(value, np.integer):
        number = int(value)
    if number is None or not lo <= number <= hi:
        raise EngineError(f"{name} {_show(value)} must be an integer in {lo}..{hi}")
    return number


def _check_share(name: str, value: object) -> float:
    """``value`` as a float share of one core, in (0, 1]."""
    number = None
    if isinstance(value, int | float | np.floating | np.integer) and not isinstance(value, bool):
        try:
            number = float(value)
        except (OverflowError, ValueError):
            number = None
    if number is None or not (math.isfinite(number) and 0.0 < number <= 1.0):
        raise EngineError(f"{name} {_show(value)} must be a share of one core, in (0, 1]")
    return number


def _plain(value: object) -> object:
    """A ``str`` subclass as a plain ``str``, so its own ``__eq__`` or ``__hash__`` never runs."""
    return str.__str__(value) if isinstance(value, str) else value


def _choice(kind: str, value: object, allowed: tuple[str, ...], hint: str = "") -> str:
    plain = _plain(value)
    if not isinstance(plain, str) or plain not in allowed:
        raise EngineError(
            f"{kind} {_show(value)} is not known; choose one of {', '.join(allowed)}{hint}"
        )
    return plain


def _show(value: object) -> str:
    """A short repr for an error message, even of a value whose repr is huge or raises."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 128:
        return f"<an integer of {value.bit_length()} bits>"  # repr() of 10**5000 raises
    try:
        text = repr(_plain(value)) if isinstance(value, str) else repr(value)
    except Exception:  # noqa: BLE001 - a hostile __repr__ must not hide the real error
        text = f"<{type(value).__name__}>"
    return text if len(text) <= 40 else text[:37] + "..."


def _use_process(worker: str, output: str | Output) -> bool:
    if worker == "thread" or isinstance(output, Output) or output == "offline":
        return False
    if worker == "auto" and output not in ("sdl", "pygame"):
        return False  # a silent engine carries no audio for the game's GIL to starve
    forkable = (
        sys.platform.startswith("linux") and "fork" in multiprocessing.get_all_start_methods()
    )
    if worker == "process" and not forkable:
        raise EngineError("worker 'process' needs a platform that can fork; use worker='thread'")
    return forkable


def _parameter_ranges(bundle: Bundle) -> dict[str, tuple[float, float]]:
    return {name: (float(s["min"]), float(s["max"])) for name, s in bundle.parameters.items()}


def _clamp(value: float, limits: tuple[float, float]) -> float:
    low, high = limits
    return low if value < low else high if value > high else value


def _path_text(call: str, path: str | os.PathLike[str]) -> str:
    """``path`` as text, or an EngineError naming ``call`` (a PathLike that is not one)."""
    try:
        where = os.fspath(path)
        if not isinstance(where, str | bytes):
            raise TypeError(f"its __fspath__ gave {type(where).__name__}")
        return os.fsdecode(where)
    except Exception as exc:
        raise EngineError(f"{call} path {_show(path)} is not a path: {exc}") from None
