"""authoring: the sound designer's side of adaptive.

    from authoring import bake
    result = bake("examples/default/style.toml", "default.adaptive")
    print(result.sha256, result.models["melody"].final_loss)

``bake`` imports the style's MIDI sources (``import_midi``), trains one model
per musical role (torch, CPU), exports each to ONNX with a parity check and
writes one bundle atomically. torch is imported only when ``bake`` runs, so
``import authoring`` stays light.
"""

from __future__ import annotations

from ._bake import BakeResult, ModelStats, bake
from ._midi import ImportedSource, estimate_key, import_midi
from ._train.config import TrainingConfig

__all__ = [
    "bake",
    "BakeResult",
    "ModelStats",
    "import_midi",
    "ImportedSource",
    "estimate_key",
    "TrainingConfig",
]
