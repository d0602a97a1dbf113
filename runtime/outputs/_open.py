"""How the engine picks an output by name, and falls back to silence."""

from __future__ import annotations

import warnings

from adaptive._errors import EngineError

from ._base import OUTPUT_NAMES, FillFn, Output, OutputError
from ._offline import OfflineOutput
from ._sdl import SdlOutput
from ._silent import SilentOutput

__all__ = ["open_output"]


def open_output(
    output: str | Output, fill: FillFn, sample_rate: int, block_frames: int
) -> tuple[Output, str | None]:
    """Start ``output`` (a name or an instance); returns it and a fallback warning, if any.

    A device that fails to open falls back to the silent output, so events keep flowing.
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
