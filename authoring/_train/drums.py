"""Drums: a conditional GAN that writes a whole bar at once.

The generator maps (z, cond) to onset probabilities, velocities and
micro-timing for every (voice, step). The critic scores (onset, velocity, cond);
it ships too, so the runtime can draw K candidates and keep the best-scoring.

Training uses the hinge GAN loss (SAGAN / BigGAN: the critic pushes real
scores above +1 and fakes below -1, then stops, so it cannot run away from
the generator) with an R1 penalty on real bars. The generator is conditioned on
the bar's attributes (density, polyphony, velocity, register and activity
ranks of the real drum bar) and a groove label, so the same (z, groove) at a
higher density target writes a busier bar. The critic always sees hard 0/1
onsets: fakes are Bernoulli samples of the generator's probabilities with a
straight-through gradient, so it cannot tell real from fake by softness alone
(and at run time it ranks sampled bars, exactly what it was trained on). A
reconstruction term (onset BCE, velocity and timing MSE on the real hits of a
groove with the same conditioning) keeps a few hundred steps on few grooves stable.

A control term (attribute regularisation) makes the density target rule the bar
even where the sources never go: each step, the batch's attribute ranks are
replaced by the targets the runtime asks for at a random intensity (the style's
intensity line, ``DrumData.control``) while state and groove stay those of the
real bar, and the generator's expected hit count is pulled to the count at the
target density rank. Without it a heavy state's groove outvotes a sparse target,
and across states the notes per bar stop following intensity.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from .. import _distributed
from .config import TrainingConfig

__all__ = ["DrumData", "DrumGenerator", "DrumCritic", "train_drums"]

DRIFT_WEIGHT = 1e-3
R1_WEIGHT = 0.1


@dataclass
class DrumData:
    """Real bars: onset/velocity/timing [B, D, S] and conditioning [B, C].

    ``control`` [L, A'] holds the attribute ranks the runtime asks for along the
    intensity range (rows: intensity 0 -> 1), for the cond columns ``control_columns``;
    ``control_counts`` [L] the onset count at each row's density rank.
    """

    onset: np.ndarray
    velocity: np.ndarray
    timing: np.ndarray
    cond: np.ndarray
    control: np.ndarray | None = None
    control_columns: tuple[int, ...] = ()
    control_counts: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.onset.shape[0])


def _mlp(n_in: int, hidden: int, n_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(n_in, hidden),
        nn.LeakyReLU(0.2),
        nn.Linear(hidden, hidden),
        nn.LeakyReLU(0.2),
        nn.Linear(hidden, n_out),
    )


class DrumGenerator(nn.Module):
    """(z [K, Z], cond [K, C]) -> onset [K, D, S] in [0, 1], velocity [K, D, S] in [0, 1],
    timing [K, D, S] in [-0.5, 0.5] (fraction of a step)."""

    def __init__(self, latent: int, cond_size: int, hidden: int, voices: int, steps: int) -> None:
        super().__init__()
        self.voices, self.steps = voices, steps
        self.net = _mlp(latent + cond_size, hidden, 3 * voices * steps)

    def forward(
        self, z: torch.Tensor, cond: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        out = self.net(torch.cat([z, cond], dim=1)).reshape(-1, 3, self.voices, self.steps)
        return torch.sigmoid(out[:, 0]), torch.sigmoid(out[:, 1]), 0.5 * torch.tanh(out[:, 2])


class DrumCritic(nn.Module):
    """(onset [K, D, S], velocity [K, D, S], cond [K, C]) -> score [K, 1];
    higher = more like the data.
    Expects sampled 0/1 onsets and velocities that are zero where there is no onset."""

    def __init__(self, cond_size: int, hidden: int, voices: int, steps: int) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Linear(2 * voices * steps + cond_size, hidden),
            nn.LeakyReLU(0.2),
            nn.Linear(hidden, hidden),
            nn.LeakyReLU(0.2),
        )
        self.out = nn.Linear(hidden, 1)

    def hidden(
        self, onset: torch.Tensor, velocity: torch.Tensor, cond: torch.Tensor
    ) -> torch.Tensor:
        return self.features(torch.cat([onset.flatten(1), velocity.flatten(1), cond], dim=1))

    def forward(
        self, onset: torch.Tensor, velocity: torch.Tensor, cond: torch.Tensor
    ) -> torch.Tensor:
        return self.out(self.hidden(onset, velocity, cond))


def train_drums(
    data: DrumData,
    config: TrainingConfig,
    seed: int,
    on_step: Callable[[int, int, float], None] | None = None,
    init: Mapping[str, Mapping[str, np.ndarray]] | None = None,
) -> tuple[DrumGenerator, DrumCritic, float, float]:
    """Fit the GAN; returns generator, critic and the final generator and critic losses.

    ``init`` holds previous ``state_dict``s (as arrays) under "generator" and
    "critic" to fine-tune from.
    """
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    _, voices, steps_per_bar = data.onset.shape
    cond_size = data.cond.shape[1]
    gen = DrumGenerator(config.drums_latent, cond_size, config.drums_hidden, voices, steps_per_bar)
    critic = DrumCritic(cond_size, config.drums_hidden, voices, steps_per_bar)
    if init is not None:
        for module, name in ((gen, "generator"), (critic, "critic")):
            state = {k: torch.from_numpy(np.asarray(v)) for k, v in init[name].items()}
            module.load_state_dict(state)
    opt_g = torch.optim.Adam(gen.parameters(), lr=config.drums_lr, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(critic.parameters(), lr=config.drums_lr, betas=(0.5, 0.999))
    onset_all = torch.from_numpy(data.onset)
    velocity_all = torch.from_numpy(data.velocity)
    timing_all = torch.from_numpy(data.timing)
    cond_all = torch.from_numpy(data.cond)
    total = config.drums_steps
    recent: list[float] = []
    recent_d: list[float] = []
    control = None
    if (
        data.control is not None
        and data.control_counts is not None
        and config.drums_control_weight > 0
    ):
        control = torch.from_numpy(data.control.astype(np.float32))
        control_counts = torch.from_numpy(data.control_counts.astype(np.float32))
        columns = torch.tensor(data.control_columns, dtype=torch.long)
        # counts in units of the corpus' spread, so the weight means the same on every style
        count_scale = float(max(1.0, data.onset.sum(axis=(1, 2)).std()))
    # In a distributed bake both nets run under DDP; the generator step calls the
    # critic's own module, so only the critic step all-reduces the critic's gradients.
    gen_net, critic_net = _distributed.wrap(gen), _distributed.wrap(critic)
    batches = _distributed.batches(len(data), config.drums_batch, rng, seed, replacement=True)
    _distributed.reseed(seed)
    for step in range(total):
        idx = torch.from_numpy(next(batches))
        batch = len(idx)
        onset, velocity, timing, cond = (
            onset_all[idx],
            velocity_all[idx],
            timing_all[idx],
            cond_all[idx],
        )
        real_velocity = velocity * onset
        z = torch.randn(batch, config.drums_latent)
        p_onset, g_velocity, g_timing = gen_net(z, cond)
        hard = (torch.rand_like(p_onset) < p_onset).to(torch.float32)
        fake_onset = hard + p_onset - p_onset.detach()  # straight-through Bernoulli sample
        fake_velocity = g_velocity * fake_onset

        # Critic step: real grooves up, generated ones down.
        real_in = (
            onset.clone().requires_grad_(R1_WEIGHT > 0),
            real_velocity.clone().requires_grad_(R1_WEIGHT > 0),
        )
        d_real = critic_net(real_in[0], real_in[1], cond)
        d_fake = critic_net(fake_onset.detach(), fake_velocity.detach(), cond)
        # The drift term keeps scores near zero: a critic that wins stays well scaled
        # (and its ONNX export stays well inside the parity tolerance).
        drift = DRIFT_WEIGHT * (d_real**2).mean()
        loss_d = F.relu(1.0 - d_real).mean() + F.relu(1.0 + d_fake).mean() + drift
        if R1_WEIGHT > 0:
            # R1 penalty: a critic that is smooth around the real grooves gives the
            # generator useful gradients instead of overpowering it.
            grads = torch.autograd.grad(d_real.sum(), real_in, create_graph=True)
            penalty = sum(((g**2).sum(dim=(1, 2)) for g in grads), torch.zeros(batch))
            loss_d = loss_d + R1_WEIGHT / 2 * penalty.mean()
        opt_d.zero_grad()
        loss_d.backward()
        opt_d.step()

        # Generator step: fool the critic, match its features, stay near the grooves.
        g_score = critic(fake_onset, fake_velocity, cond)
        adversarial = -g_score.mean()
        matching = F.mse_loss(
            critic.hidden(fake_onset, fake_velocity, cond).mean(0),
            critic.hidden(onset, real_velocity, cond).mean(0).detach(),
        )
        hits = onset.sum().clamp(min=1.0)
        recon = (
            F.binary_cross_entropy(p_onset, onset)
            + ((g_velocity - velocity) ** 2 * onset).sum() / hits
            + ((g_timing - timing) ** 2 * onset).sum() / hits
        )
        loss_g = adversarial + matching + config.drums_recon_weight * recon
        if control is not None:
            rows = torch.randint(len(control), (batch,))
            steered = cond.clone()
            steered[:, columns] = control[rows]
            expected = gen_net(z, steered)[0].sum(dim=(1, 2))
            miss = (expected - control_counts[rows]) / count_scale
            loss_g = loss_g + config.drums_control_weight * (miss**2).mean()
        opt_g.zero_grad()
        loss_g.backward()
        opt_g.step()
        value = loss_g.item()
        if not math.isfinite(value):
            raise RuntimeError(f"drums GAN diverged at step {step + 1} (generator loss {value})")
        recent = (recent + [value])[-20:]
        recent_d = (recent_d + [loss_d.item()])[-20:]
        if on_step is not None:
            on_step(step + 1, total, value)
    gen.eval()
    critic.eval()
    _distributed.finish(gen, "drums_generator")
    _distributed.finish(critic, "drums_critic")
    mean = _distributed.mean
    return gen, critic, mean(float(np.mean(recent))), mean(float(np.mean(recent_d)))
