"""Harmony: the baked Markov model gives the next chord's distribution; we sample it."""

from __future__ import annotations

import numpy as np

from adaptive._conditioning import encode_condition
from adaptive._music import CHORDS, START_CHORD

from ._onnx import OnnxModel

TEMPERATURE = 0.8


class HarmonyGenerator:
    def __init__(self, model: OnnxModel) -> None:
        self.model = model
        self.features = model.entry.conditioning
        self._context = np.zeros((1, 2), dtype=np.int64)
        self._cond = np.zeros((1, len(self.features)), dtype=np.float32)

    def next_chord(
        self,
        history: tuple[int, int],
        rng: np.random.Generator,
        *,
        intensity: float,
        valence: float,
        state: str,
        bar_index: int,
    ) -> int:
        self._context[0, 0], self._context[0, 1] = history
        previous = history[1] if history[1] != START_CHORD else -1
        encode_condition(
            self.features,
            intensity=intensity,
            valence=valence,
            state=state,
            chord=previous,
            bar_index=bar_index,
            out=self._cond[0],
        )
        (probs,) = self.model.run({"context": self._context, "cond": self._cond})
        # a little sharpening trims the smoothing's long tail of unlikely chords
        p = np.clip(probs[0].astype(np.float64), 0.0, None) ** (1.0 / TEMPERATURE)
        total = p.sum()
        if not np.isfinite(total) or total <= 0:
            return 0  # the tonic: a safe chord if the model misbehaves
        return int(rng.choice(len(CHORDS), p=p / total))
