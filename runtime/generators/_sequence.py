"""Melody and bass: a recurrent next-token model stepped token by token.

Sampling happens in numpy under a grammar mask (POS → PITCH → DUR → VEL),
with positions moving forward, pitches inside the trained range and the
scale, and durations that end inside the bar.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from adaptive._music import Note
from adaptive._tokens import Vocabulary

from ._conditions import Conditions
from ._onnx import OnnxModel

_NORMALIZED_SCALE = np.array(
    [0, 2, 4, 5, 7, 9, 11]
)  # C major / A minor: training is key-normalized
MAX_NOTES_PER_BAR = 24


@dataclass
class SequenceContext:
    hidden: np.ndarray  # (1, H) float32, carried bar to bar


class SequenceGenerator:
    def __init__(self, model: OnnxModel, vocabulary: Vocabulary, steps_per_bar: int) -> None:
        self.model = model
        self.vocab = vocabulary
        self.steps_per_bar = steps_per_bar
        meta = model.entry.meta
        self.hidden_size = int(meta["hidden_size"])
        lo, hi = meta.get("pitch_range", [36, 96])
        self.features = model.entry.conditioning
        v = vocabulary
        size = len(v)
        # Static masks: one per token kind expected next.
        self._mask_pitch = np.full(size, -np.inf, dtype=np.float32)
        for p in range(int(lo), int(hi) + 1):
            if p % 12 in _NORMALIZED_SCALE:
                self._mask_pitch[v.pitch_offset + p] = 0.0
        self._mask_vel = np.full(size, -np.inf, dtype=np.float32)
        self._mask_vel[v.vel_offset : v.vel_offset + 8] = 0.0
        self._token = np.zeros(1, dtype=np.int64)
        self._cond = np.zeros((1, len(self.features)), dtype=np.float32)

    def initial_context(self) -> SequenceContext:
        return SequenceContext(hidden=np.zeros((1, self.hidden_size), dtype=np.float32))

    def _step(self, token: int, hidden: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        self._token[0] = token
        logits, hidden_out = self.model.run(
            {"token": self._token, "cond": self._cond, "hidden": hidden}
        )
        return logits[0], hidden_out

    @staticmethod
    def _sample(
        logits: np.ndarray, mask: np.ndarray, rng: np.random.Generator, temperature: float
    ) -> int:
        scores = logits.astype(np.float64) / temperature + mask
        scores -= scores.max()
        probs = np.exp(scores)
        probs /= probs.sum()
        return int(rng.choice(probs.shape[0], p=probs))

    def generate_bar(
        self,
        context: SequenceContext,
        rng: np.random.Generator,
        conditions: Conditions,
        temperature: float = 0.9,
    ) -> tuple[list[Note], SequenceContext]:
        conditions.encode(self.features, out=self._cond[0])
        v, steps = self.vocab, self.steps_per_bar
        logits, hidden = self._step(v.bar, context.hidden)
        tokens: list[int] = [v.bar]
        position = -1
        size = len(v)
        while len(tokens) < 1 + 4 * MAX_NOTES_PER_BAR:
            # next position, or the end of the bar
            mask = np.full(size, -np.inf, dtype=np.float32)
            mask[v.bar] = 0.0
            if position + 1 < steps:
                mask[v.pos_offset + position + 1 : v.pos_offset + steps] = 0.0
            token = self._sample(logits, mask, rng, temperature)
            if token == v.bar:
                break
            position = token - v.pos_offset
            tokens.append(token)
            logits, hidden = self._step(token, hidden)
            pitch_token = self._sample(logits, self._mask_pitch, rng, temperature)
            tokens.append(pitch_token)
            logits, hidden = self._step(pitch_token, hidden)
            mask = np.full(size, -np.inf, dtype=np.float32)
            mask[v.dur_offset : v.dur_offset + (steps - position)] = 0.0
            dur_token = self._sample(logits, mask, rng, temperature)
            tokens.append(dur_token)
            logits, hidden = self._step(dur_token, hidden)
            vel_token = self._sample(logits, self._mask_vel, rng, temperature)
            tokens.append(vel_token)
            logits, hidden = self._step(vel_token, hidden)
        return v.decode_bar(tokens), SequenceContext(hidden=hidden.copy())
