"""The mix bus: per-stem pan, send reverb, tempo-synced delay, DC blocking and stem limiting.

It runs in the composer's worker when a bar is rendered, never in the audio
callback. Each stem keeps its own effect returns, so an exported stem carries
its reverb and fades with it; the effects of all stems are computed together,
vectorised over stems, so four stems cost little more than one.

Effects keep state from bar to bar (a reverb tail rings across the bar line):
the bus stores its state after each bar by bar index, so a bar composed again
(after a state change) starts from the same state as the first time.

Reading the style: ``mix_settings`` is the one place that reads the mix fields
from a bundle's manifest.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ._instruments import PRESETS
from ._instruments._dsp import fft_size, one_pole

__all__ = ["MixBus", "MixSettings", "StemMix", "mix_settings"]

_SILENT = 1e-7  # about -140 dBFS: below it an effect's state is flushed to exact zeros
# bars of effect state kept for bars that get composed again: a stale bar is at most the
# look-ahead past the one playing (8 bars at most), and needs the state of the bar before
# it; an engine that knows its look-ahead keeps fewer (``MixBus.keep_states``): each bar's
# state holds the reverb's and the delay's tails, about 3 MB
_KEEP_STATES = 12


@dataclass(frozen=True)
class StemMix:
    """How one stem sits in the mix. ``max_gain``: the most the mixer multiplies it by."""

    pan: float = 0.0  # -1 left .. 1 right
    reverb: float = 0.0  # send 0..1
    delay: float = 0.0  # send 0..1
    polyphony: int = 16
    program: int = 0  # General MIDI program for MIDI export
    max_gain: float = 1.0
    dc_block: bool = False  # sampled instruments may carry DC; synthesised ones never do


@dataclass(frozen=True)
class MixSettings:
    loudness_lufs: float = -16.0
    ceiling_db: float = -1.0  # no exported stem peaks above this
    reverb_seconds: float = 1.5  # RT60 (the schema's default)
    reverb_damping: float = 0.5  # 0 bright .. 1 dark
    delay_beats: float = 0.75  # a dotted eighth
    delay_feedback: float = 0.35
    master_gain_db: float = 0.0
    stems: Mapping[str, StemMix] = field(default_factory=dict)


def mix_settings(
    manifest: Mapping[str, Any], master_gain: float = 0.7, sampled: Collection[str] = ()
) -> MixSettings:
    """The mix fields of a bundle manifest, with each instrument's defaults where unset.

    ``master_gain`` is the mixer's fixed gain; with each stem's gain and its
    largest state multiplier it bounds how loud the stem can be exported.
    ``sampled``: the stems that play a baked SoundFont preset (their DC is blocked).
    """
    mix = manifest.get("mix") or {}
    states = manifest.get("states") or {}
    stems: dict[str, StemMix] = {}
    for name, spec in (manifest.get("stems") or {}).items():
        preset = PRESETS.get(str(spec.get("instrument", "")), PRESETS["lead"])
        state_gain = max(
            [float((s.get("stems") or {}).get(name, 1.0)) for s in states.values()] or [1.0]
        )
        stems[name] = StemMix(
            pan=float(spec.get("pan", preset.pan)),
            reverb=float(spec.get("reverb", preset.reverb)),
            delay=float(spec.get("delay", preset.delay)),
            polyphony=int(spec.get("polyphony", preset.polyphony)),
            program=int(spec.get("program", preset.program)),
            max_gain=float(spec.get("gain", 1.0)) * state_gain * master_gain,
            dc_block=name in sampled,
        )
    defaults = MixSettings()
    return MixSettings(
        loudness_lufs=float(mix.get("loudness_lufs", defaults.loudness_lufs)),
        ceiling_db=float(mix.get("ceiling_db", defaults.ceiling_db)),
        reverb_seconds=float(mix.get("reverb_seconds", defaults.reverb_seconds)),
        reverb_damping=float(mix.get("reverb_damping", defaults.reverb_damping)),
        delay_beats=float(mix.get("delay_beats", defaults.delay_beats)),
        delay_feedback=float(mix.get("delay_feedback", defaults.delay_feedback)),
        master_gain_db=float(mix.get("master_gain_db", defaults.master_gain_db)),
        stems=stems,
    )


# --- effects: each takes (stems, 2, n) float32 input and a state, returns output and state ------


_RATE_DIVISOR = 4  # the reverb runs at a quarter of the sample rate


def _decimate(x: np.ndarray) -> np.ndarray:
    """A quarter of the sample rate along the last axis: 4-frame means, then a [1, 2, 1] / 4 smoother."""
    q = _RATE_DIVISOR
    n = x.shape[-1] // q
    means = x[..., 0 : n * q : q].copy()
    for j in range(1, q):  # strided adds: numpy is slow on a short innermost axis
        means += x[..., j : n * q : q]
    means *= np.float32(1.0 / q)
    smooth = means * np.float32(0.5)
    smooth[..., 1:] += means[..., :-1] * np.float32(0.25)
    smooth[..., :-1] += means[..., 1:] * np.float32(0.25)
    return smooth


def _add_interpolated(out: np.ndarray, y: np.ndarray) -> None:
    """Add quarter-rate frames ``y`` (..., m) into ``out`` (..., n), interpolating linearly."""
    q = _RATE_DIVISOR
    n = out.shape[-1]
    m = -(-n // q)
    short = m + 1 - y.shape[-1]
    if short > 0:  # hold the last frame past the end
        y = np.concatenate([y, np.repeat(y[..., -1:], short, axis=-1)], axis=-1)
    step = y[..., 1 : m + 1] - y[..., :m]
    for j in range(q):  # one strided pass per phase: numpy is slow on a short innermost axis
        count = len(range(j, n, q))
        phase = out[..., j::q]
        phase += y[..., :count]
        if j:
            phase += step[..., :count] * np.float32(j / q)


class _FeedbackDelayNetwork:
    """An 8-line feedback delay network (Householder feedback, damped), stereo in and out.

    It runs at a quarter of the sample rate (a damped tail keeps little above
    6 kHz) on a mono input; its eight lines come back as a decorrelated stereo
    pair. The bus plays it once, into an impulse, for ``_Reverb``. The shortest line is
    longer than a processing block, so each block reads only what earlier
    blocks wrote: the recursion is vectorised over blocks, lines and stems.
    Damping is a two-tap low-pass in every line's feedback.
    """

    LINES_12K = (356, 400, 453, 501, 559, 614, 673, 725)

    def __init__(self, sample_rate: int, seconds: float, damping: float) -> None:
        rate = sample_rate / _RATE_DIVISOR
        scale = rate / 12000.0
        self.delays = np.array([max(32, int(d * scale)) for d in self.LINES_12K])
        self.lines = n = len(self.delays)
        self.block = int(self.delays.min()) - 1
        self.history = int(self.delays.max()) + 1
        self.chunk = self.block * 6
        # each pass through line i decays by delay_i / (seconds * rate) of 60 dB
        decay = 10.0 ** (-3.0 * self.delays / (max(seconds, 0.1) * rate))
        d = min(max(damping, 0.0), 1.0) * 0.5
        self.now = (decay * (1.0 - d)).astype(np.float32)[None, :, None]
        self.before = (decay * d).astype(np.float32)[None, :, None]
        self.feedback = (np.eye(n) - 2.0 / n).astype(np.float32)  # Householder: orthogonal
        # the mono send feeds every line, with alternating signs
        self.input_sign = np.array([1, -1, 1, -1, -1, 1, -1, 1], dtype=np.float32)[
            None, :, None
        ] * np.float32(0.5)
        out = np.zeros((2, n), dtype=np.float32)
        out[0, 0::2] = (1, -1, 1, -1)
        out[1, 1::2] = (-1, 1, -1, 1)
        self.output = out * np.float32(0.7)

    def fresh(self, stems: int) -> np.ndarray:
        """The state: each line's last inputs, (stems, lines, history) float32, oldest first."""
        return np.zeros((stems, self.lines, self.history), dtype=np.float32)

    def run(self, mid: np.ndarray, state: np.ndarray, at: int) -> tuple[np.ndarray, np.ndarray]:
        """The network on quarter-rate input ``mid`` (stems, frames): its stereo output and its
        state at frame ``at``.

        The lines' inputs are kept in a short linear buffer (history plus one
        chunk) that shifts after every chunk, so each block reads plain slices
        from memory that stays in cache.
        """
        stems, n = mid.shape
        h, size = self.history, self.chunk
        buf = np.empty((stems, self.lines, h + size), dtype=np.float32)
        buf[:, :, :h] = state
        taps = np.empty((stems, self.lines, self.block + 1), dtype=np.float32)
        y = np.empty((stems, 2, n), dtype=np.float32)
        at = min(n, at)
        kept = None
        start = 0  # the bar frame at buf[:, :, h]
        t = 0
        while t < n:
            b = min(self.block, n - t, start + size - t)
            if t < at < t + b:  # take the state exactly at the commit point
                b = at - t
            pos = h + t - start
            block = taps[:, :, : b + 1]
            for i, d in enumerate(self.delays):
                block[:, i] = buf[:, i, pos - d - 1 : pos - d + b]
            lines = block[:, :, 1:] * self.now
            lines += block[:, :, :-1] * self.before
            new = buf[:, :, pos : pos + b]
            np.matmul(self.feedback, lines, out=new)
            new += mid[:, None, t : t + b] * self.input_sign
            y[:, :, t : t + b] = np.matmul(self.output, lines)
            t += b
            if t == at:
                kept = buf[:, :, pos + b - h : pos + b].copy()
            if t - start == size:  # shift: keep the history, free the chunk
                buf[:, :, :h] = buf[:, :, size : size + h]
                start = t
        if kept is None:
            kept = state.copy()
        return y, kept


