"""Stingers: short phrases laid over the music, quantized to the beat.

``render_stingers`` turns the bundle's stinger notes into audio once, off the
audio thread. ``StingerVoices`` is the mixer's fixed pool of playing stingers:
a trigger takes a free slot (or is dropped when all are busy), so a game that fires a
stinger on every bullet costs the callback a bounded amount of work.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from adaptive._bundle import Bundle
from adaptive._errors import BundleError

from ._clock import MusicalClock
from ._instruments import PitchedInstrument, make_instrument

__all__ = [
    "StingerVoices",
    "StingerSettings",
    "render_stingers",
    "stinger_settings",
    "MAX_STINGER_VOICES",
]

MAX_STINGER_VOICES = 8  # playing at once, over all stingers
STINGER_TAIL_SECONDS = 0.6


def render_stingers(bundle: Bundle, clock: MusicalClock) -> dict[str, np.ndarray]:
    """Each stinger's audio, (frames, 2) float32, in the bundle's key."""
    key = bundle.key
    tonic = 60 + key.tonic - (12 if key.tonic > 6 else 0)
    fps = clock.frames_per_step
    out = {}
    for name, spec in bundle.stingers.items():
        try:
            instrument = make_instrument(spec["instrument"], clock.sample_rate)
        except ValueError as exc:
            raise BundleError(
                f"bundle field 'manifest.stingers.{name}.instrument': {exc}"
            ) from None
        if not isinstance(instrument, PitchedInstrument):
            instrument = make_instrument("lead", clock.sample_rate)
        assert isinstance(instrument, PitchedInstrument)
        notes = [
            (min(127, max(0, tonic + semis)), int(round(step * fps)), int(round(steps * fps)), vel)
            for step, semis, steps, vel in spec["notes"]
        ]
        length = max(start + frames for _, start, frames, _ in notes)
        audio = np.zeros((length + int(STINGER_TAIL_SECONDS * clock.sample_rate), 2), np.float32)
        instrument.render(notes, audio)
        out[name] = audio
    return out


def stinger_settings(bundle: Bundle, clock: MusicalClock) -> dict[str, StingerSettings]:
    """Each stinger's audio and rules, from the bundle's typed manifest."""
    audio = render_stingers(bundle, clock)
    return {
        name: StingerSettings(
            audio[name],
            spec.gain,
            spec.sync,
            int(spec.cooldown * clock.sample_rate),
            spec.max_voices,
        )
        for name, spec in bundle.spec.stingers.items()
    }


@dataclass(slots=True)
class StingerVoice:
    """One slot of the pool; ``active`` False means free."""

    active: bool = False
    announced: bool = False  # its "stinger" event has been sent
    name: str = ""
    audio: np.ndarray | None = None
    gain: float = 0.0
    start_frame: int = 0
    requested_frame: int = 0
    bar: int = 0
    beat: int = 0


@dataclass(frozen=True, slots=True)
class StingerSettings:
    """How one stinger plays: its audio and the style's rules for it."""

    audio: np.ndarray  # (frames, 2) float32
    gain: float = 0.8
    sync: str = "beat"  # "immediate", "beat" or "bar"
    cooldown_frames: int = 0
    max_voices: int = 4


class StingerVoices:
    """The mixer's stinger pool. Used only on the mixer's thread."""

    def __init__(
        self, stingers: Mapping[str, StingerSettings], slots: int = MAX_STINGER_VOICES
    ) -> None:
        self.stingers = dict(stingers)
        self.voices = [StingerVoice() for _ in range(slots)]
        self._last_start: dict[str, int] = {name: -(1 << 62) for name in stingers}
        self.dropped = 0  # triggers ignored by the cooldown or the voice caps

    def trigger(self, name: str, frame: int, clock: MusicalClock) -> None:
        """Schedule ``name`` on its quantization boundary at or after ``frame``."""
        settings = self.stingers[name]
        if settings.sync == "immediate":
            start, bar = frame, clock.bar_at(frame)
            beat = int((frame - clock.bar_start(bar)) // clock.frames_per_beat)
        elif settings.sync == "bar":
            bar = clock.bar_at(frame)
            if clock.bar_start(bar) < frame:
                bar += 1
            start, beat = clock.bar_start(bar), 0
        else:
            start, bar, beat = clock.next_beat(frame)
        self.start(name, start, frame, bar, beat)

    def start(self, name: str, start_frame: int, requested_frame: int, bar: int, beat: int) -> None:
        settings = self.stingers[name]
        if start_frame - self._last_start[name] < settings.cooldown_frames:
            self.dropped += 1
            return
        playing, slot = 0, None
        for voice in self.voices:
            if not voice.active:
                slot = slot or voice
            elif voice.name == name:
                playing += 1
        if slot is None or playing >= settings.max_voices:
            self.dropped += 1  # cutting a playing one short would click
            return
        self._last_start[name] = start_frame
        slot.active, slot.announced = True, False
        slot.name, slot.audio, slot.gain = name, settings.audio, settings.gain
        slot.start_frame, slot.requested_frame = start_frame, requested_frame
        slot.bar, slot.beat = bar, beat

    def mix(
        self,
        out: np.ndarray,
        frame: int,
        scratch: np.ndarray,
        master: float,
        on_start: Callable[[StingerVoice], None],
    ) -> None:
        """Add the active voices' audio for ``out``'s frames; ``on_start`` hears each new one."""
        end = frame + out.shape[0]
        for voice in self.voices:
            if not voice.active or voice.start_frame >= end:
                continue
            audio = voice.audio
            assert audio is not None
            if not voice.announced:
                voice.announced = True
                on_start(voice)
            a = max(frame, voice.start_frame)
            b = min(end, voice.start_frame + audio.shape[0])
            if b > a:
                chunk = scratch[: b - a]
                part = audio[a - voice.start_frame : b - voice.start_frame]
                np.multiply(part, voice.gain * master, out=chunk)
                out[a - frame : b - frame] += chunk
            if voice.start_frame + audio.shape[0] <= end:
                voice.active, voice.audio = False, None
