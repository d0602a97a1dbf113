"""Bundle loading under attack and at start-up: the long fuzz run and read_bundle's time.

The fuzz run decodes ``ADAPTIVE_FUZZ_MUTANTS`` mutants of the default bundle (see
``tests/adaptive/fuzz.py``), each in a subprocess capped at 1 GiB of address space and
killed after 1 s; it is skipped unless that variable is set, because it takes minutes::

    ADAPTIVE_FUZZ_MUTANTS=10000 pytest benchmarks/test_bench_bundle_fuzz.py -k fuzz

``read_bundle`` validates every field and dry-runs every model; the runtime's budget from
bundle load to first audio is 300 ms, so its time is measured here, cold (no cached
sessions) and warm (the same bytes loaded again, as hot reload does).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

import adaptive
import adaptive._bundle as bundle_module

ROOT = Path(__file__).resolve().parents[1]


def test_read_bundle_time(benchmark: pytest.FixtureRequest) -> None:
    """Cold read_bundle of the default bundle (sessions not cached), then warm."""
    path = adaptive.default_bundle_path()
    adaptive.read_bundle(path)  # onnxruntime imported once, as the runtime has it loaded

    cpu: list[float] = []

    def cold() -> adaptive.Bundle:
        bundle_module._SESSION_CACHE.clear()
        started = time.process_time()  # CPU time: what the load costs on a busy machine too
        loaded = adaptive.read_bundle(path)
        cpu.append(time.process_time() - started)
        return loaded

    bundle = benchmark.pedantic(cold, rounds=15, iterations=1)
    assert set(bundle.models) == {"harmony", "melody", "bass", "drums_generator", "drums_critic"}
    warm = []
    for _ in range(15):
        started = time.perf_counter()
        adaptive.read_bundle(path)
        warm.append(time.perf_counter() - started)
    code = (
        "import time, adaptive; t = time.perf_counter(); adaptive.load_bundle(); "
        "print(time.perf_counter() - t)"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    first = float(subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                                 text=True, check=True).stdout)  # fmt: skip
    stats = benchmark.stats.stats
    benchmark.extra_info.update(
        cold_median_ms=round(stats.median * 1000, 1),
        cold_max_ms=round(stats.max * 1000, 1),
        cold_cpu_median_ms=round(sorted(cpu)[len(cpu) // 2] * 1000, 1),
        warm_median_ms=round(sorted(warm)[len(warm) // 2] * 1000, 1),
        first_load_in_new_process_ms=round(first * 1000, 1),  # includes importing onnxruntime
        startup_budget_ms=300,
    )


@pytest.mark.skipif(
    not os.environ.get("ADAPTIVE_FUZZ_MUTANTS"), reason="set ADAPTIVE_FUZZ_MUTANTS=10000 to run"
)
def test_bundle_fuzz_long_run(benchmark: pytest.FixtureRequest) -> None:
    sys.path.insert(0, str(ROOT))
    from tests.adaptive.fuzz import KINDS, run_corpus

    count = int(os.environ["ADAPTIVE_FUZZ_MUTANTS"])
    workers = max(1, min(2, os.cpu_count() or 1))
    started = time.perf_counter()
    tally = benchmark.pedantic(run_corpus, args=(count,), kwargs={"workers": workers},
                               rounds=1, iterations=1)  # fmt: skip
    benchmark.extra_info.update(
        {k: v for k, v in tally.items() if k != "escaped"},
        seconds=round(time.perf_counter() - started, 1),
        first_escapes=tally["escaped"][:20],
        memory_cap_bytes=1 << 30,
        case_timeout_seconds=1.0,
    )
    print(tally)
    assert tally["mutants"] == count and set(tally["by_kind"]) == set(KINDS)
    assert tally["BundleError"] == count, tally["escaped"][:20]
    assert tally["max_cpu_seconds"] < 1.0
