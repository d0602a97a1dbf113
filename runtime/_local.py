"""The engine in the game's process: the rooms wired together, and nothing more.

``MusicEngine`` checks the game's calls and hands them to a core: this one, or
``HostedEngine``, which runs this one in a worker process.
"""

from __future__ import annotations

import itertools
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from adaptive._bundle import Bundle
from adaptive._errors import EngineError

from ._bar import PlayedBar
from ._budget import CpuBudget
from ._clock import MusicalClock
from ._control import Command, Control
from ._mixer import MusicEvent
from ._record import END_WAIT_SECONDS, FORMAT, VERSION, Recorder
from ._reload import build_program, fit_stingers_to_chords, make_mixer
from ._report import EngineStats, StatsCache
from ._scheduler import InlineSource, LookaheadScheduler, PlayedLog
from .outputs import OfflineOutput, Output, open_output

__all__ = ["EngineSettings", "LocalEngine", "READY_MARGIN_SECONDS"]

OFFLINE_BLOCK_FRAMES = 8192
READY_MARGIN_SECONDS = 0.25  # a state change asked for closer than this to a bar line waits a bar


# a bar composed again is at most the look-ahead past the one playing, and starts from the
# effect state of the bar before it: keep that many bars of state, and a few to spare
EFFECT_STATES_PAST_LOOKAHEAD = 3


@dataclass(frozen=True)
class EngineSettings:
    """What ``MusicEngine`` was asked for, checked; both cores are built from it."""

    output: str | Output
    sample_rate: int
    buffer_frames: int
    seed: int
    lookahead_bars: int
    report_bars: int
    cpu_budget: float | None = None


