"""adaptive: adaptive game-soundtrack middleware.

The public API lives here::

    import adaptive
    bundle = adaptive.load_bundle()          # the embedded default style
    with adaptive.MusicEngine(bundle) as engine:
        engine.set_state("combat")
        engine.set_parameter("intensity", 0.8)
        for event in engine.update(): ...

A bundle's manifest is typed (``bundle.spec``, an ``adaptive.Manifest``) and also
available as plain data (``bundle.manifest``, the same keys as in the file)::

    bundle.spec.stems["melody"].instrument        # "lead"
    bundle.spec.transition("explore", "combat")   # a TransitionSpec
    bundle.session("melody")                      # the validated onnxruntime session

``adaptive`` itself needs only numpy and msgpack at import time (``read_bundle``
imports onnxruntime when it checks the models); ``MusicEngine`` comes from the
``runtime`` package and is imported on first use.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from ._bundle import (
    Bundle,
    ModelEntry,
    TensorSpec,
    default_bundle_path,
    read_bundle,
    repack_bundle,
    write_bundle,
)
from ._errors import (
    AdaptiveError,
    BundleError,
    EngineError,
    MidiImportError,
    StyleError,
    UnknownNameError,
)
from ._music import Bar, Chord, Key, Meter, Note
from ._schema import (
    INSTRUMENTS,
    Manifest,
    MixSpec,
    ParameterSpec,
    ProvenanceEntry,
    StateSpec,
    StemSpec,
    StingerSpec,
    TrainingRecord,
    TransitionSpec,
)
from ._style import Style, load_style

if TYPE_CHECKING:
    from runtime import MusicEngine, MusicEvent

__all__ = [
    "load_bundle",
    "Bundle",
    "ModelEntry",
    "TensorSpec",
    "write_bundle",
    "read_bundle",
    "repack_bundle",
    "Manifest",
    "StemSpec",
    "StateSpec",
    "ParameterSpec",
    "StingerSpec",
    "TransitionSpec",
    "MixSpec",
    "ProvenanceEntry",
    "TrainingRecord",
    "INSTRUMENTS",
    "MusicEngine",
    "MusicEvent",
    "Style",
    "load_style",
    "Note",
    "Bar",
    "Chord",
    "Key",
    "Meter",
    "AdaptiveError",
    "BundleError",
    "StyleError",
    "MidiImportError",
    "EngineError",
    "UnknownNameError",
]

__version__ = "0.1.0"


def load_bundle(path: str | os.PathLike[str] | None = None) -> Bundle:
    """Read and validate a bundle; with no path, the default style shipped in the package."""
    if path is None:
        path = default_bundle_path()
        if not path.exists():
            raise BundleError(
                f"{path}: the default bundle is not installed; "
                "bake it with 'adaptive bake examples/default/style.toml -o adaptive/data/default.adaptive'"
            )
    return read_bundle(path)


def __getattr__(name: str) -> Any:
    # The engine lives in runtime (which depends on adaptive); import it lazily.
    if name in ("MusicEngine", "MusicEvent"):
        import runtime

        return getattr(runtime, name)
    raise AttributeError(f"module 'adaptive' has no attribute {name!r}")
