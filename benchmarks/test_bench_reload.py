"""Hot reload: what a reload costs the caller, and the audio callback on the switch.

A live engine (the silent output's real-time thread, 512-frame blocks, the
look-ahead worker composing) plays the default bundle at 224 bpm so bars are
short; each round reloads a mix edit (or back) and waits for its "reload"
event. The mixer's own timing ring holds one entry per block: the blocks that
switched (and start the crossfade) are compared with the ordinary blocks of the
same run. Wall-clock times on a shared machine: the ratio is the figure.
"""

from __future__ import annotations

import copy
import time
from pathlib import Path

import numpy as np
import pytest

import adaptive
import runtime

BLOCK = 512
SR = 48000
ROUNDS = 6


def test_reload_switch_block_against_ordinary(
    benchmark: pytest.FixtureRequest, default_bundle: adaptive.Bundle, tmp_path: Path
) -> None:
    paths = []
    for drums in (0.8, 1.2):
        manifest = copy.deepcopy(dict(default_bundle.manifest))
        manifest["tempo"] = 224
        manifest["stems"]["drums"]["gain"] = drums
        paths.append(tmp_path / f"drums{drums}.adaptive")
        adaptive.write_bundle(paths[-1], manifest, default_bundle.models)
    engine = runtime.MusicEngine(
        paths[0], output="silent", worker="thread", buffer_frames=BLOCK, seed=4
    )
    mixer = engine._core._mixer
    switches: list[int] = []
    original = mixer._switch

    def noting(handoff: object) -> None:
        switches.append(mixer.callbacks)
        original(handoff)

    mixer._switch = noting  # type: ignore[method-assign]
    calls: list[float] = []
    heard_after_bars: list[int] = []

    def one_round() -> None:
        playing = engine.timing.bar_at(engine.frame)
        t0 = time.perf_counter()
        assert engine.reload(paths[(len(calls) + 1) % 2])
        calls.append(time.perf_counter() - t0)
        deadline = time.monotonic() + 10.0
        while time.monotonic() < deadline:
            landed = [e for e in engine.update() if e.kind == "reload"]
            if landed:
                heard_after_bars.append(landed[-1].bar - playing)
                return
            time.sleep(0.005)
        raise AssertionError("the reload did not land")

    with engine:
        time.sleep(0.5)
        benchmark.pedantic(one_round, rounds=ROUNDS, iterations=1)
        time.sleep(0.1)
        fallback = engine.stats().fallback_bars
    ring = mixer.callback_ms
    assert ring.count <= ring.values.shape[0]  # every block is still in the ring
    blocks = ring.values[: ring.count]
    switch_ms = np.array([blocks[i - 1] for i in switches])
    ordinary = np.delete(blocks, [i - 1 for i in switches])
    ratio = float(np.median(switch_ms) / np.median(ordinary))
    benchmark.extra_info.update(
        reload_call_ms_median=float(np.median(calls)) * 1000,
        switch_block_ms_median=float(np.median(switch_ms)),
        switch_block_ms_max=float(switch_ms.max()),
        ordinary_block_ms_median=float(np.median(ordinary)),
        ordinary_block_ms_p99=float(np.percentile(ordinary, 99)),
        switch_over_ordinary=ratio,
        heard_after_bars=heard_after_bars,
        fallback_bars=fallback,
        buffer_ms=BLOCK / SR * 1000,
    )
    print(
        f"reload: call {np.median(calls) * 1000:.0f} ms on the caller's thread; switch block "
        f"median {np.median(switch_ms):.3f} ms (max {switch_ms.max():.3f}) against ordinary "
        f"median {np.median(ordinary):.3f} ms, p99 {np.percentile(ordinary, 99):.3f} ms "
        f"({ratio:.2f}x); heard {heard_after_bars} bars after the bar playing; "
        f"fallback bars {fallback}"
    )
