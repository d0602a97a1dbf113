"""authoring: the sound designer's side of adaptive.

    from authoring import bake
    result = bake("examples/default/style.toml", "default.adaptive")
    print(result.sha256, result.models["melody"].final_loss)

``bake`` imports the style's MIDI sources (``import_midi``), trains one model
per musical role (torch, CPU), exports each to ONNX with a parity check and
writes one bundle atomically. ``rebake_manifest`` writes a style's new manifest
over an earlier bundle's models, for edits that need no training. ``watch_style``
rebuilds a bundle on every edit of its style or sources, retraining only what the
edit changed. The names below load on first use, so ``import authoring`` (and
the ``adaptive`` CLI) work without the authoring
extra until a command needs torch or mido.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._bake import BakeResult, ModelStats, bake, rebake_manifest
    from ._midi import ImportedSource, estimate_key, import_midi
    from ._train.config import TrainingConfig
    from ._watch import Rebuild, watch_style

__all__ = [
    "bake",
    "rebake_manifest",
    "BakeResult",
    "ModelStats",
    "import_midi",
    "ImportedSource",
    "estimate_key",
    "TrainingConfig",
    "watch_style",
    "Rebuild",
]

_HOMES = {
    "bake": "._bake",
    "rebake_manifest": "._bake",
    "BakeResult": "._bake",
    "ModelStats": "._bake",
    "import_midi": "._midi",
    "ImportedSource": "._midi",
    "estimate_key": "._midi",
    "TrainingConfig": "._train.config",
    "watch_style": "._watch",
    "Rebuild": "._watch",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'authoring' has no attribute {name!r}")
    return getattr(importlib.import_module(home, __name__), name)
