"""Band-limited subtractive synth voices, vectorised with numpy.

Oscillators read per-pitch wavetables built by inverse FFT from the waveform's
harmonic series, keeping only harmonics below ``min(0.45 * rate, 20 kHz)``, so
nothing folds back (a 4 kHz saw at 48 kHz keeps 4, 8, 12, 16 kHz and nothing
else). The filter works in the same domain: each table is stored at
``FILTER_LEVELS`` cutoffs, one octave apart relative to the fundamental (so
the filter tracks the keyboard), and the filter envelope moves smoothly between
them. That is a 24 dB/octave low-pass with resonance applied to each harmonic,
exact and free of the per-sample recursion numpy cannot vectorise.

Phase is a uint32 fixed-point accumulator: ``i * increment`` wraps modulo 2**32
exactly, so a note of any length keeps full phase precision without float64.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field

import numpy as np

from ._cache import AudioCache
from ._dsp import ramp
from ._voice import Envelope, PitchedInstrument, adsr, midi_hz, velocity_gain

__all__ = ["SynthPatch", "SynthInstrument", "Partial", "TABLE_SIZE", "FILTER_LEVELS"]

TABLE_BITS = 11
TABLE_SIZE = 1 << TABLE_BITS
_FRAC_BITS = 32 - TABLE_BITS
_FRAC_MASK = np.uint32((1 << _FRAC_BITS) - 1)
_FRAC_SCALE = np.float32(1.0 / (1 << _FRAC_BITS))
FILTER_LEVELS = 10  # cutoff at 1, 2, 4 ... 512 times the fundamental
_TABLE_CACHE_BYTES = 8 * 1024 * 1024  # tables and their slopes: 50 (patch, pitch)s


class _SharedTables:
    """Wavetable stacks by (patch, sample rate, pitch), shared by every synth in the process.

    A table depends on nothing else, so a stinger's voice, the simpler voice of the CPU
    budget and a hot reload's new instruments read the tables already made (as drum
    kits share their layers). Bounded in bytes; any thread may ask.
    """

    def __init__(self, max_bytes: int) -> None:
        self._cache = AudioCache(max_bytes)
        self._lock = threading.Lock()
        # a fork while a composing thread holds the lock would leave it held in the child
        os.register_at_fork(after_in_child=self._after_fork)

    def _after_fork(self) -> None:
        self._lock = threading.Lock()

    def get(self, key: tuple[SynthPatch, int, float]) -> np.ndarray | None:
        with self._lock:
            return self._cache.get(key)

    def put(self, key: tuple[SynthPatch, int, float], stack: np.ndarray) -> None:
        stack.flags.writeable = False
        with self._lock:
            self._cache.put(key, stack)


_TABLES = _SharedTables(_TABLE_CACHE_BYTES)


@dataclass(frozen=True)
class Partial:
    """An inharmonic sine partial (bells, mallets): frequency ratio, level, decay time (s)."""

    ratio: float
    level: float
    decay: float


@dataclass(frozen=True)
class SynthPatch:
    """One synth preset. Waveform levels mix a saw, a square, a triangle and a sine."""

    saw: float = 1.0
    square: float = 0.0
    triangle: float = 0.0
    sine: float = 0.0
    amp: Envelope = Envelope()
    filter_env: Envelope = Envelope(0.005, 0.3, 0.0, 0.2)
    cutoff: float = 4.0  # filter level with the envelope closed: 2**cutoff harmonics
    filter_amount: float = 0.0  # octaves the filter envelope opens it
    key_velocity_cutoff: float = 1.5  # octaves more at full velocity than at velocity 1
    resonance: float = 0.0  # 0..1: a peak at the cutoff
    velocity_db: float = 18.0
    unison: int = 1
    detune_cents: float = 0.0  # spread of the unison voices, outermost to centre
    spread: float = 0.0  # stereo spread of the unison voices, 0..1
    sub: float = 0.0  # a sine an octave below
    partials: tuple[Partial, ...] = field(default_factory=tuple)
    gain: float = 1.0


def _harmonic_levels(patch: SynthPatch, count: int) -> np.ndarray:
    k = np.arange(1, count + 1, dtype=np.float64)
    odd = (k % 2) == 1
    levels = patch.saw / k
    levels += patch.square * np.where(odd, 1.0 / k, 0.0)
    levels += patch.triangle * np.where(odd, (-1.0) ** ((k - 1) // 2) / k**2, 0.0) * 0.8
    levels[0] += patch.sine
    return levels


def _phase_increment(hz: float, sample_rate: int) -> np.uint32:
    return np.uint32(int(round(hz / sample_rate * 2.0**32)) % (1 << 32))


def phase_index(
    increment: np.uint32, start: np.uint32, frames: int
) -> tuple[np.ndarray, np.ndarray]:
    """Table index (intp) and fraction (float32) of a uint32 phase accumulator.

    The index is made intp here, once: ``take`` would convert an int32 index on
    every call. The fraction is cast and scaled in one buffered pass.
    """
    phase = np.multiply(ramp(frames, np.uint32), increment)
    phase += start
    index = np.empty(frames, dtype=np.intp)
    np.right_shift(phase, np.uint32(_FRAC_BITS), out=index, casting="unsafe")
    np.bitwise_and(phase, _FRAC_MASK, out=phase)
    frac = np.multiply(phase, _FRAC_SCALE, dtype=np.float32, casting="unsafe")
    return index, frac


def slopes(table: np.ndarray, row: int = TABLE_SIZE + 1) -> np.ndarray:
    """Each point's step to the next point of its row (``row`` points each; 0 after the last).

    Interpolating as ``table[i] + slopes[i] * frac`` takes one gather fewer than
    ``table[i] + (table[i + 1] - table[i]) * frac`` and rounds identically (the
    difference is the same float32 subtraction, made once per table).
    """
    rows = table.reshape(-1, row)
    out = np.zeros_like(rows)
    np.subtract(rows[:, 1:], rows[:, :-1], out=out[:, :-1])
    return out.reshape(-1)


def lerp_table(
    table: np.ndarray,
    slope: np.ndarray,
    index: np.ndarray,
    frac: np.ndarray,
    out: np.ndarray | None = None,
    scratch: np.ndarray | None = None,
) -> np.ndarray:
    """Linear interpolation in a table with one guard point past every index (into ``out``).

    Every index is in range, so ``take`` runs with ``mode="wrap"``: with ``out``, its
    default mode would buffer the whole result to undo a bad index.
    """
    a = table.take(index, out=out, mode="wrap")
    b = slope.take(index, out=scratch, mode="wrap")
    b *= frac
    a += b
    return a


def read_table(
    table: np.ndarray, slope: np.ndarray, increment: np.uint32, start: np.uint32, frames: int
) -> np.ndarray:
    """Read one wavetable (TABLE_SIZE + 1 points, with its ``slopes``) at a fixed frequency."""
    return lerp_table(table, slope, *phase_index(increment, start, frames))


class SynthInstrument(PitchedInstrument):
    """A polyphonic band-limited synth playing one ``SynthPatch``."""

    def __init__(
        self,
        name: str,
        patch: SynthPatch,
        sample_rate: int,
        polyphony: int = 16,
        cache_bytes: int | None = None,
    ) -> None:
        kwargs = {} if cache_bytes is None else {"cache_bytes": cache_bytes}
        super().__init__(name, sample_rate, patch.gain, polyphony, **kwargs)
        self.patch = patch
        self._sine = np.sin(np.arange(TABLE_SIZE + 1) * (2 * np.pi / TABLE_SIZE)).astype(np.float32)
        self._sine_slopes = slopes(self._sine)

    # --- wavetables -----------------------------------------------------------------------

    def tables(self, pitch: float) -> tuple[np.ndarray, np.ndarray]:
        """The pitch's table stack, flat: FILTER_LEVELS tables of TABLE_SIZE + 1 points,
        and their ``slopes``."""
        key = (self.patch, self.sample_rate, float(pitch))
        cached = _TABLES.get(key)
        if cached is not None:
            return cached[0], cached[1]
        patch = self.patch
        top_hz = midi_hz(pitch) * 2.0 ** (abs(patch.detune_cents) / 1200.0)
        limit = min(0.45 * self.sample_rate, 20000.0)
        count = int(max(1, min(TABLE_SIZE // 2 - 1, limit // top_hz)))
        levels = _harmonic_levels(patch, count)
        k = np.arange(1, count + 1, dtype=np.float64)
        spectrum = np.zeros((FILTER_LEVELS, TABLE_SIZE // 2 + 1), dtype=np.complex128)
        for level in range(FILTER_LEVELS):
            ratio = k / 2.0**level
            response = 1.0 / np.sqrt(1.0 + ratio**8)  # four-pole (24 dB/octave) low-pass magnitude
            if patch.resonance > 0:
                response *= 1.0 + 3.0 * patch.resonance * np.exp(-(np.log2(ratio) ** 2) / 0.18)
            # sine phases: a_k sin(k x) is bin k with value -i * a_k * N / 2
            spectrum[level, 1 : count + 1] = -0.5j * TABLE_SIZE * levels * response
        waves = np.fft.irfft(spectrum, n=TABLE_SIZE, axis=1)
        peak = np.abs(waves[-1]).max() or 1.0
        stack = np.empty((FILTER_LEVELS, TABLE_SIZE + 1), dtype=np.float32)
        stack[:, :TABLE_SIZE] = waves / peak
        stack[:, TABLE_SIZE] = stack[:, 0]
        flat = stack.reshape(-1)
        pair = np.stack([flat, slopes(flat)])  # one array: the cache counts its bytes
        _TABLES.put(key, pair)
        return pair[0], pair[1]

    def oscillator(self, pitch: float, frames: int) -> np.ndarray:
        """The bare oscillator (filter open, no envelope) at a MIDI pitch that may be fractional."""
        flat, slope = self.tables(pitch)
        row = TABLE_SIZE + 1
        top = (FILTER_LEVELS - 1) * row
        return read_table(
            flat[top:],
            slope[top:],
            _phase_increment(midi_hz(pitch), self.sample_rate),
            np.uint32(0),
            frames,
        )

    # --- one note -------------------------------------------------------------------------

    def _voice(self, pitch: int, frames: int, velocity: int) -> np.ndarray:
        patch, sr = self.patch, self.sample_rate
        env = adsr(patch.amp, frames, sr)
        total = env.shape[0]
        env *= np.float32(velocity_gain(velocity, patch.velocity_db))
        voices = max(1, patch.unison)
        channels = 2 if (patch.spread > 0 and voices > 1) else 1
        out = np.zeros((channels, total), dtype=np.float32)
        if patch.saw or patch.square or patch.triangle or patch.sine:
            self._oscillators(pitch, velocity, frames, total, out)
        if patch.sub:
            sub = read_table(
                self._sine,
                self._sine_slopes,
                _phase_increment(midi_hz(pitch - 12), sr),
                np.uint32(0),
                total,
            )
            sub *= np.float32(patch.sub)
            out += sub
        if patch.partials:
            out += self._partials(pitch, total)
        out *= env
        return out

    def _oscillators(
        self, pitch: int, velocity: int, frames: int, total: int, out: np.ndarray
    ) -> None:
        patch, sr = self.patch, self.sample_rate
        flat, slope = self.tables(pitch)
        row = TABLE_SIZE + 1
        top = FILTER_LEVELS - 1 - 1e-3
        opening = patch.cutoff + patch.key_velocity_cutoff * (velocity - 1) / 126.0
        runs: list[tuple[int, int, int]] = []  # (start, end, lower filter level) of the note
        weight: np.ndarray | None = None
        static: tuple[np.ndarray, np.ndarray] | None = None  # the table and its slopes
        if patch.filter_amount:
            level = adsr(patch.filter_env, frames, sr, False, total - frames)
            level *= np.float32(patch.filter_amount)
            level += np.float32(opening)
            np.clip(level, 0.0, top, out=level)
            lower = np.floor(level)
            weight = level - lower  # exact: the level's fraction
            # the level moves slowly: a note crosses a few table levels, so each run between
            # crossings reads two fixed tables (no per-frame table offset to add)
            edges = [0, *(np.flatnonzero(lower[1:] != lower[:-1]) + 1).tolist(), total]
            runs = [(a, b, int(lower[a])) for a, b in zip(edges[:-1], edges[1:], strict=True)]
        else:
            level_value = min(max(opening, 0.0), top)
            lower_index = int(level_value)
            w = np.float32(level_value - lower_index)
            a = flat[lower_index * row : (lower_index + 1) * row]
            b = flat[(lower_index + 1) * row : (lower_index + 2) * row]
            table = a + (b - a) * w
            static = (table, slopes(table))
        voices = max(1, patch.unison)
        gain = np.float32(1.0 / np.sqrt(voices))
        panned = np.empty(total, dtype=np.float32) if out.shape[0] == 2 else None
        high = np.empty(total, dtype=np.float32) if static is None else None
        scratch = np.empty(total, dtype=np.float32) if static is None else None
        for v in range(voices):
            position = 0.0 if voices == 1 else 2.0 * v / (voices - 1) - 1.0
            hz = midi_hz(pitch) * 2.0 ** (patch.detune_cents * position / 1200.0)
            increment = _phase_increment(hz, sr)
            start = np.uint32(
                (pitch * 2654435761 + v * 40503 * 65537) % (1 << 32)
            )  # fixed per voice
            if static is not None:
                wave = read_table(*static, increment, start, total)
            else:
                assert high is not None and scratch is not None and weight is not None
                index, frac = phase_index(increment, start, total)
                wave = np.empty(total, dtype=np.float32)
                for a0, b0, lo in runs:
                    at = lo * row
                    part = slice(a0, b0)
                    i, f, tmp = index[part], frac[part], scratch[part]
                    lerp_table(flat[at:], slope[at:], i, f, wave[part], tmp)
                    at += row  # the level above
                    lerp_table(flat[at:], slope[at:], i, f, high[part], tmp)
                high -= wave
                high *= weight
                wave += high
            wave *= gain
            if panned is None:
                out[0] += wave
            else:
                angle = (position * patch.spread + 1.0) * np.pi / 4.0
                np.multiply(wave, np.float32(np.cos(angle) * np.sqrt(2.0)), out=panned)
                out[0] += panned
                np.multiply(wave, np.float32(np.sin(angle) * np.sqrt(2.0)), out=panned)
                out[1] += panned

    def _partials(self, pitch: int, total: int) -> np.ndarray:
        sr = self.sample_rate
        out = np.zeros(total, dtype=np.float32)
        t = np.arange(total, dtype=np.float32)
        for p in self.patch.partials:
            hz = midi_hz(pitch) * p.ratio
            if hz >= min(0.45 * sr, 20000.0):
                continue  # above the band: it would alias
            wave = read_table(
                self._sine, self._sine_slopes, _phase_increment(hz, sr), np.uint32(0), total
            )
            decay = np.exp(t * np.float32(-1.0 / (p.decay * sr)))
            wave *= decay
            wave *= np.float32(p.level)
            out += wave
        return out
