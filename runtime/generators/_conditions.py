"""What a bar is composed for: the musical situation every model is conditioned on."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from adaptive._conditioning import encode_condition


@dataclass(frozen=True, slots=True)
class Conditions:
    intensity: float
    valence: float
    state: str
    chord: int  # index into CHORDS
    bar_index: int
    arousal: float = 0.5

    def encode(
        self,
        features: tuple[str, ...],
        out: np.ndarray,
        attributes: Mapping[str, float] | None = None,
        groove: int = -1,
    ) -> np.ndarray:
        return encode_condition(
            features,
            intensity=self.intensity,
            valence=self.valence,
            state=self.state,
            chord=self.chord,
            bar_index=self.bar_index,
            attributes=attributes,
            groove=groove,
            out=out,
        )
