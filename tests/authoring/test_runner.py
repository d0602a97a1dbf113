"""The bake's runner: thread plans, and roles trained in worker processes."""

from __future__ import annotations

from pathlib import Path

import pytest

import adaptive
from adaptive import StyleError
from authoring import bake
from authoring._roles import RoleJob
from authoring._runner import ENV_PROCESSES, ENV_THREADS, available_cores, plan_threads


class _Config:
    sequence_batch = 32
    drums_batch = 64


def _jobs(steps: int) -> list[RoleJob]:
    """Stand-ins with what plan_threads reads (kind, steps, config)."""
    jobs = []
    for role, kind in (("harmony", "harmony"), ("melody", "sequence"), ("drums", "drums")):
        job = RoleJob.__new__(RoleJob)
        job.role, job.kind, job.steps, job.config = role, kind, steps, _Config()  # type: ignore[assignment]
        jobs.append(job)
    return jobs


def test_plan_uses_processes_for_big_bakes_and_stays_inline_for_tiny_ones(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(ENV_PROCESSES, raising=False)
    monkeypatch.delenv(ENV_THREADS, raising=False)
    cores = available_cores()
    big = plan_threads(2, _jobs(500))
    assert big.processes == min(cores, 2) and big.threads == 1 and big.cores == cores
    tiny = plan_threads(2, _jobs(3))
    assert tiny.processes == 1 and tiny.threads == 1


def test_environment_overrides_are_clipped_to_the_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    cores = available_cores()
    monkeypatch.setenv(ENV_PROCESSES, "1")
    monkeypatch.setenv(ENV_THREADS, "64")
    plan = plan_threads(64, _jobs(500))
    assert plan.processes == 1 and plan.threads == cores
    assert plan_threads(1, _jobs(500)).threads == 1  # training.threads caps it
    monkeypatch.setenv(ENV_PROCESSES, "500")
    assert plan_threads(2, _jobs(500)).processes <= min(cores, 2)
    monkeypatch.setenv(ENV_THREADS, "two")
    with pytest.raises(StyleError, match=ENV_THREADS):
        plan_threads(2, _jobs(500))


def test_worker_processes_train_the_same_models(
    tiny_style_path: Path, tiny_bundle_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The session bundle trained in this process; this bake sends melody, bass and
    # drums to two workers (spawned, one torch thread each): same bytes, same losses.
    monkeypatch.setenv(ENV_PROCESSES, "2")
    out = tmp_path / "parallel.adaptive"
    bake(tiny_style_path, out, progress=False)
    parallel, inline = adaptive.load_bundle(out), adaptive.load_bundle(tiny_bundle_path)
    assert {n: m.onnx for n, m in parallel.models.items()} == {
        n: m.onnx for n, m in inline.models.items()
    }
    training = parallel.manifest["training"]
    assert training["losses"] == inline.manifest["training"]["losses"]
    assert training["environment"]["bake"]["processes"] == min(2, available_cores())
    assert training["environment"]["bake"]["torch_threads"] == 1
