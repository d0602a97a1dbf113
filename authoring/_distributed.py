"""Baking on several processes or machines: torch.distributed DDP over gloo, launched by torchrun.

``adaptive bake --workers N`` starts ``torchrun`` (``python -m torch.distributed.run``)
with N processes on this machine, each running the same ``adaptive bake`` command;
with ``--nnodes``, ``--rdzv-endpoint`` (and ``--node-rank`` or an elastic
rendezvous) the same command on every machine forms one job. ``torchrun ...
-m authoring.cli bake ...`` run by hand works the same way: a process started
by torchrun finds ``RANK`` and ``WORLD_SIZE`` in its environment and joins.

In a job, every worker imports the sources and builds the training data (so
each has the same corpus and conditioning tables), then the melody, bass and
drum models train under ``DistributedDataParallel``: the workers start from
rank 0's weights, each trains on its shard of the windows / bars
(``DistributedSampler``) with its share of the batch, and gradients are
all-reduced every step, so the weights stay identical on every worker (checked
at the end of each model). The harmony model is counted, not trained: every
worker counts it alike. Every worker exports its (identical) models and checks
their parity; rank 0 alone writes the bundle and shows progress.

With one process (no torchrun) every helper here is a no-op, and the bake
gives the same bytes as before.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from adaptive._errors import AdaptiveError

if TYPE_CHECKING:
    from torch import nn

    from ._train.config import TrainingConfig

__all__ = [
    "Workers",
    "DistributedBakeError",
    "workers",
    "session",
    "launch",
    "share_threads",
    "wrap",
    "finish",
    "batches",
    "mean",
    "reseed",
]

BACKEND = "gloo"  # CPU training; NCCL would need GPUs


class DistributedBakeError(AdaptiveError, RuntimeError):
    """A distributed bake could not start, or a worker failed or disagreed."""


@dataclass(frozen=True)
class Workers:
    """This process' place in the job (rank 0 of 1 when not launched by torchrun)."""

    rank: int = 0
    world_size: int = 1
    local_world_size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    def record(self) -> dict[str, Any]:
        """What the bundle's training record says about the job."""
        return {"world_size": self.world_size, "backend": BACKEND} if self.distributed else {}


def workers() -> Workers:
    """This process' rank and the job's size, from the variables torchrun sets."""

    def number(name: str, default: int) -> int:
        value = os.environ.get(name)
        try:
            return int(value) if value is not None else default
        except ValueError:
            raise DistributedBakeError(
                f"environment variable {name}={value!r} is not an integer"
            ) from None

    world = number("WORLD_SIZE", 1)
    return Workers(number("RANK", 0), world, number("LOCAL_WORLD_SIZE", world))


def _initialized() -> bool:
    import torch.distributed as dist

    return dist.is_available() and dist.is_initialized()


@contextmanager
def session() -> Iterator[Workers]:
    """Join the job's process group for the bake (nothing to join with one process)."""
    me = workers()
    if not me.distributed or _initialized():
        yield me
        return
    import torch.distributed as dist

    dist.init_process_group(BACKEND)  # env:// rendezvous: torchrun set the address and port
    try:
        yield me
        dist.barrier()  # nobody leaves while rank 0 still writes (a failure skips this)
    finally:
        dist.destroy_process_group()


