"""Small vectorised DSP helpers shared by the instruments and the mix bus."""

from __future__ import annotations

import math

import numpy as np

__all__ = ["fft_size", "one_pole", "ramp"]


def one_pole(
    x: np.ndarray, a: float, b: float = 1.0, state: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """``y[n] = a * y[n-1] + b * x[n]`` along the last axis, without a per-sample loop.

    The signal is cut into blocks short enough that ``a**-block`` stays below
    1e6; inside a block the recursion is a scaled cumulative sum (float64), and
    only the block ends are carried in a loop. Returns ``(y, last)`` where
    ``last`` is the state to pass to the next call.
    """
    lead = x.shape[:-1]
    n = x.shape[-1]
    initial = np.zeros(lead) if state is None else np.asarray(state, dtype=np.float64)
    prev = initial
    if n == 0:
        return x.astype(np.float64), prev
    if a <= 0.0:
        y = x.astype(np.float64) * b
        return y, y[..., -1]
    block = int(min(4096, max(1, math.floor(13.8 / -math.log(a))))) if a < 1.0 else 4096
    count = -(-n // block)
    padded = np.zeros((*lead, count * block), dtype=np.float64)
    padded[..., :n] = x
    blocks = padded.reshape(*lead, count, block)
    j = np.arange(block, dtype=np.float64)
    rise = a ** (-j)
    fall = a**j
    z = np.cumsum(blocks * rise, axis=-1)
    z *= fall * b
    ends = np.empty((*lead, count), dtype=np.float64)
    step = a**block
    ends_src = z[..., -1]
    for k in range(count):
        prev = ends_src[..., k] + step * prev
        ends[..., k] = prev
    before = np.concatenate([initial[..., None], ends[..., :-1]], axis=-1)
    z += before[..., None] * (a ** (j + 1))
    y = z.reshape(*lead, count * block)[..., :n]
    return y, y[..., -1].copy()


def fft_size(n: int) -> int:
    """The smallest 2^a 3^b 5^c at or above ``n``: FFTs of such sizes are fast, and far
    smaller than the next power of two can be."""
    best = 1 << max(0, (n - 1).bit_length())
    five = 1
    while five < best:
        three = five
        while three < best:
            size = three
            while size < n:
                size *= 2
            best = min(best, size)
            three *= 3
        five *= 5
    return best


_RAMPS: dict[np.dtype, np.ndarray] = {}


def ramp(frames: int, dtype: type[np.generic]) -> np.ndarray:
    """``np.arange(frames, dtype=dtype)``, read-only, without making it for every note.

    Grown on demand, by replacing (never resizing) the array: a reader on another
    thread keeps its view.
    """
    key = np.dtype(dtype)
    have = _RAMPS.get(key)
    if have is None or have.shape[0] < frames:
        have = np.arange(max(frames, 0 if have is None else 2 * have.shape[0]), dtype=key)
        have.flags.writeable = False
        _RAMPS[key] = have
    return have[:frames]
