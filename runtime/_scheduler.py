"""The scheduler: composes bars ahead of the playhead and hands them to the mixer.

Two sources of bars share the ``BarSource`` interface the mixer pulls from:

- ``InlineSource`` composes each bar when the mixer asks (offline rendering:
  deterministic, nothing in the background);
- ``LookaheadScheduler`` runs a worker thread that stays ``lookahead_bars``
  ahead of the playhead, composes again the bars a state change made stale, and
  frees played bars. The mixer never waits for it: a bar that is not ready is
  replaced by a repeat of the last one (counted as a fallback bar).

Handoffs between the worker and the mixer, each a deque with one producer and
one consumer (``append``/``popleft`` are atomic in CPython): ``_ready`` carries
composed bars to the mixer, ``_retired`` carries finished bars back. ``playing``
is an int the mixer writes and the worker reads.

A hot reload (``offer``) adds one more: the worker plans the switch and
publishes it in ``handoff`` (one reference, written by the worker only while it
is None and cleared by the mixer only once it has taken it); the mixer tells the
worker through ``_switched`` or ``_missed``. Every bar carries the id of the
program that composed it, so the mixer never plays a bar of the other bundle.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

from ._bar import BarAudio, PlayedBar
from ._budget import CpuBudget
from ._composer import Composer, PlanKey
from ._control import Control
from ._report import TimingRing
from ._thread import LoopThread

if TYPE_CHECKING:
    from ._reload import Handoff, Program

__all__ = ["InlineSource", "LookaheadScheduler", "PlayedLog", "PLAYED_BARS_KEPT"]

PLAYED_BARS_KEPT = 512  # bars a report lists by default: about 17 minutes at 120 bpm in 4/4
WORKER_POLL_SECONDS = 0.004
SHORTER_LOOKAHEAD = 3  # the CPU budget level that keeps one bar ahead (runtime._budget)


class PlayedLog:
    """The bars that have played, without audio, for reports and MIDI export; bounded."""

    def __init__(self, limit: int = PLAYED_BARS_KEPT) -> None:
        self.bars: deque[PlayedBar] = deque(maxlen=limit)
        self.generated = 0
        self.regenerated = 0
        self.generate_ms = TimingRing()
        self.render_ms = TimingRing()

    def composed(self, bar: BarAudio, again: bool = False) -> None:
        self.generated += 1
        self.regenerated += int(again)
        self.generate_ms.add(bar.generate_ms)
        self.render_ms.add(bar.render_ms)


class InlineSource:
    """Composes on demand, on the caller's thread: for offline rendering."""

    def __init__(self, composer: Composer, log: PlayedLog) -> None:
        self.composer = composer
        self.log = log
        self.program = 0
        self._incoming: deque[Program] = deque()
        self.handoff: Handoff | None = None
        self._after_switch: Handoff | None = None  # switched; its bar's old version still to make

    def take(self, index: int) -> BarAudio:
        switch = self._after_switch
        bar = self.composer.compose(index)
        bar.program = self.program
        self.log.composed(bar)
        self.composer.forget_before(index - 2)
        if switch is not None:  # that was the old bundle's bar, to fade out: the new one goes on
            self._after_switch = None
            self.composer, self.program = switch.program.composer, switch.program.id
        return bar

    # --- hot reload (offline: planned on the rendering thread, at the next bar line) ---------

    def offer(self, program: Program) -> None:
        self._incoming.append(program)

    def next_switch(self, playing: int) -> Handoff | None:
        if self.handoff is None and self._incoming:
            from ._reload import plan_switch  # it imports the composer and the mixer

            program = self._incoming.pop()
            self._incoming.clear()  # only the newest matters
            self.handoff = plan_switch(program, self.composer, playing, 1 << 62, 0)
            self.log.composed(self.handoff.first)
        return self.handoff

    def switched(self, handoff: Handoff) -> None:
        self.handoff = None
        self._after_switch = handoff
        handoff.retired = ()

    def missed(self, handoff: Handoff) -> None:
        self.handoff = None
        if not self._incoming:
            self._incoming.append(handoff.program)

    def retire(self, bar: BarAudio, played: bool) -> None:
        if played:
            self.log.bars.append(PlayedBar.of(bar))

    def replacement(self, index: int, state: str) -> BarAudio:
        bar = self.composer.compose(index)  # the schedule already names the new state
        self.log.composed(bar, again=True)
        return bar


