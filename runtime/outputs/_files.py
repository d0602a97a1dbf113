"""Audio files: WAV in and out, and the raw stream SDL's disk driver writes."""

from __future__ import annotations

import os
import struct
import wave
from pathlib import Path

import numpy as np

from adaptive._errors import EngineError

__all__ = ["write_wav", "write_wav_float", "read_wav", "read_disk_audio"]

_FLOAT_FORMAT = 3  # WAVE_FORMAT_IEEE_FLOAT


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


def write_wav_float(path: str | os.PathLike[str], audio: np.ndarray, sample_rate: int) -> None:
    """Write float32 audio (frames, channels) as an IEEE-float WAV: every bit kept."""
    data = np.ascontiguousarray(audio, dtype="<f4")
    if data.ndim == 1:
        data = data[:, None]
    channels = data.shape[1]
    body = data.tobytes()
    fmt = struct.pack(
        "<HHIIHHH", _FLOAT_FORMAT, channels, sample_rate, sample_rate * channels * 4,
        channels * 4, 32, 0,
    )  # fmt: skip
    fact = struct.pack("<I", data.shape[0])
    chunks = b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"fact" + struct.pack("<I", 4) + fact
    chunks += b"data" + struct.pack("<I", len(body)) + body
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_bytes(b"RIFF" + struct.pack("<I", 4 + len(chunks)) + b"WAVE" + chunks)


def _read_float_wav(path: str | os.PathLike[str]) -> tuple[np.ndarray, int] | None:
    """An IEEE-float WAV's float32 (frames, channels) and rate; None if it is not one."""
    data = Path(path).read_bytes()
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        return None
    pos, fmt, body = 12, None, None
    while pos + 8 <= len(data):
        kind, size = data[pos : pos + 4], struct.unpack_from("<I", data, pos + 4)[0]
        if kind == b"fmt ":
            fmt = struct.unpack_from("<HHIIHH", data, pos + 8)
        elif kind == b"data":
            body = data[pos + 8 : pos + 8 + size]
        pos += 8 + size + (size & 1)
    if fmt is None or fmt[0] != _FLOAT_FORMAT or body is None:
        return None
    if fmt[5] != 32:
        raise EngineError(f"{path}: field 'fmt.bits' is {fmt[5]}; float WAV must be 32-bit")
    channels = fmt[1]
    usable = len(body) // 4 - (len(body) // 4) % channels
    return np.frombuffer(body, dtype="<f4", count=usable).reshape(-1, channels).copy(), fmt[2]


def read_wav(path: str | os.PathLike[str]) -> tuple[np.ndarray, int]:
    """Read a 16-bit PCM or 32-bit float WAV as float32 (frames, channels) and its sample rate."""
    floats = _read_float_wav(path)
    if floats is not None:
        return floats
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
