"""Melody and bass: a GRU next-token model over the shared REMI-like vocabulary.

Every step sees the token embedding and the bar's conditioning vector
(intensity, valence, state, chord, phrase position); the output head sees the
new hidden state and the conditioning again, so chord tones are easy to learn.

Training runs the whole window through ``nn.GRU`` (fast); export wraps the same
weights in ``SequenceStep``, one explicit GRU cell step with hidden state in and
out, which is what the runtime drives token by token:

    hidden = zeros[1, H]; token = BAR; cond = cond(bar b)
    loop: logits, hidden = step(token, cond, hidden); sample token from logits
          until a BAR is sampled: that BAR is fed with cond(bar b + 1) to start the next bar.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import cast

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from adaptive._tokens import Vocabulary

from .. import _distributed
from .config import TrainingConfig

__all__ = [
    "SequenceModel",
    "SequenceStep",
    "SequenceData",
    "build_windows",
    "train_sequence",
    "MAX_WINDOW_TOKENS",
]

MAX_WINDOW_TOKENS = 768  # a window longer than this (very dense bars) is cut


@dataclass
class SequenceData:
    """Training windows: token ids [W, T] (PAD-padded); each token's bar row [W, T] in cond."""

    tokens: np.ndarray
    bar_rows: np.ndarray
    cond: np.ndarray
    pitch_range: tuple[int, int]

    def __len__(self) -> int:
        return int(self.tokens.shape[0])


def build_windows(
    bars: Sequence[tuple[Sequence[list[int]], Sequence[np.ndarray]]],
    window_bars: int,
    vocab: Vocabulary,
    pitch_range: tuple[int, int],
) -> SequenceData:
    """Windows of ``window_bars`` bars from each run of ``(bar tokens, bar conds)``.

    Each window is the bars' tokens followed by the next BAR, so the model learns
    where a bar ends. Windows overlap by half (more data, still deterministic).
    """
    sequences: list[list[int]] = []
    rows: list[list[int]] = []
    conds: list[np.ndarray] = []
    stride = max(1, window_bars // 2)
    for bar_tokens, bar_conds in bars:
        base = len(conds)
        conds.extend(bar_conds)
        n = len(bar_tokens)
        starts = list(range(0, max(1, n - window_bars + 1), stride))
        for start in starts:
            seq: list[int] = []
            row: list[int] = []
            for b in range(start, min(n, start + window_bars)):
                seq += bar_tokens[b]
                row += [base + b] * len(bar_tokens[b])
            seq.append(vocab.bar)
            row.append(row[-1])
            seq, row = seq[:MAX_WINDOW_TOKENS], row[:MAX_WINDOW_TOKENS]
            sequences.append(seq)
            rows.append(row)
    length = max(len(s) for s in sequences)
    tokens = np.full((len(sequences), length), vocab.pad, dtype=np.int64)
    bar_rows = np.zeros((len(sequences), length), dtype=np.int64)
    for i, (seq, row) in enumerate(zip(sequences, rows, strict=True)):
        tokens[i, : len(seq)] = seq
        bar_rows[i, : len(row)] = row
    return SequenceData(tokens, bar_rows, np.stack(conds).astype(np.float32), pitch_range)


class SequenceModel(nn.Module):
    """The trainable model: embedding + GRU over (token, cond) + head over (hidden, cond)."""

    def __init__(self, vocab_size: int, cond_size: int, embed: int, hidden: int) -> None:
        super().__init__()
        self.hidden_size = hidden
        self.embed = nn.Embedding(vocab_size, embed)
        self.rnn = nn.GRU(embed + cond_size, hidden, batch_first=True)
        self.head = nn.Linear(hidden + cond_size, vocab_size)

    def forward(self, tokens: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """tokens [B, T], cond [B, T, C] -> logits [B, T, V] (hidden starts at zero)."""
        out, _ = self.rnn(torch.cat([self.embed(tokens), cond], dim=-1))
        return self.head(torch.cat([out, cond], dim=-1))


class SequenceStep(nn.Module):
    """One token step with explicit hidden state: (token [1], cond [1, C], hidden [1, H]) ->
    (logits [1, V], hidden_out [1, H]). Same weights and math as nn.GRU (gate order r, z, n)."""

    def __init__(self, model: SequenceModel) -> None:
        super().__init__()
        self.embed = model.embed
        self.head = model.head
        rnn = model.rnn
        self.w_ih = cast(torch.Tensor, rnn.weight_ih_l0)  # rows: r, z, n gates
        self.w_hh = cast(torch.Tensor, rnn.weight_hh_l0)
        self.b_ih = cast(torch.Tensor, rnn.bias_ih_l0)
        self.b_hh = cast(torch.Tensor, rnn.bias_hh_l0)

    def forward(
        self, token: torch.Tensor, cond: torch.Tensor, hidden: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.cat([self.embed(token), cond], dim=-1)
        gi = x @ self.w_ih.t() + self.b_ih
        gh = hidden @ self.w_hh.t() + self.b_hh
        i_r, i_z, i_n = gi.chunk(3, dim=1)
        h_r, h_z, h_n = gh.chunk(3, dim=1)
        r = torch.sigmoid(i_r + h_r)
        z = torch.sigmoid(i_z + h_z)
        n = torch.tanh(i_n + r * h_n)
        hidden_out = (1.0 - z) * n + z * hidden
        logits = self.head(torch.cat([hidden_out, cond], dim=-1))
        return logits, hidden_out


def train_sequence(
    data: SequenceData,
    vocab: Vocabulary,
    config: TrainingConfig,
    seed: int,
    on_step: Callable[[int, int, float], None] | None = None,
    init: Mapping[str, np.ndarray] | None = None,
) -> tuple[SequenceModel, float]:
    """Fit a SequenceModel; returns it and its final training loss (cross entropy, nats/token).

    ``init`` is a previous model's ``state_dict`` (as arrays) to fine-tune from.
    """
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)  # deterministic batch order
    model = SequenceModel(
        len(vocab), data.cond.shape[1], config.sequence_embed, config.sequence_hidden
    )
    if init is not None:
        model.load_state_dict({k: torch.from_numpy(np.asarray(v)) for k, v in init.items()})
    optimizer = torch.optim.Adam(model.parameters(), lr=config.sequence_lr)
    steps = config.sequence_steps
    # Cosine decay: big steps early, fine-tuning at the end.
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(s, steps) / steps))
    )
    cond_table = torch.from_numpy(data.cond)
    recent: list[float] = []
    net = _distributed.wrap(model)  # in a distributed bake: DDP, gradients all-reduced
    batches = _distributed.batches(len(data), config.sequence_batch, rng, seed)
    model.train()
    for step in range(steps):
        idx = next(batches)
        tokens = data.tokens[idx]
        length = int((tokens != vocab.pad).sum(axis=1).max())  # trim shared padding
        tokens_t = torch.from_numpy(tokens[:, :length])
        rows = torch.from_numpy(data.bar_rows[idx, : length - 1])
        logits = net(tokens_t[:, :-1], cond_table[rows])
        loss = F.cross_entropy(
            logits.reshape(-1, logits.shape[-1]),
            tokens_t[:, 1:].reshape(-1),
            ignore_index=vocab.pad,
        )
        optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        recent = (recent + [loss.item()])[-20:]
        if on_step is not None:
            on_step(step + 1, steps, recent[-1])
    model.eval()
    _distributed.finish(model, f"sequence (seed {seed})")
    return model, _distributed.mean(float(np.mean(recent))) if recent else float("nan")
