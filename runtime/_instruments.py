"""Simple, click-free instruments that turn a bar's notes into stereo audio.

Every voice starts and ends on a ramp (attack and release of a few ms at least),
so no note ever clicks. Rendered notes are cached by (pitch, length, velocity),
because game music repeats itself a lot.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from adaptive._music import DRUM_VOICES, Note

__all__ = [
    "Instrument",
    "PitchedInstrument",
    "DrumKit",
    "DrumHit",
    "make_instrument",
    "TAIL_SECONDS",
]

TAIL_SECONDS = 1.5
_TABLE_SIZE = 4096  # the longest ring-out past a bar line (crash cymbal, pad release)


def _midi_hz(pitch: int) -> float:
    return 440.0 * 2.0 ** ((pitch - 69) / 12.0)


@dataclass(frozen=True)
class DrumHit:
    voice: int  # row in DRUM_VOICES
    start_frame: int  # frame offset inside the bar
    velocity: float  # 0..1


@dataclass(frozen=True)
class _Voice:
    harmonics: tuple[float, ...]  # amplitude of harmonic k+1
    attack: float
    decay: float
    sustain: float
    release: float
    detune_cents: float = 0.0
    pluck_decay: float = 0.0  # > 0: exponential decay time in seconds, no sustain plateau


_VOICES: dict[str, _Voice] = {
    "lead": _Voice((1.0, 0.45, 0.3, 0.18, 0.1, 0.06), 0.012, 0.09, 0.65, 0.12, 4.0),
    "pluck": _Voice((1.0, 0.5, 0.25, 0.12), 0.003, 0.0, 0.0, 0.08, 0.0, 0.35),
    "bass": _Voice((1.0, 0.55, 0.22, 0.08), 0.006, 0.12, 0.75, 0.07),
    "pad": _Voice((1.0, 0.3, 0.12, 0.05), 0.18, 0.3, 0.8, 0.45, 7.0),
}
_PAN: dict[str, float] = {"lead": 0.15, "pluck": -0.2, "bass": 0.0, "pad": -0.1, "drums": 0.0}


class Instrument:
    """Base: render a bar's events into a stereo buffer (frames, 2)."""

    name: str = ""

    def __init__(self, name: str, sample_rate: int, gain: float = 1.0) -> None:
        self.name = name
        self.sample_rate = sample_rate
        self.gain = gain
        pan = _PAN.get(name, 0.0)
        # constant-power pan
        angle = (pan + 1.0) * np.pi / 4.0
        self.pan = np.array([np.cos(angle), np.sin(angle)], dtype=np.float32) * np.float32(
            np.sqrt(2.0)
        )


class PitchedInstrument(Instrument):
    def __init__(self, name: str, sample_rate: int, gain: float = 1.0) -> None:
        super().__init__(name, sample_rate, gain)
        self.voice = _VOICES[name]
        self._cache: dict[tuple[int, int, int], np.ndarray] = {}
        phase = (
            np.arange(_TABLE_SIZE + 1) / _TABLE_SIZE * 2 * np.pi
        )  # one guard point for interpolation
        self._table = np.zeros(_TABLE_SIZE + 1, dtype=np.float64)
        for k, amp in enumerate(self.voice.harmonics, start=1):
            self._table += amp * np.sin(k * phase)

    def _note(self, pitch: int, frames: int, velocity: int) -> np.ndarray:
        key = (pitch, frames, velocity)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        v, sr = self.voice, self.sample_rate
        release = int(v.release * sr)
        total = frames + release
        hz = _midi_hz(pitch)
        wave = np.zeros(total, dtype=np.float64)
        detunes = (0.0,) if v.detune_cents == 0 else (-v.detune_cents, v.detune_cents)
        cycles = np.arange(total, dtype=np.float64) / sr
        for cents in detunes:
            f0 = hz * 2.0 ** (cents / 1200.0)
            if f0 * len(v.harmonics) < 0.45 * sr:
                # one cycle of the whole harmonic waveform, read at f0: far cheaper than a sine per harmonic
                position = (cycles * (f0 * _TABLE_SIZE)) % _TABLE_SIZE
                index = position.astype(np.int64)
                frac = position - index
                table = self._table
                wave += table[index] * (1.0 - frac) + table[index + 1] * frac
            else:  # very high notes: only the harmonics below Nyquist, so nothing aliases
                for k, amp in enumerate(v.harmonics, start=1):
                    if f0 * k < 0.45 * sr:
                        wave += amp * np.sin(2 * np.pi * f0 * k * cycles)
        wave /= sum(v.harmonics) * len(detunes)
        env = self._envelope(frames, release)
        out = (wave * env * (velocity / 127.0)).astype(np.float32)
        if len(self._cache) > 2048:
            self._cache.clear()
        self._cache[key] = out
        return out

    def _envelope(self, frames: int, release: int) -> np.ndarray:
        v, sr = self.voice, self.sample_rate
        attack = max(int(v.attack * sr), 32)
        env = np.empty(frames + release, dtype=np.float64)
        held = np.arange(frames, dtype=np.float64)
        if v.pluck_decay > 0:
            body = np.exp(-held / (v.pluck_decay * sr))
        else:
            decay = max(int(v.decay * sr), 1)
            body = v.sustain + (1.0 - v.sustain) * np.exp(-np.maximum(held - attack, 0) / decay)
        body = body * np.minimum(held / attack, 1.0)
        env[:frames] = body
        end_level = body[-1] if frames else 0.0
        # release ends exactly at zero, so no click at the note's end
        env[frames:] = end_level * np.linspace(1.0, 0.0, release, endpoint=True) ** 2
        return env

    def render(self, notes: Iterable[tuple[int, int, int, int]], out: np.ndarray) -> None:
        """Add notes (pitch, start_frame, frames, velocity) into ``out`` (frames, 2)."""
        limit = out.shape[0]
        for pitch, start, frames, velocity in notes:
            if start >= limit:
                continue
            wave = self._note(pitch, max(frames, 64), velocity)
            end = min(limit, start + wave.shape[0])
            chunk = wave[: end - start] * self.gain
            out[start:end] += chunk[:, None] * self.pan[None, :]


