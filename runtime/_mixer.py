"""The mixer: owns the sample clock and fills output buffers.

``process`` is what the audio callback runs. It copies from pre-rendered bars,
multiplies by smoothed gain ramps, sums, adds stingers, limits and counts. It
does no I/O, no ONNX and no logging, and it works in preallocated buffers.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from adaptive._bundle import Bundle

from ._clock import MusicalClock
from ._composer import BarAudio
from ._control import Command, Control, StateChange

MASTER_GAIN = 0.7
_PLAYED = np.zeros((0, 0, 2), dtype=np.float32)
LIMIT = 0.95
GAIN_SMOOTHING_SECONDS = 0.05
LIMITER_RELEASE_SECONDS = 0.3


@dataclass(frozen=True, slots=True)
class MusicEvent:
    """Something musical that happened, for the game to sync to.

    kind: "beat", "bar", "transition" or "stinger"; frame: on the engine's
    sample clock; name: the new state (transition) or the stinger.
    """

    kind: str
    frame: int
    bar: int
    beat: int
    name: str | None
    time: float


@dataclass
class StingerVoice:
    name: str
    audio: np.ndarray  # (frames, 2)
    start_frame: int
    requested_frame: int
    bar: int
    beat: int


class Mixer:
    def __init__(
        self,
        bundle: Bundle,
        clock: MusicalClock,
        control: Control,
        fetch_bar: Callable[[int], BarAudio],
        stingers: dict[str, np.ndarray],
        max_frames: int,
    ) -> None:
        self.clock = clock
        self.control = control
        self.fetch_bar = fetch_bar
        self.stinger_audio = stingers
        self.stinger_gain = {name: float(spec["gain"]) for name, spec in bundle.stingers.items()}
        self.stem_names = list(bundle.stems)
        specs = [bundle.stems[n] for n in self.stem_names]
        self.base_gain = np.array([float(s["gain"]) for s in specs], dtype=np.float64)
        self.fade = np.array([s["intensity"] for s in specs], dtype=np.float64)  # (stems, 2)
        self.state_gain = {
            state: np.array(
                [float(spec["stems"].get(n, 1.0)) for n in self.stem_names], dtype=np.float64
            )
            for state, spec in bundle.states.items()
        }
        self.frame = 0
        self.bar: BarAudio | None = None
        self.gains = np.zeros(len(self.stem_names), dtype=np.float64)
        self._targets_key: tuple[str, float] | None = None
        self._targets_cached = self.gains
        self.limiter_gain = 1.0
        self.events: deque[MusicEvent] = deque(maxlen=4096)
        self.played: deque[BarAudio] = deque()  # for reports; trimmed by the engine
        self.transitions: list[dict] = []
        self.stingers_log: list[dict] = []
        self.active_stingers: list[StingerVoice] = []
        self.fallback_bars = 0
        self.callbacks = 0
        self.capture: list[list[np.ndarray]] | None = None  # per-stem audio, offline only
        self._unit = np.arange(1, max_frames + 1, dtype=np.float32)
        self._ramp = np.zeros(max_frames, dtype=np.float32)
        self._scratch = np.zeros((max_frames, 2), dtype=np.float32)

    # --- control --------------------------------------------------------------------------

    def _drain(self) -> None:
        commands = self.control.commands
        while commands:
            command: Command = commands.popleft()
            if command.kind == "parameter":
                self.control.parameters[command.name] = command.value
            elif command.kind == "state":
                # the next bar that has not started yet
                target = 0 if self.bar is None else self.bar.index + 1
                self.control.schedule.append(
                    StateChange(command.name, command.sync, self.frame, target)
                )
            elif command.kind == "stinger":
                start, bar, beat = self.clock.next_beat(self.frame)
                self.active_stingers.append(
                    StingerVoice(
                        command.name, self.stinger_audio[command.name], start, self.frame, bar, beat
                    )
                )

    def _targets(self, bar: BarAudio) -> np.ndarray:
        intensity = self.control.parameters.get("intensity", 0.5)
        key = (bar.state, intensity)
        if key == self._targets_key:
            return self._targets_cached  # the callback's usual case: nothing changed
        lo, hi = self.fade[:, 0], self.fade[:, 1]
        width = np.maximum(hi - lo, 1e-6)
        fade = np.clip((intensity - lo) / width, 0.0, 1.0)
        fade = np.where(hi <= 0.0, 1.0, fade)  # [0, 0] means always on
        self._targets_key = key
        self._targets_cached = self.base_gain * self.state_gain.get(bar.state, 1.0) * fade
        return self._targets_cached

    # --- bars -----------------------------------------------------------------------------

    def _start_bar(self, index: int) -> None:
        previous = self.bar
        bar = self.fetch_bar(index)
        if bar.fallback:
            self.fallback_bars += 1
        bar.gains = tuple(self._targets(bar))  # for reports: what this bar was mixed at
        if previous is not None and previous is not bar:
            previous.playable = _PLAYED  # its audio is spent; keep only what reports need
        self.bar = bar
        self.played.append(bar)
        self._compact_schedule(index)
        seconds = self.frame / self.clock.sample_rate
        self.events.append(MusicEvent("bar", self.frame, index, 0, bar.state, seconds))
        if previous is not None and previous.state != bar.state:
            change = bar.change
            self.transitions.append(
                {
                    "from": previous.state,
                    "to": bar.state,
                    "sync": change.sync if change else "bar",
                    "requested_frame": change.requested_frame if change else self.frame,
                    "landed_frame": self.frame,
                    "bar": index,
                }
            )
            self.events.append(MusicEvent("transition", self.frame, index, 0, bar.state, seconds))

    def _compact_schedule(self, playing: int) -> None:
        # Keep the schedule short: drop changes superseded before the bar before this one.
        schedule = self.control.schedule
        old = [c for c in schedule if c.target_bar < playing - 1]
        if len(old) > 1:
            keep = old[-1]
            self.control.schedule = [keep] + [
                c for c in schedule if c.target_bar >= playing - 1
            ]  # a swap, not a mutation

    # --- the callback ---------------------------------------------------------------------

    def process(self, out: np.ndarray) -> None:
        """Fill ``out`` (frames, 2) float32 with the next frames of music."""
        self.callbacks += 1
        self._drain()
        n = out.shape[0]
        out.fill(0.0)
        pos = 0
        clock = self.clock
        while pos < n:
            if self.bar is None or self.frame >= self.bar.start_frame + self.bar.frames:
                self._start_bar(clock.bar_at(self.frame))
            bar = self.bar
            assert bar is not None
            offset = self.frame - bar.start_frame
            m = min(n - pos, bar.frames - offset)
            self._beats(bar, offset, m)
            self._mix_bar(bar, offset, out[pos : pos + m], m)
            self._mix_stingers(out[pos : pos + m], m)
            pos += m
            self.frame += m
        self._limit(out)

    def _beats(self, bar: BarAudio, offset: int, m: int) -> None:
        per_beat = self.clock.frames_per_beat
        first = math.ceil(offset / per_beat - 1e-9)
        beat = first
        while beat < self.clock.meter.numerator:
            at = int(round(beat * per_beat))
            if at >= offset + m:
                break
            if at >= offset:
                frame = bar.start_frame + at
                self.events.append(
                    MusicEvent("beat", frame, bar.index, beat, None, frame / self.clock.sample_rate)
                )
            beat += 1

    def _mix_bar(self, bar: BarAudio, offset: int, out: np.ndarray, m: int) -> None:
        target = self._targets(bar)
        alpha = 1.0 - math.exp(-m / (GAIN_SMOOTHING_SECONDS * self.clock.sample_rate))
        ramp, scratch = self._ramp[:m], self._scratch[:m]
        for s in range(len(self.stem_names)):
            g0 = self.gains[s]
            g1 = g0 + (target[s] - g0) * alpha
            self.gains[s] = g1
            # linear ramp g0 -> g1 across the segment: no zipper noise
            np.multiply(self._unit[:m], (g1 - g0) / m * MASTER_GAIN, out=ramp)
            ramp += g0 * MASTER_GAIN
            np.multiply(bar.playable[s, offset : offset + m], ramp[:, None], out=scratch)
            out += scratch
            if self.capture is not None:
                self.capture[s].append(scratch.copy())

    def _mix_stingers(self, out: np.ndarray, m: int) -> None:
        if not self.active_stingers:
            return
        start, end = self.frame, self.frame + m
        for voice in list(self.active_stingers):
            length = voice.audio.shape[0]
            if voice.start_frame >= end:
                continue
            if start <= voice.start_frame < end:
                seconds = voice.start_frame / self.clock.sample_rate
                self.events.append(
                    MusicEvent(
                        "stinger", voice.start_frame, voice.bar, voice.beat, voice.name, seconds
                    )
                )
                self.stingers_log.append(
                    {
                        "name": voice.name,
                        "requested_frame": voice.requested_frame,
                        "landed_frame": voice.start_frame,
                    }
                )
            a = max(start, voice.start_frame)
            b = min(end, voice.start_frame + length)
            if b > a:
                gain = self.stinger_gain.get(voice.name, 0.8) * MASTER_GAIN
                scratch = self._scratch[: b - a]
                np.multiply(
                    voice.audio[a - voice.start_frame : b - voice.start_frame], gain, out=scratch
                )
                out[a - start : b - start] += scratch
            if voice.start_frame + length <= end:
                self.active_stingers.remove(voice)

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
                out *= ramp[:, None]
        self.limiter_gain = g1
        np.clip(out, -1.0, 1.0, out=out)
