"""Drums: the GAN generator proposes K bars, the shipped critic keeps the best."""

from __future__ import annotations

import numpy as np

from adaptive._music import DRUM_VOICES

from ._conditions import Conditions
from ._onnx import OnnxModel


class DrumGenerator:
    def __init__(self, generator: OnnxModel, critic: OnnxModel | None, candidates: int = 4) -> None:
        self.generator = generator
        self.critic = critic
        self.candidates = candidates
        self.latent_size = int(generator.entry.meta["latent_size"])
        self.steps = int(generator.entry.meta["steps"])
        self.features = generator.entry.conditioning
        self._cond = np.zeros((candidates, len(self.features)), dtype=np.float32)

    def generate_bar(
        self,
        rng: np.random.Generator,
        conditions: Conditions,
    ) -> list[tuple[int, float, float]]:
        """Hits as (voice row, step position incl. micro-timing, velocity 0..1)."""
        conditions.encode(self.features, out=self._cond[0])
        self._cond[1:] = self._cond[0]
        z = rng.standard_normal((self.candidates, self.latent_size)).astype(np.float32)
        onset, velocity, timing = self.generator.run({"z": z, "cond": self._cond})
        # the critic was trained on sampled hits, so rank sampled candidates
        hits_all = rng.random(onset.shape) < onset
        played = hits_all.astype(np.float32)
        best = 0
        if self.critic is not None and self.candidates > 1:
            (score,) = self.critic.run(
                {"onset": played, "velocity": velocity * played, "cond": self._cond}
            )
            best = int(np.argmax(score[:, 0]))
        hits_mask = hits_all[best]
        hits = []
        for voice, step in zip(*np.nonzero(hits_mask), strict=True):
            if voice >= len(DRUM_VOICES):
                continue
            vel = float(np.clip(velocity[best, voice, step], 0.05, 1.0))
            shift = float(np.clip(timing[best, voice, step], -0.5, 0.5))
            hits.append((int(voice), max(0.0, step + shift), vel))
        return hits
