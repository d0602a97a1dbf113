"""Where the mixed audio goes: the SDL audio device (through pygame) or files."""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
import time
import wave
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from adaptive._errors import EngineError

__all__ = ["PygameOutput", "write_wav", "read_wav", "read_disk_audio"]


class PygameOutput:
    """Opens the SDL audio device and pulls audio from ``fill`` in SDL's audio thread.

    ``fill(out)`` receives a float32 (frames, 2) view of SDL's own buffer. It
    runs on the audio thread: it must not block, log or do I/O. On a machine
    without a sound card set ``SDL_AUDIODRIVER=disk`` (SDL then writes the raw
    float32 stream to ``SDL_DISKAUDIOFILE``) or ``dummy``.
    """

    def __init__(
        self, fill: Callable[[np.ndarray], None], sample_rate: int, buffer_frames: int
    ) -> None:
        self.fill = fill
        self.sample_rate = sample_rate
        self.buffer_frames = buffer_frames
        self.device: Any = None  # pygame._sdl2.audio.AudioDevice, imported on start
        self.errors = 0
        self.late_callbacks = 0
        # SDL's drivers double-buffer: a gap of more than two buffers between
        # callbacks means the device ran dry (usually the GIL was held too long)
        self._late_after = 2.0 * buffer_frames / sample_rate
        self._last_callback = 0.0

    def _callback(self, _device: object, memory: memoryview) -> None:
        now = time.perf_counter()
        if self._last_callback and now - self._last_callback > self._late_after:
            self.late_callbacks += 1
        self._last_callback = now
        out = np.frombuffer(memory, dtype=np.float32).reshape(-1, 2)
        try:
            self.fill(out)
        except Exception:  # an exception here would kill SDL's thread: play silence, count it
            out.fill(0.0)
            self.errors += 1

    def start(self) -> None:
        os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
        try:
            import pygame._sdl2.audio as sdl_audio
            import pygame._sdl2.sdl2 as sdl
        except ImportError as exc:  # pragma: no cover - pygame is a runtime dependency
            raise EngineError(f"output 'pygame' needs pygame: {exc}") from None
        try:
            sdl.init_subsystem(sdl.INIT_AUDIO)
            names = sdl_audio.get_audio_device_names(False)
            if not names:
                raise EngineError(
                    "output 'pygame': SDL found no audio output device; set SDL_AUDIODRIVER=disk or dummy"
                )
            self.device = sdl_audio.AudioDevice(
                devicename=names[0],
                iscapture=False,
                frequency=self.sample_rate,
                audioformat=sdl_audio.AUDIO_F32,
                numchannels=2,
                chunksize=self.buffer_frames,
                allowed_changes=0,  # SDL converts if the device wants another format
                callback=self._callback,
            )
        except EngineError:
            raise
        except Exception as exc:
            raise EngineError(f"output 'pygame': cannot open the SDL audio device: {exc}") from None
        self.device.pause(0)

    def stop(self) -> None:
        if self.device is None:
            return
        # pygame's pause() waits for SDL's audio lock while holding the GIL, and
        # SDL's audio thread holds that lock while it waits for the GIL to run our
        # callback: a deadlock. Pausing through ctypes releases the GIL first.
        pause = _sdl_pause_audio_device()
        if pause is not None:
            pause(ctypes.c_uint32(self.device.deviceid), 1)
        else:  # pragma: no cover - SDL not found beside pygame
            self.device.pause(1)
        self.device.close()  # safe now: a paused device never calls back
        self.device = None


@functools.cache
def _sdl_pause_audio_device() -> Any:
    """SDL_PauseAudioDevice from the SDL library pygame loaded, or None."""
    for path in _sdl_library_candidates():
        try:
            function = ctypes.CDLL(path).SDL_PauseAudioDevice
        except (OSError, AttributeError):
            continue
        function.argtypes = [ctypes.c_uint32, ctypes.c_int]
        function.restype = None
        return function
    return None


def _sdl_library_candidates() -> list[str]:
    found: list[str] = []
    maps = Path("/proc/self/maps")
    if maps.exists():  # Linux: the exact file already mapped into this process
        for line in maps.read_text().splitlines():
            path = line.split()[-1] if line.split() else ""
            name = os.path.basename(path)
            if name.startswith("libSDL2") and not name.startswith(("libSDL2_", "libSDL2main")):
                found.append(path)
    import pygame

    here = Path(pygame.__file__).resolve().parent
    for pattern in ("../pygame.libs/libSDL2-*", ".dylibs/libSDL2*.dylib", "SDL2.dll"):
        found += [str(p) for p in sorted(here.glob(pattern))]
    system = ctypes.util.find_library("SDL2")
    if system:
        found.append(system)
    return list(dict.fromkeys(found))


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
