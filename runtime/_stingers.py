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

__all__ = ["StingerVoices", "render_stingers", "MAX_STINGER_VOICES", "STINGER_COOLDOWN_SECONDS"]

MAX_STINGER_VOICES = 8  # playing at once, over all stingers
STINGER_COOLDOWN_SECONDS = 0.05  # a re-trigger of the same stinger sooner than this is dropped
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


class StingerVoices:
    """The mixer's stinger pool. Used only on the mixer's thread."""

    def __init__(
        self,
        audio: Mapping[str, np.ndarray],
        gains: Mapping[str, float],
        sample_rate: int,
        slots: int = MAX_STINGER_VOICES,
    ) -> None:
        self.audio = dict(audio)
        self.gains = dict(gains)
        self.voices = [StingerVoice() for _ in range(slots)]
        self.cooldown_frames = int(STINGER_COOLDOWN_SECONDS * sample_rate)
        self._last_start: dict[str, int] = {name: -(1 << 62) for name in audio}
        self.dropped = 0  # triggers ignored by the cooldown or the voice cap

    def start(self, name: str, start_frame: int, requested_frame: int, bar: int, beat: int) -> None:
        if start_frame - self._last_start[name] < self.cooldown_frames:
            self.dropped += 1
            return
        self._last_start[name] = start_frame
        slot = next((v for v in self.voices if not v.active), None)
        if slot is None:  # all busy: drop the new one, since cutting a playing one would click
            self.dropped += 1
            return
        slot.active, slot.announced = True, False
        slot.name, slot.audio, slot.gain = name, self.audio[name], self.gains.get(name, 0.8)
        slot.start_frame, slot.requested_frame, slot.bar, slot.beat = (
            start_frame,
            requested_frame,
            bar,
            beat,
        )

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
