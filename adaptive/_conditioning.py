"""The conditioning vector every model receives.

Its layout is derived from the style's state names, stored by name in each
model's manifest entry, and rebuilt by the runtime from those names, so both
sides agree without sharing code paths beyond this module.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ._music import CHORDS

__all__ = ["condition_features", "encode_condition", "PHRASE_BARS"]

PHRASE_BARS = 4


def condition_features(states: Sequence[str]) -> list[str]:
    """Feature names, in order: intensity, valence, state:*, chord_root:*, chord_minor, phrase_bar:*."""
    names = ["intensity", "valence"]
    names += [f"state:{s}" for s in states]
    names += [f"chord_root:{r}" for r in range(12)]
    names += ["chord_minor"]
    names += [f"phrase_bar:{b}" for b in range(PHRASE_BARS)]
    return names


def encode_condition(
    features: Sequence[str],
    *,
    intensity: float,
    valence: float,
    state: str,
    chord: int,
    bar_index: int,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Fill a float32 vector for ``features``; ``chord`` is an index into CHORDS."""
    vector = np.zeros(len(features), dtype=np.float32) if out is None else out
    vector[:] = 0.0
    chord_value = CHORDS[chord] if 0 <= chord < len(CHORDS) else None
    active = {
        f"state:{state}",
        f"phrase_bar:{bar_index % PHRASE_BARS}",
    }
    if chord_value is not None:
        active.add(f"chord_root:{chord_value.root}")
    for i, name in enumerate(features):
        if name == "intensity":
            vector[i] = intensity
        elif name == "valence":
            vector[i] = valence
        elif name == "chord_minor":
            vector[i] = 1.0 if chord_value is not None and chord_value.quality == "min" else 0.0
        elif name in active:
            vector[i] = 1.0
    return vector