class LocalEngine:
    """Composer, scheduler, mixer and output in this process. Arguments are checked by the caller."""

    def __init__(self, bundle: Bundle, settings: EngineSettings) -> None:
        output, sample_rate, buffer_frames = (
            settings.output, settings.sample_rate, settings.buffer_frames,
        )  # fmt: skip
        seed, lookahead_bars, report_bars = (
            settings.seed, settings.lookahead_bars, settings.report_bars,
        )  # fmt: skip
        cpu_budget = settings.cpu_budget
        self._bundle = bundle
        self._output_choice = output
        self.sample_rate = sample_rate
        self.buffer_frames = buffer_frames
        self.seed = seed
        self.lookahead_bars = lookahead_bars
        self._offline = output == "offline" or (isinstance(output, Output) and not output.realtime)

        b = self._bundle
        self._control = Control(
            initial_state=b.spec.default_state,  # the schema fills it in and checks it
            parameters={name: float(spec["default"]) for name, spec in b.parameters.items()},
            valence={name: float(spec["valence"]) for name, spec in b.states.items()},
        )
        self._chores: deque[Callable[[], None]] | None = None  # the worker's, when live
        program = build_program(b, sample_rate, self.seed, self._control)
        program.composer.mixbus.keep_states = lookahead_bars + EFFECT_STATES_PAST_LOOKAHEAD
        self._composer = program.composer
        self._program_ids = itertools.count(1)
        self._log = PlayedLog(report_bars)
        self._errors: list[BaseException] = []
        self._notices: deque[str] = deque(maxlen=64)  # errors to tell the game, nothing to restart
        self._scheduler: LookaheadScheduler | None = None
        if self._offline:
            source: Any = InlineSource(self._composer, self._log)
        else:
            self._scheduler = LookaheadScheduler(
                self._composer,
                self._control,
                self._log,
                lookahead_bars,
                self._errors.append,
                CpuBudget(cpu_budget),
            )
            source = self._scheduler
            self._chores = self._scheduler.chores
        fit_stingers_to_chords(program, self._chores)
        self._source = source
        self._max_frames = max(buffer_frames, OFFLINE_BLOCK_FRAMES)
        margin = 0 if self._offline else int(READY_MARGIN_SECONDS * sample_rate)
        self._mixer = make_mixer(program, self._control, source, self._max_frames, margin)
        if self._scheduler is not None:
            mixer = self._mixer

            def frames_left() -> int:
                bar = mixer.bar
                return 1 << 62 if bar is None else bar.start_frame + bar.frames - mixer.frame

            self._scheduler.frames_left = frames_left
            self._scheduler.margin_frames = int(READY_MARGIN_SECONDS * sample_rate)
            self._scheduler.callback_seconds = lambda: mixer.callback_seconds
        self._output: Output | None = None
        self._last_output: Output | None = None  # its counters outlive stop()
        self._offline_output = OfflineOutput()
        # offline, big blocks: the same music for a quarter less CPU than device-sized ones
        self._offline_output.start(self._mixer.process, sample_rate, OFFLINE_BLOCK_FRAMES)
        self._output_warning: str | None = None
        self._stats_cache = StatsCache()
        self._lock = threading.Lock()  # start/stop only; the game's calls never take it
        # the session's journal from its first frame, so record() may start a log at any time
        self._journal = Recorder(self._journal_header(), self._chores)
        self._composer.recorder = self._mixer.recorder = self._journal

    # --- lifecycle ------------------------------------------------------------------------

    def start(self) -> LocalEngine:
        """Start playing (real-time outputs); nothing to do offline. Idempotent."""
        with self._lock:
            if self._offline or self._output is not None:
                return self
            scheduler = self._scheduler
            assert scheduler is not None
            if self._mixer.bar is None and scheduler.playing < 0:
                scheduler.prime(1)  # the first bar before the device asks; the worker does the rest
            scheduler.start()
            try:
                self._output, self._output_warning = open_output(
                    self._output_choice,
                    self._mixer.process,
                    self.sample_rate,
                    self.buffer_frames,
                    on_fault=self._errors.append,  # a device failing mid-session: update() says so
                )
            except BaseException:
                scheduler.stop()
                raise
            return self

    def count_whole_process(self) -> None:
        """The CPU budget counts this whole process (the engine's own worker process)."""
        if self._scheduler is not None:
            self._scheduler.whole_process = True

    def stop(self) -> None:
        """Stop the output and the worker, and end a recording. Safe to call twice."""
        with self._lock:
            if self._output is not None:
                self._output.stop()
                self._last_output = self._output
                self._output = None
            if self._scheduler is not None:
                self._scheduler.stop()
            self._end_recording()

    # --- replay logs ----------------------------------------------------------------------

    def record(self, path: str | os.PathLike[str] | None) -> None:
        """Log this session for ``adaptive render --replay`` (``runtime._record``); None ends it."""
        with self._lock:
            if path is None:
                self._end_recording()
                return
            journal = self._journal
            if journal.path is not None and not journal.ended.is_set():
                raise EngineError(
                    f"record(): already recording to {journal.path}; record(None) first"
                )
            if self._bundle is not self._mixer.program_bundle:
                raise EngineError("record(): a reload is on its way; record once it has landed")
            journal.start_log(path, self._mixer.frame)

    def _journal_header(self) -> dict[str, Any]:
        """The session as it starts, for a replay log's header."""
        b = self._bundle
        return {
            "format": FORMAT,
            "version": VERSION,
            "bundle": {
                "name": b.name,
                "sha256": b.sha256,
                "path": str(b.path.resolve()) if b.path else None,
            },
            "seed": self.seed,
            "sample_rate": self.sample_rate,
            "buffer_frames": self.buffer_frames,
            "max_frames": self._max_frames,
            "margin_frames": self._mixer.ready_margin_frames,
            # for the reader: what they changed (bars composed ahead, budget levels) is logged
            "lookahead_bars": self.lookahead_bars,
            "cpu_budget": self._scheduler.budget.share if self._scheduler is not None else None,
            "output": self.output,
            "initial": {
                "state": self._control.initial_state,
                "parameters": dict(self._control.parameters),
                "volume": self._mixer.volume,
            },
        }

    def _end_recording(self) -> None:
        journal = self._journal
        if journal.path is None or journal.ended.is_set():
            return
        if self._output is not None:  # playing: the audio thread ends it at a block boundary
            journal.stopping = True
            journal.ended.wait(END_WAIT_SECONDS)
        journal.end(self._mixer.frame)  # stopped (or a device that stopped pulling)
        self._mixer.recorder = None  # a session has one log: the journal is done
        self._composer.recorder = None
        journal.close()

    def end_recording(self) -> None:
        """``record(None)``: the log ends at a block boundary and is written when this returns."""
        with self._lock:
            self._end_recording()

    @property
    def recording(self) -> str | None:
        """The path of the replay log being written, or None."""
        journal = self._journal
        return None if journal.path is None or journal.ended.is_set() else str(journal.path)

    # --- what the game can read -----------------------------------------------------------

    @property
    def bundle(self) -> Bundle:
        """The bundle heard now (a reload changes it on the bar it lands)."""
        return self._mixer.program_bundle  # type: ignore[no-any-return]

    @property
    def timing(self) -> MusicalClock:
        """The sample clock's tempo and meter (read-only): bar and beat positions in frames."""
        return self._mixer.clock

    # --- hot reload -----------------------------------------------------------------------

    def reload(self, bundle: Bundle) -> None:
        """Build ``bundle``'s program on this thread; it is heard from a bar line soon after.

        Raises BundleError if the bundle cannot play; the music is untouched then.
        Refused while recording: a replay log holds one bundle.
        """
        if self.recording is not None:
            raise EngineError(
                f"reload() while recording to {self.recording}: a replay log holds one "
                "bundle; record(None) first"
            )
        program = build_program(
            bundle, self.sample_rate, self.seed, self._control, next(self._program_ids)
        )
        program.allocate(self._max_frames)
        program.composer.mixbus.keep_states = self.lookahead_bars + EFFECT_STATES_PAST_LOOKAHEAD
        fit_stingers_to_chords(program, self._chores)
        self._journal.drop("the session reloaded a bundle (a replay log holds one)")
        self._bundle = bundle
        self._source.offer(program)

    def note_error(self, text: str) -> None:
        """Tell the game ``text`` as an ``error`` event on its next ``update()`` (any thread)."""
        self._notices.append(text)

    @property
    def output(self) -> str:
        """The name of the output playing (``"silent"`` after a device fallback)."""
        if self._offline:
            return "offline"
        output = self._output or self._last_output
        if output is not None:
            return output.name
        return (
            self._output_choice
            if isinstance(self._output_choice, str)
            else self._output_choice.name
        )

    @property
    def stems(self) -> tuple[str, ...]:
        """The stems heard now."""
        return tuple(self._mixer.stem_names)

    @property
    def parameters(self) -> dict[str, float]:
        """As the mixer applied them (a seeking parameter mid-way to its target)."""
        return dict(self._control.parameters)

    @property
    def state(self) -> str:
        """The state the music is playing now."""
        bar = self._mixer.bar
        return bar.state if bar is not None else self._control.state_for_bar(0)

    @property
    def frame(self) -> int:
        """Frames mixed so far, on the engine's sample clock."""
        return self._mixer.frame

    # --- commands ---------------------------------------------------------------------

    def submit(self, command: Command) -> None:
        """Enqueue a checked command for the mixer (any thread; never blocks)."""
        self._control.commands.append(command)

    def submit_parameter(self, name: str, value: float) -> None:
        self._control.commands.append(Command("parameter", name, value))

    def update(self) -> list[MusicEvent]:
        """The musical events since the last call, oldest first. Never blocks.

        If the composer failed, an ``"error"`` event names the error, and the
        composer is restarted; the music holds or repeats bars meanwhile.
        """
        events = self._mixer.events
        out: list[MusicEvent] = []
        while self._notices:
            out.append(MusicEvent("error", self._mixer.frame, -1, 0, self._notices.popleft(), 0.0))
        try:
            error: BaseException | None = self._errors.pop(0)
        except IndexError:  # none, or another game thread took it first
            error = None
        if error is not None:
            out.append(
                MusicEvent(
                    "error", self._mixer.frame, -1, 0, f"{type(error).__name__}: {error}", 0.0
                )
            )
            if self._scheduler is not None and self._output is not None:
                self._scheduler.start()  # composing resumes from the bar playing now
        if not events:
            return out
        output = self._output
        anchor: float | None = None
        if output is not None:
            heard_frame = self._mixer.frame - output.pending_frames()
            anchor = time.perf_counter() - heard_frame / self.sample_rate
        while events:
            event = events.popleft()
            if anchor is not None:
                event = MusicEvent(
                    event.kind,
                    event.frame,
                    event.bar,
                    event.beat,
                    event.name,
                    event.time,
                    anchor + event.frame / self.sample_rate,
                )
            out.append(event)
        return out

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
        mixer = self._mixer
        out = np.zeros((frames, 2), dtype=np.float32)
        names = self.stems  # a reload within the render: these stems, by name, as long as they play
        if stems:
            mixer.capture = np.zeros((len(names), frames, 2), dtype=np.float32)
            mixer.capture_rows = tuple(range(len(names)))
            mixer.capture_pos = 0
        try:
            self._offline_output.pull(out)
            captured = mixer.capture
        finally:
            mixer.capture = None
        self._journal.pack()  # offline there is no worker to do it
        if not stems:
            return out
        assert captured is not None
        return out, {name: captured[s] for s, name in enumerate(names)}

    # --- measuring ------------------------------------------------------------------------

    def stats(self) -> EngineStats:
        """A snapshot for a HUD or a log line; cheap enough to call every frame."""
        mixer, log = self._mixer, self._log
        callback, generate, render = self._stats_cache.get(
            mixer.callback_ms, log.generate_ms, log.render_ms
        )
        bar = mixer.bar
        ahead = 0.0
        budget = self._scheduler.budget if self._scheduler is not None else None
        if self._scheduler is not None:
            ready_end = self._mixer.clock.bar_start(self._scheduler.ready_through + 1)
            ahead = max(0.0, (ready_end - mixer.frame) / self.sample_rate * 1000.0)
        elif bar is not None:
            ahead = (bar.start_frame + bar.frames - mixer.frame) / self.sample_rate * 1000.0
        return EngineStats(
            output=self.output,
            frames=mixer.frame,
            seconds=mixer.frame / self.sample_rate,
            state=self.state,
            bar=bar.index if bar is not None else -1,
            callbacks=mixer.callbacks,
            underruns=self._underruns(),
            fallback_bars=mixer.fallback_bars,
            bars_generated=log.generated,
            bars_regenerated=log.regenerated,
            lookahead_ms=ahead,
            callback_ms=callback,
            generate_ms=generate,
            render_ms=render,
            stingers_dropped=mixer.stingers.dropped,
            stem_gains={name: float(g) for name, g in zip(*mixer.stem_view, strict=True)},
            parameters=dict(self._control.parameters),
            budget_level=budget.level if budget else 0,
            cpu_share=budget.cpu_share if budget else 0.0,
            volume=mixer.volume,
        )

    def _underruns(self) -> int:
        output = self._output or self._last_output
        return 0 if output is None else output.underruns + getattr(output, "fill_errors", 0)

    def report(self) -> dict[str, Any]:
        """What was played, as the JSON report of ``adaptive render``."""
        stats = self.stats()
        chord_name = self._source.composer.chord_name
        bundle = self.bundle
        bars = [
            {
                "index": bar.index,
                "start_frame": bar.start_frame,
                "frames": bar.frames,
                "state": bar.state,
                "tempo": bar.tempo,
                "transition_bar": bar.transition_bar,
                "phrase_bar": bar.phrase_bar,
                "key": str(bundle.key),
                "chords": [chord_name(bar.chord)],
                "intensity": bar.intensity,
                "fallback": bar.fallback,
                "stems": {
                    name: {
                        "notes": len(bar.notes.get(name, [])),
                        "gain": round(bar.gains[s], 4) if s < len(bar.gains) else None,
                    }
                    # the composer keys a bar's notes by stem, in its bundle's order
                    for s, name in enumerate(bar.notes or self.stems)
                },
            }
            for bar in self._played_bars()
        ]
        return {
            "sample_rate": self.sample_rate,
            "frames": self._mixer.frame,
            "seed": self.seed,
            "output": self.output,
            "bundle": {
                "name": bundle.name,
                "sha256": bundle.sha256,
                "path": str(bundle.path) if bundle.path else None,
            },
            "reloads": self._mixer.reloads,
            "bars": bars,
            # list() copies in one step; iterating the mixer's deques while it appends would raise
            "transitions": [t.as_dict() for t in list(self._mixer.transitions)],
            "stingers": [
                s.as_dict()
                | {"chord": self._composer.chord_name(s.chord) if s.chord >= 0 else None}
                for s in list(self._mixer.stinger_log)
            ],
            "underruns": stats.underruns,
            "fallback_bars": stats.fallback_bars,
            "late_transitions": self._mixer.late_transitions,
            "timing": {
                "callback_ms": {"p50": stats.callback_ms.p50, "p99": stats.callback_ms.p99},
                "generate_ms": {"p50": stats.generate_ms.p50, "p99": stats.generate_ms.p99},
                "render_ms": {"p50": stats.render_ms.p50, "p99": stats.render_ms.p99},
            },
        }

    def _played_bars(self) -> Iterable[Any]:
        yield from list(self._log.bars)
        if self._mixer.bar is not None:
            yield self._mixer.bar  # the bar playing now

    def played_bars(self) -> list[PlayedBar]:
        return [b if isinstance(b, PlayedBar) else PlayedBar.of(b) for b in self._played_bars()]

    def played_notes(self) -> list[tuple[str, int, int, int, int]]:
        """Every note played so far: (stem, pitch, start_frame, frames, velocity), absolute frames."""
        out = []
        for bar in self._played_bars():
            for stem, notes in bar.notes.items():
                out += [(stem, p, bar.start_frame + s, f, v) for p, s, f, v in notes]
        return out
