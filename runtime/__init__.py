"""runtime: the engine inside the game.

Public API: ``MusicEngine`` (also importable from ``adaptive``), ``MusicEvent``,
and the file helpers ``write_wav``, ``read_wav`` and ``read_disk_audio``.
The rest (generators, conductor, instruments, mixer, outputs) is private.
"""

from ._engine import MusicEngine
from ._mixer import MusicEvent
from ._outputs import read_disk_audio, read_wav, write_wav
from ._timeline import Timeline, load_timeline, render_timeline

__all__ = [
    "MusicEngine",
    "MusicEvent",
    "write_wav",
    "read_wav",
    "read_disk_audio",
    "Timeline",
    "load_timeline",
    "render_timeline",
]
