"""Where the mix goes. One interface (``Output``), several drivers.

======== =====================================================================
name     driver
======== =====================================================================
sdl      SDL's audio device, fed through SDL's own queue by a feeder thread;
         SDL's device thread never runs Python, so it never waits for the GIL
         (alias: ``pygame``, since SDL comes with pygame)
silent   no device: a timer thread drives the mixer in real time, so events
         still flow (muted games, machines without a sound card)
offline  no thread: ``MusicEngine.render`` pulls audio as fast as it can
======== =====================================================================

``open_output`` falls back from a device that cannot open to ``silent``, with
one warning, so a game never crashes for want of a sound card; a device that
fails while playing gives way to ``silent`` at the same frame (``FallbackOutput``).
"""

from ._base import FailFn, FillFn, Output, OutputError
from ._files import WavWriter, read_disk_audio, read_wav, write_wav, write_wav_float
from ._offline import OfflineOutput
from ._open import FallbackOutput, open_output
from ._sdl import SdlOutput
from ._silent import SilentOutput

__all__ = [
    "Output",
    "OutputError",
    "FillFn",
    "FailFn",
    "FallbackOutput",
    "open_output",
    "SdlOutput",
    "SilentOutput",
    "OfflineOutput",
    "write_wav",
    "write_wav_float",
    "WavWriter",
    "read_wav",
    "read_disk_audio",
]
