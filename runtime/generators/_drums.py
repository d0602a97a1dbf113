"""Drums: the GAN generator proposes K bars, the shipped critic keeps the best.

The generator is conditioned on target attribute ranks (from intensity, valence
and arousal through ``meta["attributes"]``) and on a groove label: of the
grooves the sources of the current state play (``meta["grooves"]``), the one
whose typical density is nearest the target density.

Of the K candidates, the bar played is the one with the best combined score:
the critic's score (standardized across the candidates: how much like the
sources' grooves) minus ``rerank_weight`` times the distance between the
candidate's density rank (its hit count placed in the corpus' quantile table)
and the target density rank. The critic keeps the groove idiomatic; the
attribute term keeps the bar at the density the game asked for.
"""

from __future__ import annotations

import numpy as np

from adaptive._conditioning import attribute_targets
from adaptive._music import DRUM_VOICES

from ._conditions import Conditions
from ._onnx import OnnxModel

RERANK_WEIGHT = 4.0
STATE_PRIOR = 0.05
CANDIDATES = 8


class DrumGenerator:
    def __init__(
        self, generator: OnnxModel, critic: OnnxModel | None, candidates: int | None = None
    ) -> None:
        self.generator = generator
        self.critic = critic
        meta = generator.entry.meta
        self.candidates = int(candidates or meta.get("candidates", CANDIDATES))
        self.latent_size = int(meta["latent_size"])
        self.steps = int(meta["steps"])
        self.attributes = meta.get("attributes")
        self.grooves = list(meta.get("grooves", []))
        self.rerank_weight = float(meta.get("rerank_weight", RERANK_WEIGHT))
        self._density_quantiles: np.ndarray | None = None
        if self.attributes is not None:
            names = list(self.attributes.get("names", []))
            if "density" in names:
                table = self.attributes["quantiles"][names.index("density")]
                self._density_quantiles = np.asarray(table, dtype=np.float64)
        self.features = generator.entry.conditioning
        self._cond = np.zeros((self.candidates, len(self.features)), dtype=np.float32)

    def groove_for(self, state: str, density_rank: float) -> int:
        """The groove nearest the target density, the state's own grooves preferred.

        Cost = |groove density rank - target| + STATE_PRIOR * -log p(groove | state)
        (add-one smoothed bar counts): intensity decides, the state only breaks near
        ties, so a calm state can still get busy drums and a heavy one sparse drums.
        Returns -1 when the bundle has no grooves.
        """
        best, best_cost = -1, np.inf
        total = sum(g["states"].get(state, 0) for g in self.grooves) + len(self.grooves)
        for g, groove in enumerate(self.grooves):
            prior = (groove["states"].get(state, 0) + 1) / total
            cost = abs(float(groove["density_rank"]) - density_rank) - STATE_PRIOR * np.log(prior)
            if cost < best_cost:
                best, best_cost = g, cost
        return best

    def candidates_for(
        self, rng: np.random.Generator, conditions: Conditions
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """K sampled candidate bars: hits [K, D, S] (bool), velocity, timing, and the cond rows."""
        self._target_density = 0.5
        targets = None
        groove = -1
        if self.attributes is not None:
            targets = attribute_targets(
                self.attributes, conditions.intensity, conditions.valence, conditions.arousal
            )
            self._target_density = targets.get("density", 0.5)
            groove = self.groove_for(conditions.state, self._target_density)
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
        ranked: bool = True,
    ) -> list[tuple[int, float, float]]:
        """Hits as (voice row, step position incl. micro-timing, velocity 0..1).

        ``ranked`` False plays the first candidate without asking the critic (the CPU
        budget's first step)."""
        hits_all, velocity, timing, cond = self.candidates_for(rng, conditions)
        best = 0
        if ranked and self.candidates > 1:
            score = self.rank(hits_all, velocity, cond).astype(np.float64)
            score = (score - score.mean()) / (score.std() + 1e-6)
            if self._density_quantiles is not None:
                counts = hits_all.reshape(hits_all.shape[0], -1).sum(axis=1)
                levels = np.linspace(0.0, 1.0, len(self._density_quantiles))
                ranks = np.interp(counts, self._density_quantiles, levels)
                score -= self.rerank_weight * np.abs(ranks - self._target_density)
            best = int(np.argmax(score))
        hits = []
        for voice, step in zip(*np.nonzero(hits_all[best]), strict=True):
            if voice >= len(DRUM_VOICES):
                continue
            vel = float(np.clip(velocity[best, voice, step], 0.05, 1.0))
            shift = float(np.clip(timing[best, voice, step], -0.5, 0.5))
            hits.append((int(voice), max(0.0, step + shift), vel))
        return hits
