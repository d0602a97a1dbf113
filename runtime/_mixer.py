"""The mixer: owns the sample clock and fills the output's blocks.

``Mixer.process`` is the audio path: whichever output drives it (SDL's feeder,
the silent timer, the offline renderer) calls it with a block to fill. It obeys
the rules written in its docstring. Everything it needs is prepared elsewhere:
bars are composed and rendered by the scheduler's worker, stinger audio is
rendered at start-up, and gain targets come from a table built here once.

A hot reload (``runtime._reload``) is a switch of those tables at a bar line:
the worker builds the new ones and the first bar, the mixer swaps references
on the bar's first frame (splitting the block there) and crossfades the old
bundle's bar out under the new one.

The mixer owns the tempo map (``runtime._clock``). A state change to a state
with another tempo retimes it from the change's first bar on (or from the next
bar line, when the change lands within a bar: the new material plays out that
bar at the tempo it began with), stepping over the rule's ``tempo_ramp_bars``;
the new map is published in ``Control.clock`` for the composer. Only bars after
the one playing are ever retimed, so the bar playing never changes length. A bar
composed under an older map (too late to compose again) is played on the new
grid: its audio has rows for the longest bar the style plays.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

import numpy as np

from adaptive._schema import TransitionSpec as TransitionRule

from ._bar import BarAudio
from ._clock import MusicalClock, clock_for_schedule
from ._control import CUE_BARS, Command, Control, StateChange, Sync
from ._report import StingerRecord, TimingRing, TransitionRecord
from ._stingers import AS_WRITTEN, StingerVoice, StingerVoices

__all__ = ["Mixer", "MusicEvent", "BarSource", "StemMix", "MASTER_GAIN", "RELOAD_FADE_SECONDS"]

MASTER_GAIN = 0.7
LIMIT = 0.95
GAIN_SMOOTHING_SECONDS = 0.05
# a state change on a bar line moves the stem gains in straight lines, not by smoothing: a
# stem the new state turns down fades over the old bar's last LANDING_FADE_SECONDS, to end
# on the bar line; one it turns up rises over the new bar's first LANDING_RISE_SECONDS. So
# the new state's first notes (a crash on its downbeat) sound at its own balance, not for
# 50 ms at the old state's
LANDING_FADE_SECONDS = 0.02
LANDING_RISE_SECONDS = 0.004
MAX_STEMS = 64  # the schema's limit: the landing ramp's tables are sized once for it
LIMITER_RELEASE_SECONDS = 0.3
INTENSITY_STEPS = 512  # gain targets are tabulated per 1/512 of the intensity range
EVENT_RING = 4096  # events the game has not drained yet; the oldest go first
LOG_RING = 4096  # transitions and stingers kept for the report
RELOAD_FADE_SECONDS = 0.08  # a reload's old bar fades out under the new one's this long
VOLUME_RAMP_SECONDS = 0.03  # the master volume moves its whole range in this long, linearly
DEFERRED_COMMANDS = 64  # commands naming what only a bundle being loaded has, kept for its switch


@dataclass(frozen=True, slots=True)
class MusicEvent:
    """Something musical that happened, for the game to sync to.

    kind: "beat", "bar", "transition", "stinger", "reload" (a new bundle is heard
    from here; name: the bundle's name) or "error"; frame: on the engine's
    sample clock; name: the new state (bar, transition) or the stinger; time:
    ``frame`` in seconds of music; at: the ``time.perf_counter()`` at which the
    event is heard, predicted from the output's latency (None offline).
    """

    kind: str
    frame: int
    bar: int
    beat: int
    name: str | None
    time: float
    at: float | None = None


class BarSource(Protocol):
    """Where the mixer gets bars from and gives them back (the scheduler)."""

    def take(self, index: int) -> BarAudio | None:
        """The bar to play as bar ``index``, or None when it is not ready."""

    def retire(self, bar: BarAudio, played: bool) -> None:
        """Hand a finished bar back, so its audio is freed off the audio thread."""

    def replacement(self, index: int, state: str) -> BarAudio | None:
        """Bar ``index`` composed again in ``state``, for a change within the bar, if ready."""

    def next_switch(self, playing: int) -> Any:
        """A reload's ``Handoff`` waiting to land after bar ``playing``, or None."""

    def switched(self, handoff: Any) -> None:
        """The mixer switched to ``handoff``'s program (its old tables are in ``retired``)."""

    def missed(self, handoff: Any) -> None:
        """``handoff``'s bar started before the mixer saw it: plan the switch again."""


@dataclass(frozen=True)
class StemMix:
    """The mix settings the mixer needs per stem, in stem order."""

    names: tuple[str, ...]
    gains: tuple[float, ...]
    fades: tuple[tuple[float, float], ...]  # intensity [start, full]; (0, 0) = always on
    state_gains: Mapping[str, tuple[float, ...]]  # state -> per-stem multiplier

    def target_table(self, states: Sequence[str]) -> np.ndarray:
        """(states, INTENSITY_STEPS + 1, stems) gain targets, so the callback only indexes."""
        intensity = np.linspace(0.0, 1.0, INTENSITY_STEPS + 1)[:, None]
        lo = np.array([f[0] for f in self.fades])[None, :]
        hi = np.array([f[1] for f in self.fades])[None, :]
        fade = np.clip((intensity - lo) / np.maximum(hi - lo, 1e-6), 0.0, 1.0)
        fade = np.where(hi <= 0.0, 1.0, fade)
        base = np.array(self.gains)[None, :] * fade
        return np.stack([base * np.array(self.state_gains[s])[None, :] for s in states])


class Mixer:
    def __init__(
        self,
        clock: MusicalClock,
        control: Control,
        source: BarSource,
        stems: StemMix,
        states: Sequence[str],
        stingers: StingerVoices,
        intensity_range: tuple[float, float],
        max_frames: int,
        ready_margin_frames: int = 0,
        rules: Callable[[str, str], TransitionRule] | None = None,
        seeks: Mapping[str, float] | None = None,
        master_gain: float = MASTER_GAIN,
        tempos: Mapping[str, float] | None = None,
    ) -> None:
        self.clock = clock
        control.clock = clock
        # bpm per state; a state not named plays at the tempo of the bars before it
        self.tempos: Mapping[str, float] = dict(tempos or {})
        self.master_gain = master_gain  # the bake's loudness calibration is folded in here
        self.rules = rules or (lambda _from, _to: TransitionRule())
        # units per second towards a new value, per parameter; 0 (or absent) jumps
        self.seeks = {name: rate for name, rate in (seeks or {}).items() if rate > 0}
        self.parameter_targets: dict[str, float] = {}
        self.control = control
        self.source = source
        self.stem_names = stems.names
        self.stingers = stingers
        self.state_index = {name: i for i, name in enumerate(states)}
        self.targets = stems.target_table(states)
        # the same table as tuples, for the reports' view of each bar without a per-bar copy
        self._target_rows = [[tuple(row) for row in table.tolist()] for table in self.targets]
        self.intensity_lo, self.intensity_hi = intensity_range
        # a state change needs its first bar composed in time; closer to the bar line it waits a bar
        self.ready_margin_frames = ready_margin_frames
        self.frame = 0
        self.bar: BarAudio | None = None
        self.gains = np.zeros(len(stems.names), dtype=np.float64)
        self.limiter_gain = 1.0
        self.events: deque[MusicEvent] = deque(maxlen=EVENT_RING)
        self.transitions: deque[TransitionRecord] = deque(maxlen=LOG_RING)
        self.stinger_log: deque[StingerRecord] = deque(maxlen=LOG_RING)
        self.fallback_bars = 0
        self.late_transitions = 0
        self.callbacks = 0
        self.callback_seconds = 0.0  # all callbacks' time together, for the CPU budget
        self.callback_ms = TimingRing()
        self.capture: np.ndarray | None = None  # (stems, frames, 2): per-stem audio, offline only
        self.capture_pos = 0
        stem_count = len(stems.names)
        self._unit = np.arange(1, max_frames + 1, dtype=np.float32)
        # (1..n)/n for the block sizes the outputs use, so a block needs no division
        self._unit_over = {
            n: self._unit[:n] / n
            for n in (256, 480, 512, 1024, 2048, 4096, 8192)
            if n <= max_frames
        }
        self._ramp = np.zeros(max_frames, dtype=np.float32)
        self._ramps = np.zeros((stem_count, max_frames), dtype=np.float32)
        self._block = np.zeros((stem_count, max_frames, 2), dtype=np.float32)
        self._scratch = np.zeros((max_frames, 2), dtype=np.float32)
        self._fade_in = np.zeros(max_frames, dtype=np.float32)
        self._fade_out = np.zeros(max_frames, dtype=np.float32)
        self._last_state = control.initial_state
        self._swap: StateChange | None = None  # a change within the playing bar, not landed yet
        self._outgoing: BarAudio | None = None  # the bar fading out under its replacement
        self._fade_end = 0
        self._part_unit = np.zeros(max_frames, dtype=np.float32)  # (1..n)/n for any n
        self._gain_state = control.initial_state  # the state whose stem gains are the targets
        self._landing = -1  # the bar line of the landing ramp running; -1: none
        self._landing_pre_roll = False  # begun ahead of the bar line, so stems can fade to it
        self._landing_from = np.zeros(MAX_STEMS, dtype=np.float64)
        self._landing_to = np.zeros(MAX_STEMS, dtype=np.float64)
        self._landing_rise = np.zeros(max_frames, dtype=np.float32)
        self._landing_fade = np.zeros(max_frames, dtype=np.float32)
        self.volume = 1.0  # the master volume asked for (after the limiter)
        self._volume_gain = 1.0  # where its ramp has got to
        # hot reload: which program plays, the one waiting, and the old bar fading out
        self.program_id = 0
        self.program_bundle: Any = None
        self.reloads = 0
        self.stem_view: tuple[tuple[str, ...], np.ndarray] = (self.stem_names, self.gains)
        self.capture_rows: tuple[int, ...] = ()  # stem -> row of ``capture`` (-1: not captured)
        self._deferred: deque[Command] = deque(maxlen=DEFERRED_COMMANDS)
        self._handoff: Any = None
        self._first: BarAudio | None = None  # the new program's first bar, after the switch
        self._reload_out: BarAudio | None = None
        self._reload_gains = self.gains
        self._reload_curve = "equal_power"
        self._reload_start = 0
        self._reload_end = 0
        self.reload_fade_frames = max(64, int(RELOAD_FADE_SECONDS * clock.sample_rate))
        # sources without hot reload (a test's, a benchmark's) have no next_switch
        self._next_switch = getattr(source, "next_switch", None)
        # replay log (runtime._record.Recorder): hears what crosses into the mix, with its frame
        self.recorder: Any = None

    # --- the callback ---------------------------------------------------------------------

    def process(self, out: np.ndarray) -> None:
        """Fill ``out`` (frames, 2) float32 with the next frames of music.

        The rules of the audio path, which every change here must keep:

        - no allocation of audio buffers: it writes into ``out`` and preallocated scratch;
        - no lock: commands come through an atomic deque, bars through the source's
          deques, and nothing here waits;
        - no free of large buffers: finished bars go back to the source, whose worker
          drops them;
        - no unbounded growth: events and logs are fixed-size rings;
        - no I/O, no ONNX, no logging.
        """
        started = time.perf_counter()
        self.callbacks += 1
        if self.recorder is not None:  # replay log: the block's size (a few int compares)
            self.recorder.block(self.frame, out.shape[0])
        split = self._switch_point(out.shape[0])
        if split is None:
            self._mix(out)
        else:  # a reload lands inside this block: mix up to its bar line, switch, mix on
            if split > 0:
                self._mix(out[:split])
            self._switch(self._handoff)
            self._mix(out[split:])
        spent = time.perf_counter() - started
        self.callback_seconds += spent
        self.callback_ms.add(spent * 1000.0)

    def _mix(self, out: np.ndarray) -> None:
        self._drain()
        n = out.shape[0]
        if self.parameter_targets:
            self._seek(n)
        block_start = self.frame
        if self._landing < 0 and self.bar is not None:
            self._expect_landing(block_start, n)
        block = self._block
        chord_before = self.bar.chord if self.bar is not None else AS_WRITTEN
        pos = 0
        while pos < n:  # gather each stem's audio for the block, across bar lines
            bar = self.bar
            if bar is None or self.frame >= bar.start_frame + bar.frames:
                bar = self._start_bar(self.clock.bar_at(self.frame))
            if self._swap is not None and self.frame >= self._swap.landing_frame:
                bar = self._land_within_bar(bar)
            offset = self.frame - bar.start_frame
            m = min(n - pos, bar.frames - offset)
            if self._swap is not None and self._swap.landing_frame > self.frame:
                m = min(m, self._swap.landing_frame - self.frame)  # land on its exact frame
            if self._outgoing is not None:
                m = min(m, self._fade_end - self.frame)
            self._beats(bar, offset, m)
            block[:, pos : pos + m] = bar.playable[:, offset : offset + m]
            if self._outgoing is not None:
                self._crossfade(block[:, pos : pos + m], offset, m)
            pos += m
            self.frame += m
        assert self.bar is not None
        if self.bar.state != self._gain_state:
            bar_line = self.bar.start_frame
            if self._landing != bar_line and block_start <= bar_line:  # not foreseen: from here
                self._begin_landing(bar_line, self._gain_targets(self.bar.state), False)
            self._gain_state = self.bar.state
        if self._landing >= 0:
            self._ramp_landing(block_start, n)
        else:
            self._ramp_gains(self._gain_targets(self.bar.state), n)
        ramps = self._ramps[:, :n]
        if self.capture is not None:  # offline stems: each stem after its gain
            for s in range(ramps.shape[0]):
                row = self.capture_rows[s] if s < len(self.capture_rows) else -1
                if row < 0:
                    continue
                stem = self.capture[row, self.capture_pos : self.capture_pos + n]
                np.multiply(block[s, :n, 0], ramps[s], out=stem[:, 0])
                np.multiply(block[s, :n, 1], ramps[s], out=stem[:, 1])
            self.capture_pos += n
        # per channel, because a broadcast (stems, n, 1) multiply makes numpy allocate
        np.multiply(block[:, :n, 0], ramps, out=block[:, :n, 0])
        np.multiply(block[:, :n, 1], ramps, out=block[:, :n, 1])
        np.add.reduce(block[:, :n], axis=0, out=out)
        if self._reload_out is not None:
            self._fade_reload(out, block_start)
        chords = (self.bar.start_frame, chord_before, self.bar.chord)  # for stingers starting here
        self.stingers.mix(
            out,
            block_start,
            self._scratch,
            self.master_gain,
            self._stinger_started,
            chords,
            self.clock,
        )
        self._limit(out)
        if self._volume_gain != self.volume or self._volume_gain != 1.0:
            self._apply_volume(out)

    def _apply_volume(self, out: np.ndarray) -> None:
        """The master volume, after the limiter: a linear ramp towards its target, no click."""
        n = out.shape[0]
        v0, target = self._volume_gain, self.volume
        if v0 == target:
            out *= v0
            return
        step = n / (VOLUME_RAMP_SECONDS * self.clock.sample_rate)
        v1 = v0 + min(max(target - v0, -step), step)
        self._apply_ramp(out, v0, v1)
        self._volume_gain = v1

    def _apply_ramp(self, out: np.ndarray, g0: float, g1: float) -> None:
        """Scale ``out`` by a gain moving linearly from ``g0`` to ``g1`` across the block."""
        n = out.shape[0]
        ramp = self._ramp[:n]
        np.multiply(self._unit[:n], (g1 - g0) / n, out=ramp)
        ramp += g0
        out[:, 0] *= ramp
        out[:, 1] *= ramp

    def _expect_landing(self, block_start: int, n: int) -> None:
        """Begin the landing ramp before a bar line where another state starts, once the
        fade of the stems it turns down must start within this block."""
        bar = self.bar
        assert bar is not None
        bar_line = bar.start_frame + bar.frames
        if bar_line - block_start >= n + LANDING_FADE_SECONDS * self.clock.sample_rate:
            return
        state = self.control.state_for_bar(bar.index + 1)
        if state != self._gain_state and state in self.state_index:
            self._begin_landing(bar_line, self._gain_targets(state), True)

    def _begin_landing(self, bar_line: int, target: np.ndarray, pre_roll: bool) -> None:
        stems = self.gains.shape[0]
        self._landing, self._landing_pre_roll = bar_line, pre_roll
        self._landing_from[:stems] = self.gains
        self._landing_to[:stems] = target

    def _ramp_landing(self, block_start: int, n: int) -> None:
        """The landing ramp (see LANDING_FADE_SECONDS); a stem turned down when the change
        was not foreseen in time rises like the others, from the bar line."""
        rate = self.clock.sample_rate
        rise = self._landing_rise[:n]  # 0 until the bar line, 1 from LANDING_RISE_SECONDS on
        np.subtract(self._unit[:n], 1 + self._landing - block_start, out=rise)  # frames since
        fade = self._landing_fade[:n]  # 0 until LANDING_FADE_SECONDS before the line, 1 on it
        np.divide(rise, LANDING_FADE_SECONDS * rate, out=fade)
        fade += 1.0
        np.divide(rise, LANDING_RISE_SECONDS * rate, out=rise)
        np.clip(rise, 0.0, 1.0, out=rise)
        np.clip(fade, 0.0, 1.0, out=fade)
        gains, master = self.gains, self.master_gain
        for s in range(gains.shape[0]):
            a, b = float(self._landing_from[s]), float(self._landing_to[s])
            t = fade if self._landing_pre_roll and b < a else rise
            ramp = self._ramps[s, :n]
            np.multiply(t, (b - a) * master, out=ramp)
            ramp += a * master
            gains[s] = a + (b - a) * float(t[n - 1])
        if rise[n - 1] >= 1.0:
            self._landing = -1

    def _ramp_gains(self, target: np.ndarray, n: int) -> None:
        """Move each stem's gain towards its target; a linear ramp across the block, no zipper noise."""
        alpha = 1.0 - math.exp(-n / (GAIN_SMOOTHING_SECONDS * self.clock.sample_rate))
        unit = self._unit_over.get(n)
        if unit is None:
            unit = np.divide(self._unit[:n], n, out=self._part_unit[:n])
        gains = self.gains
        for s in range(gains.shape[0]):
            g0 = float(gains[s])
            g1 = g0 + (float(target[s]) - g0) * alpha
            if abs(g1) < 1e-7 and g0 == 0.0:
                g1 = 0.0
            gains[s] = g1
            ramp = self._ramps[s, :n]
            np.multiply(unit, (g1 - g0) * self.master_gain, out=ramp)
            ramp += g0 * self.master_gain

    # --- control --------------------------------------------------------------------------

    def _drain(self) -> None:
        commands = self.control.commands
        while commands:
            command = commands.popleft()
            if self.recorder is not None:  # replay log: the command and the frame it applies at
                self.recorder.command(self.frame, command)
            self._apply(command)

    def _apply(self, command: Command) -> None:
        if command.kind == "parameter":
            if command.name in self.seeks:
                self.parameter_targets[command.name] = command.value
            else:
                self.control.parameters[command.name] = command.value
                self.parameter_targets.pop(command.name, None)
        elif command.kind == "volume":
            self.volume = command.value
        elif command.kind == "state":
            if command.name in self.state_index:
                self._schedule_state(command)
            else:  # a state only the bundle being loaded has: it applies when that lands
                self._deferred.append(command)
        elif command.kind == "stinger":
            if command.name in self.stingers.stingers:
                self.stingers.trigger(command.name, self.frame, self.clock)
            else:
                self._deferred.append(command)

    # --- hot reload -----------------------------------------------------------------------

    def _switch_point(self, n: int) -> int | None:
        """Frames into this block where a waiting reload lands, or None."""
        if self._next_switch is None:
            return None
        playing = -1 if self.bar is None else self.bar.index
        handoff = self._next_switch(playing)
        if handoff is None or handoff.taken:
            return None
        if handoff.bar <= playing:  # its bar began before it was ready: plan it again
            handoff.taken = True
            self.source.missed(handoff)
            return None
        at = self.clock.bar_start(handoff.bar)
        if at >= self.frame + n:
            return None
        self._handoff = handoff
        return max(at - self.frame, 0)

    def _switch(self, handoff: Any) -> None:
        """Swap in the new program's tables on its first bar's first frame (references only)."""
        program = handoff.program
        handoff.taken = True
        self._handoff = None
        old_names, old_gains = self.stem_names, self.gains
        handoff.retired = (self._block, self._ramps, self.targets, self.stingers)
        new_gains = program.gains
        for s, name in enumerate(program.stems.names):  # a stem both bundles have keeps its level
            if name in old_names:
                new_gains[s] = old_gains[old_names.index(name)]
        old_gains *= self.master_gain  # the old bar fades out at the level it played
        self._reload_gains = old_gains
        if self.capture is not None:
            rows = dict(zip(old_names, self.capture_rows, strict=False))
            self.capture_rows = tuple(rows.get(name, -1) for name in program.stems.names)
        self.tempos = program.tempos
        control = self.control
        # changes scheduled since the worker planned the switch keep their tempos
        clock = clock_for_schedule(
            program.clock,
            [c for c in control.schedule if c.tempo_bar > handoff.bar],
            lambda state: program.tempos.get(program.state_for(state), program.clock.tempo),
        )
        self.clock = clock
        control.clock = clock
        control.program = program.id
        self.master_gain = program.master_gain
        self.rules = program.rules
        self.seeks = program.active_seeks
        self.state_index = program.state_index
        self.targets = program.targets
        self.intensity_lo, self.intensity_hi = program.intensity_range
        self.stem_names = program.stems.names
        self.gains = new_gains
        self._landing = -1  # the reload's own crossfade takes over
        self._ramps, self._block = program.ramps, program.block
        _adopt_voices(program.stingers, self.stingers)
        self.stingers = program.stingers
        control.parameters = program.map_parameters(control.parameters, self.parameter_targets)
        control.state_valence = program.valence
        control.initial_state = program.state_for(control.initial_state)
        control.schedule = program.map_schedule(control.schedule)
        self._swap = None
        self.program_id = program.id
        self.program_bundle = program.bundle
        self.stem_view = (self.stem_names, self.gains)
        self.reloads += 1
        self._first = handoff.first
        self._reload_curve = handoff.fade
        self.source.switched(handoff)
        deferred = self._deferred
        for _ in range(len(deferred)):  # what waited for this bundle; the rest is dropped
            command = deferred.popleft()
            known = self.state_index if command.kind == "state" else self.stingers.stingers
            if command.name in known:
                self._apply(command)

    def _fade_reload(self, out: np.ndarray, start: int) -> None:
        """The old bundle's bar, at the level it played, fading out under the new one."""
        old = self._reload_out
        assert old is not None
        n = out.shape[0]
        offset = start - old.start_frame
        m = max(0, min(n, self._reload_end - start, old.playable.shape[1] - offset))
        length = self._reload_end - self._reload_start
        x = self._fade_in[:m]
        np.multiply(self._unit[:m], 1.0 / length, out=x)
        x += (start - self._reload_start) / length
        fade_out = self._fade_out[:m]
        _fade_curves(self._reload_curve, x, fade_out)  # x becomes the fade-in weight
        for channel in (0, 1):
            column = out[:m, channel]
            np.multiply(column, x, out=column)
            scratch = self._scratch[:m, channel]
            for s in range(min(old.playable.shape[0], self._reload_gains.shape[0])):
                np.multiply(old.playable[s, offset : offset + m, channel], fade_out, out=scratch)
                scratch *= self._reload_gains[s]
                column += scratch
        if start + n >= self._reload_end:
            self.source.retire(old, False)
            self._reload_out = None

    def _seek(self, n: int) -> None:
        """Move seeking parameters towards their targets, as far as one block allows."""
        seconds = n / self.clock.sample_rate
        parameters = self.control.parameters
        for name in list(self.parameter_targets):
            target, now = self.parameter_targets[name], parameters.get(name, 0.0)
            step = self.seeks[name] * seconds
            if abs(target - now) <= step:
                parameters[name] = target
                del self.parameter_targets[name]
            else:
                parameters[name] = now + step if target > now else now - step

    def _schedule_state(self, command: Command) -> None:
        playing = -1 if self.bar is None else self.bar.index
        heading = self.control.state_for_bar(1 << 40)  # the last state asked for
        rule = self.rules(heading, command.name)
        sync = command.sync or Sync(rule.sync if rule.sync != "bars" else "bar", rule.bars)
        clock, margin = self.clock, self.ready_margin_frames
        if sync.within_bar and playing >= 0:
            # the new music must be composed first: the first boundary at least a margin away
            if sync.kind == "beat":
                landing, _, _ = clock.next_beat(self.frame + margin)
            else:
                landing = self.frame + margin
            target = clock.bar_at(landing)
            if landing == clock.bar_start(target):  # a beat on the bar line: an ordinary change
                self._schedule(self._change(command.name, sync, rule, target, landing), playing)
                return
            fade = int(rule.fade_beats * clock.frames_per_beat_at(target))
            change = self._change(command.name, sync, rule, target, landing, fade)
            self._schedule(change, playing)
            self._swap = change
            return
        if sync.kind == "cue":  # the end of the phrase playing, counted from its first bar
            origin = self.control.phrase_origin_for(playing)
            target = origin + ((playing - origin) // CUE_BARS + 1) * CUE_BARS
        else:
            target = playing + sync.bars
        if playing >= 0 and clock.bar_start(target) - self.frame < margin:
            target += CUE_BARS if sync.kind == "cue" else 1  # too close to compose in time
        target = max(target, 0)
        self._schedule(
            self._change(command.name, sync, rule, target, clock.bar_start(target)), playing
        )

    def _change(
        self,
        state: str,
        sync: Sync,
        rule: TransitionRule,
        target: int,
        landing: int,
        fade_frames: int = 0,
    ) -> StateChange:
        """The change to ``state`` from bar ``target``, with what its rule decides."""
        within = landing != self.clock.bar_start(target)
        first = self.bar is None  # before the music starts: it starts in this state, plainly
        lead_in = rule.transition_bar and not first
        before = target if within else target - 1  # the bar whose music it leaves
        if rule.entry == "same_position":
            origin = self.control.phrase_origin_for(before)
        else:  # the destination's phrase starts on its first own bar
            origin = target + (1 if lead_in else 0)
        return StateChange(
            state,
            str(sync),
            self.frame,
            target,
            landing,
            fade_frames,
            rule.fade if within else "equal_power",
            tempo_bar=target + 1 if within else target,
            ramp_bars=0 if first else rule.tempo_ramp_bars,
            transition_bar=lead_in,
            phrase_origin=origin,
            from_state=self.control.state_for_bar(before),
        )

    def _schedule(self, change: StateChange, playing: int) -> None:
        if self._swap is not None and self._swap.landing_frame >= change.landing_frame:
            self._swap = None  # superseded before it landed
        self.control.schedule_change(change, playing)
        tempo = self.tempos.get(change.state)
        # published after the schedule: a bar the worker composes in between has a key
        # (``Composer.plan_key``) that no longer matches, and is composed again
        if tempo is not None:
            clock = self.clock
            if self.bar is None and change.target_bar <= clock.origin_bar:  # nothing played yet
                clock = replace(clock, tempo=tempo, changes=())
            else:
                clock = clock.retimed(change.tempo_bar, tempo, change.ramp_bars)
            self.clock = clock
            self.control.clock = clock

    def _land_within_bar(self, bar: BarAudio) -> BarAudio:
        """The playing bar's replacement in the new state takes over, fading in over the old."""
        change = self._swap
        assert change is not None
        replacement = self.source.replacement(bar.index, change.state)
        if replacement is None:
            return bar  # not composed yet: it lands as soon as it is (counted late)
        self._swap = None
        if self.recorder is not None:  # replay log: the replacement taken, and where
            self.recorder.swap(self.frame, bar.index, replacement.serial)
        if change.landing_frame != self.frame:
            self.late_transitions += 1
        replacement.gains = bar.gains
        self._outgoing = bar
        self._fade_end = min(self.frame + max(change.fade_frames, 64), bar.start_frame + bar.frames)
        self._fade_start = self.frame
        self._fade_curve = change.fade
        self.bar = replacement
        self._note_transition(replacement, self.frame)
        return replacement

    def _crossfade(self, block: np.ndarray, offset: int, m: int) -> None:
        """Mix the outgoing bar under the incoming one for ``m`` frames of the fade."""
        old = self._outgoing
        assert old is not None
        length = self._fade_end - self._fade_start
        x = self._fade_in[:m]
        np.multiply(self._unit[:m], 1.0 / length, out=x)
        x += (self.frame - self._fade_start) / length
        fade_out = self._fade_out[:m]
        _fade_curves(self._fade_curve, x, fade_out)  # x becomes the fade-in weight
        for s in range(block.shape[0]):
            for channel in (0, 1):
                column = block[s, :, channel]
                np.multiply(column, x, out=column)
                scratch = self._scratch[:m, channel]
                np.multiply(old.playable[s, offset : offset + m, channel], fade_out, out=scratch)
                column += scratch
        if self.frame + m >= self._fade_end:
            self.source.retire(old, False)
            self._outgoing = None

    def _gain_targets(self, state: str) -> np.ndarray:
        return self.targets[self.state_index[state], self._intensity_step()]

    def _intensity_step(self) -> int:
        intensity = self.control.parameters.get("intensity", 0.5)
        span = self.intensity_hi - self.intensity_lo
        step = int(round((intensity - self.intensity_lo) / span * INTENSITY_STEPS))
        return min(max(step, 0), INTENSITY_STEPS)

    # --- bars -----------------------------------------------------------------------------

    def _start_bar(self, index: int) -> BarAudio:
        previous = self.bar
        first = self._first
        if first is not None and first.index == index:  # a reload lands here
            self._first = None
            outgoing = self.source.take(index)  # the old bundle's bar, if it was composed
            bar = first
            if outgoing is not None and previous is not None:
                if self._reload_out is not None:
                    self.source.retire(self._reload_out, False)
                self._reload_out = outgoing
                self._reload_start = self.frame
                self._reload_end = self.frame + self.reload_fade_frames
            elif outgoing is not None:
                self.source.retire(outgoing, False)
            name = self.program_bundle.name if self.program_bundle is not None else None
            seconds = self.frame / self.clock.sample_rate
            self.events.append(MusicEvent("reload", self.frame, index, 0, name, seconds))
        else:
            bar = self.source.take(index)
            if bar is not None and bar.program != self.program_id:  # composed for the old bundle
                self.source.retire(bar, False)
                bar = None
        if self.recorder is not None:  # replay log: which composed bar plays (0: a repeat)
            self.recorder.take(self.frame, index, 0 if bar is None else bar.serial)
        if bar is None:  # the composer is late: repeat what played, never go silent
            if previous is None:
                raise RuntimeError("the first bar was not composed before playback started")
            bar = previous.repeated_as(
                index, self.clock.bar_start(index), self.clock.bar_frames(index)
            )
            self.fallback_bars += 1
        start, frames = self.clock.bar_start(index), self.clock.bar_frames(index)
        if (bar.start_frame, bar.frames) != (start, frames):  # made under an older tempo map
            bar = _on_grid(bar, start, frames)
        bar.tempo = self.clock.tempo_at(index)
        bar.gains = self._target_rows[self.state_index[bar.state]][self._intensity_step()]
        if previous is not None:
            self.source.retire(previous, True)
        if self._outgoing is not None:  # a fade cut short by the bar line
            self.source.retire(self._outgoing, False)
            self._outgoing = None
        self.bar = bar
        seconds = self.frame / self.clock.sample_rate
        wanted = self.control.state_for_bar(index)
        if wanted != bar.state:
            self.late_transitions += 1  # its bar was not composed in time; it lands on a later bar
        swap = self._swap
        if swap is not None and swap.target_bar <= index and swap.state == bar.state:
            # a change asked for within a bar that began after the request: this whole bar
            # is already in the new state, so it lands here, once (not again mid-bar)
            self._swap = None
        if bar.state != self._last_state:
            self._note_transition(bar, self.frame)
        # after its transition: a game that reads "bar" already knows the new state
        self.events.append(MusicEvent("bar", self.frame, index, 0, bar.state, seconds))
        return bar

    def _note_transition(self, bar: BarAudio, frame: int) -> None:
        change = bar.change
        self.transitions.append(
            TransitionRecord(
                self._last_state,
                bar.state,
                change.sync if change else "bar",
                change.requested_frame if change else frame,
                frame,
                bar.index,
            )
        )
        beat = int((frame - bar.start_frame) // self.clock.frames_per_beat_at(bar.index))
        seconds = frame / self.clock.sample_rate
        self.events.append(MusicEvent("transition", frame, bar.index, beat, bar.state, seconds))
        self._last_state = bar.state

    def _beats(self, bar: BarAudio, offset: int, m: int) -> None:
        end = offset + m
        for beat, at in enumerate(self.clock.beat_offsets_at(bar.index)):
            if at >= end:
                break
            if at >= offset:
                frame = bar.start_frame + at
                seconds = frame / self.clock.sample_rate
                self.events.append(MusicEvent("beat", frame, bar.index, beat, None, seconds))

    def _stinger_started(self, voice: StingerVoice) -> None:
        if self.recorder is not None:  # replay log: whether a version for its bar was ready
            played = voice.audio is not self.stingers.stingers[voice.name].audio
            self.recorder.stinger(voice.start_frame, voice.name, voice.chord, played)
        seconds = voice.start_frame / self.clock.sample_rate
        self.events.append(
            MusicEvent("stinger", voice.start_frame, voice.bar, voice.beat, voice.name, seconds)
        )
        self.stinger_log.append(
            StingerRecord(
                voice.name,
                voice.requested_frame,
                voice.start_frame,
                voice.bar,
                voice.beat,
                voice.chord,
            )
        )

    def _limit(self, out: np.ndarray) -> None:
        peak = max(float(out.max()), -float(out.min()))
        n = out.shape[0]
        g0 = self.limiter_gain
        if peak * g0 > LIMIT:
            g1 = LIMIT / peak  # attack at once: never clip
            out *= g1
        else:
            step = n / (LIMITER_RELEASE_SECONDS * self.clock.sample_rate)
            g1 = min(1.0, g0 + step, LIMIT / peak if peak > 0 else 1.0)
            if g1 != 1.0 or g0 != 1.0:
                self._apply_ramp(out, g0, g1)
        self.limiter_gain = g1
        np.clip(out, -1.0, 1.0, out=out)


def _on_grid(bar: BarAudio, start: int, frames: int) -> BarAudio:
    """``bar`` placed on the grid of the current tempo map (composed, or repeated, under an
    older one). Its audio has rows for the longest bar its style plays; a bar of another
    bundle's longer grid is padded with silence (a rare allocation, not a lost bar)."""
    bar.start_frame, bar.frames = start, frames
    if bar.playable.shape[1] < frames:
        padded = np.zeros((bar.playable.shape[0], frames, 2), dtype=np.float32)
        padded[:, : bar.playable.shape[1]] = bar.playable
        bar.playable = padded
    return bar


def _adopt_voices(new: StingerVoices, old: StingerVoices) -> None:
    """Stingers still sounding from the old bundle play on in the new one's pool."""
    free = (voice for voice in new.voices if not voice.active)
    for voice in old.voices:
        if not voice.active:
            continue
        slot = next(free, None)
        if slot is None:
            return
        slot.active, slot.announced, slot.name = True, voice.announced, voice.name
        slot.audio, slot.gain, slot.start_frame = voice.audio, voice.gain, voice.start_frame
        slot.requested_frame, slot.bar, slot.beat = voice.requested_frame, voice.bar, voice.beat


def _fade_curves(curve: str, x: np.ndarray, fade_out: np.ndarray) -> None:
    """Turn positions ``x`` (0..1 through the fade) into the fade-in weight, in place,
    and write the fade-out weight into ``fade_out``."""
    np.clip(x, 0.0, 1.0, out=x)
    if curve == "linear":
        np.subtract(1.0, x, out=fade_out)
    elif curve == "s_curve":  # smoothstep: gentle at both ends
        np.multiply(x, x, out=fade_out)
        x *= -2.0
        x += 3.0
        x *= fade_out  # 3x^2 - 2x^3
        np.subtract(1.0, x, out=fade_out)
    else:  # equal power: constant loudness through the fade of uncorrelated stems
        x *= np.float32(math.pi / 2)
        np.cos(x, out=fade_out)
        np.sin(x, out=x)
