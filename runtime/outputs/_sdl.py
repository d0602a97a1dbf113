"""SDL's audio device, fed through SDL's own queue: the audio path that needs no GIL.

SDL's device thread pulls from a queue that SDL keeps in C (``SDL_QueueAudio``).
A feeder thread here keeps that queue ``queue_blocks`` blocks deep by calling the
mixer and queueing its block. The device thread never runs Python, so a game
that holds the GIL for a whole frame cannot starve it; only a feeder starved for
longer than the queue's depth can, and that is counted as an underrun.

The queue's depth is the trade-off between safety and latency: a gain change
reaches the speaker after at most ``queue_blocks * block_frames`` frames (8 x 512
at 48 kHz: 85 ms) plus the gain smoothing, and the feeder may be kept from
running for most of that time without a glitch. ``SdlOutput(queue_blocks=...)``
sets it; the feeder wakes every quarter of the queue (at most every 10 ms).

The depth adapts to how late the feeder is: a wake-up that finds less than
half the queue left (the feeder was kept from running for half of it, as on a
machine busy with other processes) doubles the depth, up to
``max_queue_blocks`` (default 32 blocks: 340 ms at 512 frames); after
``CALM_SECONDS`` without one, and if the longest the feeder went without running
in that time fits in a quarter of the queue, it halves again, down to
``queue_blocks``. The first
``WARM_UP_SECONDS``, when the game is still loading and the first bars are being
composed, play on a queue four times as deep (the feeder is likeliest to
be kept waiting then). So an idle machine keeps the short latency,
and a loaded one trades latency for no glitches.

A device that fails while playing is noticed here, on the feeder's next wake-up:
SDL reports it stopped (SDL's disk driver closes the device when a write fails;
an unplugged device does the same), ``SDL_QueueAudio`` refuses audio, the queue
has not drained for ``STALL_SECONDS`` (a hung driver), or the feeder itself
raises. The feeder then stops, closes the device and calls ``failed``, and the
engine plays on silently from the same frame (``outputs._open.FallbackOutput``).

SDL comes with pygame; it is called through ctypes (which releases the GIL around
each call) from the very library pygame loaded. Headless machines set
``SDL_AUDIODRIVER=disk`` (SDL then writes the stream to ``SDL_DISKAUDIOFILE``)
or ``dummy``.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ._base import FillFn, Output, OutputError

__all__ = ["SdlOutput", "DEFAULT_QUEUE_BLOCKS", "DEFAULT_MAX_QUEUE_BLOCKS", "STALL_SECONDS"]

DEFAULT_QUEUE_BLOCKS = 8
DEFAULT_MAX_QUEUE_BLOCKS = 32
CALM_SECONDS = 30.0  # this long without a late wake-up, and the queue halves towards its start
WARM_UP_SECONDS = 5.0  # the first seconds (the game loading): a queue four times as deep
STALL_SECONDS = 2.0  # a device that takes no audio for this long (and 4 queues' time) has hung
_SDL_AUDIO_STOPPED = 0  # SDL_GetAudioDeviceStatus: closed, or disconnected by its driver
_SDL_INIT_AUDIO = 0x00000010
_AUDIO_F32SYS = 0x8120 if sys.byteorder == "little" else 0x9120
_FRAME_BYTES = 8  # two float32 channels
_FEEDER_CALLS = ("SDL_QueueAudio", "SDL_GetQueuedAudioSize", "SDL_GetAudioDeviceStatus")


class _AudioSpec(ctypes.Structure):
    _fields_ = [
        ("freq", ctypes.c_int),
        ("format", ctypes.c_uint16),
        ("channels", ctypes.c_uint8),
        ("silence", ctypes.c_uint8),
        ("samples", ctypes.c_uint16),
        ("padding", ctypes.c_uint16),
        ("size", ctypes.c_uint32),
        ("callback", ctypes.c_void_p),
        ("userdata", ctypes.c_void_p),
    ]


class DeviceFailed(Exception):
    """The device stopped playing while the feeder was feeding it."""


class SdlOutput(Output):
    name = "sdl"

    def __init__(
        self, queue_blocks: int = DEFAULT_QUEUE_BLOCKS, max_queue_blocks: int | None = None
    ) -> None:
        super().__init__()
        if not isinstance(queue_blocks, int) or not 2 <= queue_blocks <= 64:
            raise OutputError(f"queue_blocks {queue_blocks!r} must be an integer in 2..64")
        if max_queue_blocks is None:
            max_queue_blocks = max(queue_blocks, DEFAULT_MAX_QUEUE_BLOCKS)
        if not isinstance(max_queue_blocks, int) or not queue_blocks <= max_queue_blocks <= 64:
            raise OutputError(
                f"max_queue_blocks {max_queue_blocks!r} must be an integer in {queue_blocks}..64"
            )
        self.queue_blocks = queue_blocks
        self.max_queue_blocks = max_queue_blocks
        self.depth_blocks = queue_blocks  # the queue's depth now: it adapts to late wake-ups
        self.late_wakeups = 0  # wake-ups that found less than half the queue left
        self.device = 0
        self.driver = ""
        self._sdl: Any = None
        self._thread: threading.Thread | None = None
        self._running = False
        self._queued_frames = 0  # the feeder's last look at SDL's queue
        self.fill_errors = 0

    def start(self, fill: FillFn, sample_rate: int, block_frames: int) -> None:
        if self._running:
            return
        sdl = _sdl()
        if sdl is None:
            raise OutputError("output 'sdl': the SDL library that pygame ships was not found")
        if sdl.SDL_InitSubSystem(_SDL_INIT_AUDIO) != 0:
            raise OutputError(f"output 'sdl': SDL audio did not start: {_error(sdl)}")
        want = _AudioSpec(
            sample_rate, _AUDIO_F32SYS, 2, 0, min(block_frames, 8192), 0, 0, None, None
        )
        have = _AudioSpec()
        device = sdl.SDL_OpenAudioDevice(None, 0, ctypes.byref(want), ctypes.byref(have), 0)
        if device == 0:
            message = _error(sdl)
            sdl.SDL_QuitSubSystem(_SDL_INIT_AUDIO)
            raise OutputError(f"output 'sdl': cannot open the audio device: {message}")
        self._sdl, self.device = sdl, device
        driver = sdl.SDL_GetCurrentAudioDriver()
        self.driver = driver.decode() if driver else ""
        block = np.zeros((block_frames, 2), dtype=np.float32)
        self.depth_blocks = min(self.max_queue_blocks, 4 * self.queue_blocks)  # warming up
        self._top_up(fill, block, self.depth_blocks * block_frames)  # queued before it plays
        sdl.SDL_PauseAudioDevice(device, 0)
        self._running = True
        self._thread = threading.Thread(
            target=self._feed,
            args=(fill, block, sample_rate),
            name="adaptive-sdl-feeder",
            daemon=True,
        )
        self._thread.start()

    def _top_up(self, fill: FillFn, block: np.ndarray, target: int) -> int:
        sdl, device = self._sdl, self.device
        queued = sdl.SDL_GetQueuedAudioSize(device) // _FRAME_BYTES
        starved = queued == 0
        while queued < target:
            try:
                fill(block)
            except Exception:  # a broken mixer must not kill the feeder: play silence, count it
                block.fill(0.0)
                self.fill_errors += 1
            if sdl.SDL_QueueAudio(device, block.ctypes.data, block.nbytes) < 0:
                raise DeviceFailed(f"SDL refused the audio: {_error(sdl)}")
            queued += block.shape[0]
        self._queued_frames = queued
        return int(starved)

    def _feed(self, fill: FillFn, block: np.ndarray, sample_rate: int) -> None:
        drained_at = woke = time.monotonic()
        calm_since = drained_at - CALM_SECONDS + WARM_UP_SECONDS  # the warm-up ends sooner
        worst_gap = 0.0  # the longest the feeder went without running, since calm_since
        try:
            while self._running:
                target = self.depth_blocks * block.shape[0]
                if self._sdl.SDL_GetAudioDeviceStatus(self.device) == _SDL_AUDIO_STOPPED:
                    raise DeviceFailed(
                        f"the {self.driver or 'SDL'} device stopped: {_error(self._sdl)}"
                    )
                queued = self._sdl.SDL_GetQueuedAudioSize(self.device) // _FRAME_BYTES
                now = time.monotonic()
                worst_gap, woke = max(worst_gap, now - woke), now
                if queued < self._queued_frames:
                    drained_at = now
                elif now - drained_at > max(STALL_SECONDS, 4.0 * target / sample_rate):
                    raise DeviceFailed(f"the device took no audio for {now - drained_at:.1f} s")
                if queued < target // 2:  # kept from running for half the queue: deepen it
                    self.late_wakeups += 1
                    self.depth_blocks = min(self.max_queue_blocks, 2 * self.depth_blocks)
                    calm_since, worst_gap = now, 0.0
                elif now - calm_since > CALM_SECONDS and self.depth_blocks > self.queue_blocks:
                    # halve only if the worst gap of the calm spell would leave half of that
                    if worst_gap * sample_rate < target // 4:
                        self.depth_blocks = max(self.queue_blocks, self.depth_blocks // 2)
                    calm_since, worst_gap = now, 0.0
                target = self.depth_blocks * block.shape[0]
                self.underruns += self._top_up(fill, block, target)
                # wake when a quarter of the queue has played: a late wake-up still finds audio
                time.sleep(min(0.25 * target / sample_rate, 0.01))
        except Exception as exc:  # noqa: BLE001 - whatever broke, the game must not crash
            reason = str(exc) if isinstance(exc, DeviceFailed) else f"{type(exc).__name__}: {exc}"
            if self._running:  # not a stop() racing a closing device
                self._running = False
                self._close()
                self.failed(reason)

    def pending_frames(self) -> int:
        return self._queued_frames if self._running else 0

    def stop(self) -> None:
        self._running = False
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5.0)
        self._close()

    def _close(self) -> None:
        sdl, device, self.device = self._sdl, self.device, 0
        if sdl is not None and device:
            sdl.SDL_PauseAudioDevice(device, 1)
            sdl.SDL_ClearQueuedAudio(device)
            sdl.SDL_CloseAudioDevice(device)
            sdl.SDL_QuitSubSystem(_SDL_INIT_AUDIO)


def _error(sdl: Any) -> str:
    message = sdl.SDL_GetError()
    return message.decode(errors="replace") if message else "unknown SDL error"


@functools.cache
def _sdl() -> Any:
    """The SDL2 library pygame loaded, with the signatures used here; None if not found."""
    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
    try:
        import pygame  # noqa: F401  (loads SDL2 into the process)
    except ImportError:  # pragma: no cover - pygame is a runtime dependency
        return None
    for path in _sdl_library_candidates():
        try:
            lib = ctypes.CDLL(path)
            lib.SDL_QueueAudio  # noqa: B018  (probe: an SDL2 build with the queue API)
        except (OSError, AttributeError):
            continue
        u32, c_int = ctypes.c_uint32, ctypes.c_int
        signatures: dict[str, tuple[list[Any], Any]] = {
            "SDL_InitSubSystem": ([u32], c_int),
            "SDL_QuitSubSystem": ([u32], None),
            "SDL_GetError": ([], ctypes.c_char_p),
            "SDL_GetCurrentAudioDriver": ([], ctypes.c_char_p),
            "SDL_OpenAudioDevice": (
                [
                    ctypes.c_char_p,
                    c_int,
                    ctypes.POINTER(_AudioSpec),
                    ctypes.POINTER(_AudioSpec),
                    c_int,
                ],
                u32,
            ),
            "SDL_PauseAudioDevice": ([u32, c_int], None),
            "SDL_QueueAudio": ([u32, ctypes.c_void_p, u32], c_int),
            "SDL_GetQueuedAudioSize": ([u32], u32),
            "SDL_ClearQueuedAudio": ([u32], None),
            "SDL_CloseAudioDevice": ([u32], None),
            "SDL_GetAudioDeviceStatus": ([u32], c_int),
        }
        # the feeder's calls on every wake-up are quick (SDL holds its device lock for a
        # copy); through PyDLL they keep the GIL, so another thread cannot take it at each
        # call and keep the feeder waiting a switch interval before it can queue the next block
        keep_gil = ctypes.PyDLL(path)
        for name, (args, result) in signatures.items():
            function = getattr(keep_gil if name in _FEEDER_CALLS else lib, name)
            function.argtypes, function.restype = args, result
            setattr(lib, name, function)
        return lib
    return None


def _sdl_library_candidates() -> Iterator[str]:
    """Where SDL2 may be, likeliest first; lazily, because the last resort
    (``ctypes.util.find_library``) runs ldconfig and a compiler: 20 ms of start-up."""
    seen: set[str] = set()

    def fresh(paths: Iterable[str]) -> Iterator[str]:
        for path in paths:
            if path not in seen:
                seen.add(path)
                yield path

    maps = Path("/proc/self/maps")
    if maps.exists():  # Linux: the exact file already mapped into this process
        mapped = []
        for line in maps.read_text().splitlines():
            path = line.split()[-1] if line.split() else ""
            name = os.path.basename(path)
            if name.startswith("libSDL2") and not name.startswith(("libSDL2_", "libSDL2main")):
                mapped.append(path)
        yield from fresh(mapped)
    import pygame

    here = Path(pygame.__file__).resolve().parent
    for pattern in ("../pygame.libs/libSDL2-*", ".dylibs/libSDL2*.dylib", "SDL2.dll"):
        yield from fresh(str(p) for p in sorted(here.glob(pattern)))
    system = ctypes.util.find_library("SDL2")
    if system:
        yield from fresh([system])
