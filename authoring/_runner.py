"""Running the bake's role jobs on the machine: thread counts, worker processes, progress.

The roles (harmony, melody, bass, drums) train independently, so on a machine
with more than one core they train in parallel, one worker process per role
and one torch thread per process by default. Measured on 2 cores, that beats
one process with two threads: small GRU and MLP steps gain little from
intra-op threads, and with other work on the machine OpenMP threads that wait
for each other at every op lose most of their time (see README, "Bake time").

Overrides, for a shared or a big machine:

    ADAPTIVE_BAKE_PROCESSES=N   worker processes (1: train in the calling process)
    ADAPTIVE_TORCH_THREADS=N    torch threads per process

Both are clipped to the cores this process may run on (``os.sched_getaffinity``).
A small bake (the tests' tiny styles) stays in the calling process: starting a
worker costs about a second, more than the whole training.
"""

from __future__ import annotations

import multiprocessing
import os
import queue as queue_module
import signal
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from adaptive._errors import StyleError

from ._roles import train_job

if TYPE_CHECKING:
    from ._roles import RoleJob, RoleOutput, Weights

__all__ = [
    "ThreadPlan",
    "plan_threads",
    "available_cores",
    "Reuse",
    "Train",
    "RolePlan",
    "run_jobs",
    "Progress",
    "ENV_PROCESSES",
    "ENV_THREADS",
    "passive_openmp",
]

ENV_PROCESSES = "ADAPTIVE_BAKE_PROCESSES"
ENV_THREADS = "ADAPTIVE_TORCH_THREADS"
# Below this much work (optimizer steps x batch, summed over the roles) the bake
# trains in the calling process: a worker's start (importing torch) costs more.
PARALLEL_MIN_WORK = 3_000
REPORT_EVERY = 0.1  # seconds between a worker's progress messages


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity), not the machine's total."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not on Linux
        return max(1, os.cpu_count() or 1)


@dataclass(frozen=True)
class ThreadPlan:
    processes: int  # worker processes training roles at once (1: in the calling process)
    threads: int  # torch intra-op threads in each of them
    cores: int  # cores available to the bake

    def describe(self) -> dict[str, int]:
        return {"processes": self.processes, "torch_threads": self.threads, "cores": self.cores}


def _env_int(name: str) -> int | None:
    text = os.environ.get(name, "").strip()
    if not text:
        return None
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise StyleError(f"environment variable {name}: must be a whole number >= 1, got {text!r}")
    return value


