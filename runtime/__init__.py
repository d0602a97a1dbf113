"""runtime: the engine inside the game, and the public API a game imports.

    import runtime
    with runtime.MusicEngine(runtime.load_bundle(), output="sdl") as music:
        music.set_state("combat")
        music.set_parameter("intensity", 0.8)
        for event in music.update(): ...

Public: ``MusicEngine``, ``MusicEvent``, ``EngineStats``, the ``Output``
interface and its drivers, timelines, WAV helpers, and (re-exported from the
``adaptive`` contract) ``load_bundle``, ``Bundle`` and the errors. Everything
else (generators, composer, scheduler, mixer, instruments) is private.
"""

from adaptive import (
    AdaptiveError,
    Bundle,
    BundleError,
    EngineError,
    UnknownNameError,
    load_bundle,
)

from ._clock import MusicalClock
from ._engine import MusicEngine
from ._mixer import MusicEvent
from ._report import EngineStats, Percentiles
from ._timeline import Timeline, load_timeline, render_timeline
from .outputs import (
    OfflineOutput,
    Output,
    OutputError,
    SdlOutput,
    SilentOutput,
    read_disk_audio,
    read_wav,
    write_wav,
)

__all__ = [
    "MusicEngine",
    "MusicEvent",
    "EngineStats",
    "Percentiles",
    "MusicalClock",
    "Output",
    "OutputError",
    "SdlOutput",
    "SilentOutput",
    "OfflineOutput",
    "Timeline",
    "load_timeline",
    "render_timeline",
    "write_wav",
    "read_wav",
    "read_disk_audio",
    "load_bundle",
    "Bundle",
    "AdaptiveError",
    "BundleError",
    "EngineError",
    "UnknownNameError",
]
