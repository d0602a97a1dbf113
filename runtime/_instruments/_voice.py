"""What every instrument shares: envelopes, the note cache, polyphony and voice stealing.

Instruments render into planar stereo buffers, ``(2, frames)`` float32, one
contiguous row per channel: adding a note is one add per channel, where an
interleaved ``(frames, 2)`` buffer would need a broadcast multiply per note.
Nothing here runs in the audio callback; the composer's worker renders bars.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from ._cache import AudioCache
from ._dsp import ramp

__all__ = [
    "Envelope",
    "Instrument",
    "PitchedInstrument",
    "adsr",
    "allocate_voices",
    "midi_hz",
    "velocity_gain",
]

NOTE_CACHE_BYTES = 5 * 1024 * 1024  # per instrument: a few bars of chords (a pad note is 1 MB)
STEAL_FADE_SECONDS = 0.012  # a stolen voice fades this fast: short enough to free it, never a click
MIN_ATTACK_SECONDS = 0.002
MIN_RELEASE_SECONDS = 0.012


def midi_hz(pitch: float) -> float:
    return 440.0 * 2.0 ** ((pitch - 69) / 12.0)


def velocity_gain(velocity: int, range_db: float) -> float:
    """Velocity 127 is unity; velocity 1 is ``range_db`` quieter (a dB-linear curve)."""
    v = min(127, max(1, velocity))
    return float(10.0 ** (-(127 - v) / 126.0 * range_db / 20.0))


@dataclass(frozen=True)
class Envelope:
    """ADSR in seconds (sustain is a level 0..1). With sustain 0 it is a plucked decay."""

    attack: float = 0.005
    decay: float = 0.2
    sustain: float = 0.8
    release: float = 0.15

    def release_frames(self, sample_rate: int) -> int:
        return max(int(self.release * sample_rate), int(MIN_RELEASE_SECONDS * sample_rate))


@functools.lru_cache(maxsize=32)
def _release_curve(frames: int) -> np.ndarray:
    """The release's shape, 1 down to exactly 0, quadratic: the same few lengths every note."""
    tail = np.linspace(1.0, 0.0, frames, dtype=np.float32)
    tail *= tail
    tail.flags.writeable = False
    return tail


def adsr(
    env: Envelope,
    frames: int,
    sample_rate: int,
    minimum_attack: bool = True,
    release_frames: int | None = None,
) -> np.ndarray:
    """The envelope of a note held ``frames`` frames, then released: float32, ends at exactly 0."""
    attack = env.attack * sample_rate
    if minimum_attack:
        attack = max(attack, MIN_ATTACK_SECONDS * sample_rate)
    attack = max(attack, 1.0)
    release = env.release_frames(sample_rate) if release_frames is None else release_frames
    out = np.empty(frames + release, dtype=np.float32)
    held = ramp(frames, np.float32)
    body = out[:frames]
    if env.decay > 0:
        np.subtract(held, np.float32(attack), out=body)
        np.maximum(body, 0.0, out=body)
        body *= np.float32(-1.0 / (env.decay * sample_rate))
        np.exp(body, out=body)
        body *= np.float32(1.0 - env.sustain)
        body += np.float32(env.sustain)
    else:
        body.fill(env.sustain if env.sustain > 0 else 1.0)
    rise = held[: min(frames, int(np.ceil(attack)))]
    body[: rise.shape[0]] *= rise / np.float32(attack)
    level = float(body[-1]) if frames else 0.0
    # a quadratic release that reaches exactly zero on the last frame: no click at note off
    np.multiply(_release_curve(release), np.float32(level), out=out[frames:])
    return out


