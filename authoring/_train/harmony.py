"""Harmony: a variable-order Markov chord model with backoff, per state and mood.

Counts of chord unigrams, bigrams and trigrams are taken from the detected
chord of every bar (see chords.py), separately for each (state, mode) pair: a
source's mode (its key is major or minor) is the mood signal in the data, dark
music being mostly minor. The torch module holds the count tables as buffers;
at run time it blends the tables of the active state(s) with a matmul on the
state one-hot slice of ``cond``, and the minor/major tables by the ``valence``
feature (0 = all minor, 1 = all major), looks up the context with one-hot matmuls (so it exports to
plain ONNX MatMul/Equal ops), smooths each order additively and mixes the
orders with Witten-Bell-like backoff weights ``n / (n + backoff)``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from adaptive._music import CHORDS, START_CHORD, Chord

from .config import TrainingConfig

__all__ = ["HarmonyModel", "ChordSequence", "count_tables", "fit_harmony", "DIATONIC_CYCLE"]

N = len(CHORDS)
CTX = N + 1  # chord indices plus START_CHORD

# The fallback when a style has no harmony at all: I-vi-IV-V and I-IV-V-I cycles.
DIATONIC_CYCLE: tuple[int, ...] = tuple(
    Chord(r, q).index
    for r, q in (
        (0, "maj"),
        (9, "min"),
        (5, "maj"),
        (7, "maj"),
        (0, "maj"),
        (5, "maj"),
        (7, "maj"),
        (0, "maj"),
    )
)


@dataclass(frozen=True)
class ChordSequence:
    """The chords of one source (key-relative indices) and the state it trains."""

    chords: tuple[int, ...]
    state: str
    minor: bool = False  # the source's key is minor


def count_tables(
    sequences: Sequence[ChordSequence], states: Sequence[str]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unigram [2S, N], bigram [2S, CTX, N] and trigram [2S, CTX*CTX, N] counts.

    Rows 0..S-1 are the states' minor-key tables, rows S..2S-1 their major-key
    tables. A (state, mode) without data borrows that mode's counts pooled over
    all states, else the state's other mode, else everything; a style with no
    chords at all gets the diatonic cycle, so every table is a real distribution.
    """
    s_count = 2 * len(states)
    c0 = np.zeros((s_count, N))
    c1 = np.zeros((s_count, CTX, N))
    c2 = np.zeros((s_count, CTX * CTX, N))
    seqs = [s for s in sequences if s.chords]
    if not seqs:
        seqs = [ChordSequence(DIATONIC_CYCLE * 4, state) for state in states]
    index = {s: i for i, s in enumerate(states)}
    for seq in seqs:
        si = index[seq.state] + (0 if seq.minor else len(states))
        prev2, prev1 = START_CHORD, START_CHORD
        for chord in seq.chords:
            c0[si, chord] += 1
            c1[si, prev1, chord] += 1
            c2[si, prev2 * CTX + prev1, chord] += 1
            prev2, prev1 = prev1, chord
    n = len(states)
    filled = c0.sum(axis=1) > 0
    for row in np.nonzero(~filled)[0]:
        same_mode = range(0, n) if row < n else range(n, 2 * n)
        donors = [r for r in same_mode if filled[r]]
        if not donors:
            other = row + n if row < n else row - n
            donors = [other] if filled[other] else list(np.nonzero(filled)[0])
        for table in (c0, c1, c2):
            table[row] = table[donors].sum(axis=0)
    return c0, c1, c2


