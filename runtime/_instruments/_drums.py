"""A synthesised drum kit: one voice per drum, two velocity layers, pan per drum, choke groups.

Every drum is synthesised here in code (so the kit is ours to license) once
per sample rate, when it is first played, at two velocities: a soft and a hard
hit, crossfaded by velocity, so a hard hit is brighter and not just louder. The
kit is made fast, because the first bar waits for it: the noise is filtered from
one spectrum, FFTs have 2^a 3^b 5^c points, and sines are taken in float32 after
the phase is reduced in float64. A drum in a choke group silences the
group's sounding drum with a fast fade: the closed hi-hat chokes the open one.
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import numpy as np

from adaptive._music import DRUM_VOICES

from ._cache import AudioCache
from ._dsp import fft_size
from ._voice import Instrument

__all__ = ["DrumHit", "DrumKit", "CHOKE_GROUPS", "DRUM_PAN"]

CHOKE_GROUPS: dict[str, str] = {"closed_hat": "hat", "open_hat": "hat"}
DRUM_PAN: dict[str, float] = {
    "kick": 0.0,
    "snare": 0.05,
    "closed_hat": 0.3,
    "open_hat": 0.3,
    "crash": -0.35,
    "tom": -0.2,
}
_CHOKE_SECONDS = 0.006


@dataclass(frozen=True)
class DrumHit:
    voice: int  # row in DRUM_VOICES
    start_frame: int  # frame offset inside the bar
    velocity: float  # 0..1


_FILTER_TAIL = 4096  # frames of room for a one-pole's ring-out: a**4096 is nothing at 700 Hz


@functools.lru_cache(maxsize=8)
def _unit_circle(size: int) -> np.ndarray:
    """exp(-i w) at the bins of an rfft of ``size`` points: every filter response needs it."""
    return np.exp(-2j * np.pi * np.arange(size // 2 + 1) / size)


def _response(hz: float, sample_rate: int, size: int) -> np.ndarray:
    """The frequency response of y[n] = a y[n-1] + (1 - a) x[n] at the rfft bins."""
    a = float(np.exp(-2 * np.pi * hz / sample_rate))
    return (1 - a) / (1 - a * _unit_circle(size))


def _one_pole_lowpass(x: np.ndarray, hz: float, sample_rate: int) -> np.ndarray:
    """A one-pole low-pass, applied as its exact frequency response (the kit is made once)."""
    size = fft_size(x.shape[0] + _FILTER_TAIL)  # 2^a 3^b 5^c: fast, and far below 2^17
    return np.fft.irfft(np.fft.rfft(x, size) * _response(hz, sample_rate, size), size)[: x.shape[0]]


def _highpass(x: np.ndarray, hz: float, sample_rate: int) -> np.ndarray:
    return x - _one_pole_lowpass(x, hz, sample_rate)


def _sines(cycles: np.ndarray, offset: float) -> np.ndarray:
    """sin(2 pi cycles + offset): the phase reduced in float64, the sine taken in float32
    (many times faster, and exact to float32 precision, which is what the kit keeps)."""
    turn = cycles - np.floor(cycles)  # the fraction of a turn: floor is fast, np.mod is not
    turn *= 2 * np.pi
    turn += offset
    return np.sin(turn.astype(np.float32)).astype(np.float64)


class _Synth:
    """Makes each drum at a given hardness (0 soft .. 1 hard), float64."""

    def __init__(self, sample_rate: int) -> None:
        self.sr = sample_rate
        self.noise = np.random.default_rng(1234).standard_normal(int(1.6 * sample_rate))
        self._size = fft_size(self.noise.shape[0] + _FILTER_TAIL)
        self._noise_spectrum = np.fft.rfft(self.noise, self._size)

    def noise_highpass(self, hz: float, frames: int) -> np.ndarray:
        """The kit's noise, high-passed: the filter is causal, so a drum shorter than the
        noise gets the first frames of the whole noise filtered (its spectrum made once)."""
        low = np.fft.irfft(self._noise_spectrum * _response(hz, self.sr, self._size), self._size)
        return self.noise[:frames] - low[:frames]

    def t(self, seconds: float) -> np.ndarray:
        return np.arange(int(seconds * self.sr), dtype=np.float64) / self.sr

    def sweep(self, start_hz: float, end_hz: float, rate: float, tt: np.ndarray) -> np.ndarray:
        freq = end_hz + (start_hz - end_hz) * np.exp(-tt * rate)
        return _sines(np.cumsum(freq) / self.sr, 0.0)

    def metal(self, tt: np.ndarray, hardness: float) -> np.ndarray:
        # six inharmonic partials high up, like an analogue hi-hat's square-wave cluster
        ratios = (1.0, 1.342, 1.2312, 1.6532, 1.9523, 2.1523)
        base = 3000.0 + 900.0 * hardness
        return sum(_sines(base * r * tt, r) for r in ratios) / len(ratios)

    def kick(self, h: float) -> np.ndarray:
        tt = self.t(0.45)
        body = self.sweep(150 + 60 * h, 46, 30, tt) * np.exp(-tt * 7.5)
        click = self.noise_highpass(1500, tt.shape[0]) * np.exp(-tt * 300) * (0.2 + 0.5 * h)
        return np.tanh(1.6 * (body + click)) / np.tanh(1.6)

    def snare(self, h: float) -> np.ndarray:
        tt = self.t(0.32)
        tone = (np.sin(2 * np.pi * 185 * tt) + 0.5 * np.sin(2 * np.pi * 330 * tt)) * np.exp(
            -tt * 28
        )
        noise = self.noise_highpass(700 + 1500 * h, tt.shape[0])
        noise = _one_pole_lowpass(noise, 6000 + 6000 * h, self.sr)
        return 0.45 * tone + (1.4 + 0.8 * h) * noise * np.exp(-tt * (20 - 4 * h))

    def hat(self, seconds: float, rate: float, h: float) -> np.ndarray:
        tt = self.t(seconds)
        noise = self.noise_highpass(6000 - 1500 * h, tt.shape[0])
        x = (1.3 * noise + 0.35 * _highpass(self.metal(tt, h), 5000, self.sr)) * np.exp(-tt * rate)
        return x * (0.7 + 0.3 * h)

    def crash(self, h: float) -> np.ndarray:
        tt = self.t(1.5)
        noise = self.noise_highpass(3000 - 1000 * h, tt.shape[0])
        return (noise + 0.3 * self.metal(tt, h)) * np.exp(-tt * 2.6) * (0.6 + 0.4 * h)

    def tom(self, h: float) -> np.ndarray:
        tt = self.t(0.5)
        body = self.sweep(150 + 30 * h, 98, 12, tt) * np.exp(-tt * 7)
        noise = self.noise_highpass(2000, tt.shape[0]) * np.exp(-tt * 60) * 0.25 * h
        return body + noise

    def make(self, name: str, h: float) -> np.ndarray:
        makers: dict[str, Callable[[float], np.ndarray]] = {
            "kick": self.kick,
            "snare": self.snare,
            "closed_hat": lambda v: self.hat(0.12, 45, v),
            "open_hat": lambda v: self.hat(0.6, 6.5, v),
            "crash": self.crash,
            "tom": self.tom,
        }
        x = makers[name](h)
        x = x - np.mean(x)  # no DC: a one-shot adds none to the stem
        n = min(int(0.0005 * self.sr) + 1, x.shape[0])
        x[:n] *= np.linspace(0.0, 1.0, n)  # a half-millisecond onset: a hit, not a click
        end = min(int(0.01 * self.sr), x.shape[0])
        x[-end:] *= np.linspace(1.0, 0.0, end)  # every one-shot ends at exactly zero
        return x


_LEVELS = {  # peak level of each drum at full velocity: the kit's balance
    "kick": 0.62,
    "snare": 0.5,
    "closed_hat": 0.22,
    "open_hat": 0.2,
    "crash": 0.26,
    "tom": 0.45,
}


Layers = tuple[np.ndarray, np.ndarray]  # a drum's soft and hard hit, float32, read-only


class _Kit:
    """Each drum's soft and hard layer, made when it is first played (a bar that starts the
    music rarely has all six drums), once per sample rate, read-only, shared by kits."""

    def __init__(self, sample_rate: int) -> None:
        self.sample_rate = sample_rate
        self._synth: _Synth | None = None
        self._made: dict[int, Layers] = {}
        self._lock = threading.Lock()  # two composers (a reload's) may ask at once
        # a fork while a composing thread holds the lock would leave it held in the child
        os.register_at_fork(after_in_child=self._after_fork)

    def _after_fork(self) -> None:
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(DRUM_VOICES)

    def __iter__(self) -> Iterator[Layers]:
        return (self[voice] for voice in range(len(DRUM_VOICES)))

    def __getitem__(self, voice: int) -> Layers:
        pair = self._made.get(voice)
        if pair is not None:
            return pair
        with self._lock:
            pair = self._made.get(voice)
            if pair is None:
                if self._synth is None:
                    self._synth = _Synth(self.sample_rate)
                pair = self._make(self._synth, DRUM_VOICES[voice][0])
                self._made[voice] = pair
                if len(self._made) == len(DRUM_VOICES):
                    self._synth = None  # the whole kit is made: its noise can go
        return pair

    @staticmethod
    def _make(synth: _Synth, name: str) -> Layers:
        soft, hard = synth.make(name, 0.0), synth.make(name, 1.0)
        scale = _LEVELS[name] / max(np.abs(soft).max(), np.abs(hard).max())
        pair = ((soft * scale).astype(np.float32), (hard * scale).astype(np.float32))
        for layer in pair:
            layer.flags.writeable = False
        return pair


@functools.lru_cache(maxsize=4)
def _layers(sample_rate: int) -> _Kit:
    """The kit's layers for ``sample_rate``: one ``_Kit`` per rate, shared by every DrumKit."""
    return _Kit(sample_rate)


