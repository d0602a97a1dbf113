"""How the engine picks an output by name, and falls back to silence.

A device that fails to open falls back at ``start``, with one warning. A device
that fails later (its driver stops, its writes are refused, it stops taking
audio) is switched for the silent output on the spot by ``FallbackOutput``: the
mixer's sample clock goes on from the frame it had reached, so beats, bars and
transitions keep their frames, and the game hears of it through ``on_fault``
(the engine turns it into an ``"error"`` event in ``update()``) and a logging
warning.
"""

from __future__ import annotations

import logging
import threading
import warnings
from collections.abc import Callable

from adaptive._errors import EngineError

from ._base import OUTPUT_NAMES, FillFn, Output, OutputError
from ._offline import OfflineOutput
from ._sdl import SdlOutput
from ._silent import SilentOutput

__all__ = ["open_output", "FallbackOutput"]

FaultFn = Callable[[BaseException], None]  # hears of a device that failed mid-session

log = logging.getLogger("runtime.outputs")


def open_output(
    output: str | Output,
    fill: FillFn,
    sample_rate: int,
    block_frames: int,
    on_fault: FaultFn | None = None,
) -> tuple[Output, str | None]:
    """Start ``output`` (a name or an instance); returns it and a fallback warning, if any.

    A device that fails to open falls back to the silent output, so events keep
    flowing; a real-time device is wrapped in a ``FallbackOutput``, so one that
    fails later does too, and ``on_fault`` hears of it.
    """
    if isinstance(output, Output):
        chosen = output
    elif output in ("sdl", "pygame"):
        chosen = SdlOutput()
    elif output == "silent":
        chosen = SilentOutput()
    elif output == "offline":
        chosen = OfflineOutput()
    else:
        raise EngineError(
            f"output {output!r} is not known; choose one of {', '.join(OUTPUT_NAMES)} or pass an Output"
        )
    if chosen.realtime and not isinstance(chosen, SilentOutput):
        chosen = FallbackOutput(chosen, on_fault)
    try:
        chosen.start(fill, sample_rate, block_frames)
        return chosen, None
    except OutputError as exc:
        if isinstance(chosen, SilentOutput | OfflineOutput):
            raise
        message = f"adaptive: {exc}; playing on the silent output instead (events still flow)"
        warnings.warn(message, RuntimeWarning, stacklevel=3)
        silent = SilentOutput()
        silent.start(fill, sample_rate, block_frames)
        return silent, message


class FallbackOutput(Output):
    """Plays on ``device``; when it fails mid-session, on the silent output from the same frame.

    The switch happens on the failing driver's thread, after it has stopped
    calling ``fill``, so the mixer is never driven by two threads at once.
    """

    def __init__(self, device: Output, on_fault: FaultFn | None = None) -> None:
        super().__init__()
        self.device = device
        self.on_fault = on_fault
        self.fault: str | None = None  # why the device was given up, once it was
        self._playing: Output = device
        self._silent: SilentOutput | None = None
        self._args: tuple[FillFn, int, int] | None = None
        self._lock = threading.Lock()  # the switch against stop()
        self._stopped = False

    @property  # type: ignore[override]
    def name(self) -> str:
        return self._playing.name

    @property
    def realtime(self) -> bool:  # type: ignore[override]
        return True

    @property  # type: ignore[override]
    def underruns(self) -> int:
        silent = self._silent.underruns if self._silent is not None else 0
        return int(self.device.underruns) + silent

    @underruns.setter
    def underruns(self, _value: int) -> None:
        pass  # the outputs inside count

    @property
    def fill_errors(self) -> int:
        return int(getattr(self.device, "fill_errors", 0))

    def start(self, fill: FillFn, sample_rate: int, block_frames: int) -> None:
        with self._lock:
            self._stopped, self.fault = False, None
            self._args = (fill, sample_rate, block_frames)
            self._silent, self._playing = None, self.device
        self.device.on_failure = self._device_failed
        self.device.start(fill, sample_rate, block_frames)

    def _device_failed(self, device: Output, reason: str) -> None:
        with self._lock:
            if self._stopped or self._silent is not None or self._args is None:
                return
            silent = SilentOutput()
            silent.start(*self._args)  # the mixer's clock goes on from where the device left it
            self._silent, self._playing = silent, silent
            self.fault = reason
        message = (
            f"output {device.name!r} failed while playing: {reason}; "
            "playing on the silent output from here (events still flow)"
        )
        log.warning("adaptive: %s", message)
        if self.on_fault is not None:
            self.on_fault(OutputError(message))

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
        self.device.stop()  # joins the driver's thread, which may be switching: outside the lock
        if self._silent is not None:
            self._silent.stop()  # kept, with its name and counts, for the stats after stop()

    def pending_frames(self) -> int:
        return self._playing.pending_frames()
