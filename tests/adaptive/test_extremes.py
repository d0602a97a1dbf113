"""What read_bundle accepts, the engine plays: extreme but valid values never fail later."""

from __future__ import annotations

from typing import Any

import numpy as np

from adaptive._bundle import decode_bundle

from .conftest import repack


def test_extreme_valid_manifest_loads_and_plays(body: dict[str, Any]) -> None:
    from runtime import MusicEngine

    m = body["manifest"]
    m["tempo"] = 300.0
    for state in m["states"].values():  # every state at the fastest tempo too
        state["tempo"] = 300.0
    for stem in m["stems"].values():
        stem.update(gain=2.0, intensity=[1.0, 1.0], pan=-1.0, polyphony=1, program=127)
    m["states"]["boss"]["stems"] = {name: 2.0 for name in m["stems"]}
    m["states"]["explore"]["stems"] = {name: 0.0 for name in m["stems"]}
    m["parameters"]["intensity"] = {"min": 0.0, "max": 1.0, "default": 1.0, "seek": 1e6}
    m["parameters"]["danger"] = {"min": -1e9, "max": 1e9, "default": 1e9}
    # At 300 bpm a 64-step note lasts 3.2 s: 40 of them reach the 128 s render budget.
    notes = [[step, (step % 85) - 36, 64, 127] for step in range(0, 60, 3)]
    m["stingers"] = {
        f"s{i}": {"instrument": "pluck", "gain": 2.0, "notes": notes, "max_voices": 32}
        for i in range(2)
    }
    m["mix"] = {"loudness_lufs": -6.0, "ceiling_db": 0.0, "delay_feedback": 0.95}
    bundle = decode_bundle(repack(body))
    engine = MusicEngine(bundle, output="offline", seed=1)
    engine.set_state("boss")
    for name in bundle.stingers:
        engine.trigger(name)
    audio = engine.render(engine.timing.bar_frames(0) * 2)
    assert np.isfinite(audio).all() and np.abs(audio).max() > 0