def allocate_voices(
    notes: Sequence[tuple[int, int, int, int]], lengths: Sequence[int], limit: int, fade: int
) -> list[int]:
    """How many frames each note may sound under a voice limit (notes sorted by start).

    When a note starts and ``limit`` voices still sound, the oldest voice is
    stolen (a voice on the same pitch first): it is cut ``fade`` frames after
    the new note's start and fades out over those frames. Returns each note's
    playing length; a length below the note's full length means "fade out".
    """
    play = list(lengths)
    active: list[int] = []  # indices of sounding notes, oldest first
    for i, (pitch, start, _, _) in enumerate(notes):
        active = [j for j in active if notes[j][1] + play[j] > start]
        if len(active) >= limit:
            same = [j for j in active if notes[j][0] == pitch]
            victim = same[0] if same else active[0]
            play[victim] = min(play[victim], start - notes[victim][1] + fade)
            active.remove(victim)
        active.append(i)
    return play


class Instrument:
    """Base: render a bar's events into stereo audio."""

    def __init__(self, name: str, sample_rate: int, gain: float = 1.0) -> None:
        self.name = name
        self.sample_rate = sample_rate
        self.gain = gain

    def render_into(self, events: Iterable, out: np.ndarray) -> None:  # pragma: no cover
        """Add events into the planar buffer ``out`` (2, frames) float32."""
        raise NotImplementedError

    def render(self, events: Iterable, out: np.ndarray) -> None:
        """Add events into an interleaved buffer ``out`` (frames, 2) float32."""
        planar = np.zeros((2, out.shape[0]), dtype=np.float32)
        self.render_into(events, planar)
        out += planar.T


class PitchedInstrument(Instrument):
    """A pitched instrument with a voice limit and a byte-bounded cache of rendered notes.

    Subclasses implement ``_voice(pitch, frames, velocity)``: the note held
    ``frames`` frames plus its release, as ``(channels, n)`` float32 with 1 or 2
    channels, starting and ending at zero.
    """

    def __init__(
        self,
        name: str,
        sample_rate: int,
        gain: float = 1.0,
        polyphony: int = 16,
        cache_bytes: int = NOTE_CACHE_BYTES,
    ) -> None:
        super().__init__(name, sample_rate, gain)
        if not 1 <= polyphony <= 64:
            raise ValueError(f"polyphony {polyphony!r} must be in 1..64")
        self.polyphony = polyphony
        self.cache = AudioCache(cache_bytes)
        self._fade_frames = max(16, int(STEAL_FADE_SECONDS * sample_rate))

    def _voice(self, pitch: int, frames: int, velocity: int) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError

    def note(self, pitch: int, frames: int, velocity: int) -> np.ndarray:
        """One rendered note (cached), gain applied: (channels, n) float32."""
        key = (pitch, frames, velocity)
        audio = self.cache.get(key)
        if audio is None:
            audio = self._voice(pitch, frames, velocity)
            if self.gain != 1.0:
                audio *= np.float32(self.gain)
            self.cache.put(key, audio)
        return audio

    def render_into(self, events: Iterable[tuple[int, int, int, int]], out: np.ndarray) -> None:
        """Add notes (pitch, start_frame, frames, velocity) into ``out`` (2, frames)."""
        limit = out.shape[1]
        notes = sorted((n for n in events if n[1] < limit), key=lambda n: (n[1], n[0]))
        waves = [self.note(p, max(f, 64), v) for p, _, f, v in notes]
        play = allocate_voices(
            notes, [w.shape[1] for w in waves], self.polyphony, self._fade_frames
        )
        for (_, start, _, _), wave, length in zip(notes, waves, play, strict=True):
            start = max(0, start)
            end = min(limit, start + length)
            if end <= start:
                continue
            if length < wave.shape[1]:  # stolen: fade out over the last frames it plays
                cut = wave[:, :length].copy()
                fade = min(self._fade_frames, length)
                cut[:, length - fade :] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)
                wave = cut
            chunk = wave[:, : end - start]
            last = chunk.shape[0] - 1
            out[0, start:end] += chunk[0]
            out[1, start:end] += chunk[last]