def share_threads(config: TrainingConfig) -> TrainingConfig:
    """Split ``config.threads`` between the workers on this machine (at least one each)."""
    me = workers()
    if not me.distributed:
        return config
    return replace(config, threads=max(1, config.threads // max(1, me.local_world_size)))


def wrap(module: nn.Module) -> nn.Module:
    """``module`` under DDP in a job (gradients all-reduced on ``backward``), else itself."""
    if not _initialized():
        return module
    from torch.nn.parallel import DistributedDataParallel

    return DistributedDataParallel(module)  # broadcasts rank 0's weights to every worker


def finish(model: nn.Module, name: str) -> None:
    """Check that every worker ended with the same weights (they must, under DDP)."""
    if not _initialized():
        return
    import torch
    import torch.distributed as dist

    with torch.no_grad():
        flat = torch.cat([p.detach().reshape(-1).to(torch.float64) for p in model.parameters()])
        mine = torch.stack([flat.sum(), flat.abs().sum(), (flat * flat).sum()])
    every = [torch.zeros_like(mine) for _ in range(dist.get_world_size())]
    dist.all_gather(every, mine)
    if any(not torch.equal(other, every[0]) for other in every):
        raise DistributedBakeError(
            f"model {name!r}: the workers' weights differ after training; "
            "the gradients were not all-reduced"
        )


def batches(
    n: int, batch: int, rng: np.random.Generator, seed: int, *, replacement: bool = False
) -> Iterator[np.ndarray]:
    """Endless batches of indices into ``n`` training items.

    One process: shuffled epochs of ``min(batch, n)`` (or, with ``replacement``,
    ``batch`` indices drawn at random), from ``rng``, as the loops always drew
    them. In a job: this worker's shard of each epoch (``DistributedSampler``,
    shuffled with ``seed`` and the epoch), in batches of its share of ``batch``.
    """
    if not _initialized():
        if replacement:
            while True:
                yield rng.integers(0, n, size=batch)
        size = min(batch, n)
        order, cursor = rng.permutation(n), 0
        while True:
            if cursor + size > len(order):
                order, cursor = rng.permutation(n), 0
            yield order[cursor : cursor + size]
            cursor += size
    import torch.distributed as dist
    from torch.utils.data import DistributedSampler

    sampler = DistributedSampler(range(n), shuffle=True, seed=seed)  # type: ignore[arg-type]
    size = min(max(1, math.ceil(batch / dist.get_world_size())), len(sampler))
    epoch = 0
    while True:
        sampler.set_epoch(epoch)
        shard = np.fromiter(iter(sampler), dtype=np.int64)
        for start in range(0, len(shard) - size + 1, size):
            yield shard[start : start + size]
        epoch += 1


def mean(value: float) -> float:
    """``value`` averaged over the workers (itself with one process)."""
    if not _initialized():
        return value
    import torch
    import torch.distributed as dist

    total = torch.tensor([value], dtype=torch.float64)
    dist.all_reduce(total)
    return float(total.item()) / dist.get_world_size()


def reseed(seed: int) -> None:
    """Give each worker its own noise (rank 0 keeps the one-process stream)."""
    rank = workers().rank if _initialized() else 0
    if rank:
        import torch

        torch.manual_seed(seed * 1_000_003 + rank)


# --- launching ----------------------------------------------------------------------------


def launch(
    argv: Sequence[str],
    nproc_per_node: int,
    *,
    nnodes: str = "1",
    rdzv_endpoint: str | None = None,
    rdzv_id: str = "adaptive-bake",
    node_rank: int | None = None,
) -> int:
    """Run ``adaptive <argv>`` under torchrun with ``nproc_per_node`` workers here.

    Without ``rdzv_endpoint`` the job is this machine alone (torchrun's
    ``--standalone``); with it, every machine runs the same command and they meet
    at the endpoint (c10d rendezvous, ``host:port`` of one of them).
    Returns torchrun's exit code.
    """
    command = [sys.executable, "-m", "torch.distributed.run", f"--nproc-per-node={nproc_per_node}"]
    if rdzv_endpoint is None:
        if nnodes != "1":
            raise DistributedBakeError(
                f"--nnodes {nnodes} needs --rdzv-endpoint HOST:PORT, the address where the "
                "machines meet"
            )
        command.append("--standalone")
    else:
        command += [
            f"--nnodes={nnodes}",
            "--rdzv-backend=c10d",
            f"--rdzv-endpoint={rdzv_endpoint}",
            f"--rdzv-id={rdzv_id}",
        ]
        if node_rank is not None:
            command.append(f"--node-rank={node_rank}")
    command += ["-m", "authoring.cli", *argv]
    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", "1")  # the bake sets its own share of threads
    return subprocess.run(command, env=env, check=False).returncode