class _Reverb:
    """The send reverb: the feedback delay network's impulse response, applied by FFT convolution.

    The network (see ``_FeedbackDelayNetwork``) is linear and time-invariant,
    so playing it once into an impulse at start-up and convolving each bar
    with that response gives the same reverb, in a handful of FFTs per bar
    instead of a Python loop over blocks (which would hold the GIL the audio
    callback needs). The state is the part of the tail still to come.
    """

    def __init__(self, sample_rate: int, seconds: float, damping: float) -> None:
        network = _FeedbackDelayNetwork(sample_rate, seconds, damping)
        rate = sample_rate / _RATE_DIVISOR
        self.length = int(min(max(seconds, 0.1), 6.0) * rate)
        impulse = np.zeros((1, self.length), dtype=np.float32)
        impulse[0, 0] = 1.0
        response, _ = network.run(impulse, network.fresh(1), self.length)
        fade = max(1, self.length // 5)  # the cut at RT60 (-60 dB) fades out: no edge
        response[0, :, -fade:] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)
        self.response = response[0]  # (2, length) at the quarter rate
        self._spectra: dict[int, np.ndarray] = {}

    def fresh(self, stems: int) -> np.ndarray:
        return np.zeros((stems, 2, self.length), dtype=np.float32)

    def _spectrum(self, size: int) -> np.ndarray:
        spectrum = self._spectra.get(size)
        if spectrum is None:
            spectrum = np.fft.rfft(self.response, size).astype(np.complex64)
            self._spectra[size] = spectrum
        return spectrum

    def process(
        self, send: np.ndarray, state: np.ndarray, commit: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """The return at a quarter rate (stems, 2, frames / 4) for the mono ``send`` (stems, frames).

        ``commit`` (full-rate frames) is where the state is taken; input after it
        (the bar's spare rows) does not ring on into the next bar.
        """
        mid = _decimate(send)
        n = mid.shape[1]
        at = min(n, commit // _RATE_DIVISOR)
        mid[:, at:] = 0.0
        size = fft_size(n + self.length)
        wet = np.fft.irfft(np.fft.rfft(mid, size)[:, None, :] * self._spectrum(size), size)
        wet = wet.astype(np.float32, copy=False)
        wet[:, :, : self.length] += state
        return wet[:, :, :n], wet[:, :, at : at + self.length].copy()


class _Delay:
    """A ping-pong delay synced to the tempo, with a darkening tap in its feedback."""

    def __init__(self, sample_rate: int, frames: int, feedback: float) -> None:
        self.delay = max(64, frames)
        self.feedback = np.float32(min(max(feedback, 0.0), 0.95))
        self.history = self.delay + 1

    def fresh(self, stems: int) -> np.ndarray:
        return np.zeros((stems, 2, self.history), dtype=np.float32)

    def process(
        self, send: np.ndarray, state: np.ndarray, commit: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """The return (stems, 2, frames) for the mono ``send`` (stems, frames)."""
        stems, n = send.shape
        h, d = self.history, self.delay
        # w_L = in + fb * w_R(t - d), w_R = fb * w_L(t - d); out = w(t - d)
        w = np.zeros((stems, 2, h + n), dtype=np.float32)
        w[:, :, :h] = state
        mono = send
        out = np.empty((stems, 2, n), dtype=np.float32)
        for t in range(0, n, d - 1):
            b = min(d - 1, n - t)
            s = h + t - d
            past = w[:, :, s - 1 : s + b]
            tap = past[:, :, 1:] * np.float32(0.7)
            tap += past[:, :, :-1] * np.float32(0.3)
            out[:, :, t : t + b] = tap
            w[:, 0, h + t : h + t + b] = mono[:, t : t + b] + tap[:, 1] * self.feedback
            w[:, 1, h + t : h + t + b] = tap[:, 0] * self.feedback
        return out, w[:, :, commit : commit + h].copy()


@dataclass
class _BusState:
    reverb: np.ndarray
    delay: np.ndarray
    dc_in: np.ndarray  # (stems, 2): the DC blocker's last input frame
    dc_out: np.ndarray  # (stems, 2): and its last output frame
    limiter: np.ndarray  # (stems,): the limiter's gain at the end of the bar


class MixBus:
    """Turns a bar's dry stems (stems, 2, rows) into playable stems (stems, rows, 2)."""

    LIMITER_BLOCK = 64
    LIMITER_WINDOW = 6  # blocks of look-ahead and of release

    def __init__(
        self,
        stems: Sequence[StemMix],
        settings: MixSettings,
        sample_rate: int,
        frames_per_beat: float,
    ) -> None:
        self.sample_rate = sample_rate
        self.keep_states = _KEEP_STATES
        angles = (np.clip([s.pan for s in stems], -1.0, 1.0) + 1.0) * np.pi / 4.0
        # constant power, unity on both channels at the centre
        self.pan = (np.stack([np.cos(angles), np.sin(angles)], axis=1) * np.sqrt(2.0)).astype(
            np.float32
        )[:, :, None]
        self.reverb_send = np.array([s.reverb for s in stems], dtype=np.float32)
        self.delay_send = np.array([s.delay for s in stems], dtype=np.float32)
        ceiling = 10.0 ** (settings.ceiling_db / 20.0)
        self.ceiling = np.array([ceiling / max(1.0, s.max_gain) for s in stems], dtype=np.float32)
        self.reverb = _Reverb(sample_rate, settings.reverb_seconds, settings.reverb_damping)
        self.delay = _Delay(
            sample_rate, int(round(settings.delay_beats * frames_per_beat)), settings.delay_feedback
        )
        self.dc_pole = float(math.exp(-2 * math.pi * 5.0 / sample_rate))  # a 5 Hz high-pass
        self.dc_stems = [i for i, s in enumerate(stems) if s.dc_block]
        self.count = len(stems)
        self._after: dict[int, _BusState] = {}

    def _fresh(self) -> _BusState:
        s = self.count
        return _BusState(
            self.reverb.fresh(s),
            self.delay.fresh(s),
            np.zeros((s, 2)),
            np.zeros((s, 2)),
            np.ones(s, dtype=np.float32),
        )

    def process(self, dry: np.ndarray, frames: int, index: int) -> np.ndarray:
        """Mix bar ``index``: dry (stems, 2, rows) float32 → (stems, rows, 2) float32.

        The effect returns are added into ``dry`` itself (the caller's scratch).
        The effects' state is carried on from bar ``index - 1`` and kept after
        ``frames`` (the bar's length; the rows past it are a spare tail).
        """
        state = self._after.get(index - 1) or self._fresh()
        rows = dry.shape[2]
        commit = min(frames, rows)
        x, dc_in, dc_out = self._dc_block(dry, state, commit)
        reverb_state = self._send(self.reverb, self.reverb_send, x, state.reverb, commit)
        delay_state = self._send(self.delay, self.delay_send, x, state.delay, commit)
        # pan each stem with its returns (constant power), straight into the interleaved layout
        out = np.empty((self.count, rows, 2), dtype=np.float32)
        np.multiply(x, self.pan, out=out.transpose(0, 2, 1))
        limiter = self._limit(out, state.limiter, commit)
        self._after[index] = _BusState(reverb_state, delay_state, dc_in, dc_out, limiter)
        for old in [i for i in self._after if i < index - self.keep_states]:
            del self._after[old]
        return out

    def _send(
        self,
        effect: _Reverb | _Delay,
        sends: np.ndarray,
        x: np.ndarray,
        state: np.ndarray,
        commit: int,
    ) -> np.ndarray:
        """Add an effect's return into each sending stem; only stems that send (or ring) run it."""
        active = [
            s
            for s in range(self.count)
            if sends[s] > 0 and (np.abs(state[s]).max() > _SILENT or x[s].any())
        ]
        if not active:  # np.zeros, not zeros_like: its untouched pages stay out of memory
            return np.zeros(state.shape, dtype=state.dtype)
        mono = np.empty((len(active), x.shape[2]), dtype=np.float32)
        for k, s in enumerate(active):
            np.add(x[s, 0], x[s, 1], out=mono[k])
            mono[k] *= np.float32(0.5 * sends[s])
        wet, after = effect.process(mono, state[active], commit)
        new_state = np.zeros(state.shape, dtype=state.dtype)  # silent stems: pages never touched
        for k, s in enumerate(active):
            if isinstance(effect, _Reverb):
                _add_interpolated(x[s], wet[k])
            else:
                x[s] += wet[k]
            if np.abs(after[k]).max() > _SILENT:  # a dying tail is flushed: no denormals
                new_state[s] = after[k]
        return new_state

    def _dc_block(
        self, dry: np.ndarray, state: _BusState, commit: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """y[n] = x[n] - x[n-1] + R y[n-1] on the stems that need it: removes DC and drift.

        Synth and drum voices are DC-free by construction (their tables have no
        DC term, one-shots are mean-removed), so only sampled stems pay for it.
        """
        dc_in, dc_out = state.dc_in.copy(), state.dc_out.copy()
        if not self.dc_stems:
            return dry, dc_in, dc_out
        out = dry
        pick = self.dc_stems
        x = dry[pick]
        previous = np.concatenate([state.dc_in[pick][:, :, None], x[:, :, :-1]], axis=2)
        y, _ = one_pole(x - previous, self.dc_pole, 1.0, state.dc_out[pick])
        out[pick] = y
        dc_in[pick] = x[:, :, commit - 1]
        dc_out[pick] = y[:, :, commit - 1]
        return out, dc_in, dc_out

    def _limit(self, x: np.ndarray, start_gain: np.ndarray, commit: int) -> np.ndarray:
        """A look-ahead peak limiter per stem (x: stems, frames, 2) at its ceiling.

        Block peaks give the gain each block needs; a running minimum over the
        look-ahead window, then a running mean of the same width, turn them into
        a smooth gain that is at or below every block's need. Returns the gains
        at ``commit`` to carry into the next bar.
        """
        stems, n, _ = x.shape
        end_gain = start_gain.copy()
        block = self.LIMITER_BLOCK
        for s in range(stems):
            ceiling = self.ceiling[s]
            peak = max(float(x[s].max()), -float(x[s].min())) if n else 0.0
            if peak <= ceiling and start_gain[s] >= 1.0:
                end_gain[s] = 1.0
                continue
            count = -(-n // block)
            padded = np.zeros((count * block, 2), dtype=np.float32)
            padded[:n] = np.abs(x[s])
            peaks = padded.reshape(count, block * 2).max(axis=1)
            want = np.minimum(1.0, ceiling / np.maximum(peaks, 1e-12))
            w = self.LIMITER_WINDOW
            edge = np.concatenate([np.full(w, start_gain[s]), want, np.ones(w)])
            windows = np.lib.stride_tricks.sliding_window_view(edge, 2 * w + 1)
            held = windows.min(axis=1)  # every block within w of a peak is already down
            held = np.concatenate([np.full(w, start_gain[s]), held, np.ones(w)])
            smooth = np.lib.stride_tricks.sliding_window_view(held, 2 * w + 1).mean(axis=1)
            centres = np.arange(count) * block + block / 2
            gain = np.interp(np.arange(n), centres, smooth).astype(np.float32)
            x[s] *= gain[:, None]
            end_gain[s] = gain[min(commit, n) - 1]
            np.clip(x[s], -ceiling, ceiling, out=x[s])  # the bar-line case look-ahead cannot see
        return end_gain
