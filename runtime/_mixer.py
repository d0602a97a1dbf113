"""The mixer: owns the sample clock and fills the output's blocks.

``Mixer.process`` is the audio path: whichever output drives it (SDL's feeder,
the silent timer, the offline renderer) calls it with a block to fill. It obeys
the rules written in its docstring. Everything it needs is prepared elsewhere:
bars are composed and rendered by the scheduler's worker, stinger audio is
rendered at start-up, and gain targets come from a table built here once.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from adaptive._schema import TransitionSpec as TransitionRule

from ._bar import BarAudio
from ._clock import MusicalClock
from ._control import CUE_BARS, Command, Control, StateChange, Sync
from ._report import StingerRecord, TimingRing, TransitionRecord
from ._stingers import AS_WRITTEN, StingerVoice, StingerVoices

__all__ = ["Mixer", "MusicEvent", "BarSource", "StemMix", "MASTER_GAIN"]

MASTER_GAIN = 0.7
LIMIT = 0.95
GAIN_SMOOTHING_SECONDS = 0.05
LIMITER_RELEASE_SECONDS = 0.3
INTENSITY_STEPS = 512  # gain targets are tabulated per 1/512 of the intensity range
EVENT_RING = 4096  # events the game has not drained yet; the oldest go first
LOG_RING = 4096  # transitions and stingers kept for the report


@dataclass(frozen=True, slots=True)
class MusicEvent:
    """Something musical that happened, for the game to sync to.

    kind: "beat", "bar", "transition" or "stinger"; frame: on the engine's
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
    ) -> None:
        self.clock = clock
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
        self._drain()
        n = out.shape[0]
        if self.parameter_targets:
            self._seek(n)
        block_start = self.frame
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
        self._ramp_gains(self._gain_targets(self.bar.state), n)
        ramps = self._ramps[:, :n]
        if self.capture is not None:  # offline stems: each stem after its gain
            for s in range(ramps.shape[0]):
                stem = self.capture[s, self.capture_pos : self.capture_pos + n]
                np.multiply(block[s, :n, 0], ramps[s], out=stem[:, 0])
                np.multiply(block[s, :n, 1], ramps[s], out=stem[:, 1])
            self.capture_pos += n
        # per channel, because a broadcast (stems, n, 1) multiply makes numpy allocate
        np.multiply(block[:, :n, 0], ramps, out=block[:, :n, 0])
        np.multiply(block[:, :n, 1], ramps, out=block[:, :n, 1])
        np.add.reduce(block[:, :n], axis=0, out=out)
        chords = (self.bar.start_frame, chord_before, self.bar.chord)  # for stingers starting here
        self.stingers.mix(
            out, block_start, self._scratch, self.master_gain, self._stinger_started, chords
        )
        self._limit(out)
        spent = time.perf_counter() - started
        self.callback_seconds += spent
        self.callback_ms.add(spent * 1000.0)

    def _ramp_gains(self, target: np.ndarray, n: int) -> None:
        """Move each stem's gain towards its target; a linear ramp across the block, no zipper noise."""
        alpha = 1.0 - math.exp(-n / (GAIN_SMOOTHING_SECONDS * self.clock.sample_rate))
        unit = self._unit_over[n] if n in self._unit_over else self._unit[:n] / n
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
            command: Command = commands.popleft()
            if command.kind == "parameter":
                if command.name in self.seeks:
                    self.parameter_targets[command.name] = command.value
                else:
                    self.control.parameters[command.name] = command.value
                    self.parameter_targets.pop(command.name, None)
            elif command.kind == "state":
                self._schedule_state(command)
            elif command.kind == "stinger":
                self.stingers.trigger(command.name, self.frame, self.clock)

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
                self._schedule(
                    StateChange(command.name, str(sync), self.frame, target, landing), playing
                )
                return
            fade = int(rule.fade_beats * clock.frames_per_beat)
            change = StateChange(
                command.name, str(sync), self.frame, target, landing, fade, rule.fade
            )
            self._schedule(change, playing)
            self._swap = change
            return
        if sync.kind == "cue":
            target = (playing // CUE_BARS + 1) * CUE_BARS
        else:
            target = playing + sync.bars
        if playing >= 0 and clock.bar_start(target) - self.frame < margin:
            target += CUE_BARS if sync.kind == "cue" else 1  # too close to compose in time
        target = max(target, 0)
        self._schedule(
            StateChange(command.name, str(sync), self.frame, target, clock.bar_start(target)),
            playing,
        )

    def _schedule(self, change: StateChange, playing: int) -> None:
        if self._swap is not None and self._swap.landing_frame >= change.landing_frame:
            self._swap = None  # superseded before it landed
        self.control.schedule_change(change, playing)

    def _land_within_bar(self, bar: BarAudio) -> BarAudio:
        """The playing bar's replacement in the new state takes over, fading in over the old."""
        change = self._swap
        assert change is not None
        replacement = self.source.replacement(bar.index, change.state)
        if replacement is None:
            return bar  # not composed yet: it lands as soon as it is (counted late)
        self._swap = None
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
        bar = self.source.take(index)
        if bar is None:  # the composer is late: repeat what played, never go silent
            if previous is None:
                raise RuntimeError("the first bar was not composed before playback started")
            bar = previous.repeated_as(
                index, self.clock.bar_start(index), self.clock.bar_frames(index)
            )
            self.fallback_bars += 1
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
        beat = int((frame - bar.start_frame) // self.clock.frames_per_beat)
        seconds = frame / self.clock.sample_rate
        self.events.append(MusicEvent("transition", frame, bar.index, beat, bar.state, seconds))
        self._last_state = bar.state

    def _beats(self, bar: BarAudio, offset: int, m: int) -> None:
        end = offset + m
        for beat, at in enumerate(self.clock.beat_offsets):
            if at >= end:
                break
            if at >= offset:
                frame = bar.start_frame + at
                seconds = frame / self.clock.sample_rate
                self.events.append(MusicEvent("beat", frame, bar.index, beat, None, seconds))

    def _stinger_started(self, voice: StingerVoice) -> None:
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
                ramp = self._ramp[:n]
                np.multiply(self._unit[:n], (g1 - g0) / n, out=ramp)
                ramp += g0
                out[:, 0] *= ramp
                out[:, 1] *= ramp
        self.limiter_gain = g1
        np.clip(out, -1.0, 1.0, out=out)


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