class DrumKit(Instrument):
    """The General MIDI drums in DRUM_VOICES, with velocity layers and choke groups."""

    def __init__(self, sample_rate: int, gain: float = 1.0) -> None:
        super().__init__("drums", sample_rate, gain)
        self.names = [name for name, _ in DRUM_VOICES]
        self.layers = _layers(sample_rate)
        self.pan = []
        for name in self.names:
            angle = (DRUM_PAN[name] + 1.0) * np.pi / 4.0
            self.pan.append(
                (np.float32(np.cos(angle) * np.sqrt(2)), np.float32(np.sin(angle) * np.sqrt(2)))
            )
        self.groups = [CHOKE_GROUPS.get(name) for name in self.names]
        self._choke_frames = max(8, int(_CHOKE_SECONDS * sample_rate))
        self.cache = AudioCache(2 * 1024 * 1024)  # a hit is two layers crossfaded: cheap to redo

    def hit(self, voice: int, velocity: float) -> np.ndarray:
        """One hit, mono float32, velocity 0..1 crossfading the soft and the hard layer."""
        v = min(127, max(1, int(round(velocity * 127))))
        key = (voice, v)
        cached = self.cache.get(key)
        if cached is not None:
            return cached
        soft, hard = self.layers[voice]
        x = v / 127.0
        level = np.float32(self.gain * (0.12 + 0.88 * x**1.5))
        audio = (soft * np.float32(1 - x) + hard * np.float32(x)) * level
        self.cache.put(key, audio)
        return audio

    def render_into(self, events: Iterable[DrumHit], out: np.ndarray) -> None:
        limit = out.shape[1]
        hits = sorted(
            (h for h in events if 0 <= h.start_frame < limit), key=lambda h: h.start_frame
        )
        for i, hit in enumerate(hits):
            sample = self.hit(hit.voice, hit.velocity)
            length = sample.shape[0]
            group = self.groups[hit.voice]
            if group is not None:  # choked by the next hit in its group
                for later in hits[i + 1 :]:
                    if later.start_frame - hit.start_frame >= length:
                        break
                    if self.groups[later.voice] == group:
                        length = min(
                            length, later.start_frame - hit.start_frame + self._choke_frames
                        )
                        break
            end = min(limit, hit.start_frame + length)
            chunk = sample[: end - hit.start_frame]
            if length < sample.shape[0]:
                chunk = chunk.copy()
                fade = min(self._choke_frames, chunk.shape[0])
                chunk[chunk.shape[0] - fade :] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)
            left, right = self.pan[hit.voice]
            out[0, hit.start_frame : end] += chunk * left
            out[1, hit.start_frame : end] += chunk * right
