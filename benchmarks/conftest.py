"""Benchmarks run on the default bundle, the one games get out of the box.

Speed figures are ratios measured in the same run (music seconds per CPU
second, frame time with the engine over frame time without), because these
machines are shared and noisy. Each benchmark stores its figures in
``benchmark.extra_info`` so ``pytest benchmarks --benchmark-json=out.json``
keeps them.

``ADAPTIVE_BENCH_BURNERS=N`` runs N CPU-burning processes (``while True: pass``)
beside the benchmarks that take the ``cpu_burners`` fixture, for the figures on
a loaded machine; the fixture starts them and kills them itself.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

import adaptive

BURNERS = int(os.environ.get("ADAPTIVE_BENCH_BURNERS", "0"))


@pytest.fixture(scope="session")
def default_bundle() -> adaptive.Bundle:
    return adaptive.load_bundle()


@pytest.fixture
def cpu_burners() -> Iterator[int]:
    """``ADAPTIVE_BENCH_BURNERS`` processes spinning on the CPU while the benchmark runs."""
    burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(BURNERS)]
    try:
        yield len(burners)
    finally:
        for burner in burners:
            burner.kill()
        for burner in burners:
            burner.wait(timeout=10)
