"""The models' cost: generating one bar of every stem, a tiny bake, the default bake.

    PYTHONPATH=$PWD python -m pytest benchmarks/test_bench_models.py -q
    # the default bake too (minutes; the roles in 2 worker processes, 1 torch thread each):
    ADAPTIVE_BENCH_DEFAULT_BAKE=1 PYTHONPATH=$PWD python -m pytest \
        benchmarks/test_bench_models.py -q -k default_bake

Generation is timed without audio: harmony + melody + bass + drums (generator
and critic) for one bar, on one thread, the way the composer calls them. The
p99 over many bars at three intensities is stored in ``extra_info`` (the target
is <= 10 ms on one core).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import adaptive
from adaptive._music import START_CHORD
from adaptive._tokens import Vocabulary
from runtime.generators import (
    Conditions,
    DrumGenerator,
    HarmonyGenerator,
    OnnxModel,
    SequenceGenerator,
)

BARS = 120


def test_generation_per_bar_all_stems_one_thread(
    benchmark: pytest.FixtureRequest, default_bundle: adaptive.Bundle
) -> None:
    models = default_bundle.models
    steps = default_bundle.meter.steps_per_bar
    harmony = HarmonyGenerator(OnnxModel(models["harmony"]))
    sequences = {
        role: SequenceGenerator(OnnxModel(models[role]), Vocabulary.default(), steps)
        for role in ("melody", "bass")
    }
    drums = DrumGenerator(OnnxModel(models["drums_generator"]), OnnxModel(models["drums_critic"]))
    states = list(default_bundle.states)
    times: list[float] = []
    notes: list[int] = []

    def one_run() -> None:
        contexts = {role: gen.initial_context() for role, gen in sequences.items()}
        history = (START_CHORD, START_CHORD)
        voicing: tuple[int, ...] = ()
        for index in range(BARS):
            intensity = (0.0, 0.5, 1.0)[index % 3]
            state = states[(index // 8) % len(states)]
            rng = np.random.default_rng((len(times), index))
            t0 = time.perf_counter()
            chord = harmony.next_chord(
                history, rng, intensity=intensity, valence=0.5, state=state, bar_index=index
            )
            cond = Conditions(intensity, 0.5, state, chord, index)
            count = 0
            for role, gen in sequences.items():
                bar, contexts[role] = gen.generate_bar(contexts[role], rng, cond)
                count += len(bar)
            chords, voicing = harmony.bar_notes(chord, voicing, intensity, steps)
            count += len(chords) + len(drums.generate_bar(rng, cond))
            times.append((time.perf_counter() - t0) * 1000.0)
            notes.append(count)
            history = (history[1], chord)

    benchmark.pedantic(one_run, rounds=3, iterations=1)
    p50, p99 = (float(np.percentile(times, q)) for q in (50, 99))
    benchmark.extra_info.update(
        {
            "bars": len(times),
            "p50_ms": p50,
            "p99_ms": p99,
            "mean_notes_per_bar": float(np.mean(notes)),
        }
    )
    print(f"\ngeneration per bar (all stems, one thread): p50 {p50:.2f} ms, p99 {p99:.2f} ms")
    assert all(n > 0 for n in notes[: BARS // 3])  # every bar was really composed


def test_tiny_bake(benchmark: pytest.FixtureRequest, tmp_path: Path) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from conftest import write_tiny_style  # the tests' tiny style: four small MIDI files

    from authoring import bake

    style = write_tiny_style(tmp_path)
    seconds: list[float] = []

    def run() -> None:
        t0 = time.perf_counter()
        bake(style, tmp_path / "tiny.adaptive", progress=False)
        seconds.append(time.perf_counter() - t0)

    benchmark.pedantic(run, rounds=1, iterations=1)
    benchmark.extra_info["seconds"] = seconds[0]
    print(f"\ntiny bake: {seconds[0]:.1f} s (target <= 30 s)")


@pytest.mark.skipif(
    not os.environ.get("ADAPTIVE_BENCH_DEFAULT_BAKE"),
    reason="minutes long: set ADAPTIVE_BENCH_DEFAULT_BAKE=1 to run the default bake",
)
def test_default_bake(benchmark: pytest.FixtureRequest, tmp_path: Path) -> None:
    from authoring import bake

    style = Path(__file__).resolve().parents[1] / "examples" / "default" / "style.toml"
    seconds: list[float] = []
    cpu: list[float] = []

    def run() -> None:
        t0, c0 = time.perf_counter(), time.process_time()
        bake(style, tmp_path / "default.adaptive", progress=False)
        seconds.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)

    benchmark.pedantic(run, rounds=1, iterations=1)
    benchmark.extra_info.update({"seconds": seconds[0], "cpu_seconds": cpu[0]})
    print(f"\ndefault bake: {seconds[0]:.1f} s wall, {cpu[0]:.1f} s CPU (target <= 300 s)")