class DrumKit(Instrument):
    """Synthesized one-shots for the voices in DRUM_VOICES, rendered once."""

    def __init__(self, sample_rate: int, gain: float = 1.0) -> None:
        super().__init__("drums", sample_rate, gain)
        rng = np.random.default_rng(1234)  # fixed: the kit sounds the same every run
        self.samples = [self._make(name, rng) for name, _ in DRUM_VOICES]

    def _make(self, name: str, rng: np.random.Generator) -> np.ndarray:
        sr = self.sample_rate

        def t(seconds: float) -> np.ndarray:
            return np.arange(int(seconds * sr), dtype=np.float64) / sr

        def fade_in(x: np.ndarray) -> np.ndarray:
            n = min(48, x.shape[0])
            x[:n] *= np.linspace(0.0, 1.0, n)
            x[-n:] *= np.linspace(1.0, 0.0, n)
            return x

        if name == "kick":
            tt = t(0.35)
            freq = 45 + 110 * np.exp(-tt * 28)
            phase = 2 * np.pi * np.cumsum(freq) / sr
            x = np.sin(phase) * np.exp(-tt * 9) * 1.1
        elif name == "snare":
            tt = t(0.25)
            noise = rng.standard_normal(tt.shape[0])
            x = 0.55 * noise * np.exp(-tt * 22) + 0.5 * np.sin(2 * np.pi * 185 * tt) * np.exp(
                -tt * 30
            )
        elif name in ("closed_hat", "open_hat", "crash"):
            seconds, rate, level = {
                "closed_hat": (0.08, 60, 0.35),
                "open_hat": (0.4, 9, 0.3),
                "crash": (1.4, 3.2, 0.35),
            }[name]
            tt = t(seconds)
            noise = rng.standard_normal(tt.shape[0] + 1)
            bright = np.diff(noise)  # first difference: a cheap high-pass, hats live up there
            x = level * bright * np.exp(-tt * rate)
        else:  # tom
            tt = t(0.4)
            freq = 95 + 60 * np.exp(-tt * 14)
            x = 0.8 * np.sin(2 * np.pi * np.cumsum(freq) / sr) * np.exp(-tt * 8)
        return fade_in(x).astype(np.float32)

    def render(self, hits: Iterable[DrumHit], out: np.ndarray) -> None:
        limit = out.shape[0]
        for hit in hits:
            if not 0 <= hit.start_frame < limit:
                continue
            sample = self.samples[hit.voice]
            end = min(limit, hit.start_frame + sample.shape[0])
            chunk = sample[: end - hit.start_frame] * (hit.velocity * self.gain)
            out[hit.start_frame : end] += chunk[:, None] * self.pan[None, :]


def make_instrument(name: str, sample_rate: int) -> Instrument:
    if name == "drums":
        return DrumKit(sample_rate)
    if name in _VOICES:
        return PitchedInstrument(name, sample_rate, gain={"pad": 0.55, "bass": 0.9}.get(name, 0.6))
    raise ValueError(f"unknown instrument {name!r}; known: drums, {', '.join(_VOICES)}")


def notes_to_frames(
    notes: Iterable[Note], frames_per_step: float, transpose: int
) -> list[tuple[int, int, int, int]]:
    """Grid notes → (pitch, start_frame, frames, velocity), transposed into the playing key."""
    out = []
    for n in notes:
        pitch = min(127, max(0, n.pitch + transpose))
        out.append(
            (
                pitch,
                int(round(n.start * frames_per_step)),
                int(round(n.duration * frames_per_step)),
                n.velocity,
            )
        )
    return out
