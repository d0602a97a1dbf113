"""Drums: the GAN generator proposes K bars, the shipped critic keeps the best.

The generator is conditioned on target attribute ranks (from intensity, valence
and arousal through ``meta["attributes"]``) and on a groove label: of the
grooves the sources of the current state play (``meta["grooves"]``), the one
whose typical density is nearest the target density.
"""

from __future__ import annotations

import numpy as np

from adaptive._conditioning import attribute_targets
from adaptive._music import DRUM_VOICES

from ._conditions import Conditions
from ._onnx import OnnxModel


class DrumGenerator:
    def __init__(
        self, generator: OnnxModel, critic: OnnxModel | None, candidates: int | None = None
    ) -> None:
        self.generator = generator
        self.critic = critic
        meta = generator.entry.meta
        self.candidates = int(candidates or meta.get("candidates", 4))
        self.latent_size = int(meta["latent_size"])
        self.steps = int(meta["steps"])
        self.attributes = meta.get("attributes")
        self.grooves = list(meta.get("grooves", []))
        self.features = generator.entry.conditioning
        self._cond = np.zeros((self.candidates, len(self.features)), dtype=np.float32)

    def groove_for(self, state: str, density_rank: float) -> int:
        """The state's groove nearest the target density (-1 when the bundle has none)."""
        best, best_distance = -1, np.inf
        for g, groove in enumerate(self.grooves):
            if groove["states"].get(state, 0) <= 0 and any(
                other["states"].get(state, 0) > 0 for other in self.grooves
            ):
                continue
            distance = abs(float(groove["density_rank"]) - density_rank)
            if distance < best_distance:
                best, best_distance = g, distance
        return best

    def candidates_for(
        self, rng: np.random.Generator, conditions: Conditions
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """K sampled candidate bars: hits [K, D, S] (bool), velocity, timing, and the cond rows."""
        targets = None
        groove = -1
        if self.attributes is not None:
            targets = attribute_targets(
                self.attributes, conditions.intensity, conditions.valence, conditions.arousal
            )
            groove = self.groove_for(conditions.state, targets.get("density", 0.5))
        conditions.encode(self.features, out=self._cond[0], attributes=targets, groove=groove)
        self._cond[1:] = self._cond[0]
        z = rng.standard_normal((self.candidates, self.latent_size)).astype(np.float32)
        onset, velocity, timing = self.generator.run({"z": z, "cond": self._cond})
        # the critic was trained on sampled hits, so rank sampled candidates
        hits = rng.random(onset.shape) < onset
        return hits, velocity, timing, self._cond

    def rank(self, hits: np.ndarray, velocity: np.ndarray, cond: np.ndarray) -> np.ndarray:
        """The critic's score per candidate (zeros without a critic)."""
        if self.critic is None:
            return np.zeros(hits.shape[0], dtype=np.float32)
        played = hits.astype(np.float32)
        (score,) = self.critic.run({"onset": played, "velocity": velocity * played, "cond": cond})
        return score[:, 0]

    def generate_bar(
        self,
        rng: np.random.Generator,
        conditions: Conditions,
    ) -> list[tuple[int, float, float]]:
        """Hits as (voice row, step position incl. micro-timing, velocity 0..1)."""
        hits_all, velocity, timing, cond = self.candidates_for(rng, conditions)
        best = int(np.argmax(self.rank(hits_all, velocity, cond))) if self.candidates > 1 else 0
        hits = []
        for voice, step in zip(*np.nonzero(hits_all[best]), strict=True):
            if voice >= len(DRUM_VOICES):
                continue
            vel = float(np.clip(velocity[best, voice, step], 0.05, 1.0))
            shift = float(np.clip(timing[best, voice, step], -0.5, 0.5))
            hits.append((int(voice), max(0.0, step + shift), vel))
        return hits