class LookaheadScheduler:
    """A worker thread keeps bars ready ahead of the playhead (live outputs)."""

    def __init__(
        self,
        composer: Composer,
        control: Control,
        log: PlayedLog,
        lookahead_bars: int,
        on_error: Callable[[BaseException], None],
        budget: CpuBudget | None = None,
        callback_seconds: Callable[[], float] | None = None,
    ) -> None:
        self.composer = composer
        self.budget = budget or CpuBudget(None)
        # the audio callback's total time so far, so the budget counts it too
        self.callback_seconds = callback_seconds or (lambda: 0.0)
        self._callback_seconds_seen = 0.0
        # in the engine's own worker process, every thread there is the engine's: count them all
        self.whole_process = False
        self._process_seconds_seen = time.process_time()
        self.control = control
        self.log = log
        self.lookahead_bars = lookahead_bars
        self.on_error = on_error
        self.playing = -1  # written by the mixer: the bar index it is playing
        self._ready: deque[BarAudio] = deque()  # worker -> mixer
        self._retired: deque[tuple[BarAudio, bool]] = deque()  # mixer -> worker
        self._on_deck: dict[int, BarAudio] = {}  # the mixer's own: bars it may take
        # the worker's own: index -> what it was composed for (state, phrase, place in the map)
        self._composed: dict[int, PlanKey] = {}
        # work for when no bar is due (rendering stingers fitted to a new chord); any thread adds
        self.chores: deque[Callable[[], None]] = deque()
        self._loop = LoopThread("adaptive-composer")
        # hot reload
        self.program = 0  # the worker's own: the program it composes for
        self.frames_left: Callable[[], int] = lambda: 1 << 62  # until the playing bar ends
        self.margin_frames = 0  # a switch closer than this (plus a bar's compose time) waits a bar
        self._incoming: deque[Program] = deque()  # reload -> worker
        self.handoff: Handoff | None = None  # worker -> mixer
        self._switched: deque[Handoff] = deque()  # mixer -> worker
        self._missed: deque[Handoff] = deque()  # mixer -> worker

    # --- the mixer's side -----------------------------------------------------------------

    def _collect(self) -> None:
        while self._ready:
            bar = self._ready.popleft()
            replaced = self._on_deck.get(bar.index)
            if replaced is not None:
                self._retired.append((replaced, False))
            self._on_deck[bar.index] = bar

    def take(self, index: int) -> BarAudio | None:
        self._collect()
        for old in [i for i in self._on_deck if i < index]:  # composed too late to play
            self._retired.append((self._on_deck.pop(old), False))
        self.playing = index
        return self._on_deck.pop(index, None)

    def retire(self, bar: BarAudio, played: bool) -> None:
        self._retired.append((bar, played))

    def replacement(self, index: int, state: str) -> BarAudio | None:
        self._collect()
        bar = self._on_deck.get(index)
        if bar is None or bar.state != state:
            return None
        return self._on_deck.pop(index)

    def next_switch(self, playing: int) -> Handoff | None:
        return self.handoff

    def switched(self, handoff: Handoff) -> None:
        self.handoff = None
        self._switched.append(handoff)

    def missed(self, handoff: Handoff) -> None:
        self.handoff = None
        self._missed.append(handoff)

    # --- the reloading thread's side ------------------------------------------------------

    def offer(self, program: Program) -> None:
        """A new bundle's program, to switch to at the next bar line the worker can make."""
        self._incoming.append(program)

    # --- the worker's side ----------------------------------------------------------------

    def prime(self, bars: int) -> None:
        """Compose the first bars on the caller's thread, before the device asks for them."""
        for index in range(bars):
            self._compose(index)

    def start(self) -> None:
        self._loop.start(self._work)

    def stop(self) -> None:
        self._loop.stop()

    @property
    def _running(self) -> bool:
        return self._loop.running

    @property
    def ready_through(self) -> int:
        """The last bar index composed in a row after the one playing."""
        index = self.playing
        while index + 1 in self._composed:
            index += 1
        return index

    def _compose(self, index: int, again: bool = False) -> None:
        # the key before composing: a change meanwhile leaves it stale, so it is composed again
        key = self.composer.plan_key(index)
        bar = self.composer.compose(index)
        bar.program = self.program
        self._composed[index] = key
        self.log.composed(bar, again)
        self._ready.append(bar)

    def _work(self) -> None:
        try:
            while self._running:
                started = time.thread_time()
                did = self._step()
                self._account(time.thread_time() - started)
                if not did:
                    time.sleep(WORKER_POLL_SECONDS)
        except BaseException as exc:  # the engine tells the game on its next update()
            self._loop.running = False
            self.on_error(exc)

    def _account(self, worker_seconds: float) -> None:
        """Count this step's CPU and the callbacks' since the last step; set the level."""
        if self.whole_process:
            total = time.process_time()
            self.budget.spend(total - self._process_seconds_seen)
            self._process_seconds_seen = total
        else:
            total = self.callback_seconds()
            self.budget.spend(worker_seconds + total - self._callback_seconds_seen)
            self._callback_seconds_seen = total
        self.composer.level = self.budget.update(time.perf_counter())

    def _step(self) -> bool:
        """One round of work; False when there was nothing to do."""
        did = self._free_retired()
        if self._switched or self._missed:
            self._after_switch()
            return True
        if self._incoming and self.handoff is None:
            self._plan(self._incoming)
            return True
        playing = self.playing
        # a state change makes composed future bars stale (another state, phrase position or
        # tempo): compose them again, in order (the bar playing now too: a change within a
        # bar replaces it)
        plan_key = self.composer.plan_key
        stale = [
            i for i in sorted(self._composed) if i >= playing and self._composed[i] != plan_key(i)
        ]
        if stale:
            for index in range(stale[0], max(self._composed) + 1):
                if not self._running or index < self.playing:
                    continue
                self._compose(index, again=True)
            return True
        ahead = 1 if self.composer.level >= SHORTER_LOOKAHEAD else self.lookahead_bars
        for index in range(playing + 1, playing + 1 + ahead):
            if index not in self._composed and self._running:
                self._compose(index)
                return True
        if self.chores:
            self.chores.popleft()()
            return True
        for old in [i for i in self._composed if i < playing - 1]:
            del self._composed[old]
        self.composer.forget_before(playing - 2)
        return did

    def _plan(self, incoming: deque[Program]) -> None:
        from ._reload import plan_switch  # it imports the composer and the mixer

        program = incoming.pop()
        incoming.clear()  # only the newest matters
        compose_ms = self.log.generate_ms.percentiles().p99 + self.log.render_ms.percentiles().p99
        margin = self.margin_frames + int(2 * compose_ms / 1000.0 * self.composer.clock.sample_rate)
        handoff = plan_switch(program, self.composer, self.playing, self.frames_left(), margin)
        self.log.composed(handoff.first)
        self.handoff = handoff

    def _after_switch(self) -> None:
        while self._switched:
            handoff = self._switched.popleft()
            self.composer, self.program = handoff.program.composer, handoff.program.id
            for index in [i for i in self._composed if i > handoff.bar]:
                del self._composed[index]  # composed by the old bundle: compose them again
            self._composed[handoff.bar] = self.composer.plan_key(handoff.bar)
            handoff.retired = ()  # the old bundle's tables are freed here, off the audio thread
        while self._missed:
            handoff = self._missed.popleft()
            if not self._incoming:
                self._incoming.append(handoff.program)  # plan it again, for a later bar

    def _free_retired(self) -> bool:
        retired = self._retired
        did = bool(retired)
        while retired:
            bar, played = retired.popleft()
            if played:
                self.log.bars.append(PlayedBar.of(bar))
            del bar  # the worker drops the last reference: a large free, off the audio thread
        return did