class HarmonyModel(nn.Module):
    """context int64 [B, 2] (prev2, prev1), cond float32 [B, C] -> probs float32 [B, N]."""

    # buffers (registered in __init__), declared for type checkers
    c0: torch.Tensor
    c1: torch.Tensor
    c2: torch.Tensor
    ctx1: torch.Tensor
    ctx2: torch.Tensor

    def __init__(
        self,
        c0: np.ndarray,
        c1: np.ndarray,
        c2: np.ndarray,
        state_slice: tuple[int, int],
        smoothing: float,
        backoff: float,
        valence_index: int,
    ) -> None:
        super().__init__()
        s_count = c0.shape[0]
        self.register_buffer("c0", torch.tensor(c0, dtype=torch.float32))
        self.register_buffer("c1", torch.tensor(c1.reshape(s_count, -1), dtype=torch.float32))
        self.register_buffer("c2", torch.tensor(c2.reshape(s_count, -1), dtype=torch.float32))
        self.register_buffer("ctx1", torch.arange(CTX, dtype=torch.int64))
        self.register_buffer("ctx2", torch.arange(CTX * CTX, dtype=torch.int64))
        self.state_lo, self.state_hi = state_slice
        self.valence_index = valence_index
        self.smoothing = float(smoothing)
        self.backoff = float(backoff)

    def _smoothed(self, counts: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        total = counts.sum(dim=1, keepdim=True)
        probs = (counts + self.smoothing) / (total + self.smoothing * N)
        return probs, total / (total + self.backoff)

    def forward(self, context: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        weights = cond[:, self.state_lo : self.state_hi]
        s_count = self.state_hi - self.state_lo
        # An unknown/absent state (all zeros) falls back to the average of all states.
        weights = weights + torch.relu(1.0 - weights.sum(dim=1, keepdim=True)) / s_count
        valence = cond[:, self.valence_index : self.valence_index + 1].clamp(0.0, 1.0)
        weights = torch.cat([weights * (1.0 - valence), weights * valence], dim=1)
        batch = context.shape[0]
        m0 = weights @ self.c0  # [B, N]
        m1 = (weights @ self.c1).reshape(batch, CTX, N)
        m2 = (weights @ self.c2).reshape(batch, CTX * CTX, N)
        # Out-of-range context indices select nothing, so the model backs off to lower orders.
        prev2, prev1 = context[:, 0:1], context[:, 1:2]
        one1 = (prev1 == self.ctx1).to(torch.float32).unsqueeze(1)  # [B, 1, CTX]
        one2 = ((prev2 * CTX + prev1) == self.ctx2).to(torch.float32).unsqueeze(1)
        k1 = torch.bmm(one1, m1).squeeze(1)
        k2 = torch.bmm(one2, m2).squeeze(1)
        p0, _ = self._smoothed(m0)
        p1, l1 = self._smoothed(k1)
        p2, l2 = self._smoothed(k2)
        probs = l2 * p2 + (1.0 - l2) * (l1 * p1 + (1.0 - l1) * p0)
        return probs / probs.sum(dim=1, keepdim=True)


def fit_harmony(
    sequences: Sequence[ChordSequence],
    features: Sequence[str],
    states: Sequence[str],
    config: TrainingConfig,
    on_step: Callable[[int, int, float], None] | None = None,
) -> tuple[HarmonyModel, float]:
    """Count the chord sequences into a HarmonyModel; returns it and its mean NLL on the data."""
    c0, c1, c2 = count_tables(sequences, states)
    lo = list(features).index(f"state:{states[0]}")
    model = HarmonyModel(
        c0,
        c1,
        c2,
        (lo, lo + len(states)),
        config.harmony_smoothing,
        config.harmony_backoff,
        list(features).index("valence"),
    )
    model.eval()
    # Training loss = mean negative log-likelihood of the observed chords (a fit check).
    contexts, conds, targets = [], [], []
    for seq in sequences:
        prev2, prev1 = START_CHORD, START_CHORD
        cond = np.zeros(len(features), dtype=np.float32)
        cond[list(features).index(f"state:{seq.state}")] = 1.0
        cond[list(features).index("valence")] = 0.0 if seq.minor else 1.0
        for chord in seq.chords:
            contexts.append((prev2, prev1))
            conds.append(cond)
            targets.append(chord)
            prev2, prev1 = prev1, chord
    loss = 0.0
    if targets:
        with torch.no_grad():
            probs = model(torch.tensor(contexts, dtype=torch.int64), torch.tensor(np.stack(conds)))
            picked = probs[torch.arange(len(targets)), torch.tensor(targets)]
            loss = float(-torch.log(picked).mean())
    if on_step is not None:
        on_step(1, 1, loss)
    return model, loss