def plan_threads(max_threads: int, jobs: Sequence[RoleJob]) -> ThreadPlan:
    """How many processes and torch threads the jobs get on this machine.

    ``max_threads`` is the style's ``training.threads``: the most torch threads a
    process gets, even when ``ADAPTIVE_TORCH_THREADS`` asks for more.
    """
    cores = available_cores()
    trainable = [job for job in jobs if job.kind != "harmony"]
    work = sum(job.steps * _batch(job) for job in trainable)
    processes = _env_int(ENV_PROCESSES)
    if processes is None:
        processes = min(cores, len(trainable)) if work >= PARALLEL_MIN_WORK else 1
    processes = max(1, min(processes, cores, max(1, len(trainable))))
    # One thread per process unless asked: intra-op threads barely speed these small
    # models up, and on a busy machine they wait for each other at every op.
    threads = _env_int(ENV_THREADS) or 1
    threads = max(1, min(threads, max_threads, cores // processes))
    return ThreadPlan(processes=processes, threads=threads, cores=cores)


def _batch(job: RoleJob) -> int:
    return job.config.drums_batch if job.kind == "drums" else job.config.sequence_batch


@dataclass(frozen=True)
class Reuse:
    """Keep the role's models as trained before (the data it learns from is unchanged)."""

    output: RoleOutput


@dataclass(frozen=True)
class Train:
    """Train the role; from ``init`` weights (a fine-tune) for ``steps`` steps if given."""

    init: Weights | None = None
    steps: int | None = None


RolePlan = Reuse | Train


@contextmanager
def torch_threads(threads: int) -> Iterator[None]:
    """torch set to ``threads`` intra-op threads, one inter-op thread, deterministic ops."""
    passive_openmp()
    import torch

    previous = torch.get_num_threads()
    previous_deterministic = torch.are_deterministic_algorithms_enabled()
    _set_threads(torch, threads)
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
        torch.use_deterministic_algorithms(previous_deterministic)


def passive_openmp() -> None:
    """OpenMP threads that sleep, not spin, while they wait (read when torch first loads).

    Measured on a 2-core machine at load 8: 2 spinning threads took 5.5 times the
    wall time and 7 times the CPU of 2 passive ones for the same training steps.
    """
    if "torch" not in sys.modules:
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def _set_threads(torch: Any, threads: int) -> None:
    torch.set_num_threads(threads)
    try:  # allowed once per process, before any inter-op work; later calls just keep it
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass


# --- progress ---------------------------------------------------------------------------
class Progress:
    """A rich progress display, one row per model, or nothing when disabled.

    A row's timer starts when its work starts and stops when it is done, so no
    row ticks for the whole bake; while a row runs it shows epoch, loss and ETA.
    """

    def __init__(self, enabled: bool, transient: bool = False) -> None:
        self.enabled = enabled
        self.transient = transient
        self._progress: Any = None

    @contextmanager
    def running(self) -> Iterator[Progress]:
        if not self.enabled:
            yield self
            return
        from rich.progress import BarColumn, Progress, TextColumn

        self._progress = Progress(
            TextColumn("[bold]{task.description:<14}"),
            BarColumn(bar_width=30),
            TextColumn("{task.fields[info]:<36}"),
            _time_column(),
            transient=self.transient,
        )
        with self._progress:
            yield self
        self._progress = None

    def task(self, description: str, total: int) -> Callable[[int, str], None]:
        """Add a phase; returns ``advance(done, info)``."""
        if self._progress is None:
            return lambda done, info="": None
        task_id = self._progress.add_task(description, total=max(1, total), info="")
        progress = self._progress

        def update(done: int, info: str = "") -> None:
            progress.update(task_id, completed=done, info=info)

        return update

    def model_row(self, job: RoleJob, steps: int) -> ModelRow:
        return ModelRow(self._progress, job, steps)


def _time_column() -> Any:
    """'ETA 0:00:12' while a row runs, 'took 0:00:40' once it is done, blank before."""
    from datetime import timedelta

    from rich.progress import ProgressColumn
    from rich.text import Text

    class TimeColumn(ProgressColumn):
        def render(self, task: Any) -> Text:
            if task.finished:
                return Text(f"took {timedelta(seconds=int(task.finished_time or 0))}")
            if not task.started:
                return Text("")
            left = task.time_remaining
            return Text("ETA  -:--:--" if left is None else f"ETA  {timedelta(seconds=int(left))}")

    return TimeColumn()


class ModelRow:
    """One role's row: epoch and loss while training, then export, then done."""

    def __init__(self, progress: Any, job: RoleJob, steps: int) -> None:
        self.progress = progress
        self.job = job
        self.total = steps + 1  # the last unit is the export
        self.started = False
        self.task_id = (
            None
            if progress is None
            else progress.add_task(
                f"train {job.role}", total=self.total, info="waiting", start=False
            )
        )

    def _update(self, **fields: Any) -> None:
        if self.progress is None:
            return
        if not self.started:
            self.progress.start_task(self.task_id)
            self.started = True
        self.progress.update(self.task_id, **fields)

    def step(self, done: int, total: int, loss: float) -> None:
        epoch = done / max(self.job.epoch_size, 1e-9)
        self._update(completed=done, info=f"epoch {epoch:6.1f}  loss {loss:.3f}")

    def exporting(self, name: str) -> None:
        self._update(info=f"export {name} to ONNX")

    def finish(self, output: RoleOutput) -> None:
        if output.how == "reused":
            info = "unchanged: reused"
        else:
            loss = next(iter(output.losses.values()))
            worst = max(s.parity_max_abs_diff for s in output.stats.values())
            info = f"{output.how}, loss {loss:.3f}, parity {worst:.0e}"
        self._update(completed=self.total, info=info)


# --- running the jobs -------------------------------------------------------------------
def run_jobs(
    jobs: Sequence[RoleJob],
    plans: Mapping[str, RolePlan],
    threads: ThreadPlan,
    ui: Progress,
) -> dict[str, RoleOutput]:
    """Train (or reuse) every job's models; raises the first job's error, if any."""
    rows = {}
    for job in jobs:
        plan = plans[job.role]
        steps = plan.steps if isinstance(plan, Train) and plan.steps else job.steps
        rows[job.role] = ui.model_row(job, 0 if isinstance(plan, Reuse) else steps)
    outputs: dict[str, RoleOutput] = {}
    to_train: list[tuple[RoleJob, Train]] = []
    for job in jobs:
        plan = plans[job.role]
        if isinstance(plan, Reuse):
            outputs[job.role] = plan.output.refreshed(job)
            rows[job.role].finish(outputs[job.role])
        else:
            to_train.append((job, plan))
    heavy = [(job, plan) for job, plan in to_train if job.kind != "harmony"]
    pooled = heavy if threads.processes > 1 and len(heavy) > 1 else []
    in_pool = {job.role for job, _ in pooled}
    inline = [(job, plan) for job, plan in to_train if job.role not in in_pool]

    def train_here(job: RoleJob, plan: Train) -> None:
        row = rows[job.role]
        output = train_job(
            job, init=plan.init, steps=plan.steps, on_step=row.step, on_export=row.exporting
        )
        outputs[job.role] = output
        row.finish(output)

    with torch_threads(threads.threads):
        if not pooled:
            for job, plan in inline:
                train_here(job, plan)
            return outputs
        outputs.update(_run_pool(pooled, threads, rows, lambda: [train_here(*t) for t in inline]))
    return outputs


def _run_pool(
    pooled: list[tuple[RoleJob, Train]],
    threads: ThreadPlan,
    rows: Mapping[str, ModelRow],
    meanwhile: Callable[[], object],
) -> dict[str, RoleOutput]:
    """Train ``pooled`` in worker processes (longest first); ``meanwhile`` runs here."""
    context = multiprocessing.get_context("spawn")  # fork and torch's threads do not mix
    messages = context.Queue()
    pooled = sorted(pooled, key=lambda t: t[0].steps * _batch(t[0]), reverse=True)
    pool = context.Pool(
        min(threads.processes, len(pooled)),
        initializer=_init_worker,
        initargs=(threads.threads, messages),
    )
    outputs: dict[str, RoleOutput] = {}
    try:
        pending = {
            job.role: pool.apply_async(_train_in_worker, (job, plan.init, plan.steps))
            for job, plan in pooled
        }
        meanwhile()
        while pending:
            _drain(messages, rows, timeout=REPORT_EVERY)
            for role, result in list(pending.items()):
                if result.ready():
                    _drain(messages, rows, timeout=0.0)
                    outputs[role] = result.get()  # re-raises the worker's error
                    rows[role].finish(outputs[role])  # its timer stops now, not at the end
                    del pending[role]
        pool.close()
    finally:
        pool.terminate()  # on an error or Ctrl-C, stop the other roles at once
        pool.join()
    return outputs


def _drain(messages: Any, rows: Mapping[str, ModelRow], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            message = messages.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue_module.Empty:
            return
        role, kind, *args = message
        if kind == "step":
            rows[role].step(*args)
        else:
            rows[role].exporting(*args)


_MESSAGES: Any = None


def _init_worker(threads: int, messages: Any) -> None:
    global _MESSAGES
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and stops us
    os.environ["OMP_NUM_THREADS"] = str(threads)  # before torch loads its OpenMP runtime
    passive_openmp()
    import torch

    _set_threads(torch, threads)
    torch.use_deterministic_algorithms(True)
    _MESSAGES = messages


def _train_in_worker(job: RoleJob, init: Weights | None, steps: int | None) -> RoleOutput:
    last = [0.0]

    def on_step(done: int, total: int, loss: float) -> None:
        now = time.monotonic()
        if now - last[0] >= REPORT_EVERY or done == total:
            last[0] = now
            _MESSAGES.put((job.role, "step", done, total, loss))

    def on_export(name: str) -> None:
        _MESSAGES.put((job.role, "export", name))

    return train_job(job, init=init, steps=steps, on_step=on_step, on_export=on_export)
