"""Audio files: WAV in and out, and the raw stream SDL's disk driver writes."""

from __future__ import annotations

import os
import wave
from pathlib import Path

import numpy as np

from adaptive._errors import EngineError

__all__ = ["write_wav", "read_wav", "read_disk_audio"]


def write_wav(path: str | os.PathLike[str], audio: np.ndarray, sample_rate: int) -> None:
    """Write float audio (frames, channels) in [-1, 1] as 16-bit PCM WAV."""
    data = np.asarray(audio, dtype=np.float32)
    if data.ndim == 1:
        data = data[:, None]
    pcm = (np.clip(data, -1.0, 1.0) * 32767.0).round().astype("<i2")
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(data.shape[1])
        handle.setsampwidth(2)
        handle.setframerate(sample_rate)
        handle.writeframes(pcm.tobytes())


def read_wav(path: str | os.PathLike[str]) -> tuple[np.ndarray, int]:
    """Read a 16-bit PCM WAV as float32 (frames, channels) and its sample rate."""
    with wave.open(str(path), "rb") as handle:
        if handle.getsampwidth() != 2:
            raise EngineError(f"{path}: only 16-bit PCM WAV is supported")
        frames = handle.readframes(handle.getnframes())
        channels = handle.getnchannels()
        rate = handle.getframerate()
    return np.frombuffer(frames, dtype="<i2").reshape(-1, channels).astype(
        np.float32
    ) / 32767.0, rate


def read_disk_audio(path: str | os.PathLike[str], channels: int = 2) -> np.ndarray:
    """Read the raw float32 stream that SDL's disk audio driver wrote."""
    raw = np.fromfile(str(path), dtype=np.float32)
    usable = raw.shape[0] - raw.shape[0] % channels
    return raw[:usable].reshape(-1, channels)
