"""Benchmarks run on the default bundle, the one games get out of the box.

Speed figures are ratios measured in the same run (music seconds per CPU
second, frame time with the engine over frame time without), because these
machines are shared and noisy. Each benchmark stores its figures in
``benchmark.extra_info`` so ``pytest benchmarks --benchmark-json=out.json``
keeps them.
"""

from __future__ import annotations

import pytest

import adaptive


@pytest.fixture(scope="session")
def default_bundle() -> adaptive.Bundle:
    return adaptive.load_bundle()
