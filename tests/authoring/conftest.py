"""Fixtures for the authoring tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread() -> Iterator[None]:
    # The models here are tiny: one thread is as fast, and it cannot oversubscribe
    # the CPU when tests run next to other work (OpenMP spin-waits collapse then).
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
