"""adaptive: adaptive game-soundtrack middleware.

``adaptive`` is the contract both sides share: music types and theory, tokens,
the style schema, the bundle format (read, write, validate) and the errors. It
imports numpy and msgpack only. Games import ``runtime`` (the engine, which
re-exports what a game needs from here); sound designers use ``authoring``.

    import adaptive
    bundle = adaptive.load_bundle()          # the embedded default style
    print(bundle.name, list(bundle.states))

A bundle's manifest is typed (``bundle.spec``, an ``adaptive.Manifest``) and also
available as plain data (``bundle.manifest``, the same keys as in the file)::

    bundle.spec.stems["melody"].instrument        # "lead"
    bundle.spec.transition("explore", "combat")   # a TransitionSpec
    bundle.session("melody")                      # the validated onnxruntime session

``adaptive`` needs only numpy and msgpack at import time; ``read_bundle``
imports onnxruntime when it checks the models.
"""

from __future__ import annotations

import os

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
