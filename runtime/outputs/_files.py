"""Audio files: WAV in and out, and the raw stream SDL's disk driver writes."""

from __future__ import annotations

import os
import struct
import wave
from pathlib import Path

import numpy as np

from adaptive._errors import EngineError

__all__ = ["write_wav", "write_wav_float", "WavWriter", "read_wav", "read_disk_audio"]

_FLOAT_FORMAT = 3  # WAVE_FORMAT_IEEE_FLOAT


def _pcm16(audio: np.ndarray) -> np.ndarray:
    """Float audio in [-1, 1] as 16-bit samples (frames, channels)."""
    data = np.asarray(audio, dtype=np.float32)
    if data.ndim == 1:
        data = data[:, None]
    return (np.clip(data, -1.0, 1.0) * 32767.0).round().astype("<i2")


def write_wav(path: str | os.PathLike[str], audio: np.ndarray, sample_rate: int) -> None:
    """Write float audio (frames, channels) in [-1, 1] as 16-bit PCM WAV."""
    pcm = _pcm16(audio)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(pcm.shape[1])
        handle.setsampwidth(2)
        handle.setframerate(sample_rate)
        handle.writeframes(pcm.tobytes())


def write_wav_float(path: str | os.PathLike[str], audio: np.ndarray, sample_rate: int) -> None:
    """Write float32 audio (frames, channels) as an IEEE-float WAV: every bit kept."""
    data = np.asarray(audio, dtype=np.float32)
    with WavWriter(path, sample_rate, 1 if data.ndim == 1 else data.shape[1]) as writer:
        writer.write(data)


class WavWriter:
    """A WAV written block by block, float32 (every bit kept) or 16-bit PCM.

    It writes to a temporary file beside ``path`` and renames it at ``close``, so
    a render that fails half-way leaves whatever was at ``path`` untouched.
    """

    def __init__(
        self, path: str | os.PathLike[str], sample_rate: int, channels: int = 2, pcm16: bool = False
    ) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.sample_rate, self.channels, self.pcm16 = sample_rate, channels, pcm16
        self.frames = 0
        self._temporary = self.path.with_name(f".{self.path.name}.part")
        self._file = open(self._temporary, "wb")  # noqa: SIM115 - closed by close() or discard()
        self._file.write(self._header())

    def _header(self) -> bytes:
        width = 2 if self.pcm16 else 4
        body = self.frames * self.channels * width
        rate, channels = self.sample_rate, self.channels
        if self.pcm16:
            fmt = struct.pack("<HHIIHH", 1, channels, rate, rate * channels * 2, channels * 2, 16)
            chunks = b"fmt " + struct.pack("<I", len(fmt)) + fmt
        else:
            fmt = struct.pack(
                "<HHIIHHH", _FLOAT_FORMAT, channels, rate, rate * channels * 4, channels * 4, 32, 0
            )
            fact = b"fact" + struct.pack("<II", 4, self.frames)
            chunks = b"fmt " + struct.pack("<I", len(fmt)) + fmt + fact
        chunks += b"data" + struct.pack("<I", body)
        return b"RIFF" + struct.pack("<I", 4 + len(chunks) + body) + b"WAVE" + chunks

    def write(self, audio: np.ndarray) -> None:
        data = _pcm16(audio) if self.pcm16 else np.ascontiguousarray(audio, dtype="<f4")
        self._file.write(data.tobytes())
        self.frames += data.shape[0]

    def close(self) -> None:
        """Write the sizes into the header and put the file at ``path``."""
        self._file.seek(0)
        self._file.write(self._header())
        self._file.close()
        os.replace(self._temporary, self.path)

    def discard(self) -> None:
        self._file.close()
        self._temporary.unlink(missing_ok=True)

    def __enter__(self) -> WavWriter:
        return self

    def __exit__(self, kind: object, *_rest: object) -> None:
        if kind is None:
            self.close()
        else:
            self.discard()


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
