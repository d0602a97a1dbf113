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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from ._bar import BarAudio
from ._clock import MusicalClock
from ._control import Command, Control, StateChange
from ._report import StingerRecord, TimingRing, TransitionRecord
from ._stingers import StingerVoice, StingerVoices

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
    ) -> None:
        self.clock = clock
        self.control = control
        self.source = source
        self.stem_names = stems.names
        self.stingers = stingers
        self.state_index = {name: i for i, name in enumerate(states)}
        self.targets = stems.target_table(states)
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
        self._last_state = control.initial_state

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
        block_start = self.frame
        block = self._block
        pos = 0
        while pos < n:  # gather each stem's audio for the block, across bar lines
            bar = self.bar
            if bar is None or self.frame >= bar.start_frame + bar.frames:
                bar = self._start_bar(self.clock.bar_at(self.frame))
            offset = self.frame - bar.start_frame
            m = min(n - pos, bar.frames - offset)
            self._beats(bar, offset, m)
            block[:, pos : pos + m] = bar.playable[:, offset : offset + m]
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
        self.stingers.mix(out, block_start, self._scratch, MASTER_GAIN, self._stinger_started)
        self._limit(out)
        self.callback_ms.add((time.perf_counter() - started) * 1000.0)

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
            np.multiply(unit, (g1 - g0) * MASTER_GAIN, out=ramp)
            ramp += g0 * MASTER_GAIN

    # --- control --------------------------------------------------------------------------

    def _drain(self) -> None:
        commands = self.control.commands
        while commands:
            command: Command = commands.popleft()
            if command.kind == "parameter":
                self.control.parameters[command.name] = command.value
            elif command.kind == "state":
                self._schedule_state(command)
            elif command.kind == "stinger":
                start, bar, beat = self.clock.next_beat(self.frame)
                self.stingers.start(command.name, start, self.frame, bar, beat)

    def _schedule_state(self, command: Command) -> None:
        playing = -1 if self.bar is None else self.bar.index
        target = playing + command.sync.bars
        if playing >= 0 and self.clock.bar_start(target) - self.frame < self.ready_margin_frames:
            target += 1  # too close to the bar line for its first bar to be composed
        change = StateChange(command.name, str(command.sync), self.frame, max(target, 0))
        self.control.schedule_change(change, playing)

    def _gain_targets(self, state: str) -> np.ndarray:
        intensity = self.control.parameters.get("intensity", 0.5)
        span = self.intensity_hi - self.intensity_lo
        step = int(round((intensity - self.intensity_lo) / span * INTENSITY_STEPS))
        return self.targets[self.state_index[state], min(max(step, 0), INTENSITY_STEPS)]

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
        bar.gains = tuple(self._gain_targets(bar.state).tolist())  # what reports show
        if previous is not None:
            self.source.retire(previous, True)
        self.bar = bar
        seconds = self.frame / self.clock.sample_rate
        wanted = self.control.state_for_bar(index)
        if wanted != bar.state:
            self.late_transitions += 1  # its bar was not composed in time; it lands on a later bar
        if bar.state != self._last_state:
            change = bar.change
            self.transitions.append(
                TransitionRecord(
                    self._last_state,
                    bar.state,
                    change.sync if change else "bar",
                    change.requested_frame if change else self.frame,
                    self.frame,
                    index,
                )
            )
            self.events.append(MusicEvent("transition", self.frame, index, 0, bar.state, seconds))
            self._last_state = bar.state
        # after its transition: a game that reads "bar" already knows the new state
        self.events.append(MusicEvent("bar", self.frame, index, 0, bar.state, seconds))
        return bar

    def _beats(self, bar: BarAudio, offset: int, m: int) -> None:
        per_beat = self.clock.frames_per_beat
        beat = math.ceil(offset / per_beat - 1e-9)
        while beat < self.clock.meter.numerator:
            at = int(round(beat * per_beat))
            if at >= offset + m:
                break
            if at >= offset:
                frame = bar.start_frame + at
                seconds = frame / self.clock.sample_rate
                self.events.append(MusicEvent("beat", frame, bar.index, beat, None, seconds))
            beat += 1

    def _stinger_started(self, voice: StingerVoice) -> None:
        seconds = voice.start_frame / self.clock.sample_rate
        self.events.append(
            MusicEvent("stinger", voice.start_frame, voice.bar, voice.beat, voice.name, seconds)
        )
        self.stinger_log.append(
            StingerRecord(
                voice.name, voice.requested_frame, voice.start_frame, voice.bar, voice.beat
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
