"""Transitions in real renders: on their boundary's exact sample, for every sync, without clicks."""

from __future__ import annotations

import numpy as np
import pytest

import adaptive
from runtime import MusicEngine

SYNCS = ["immediate", "beat", "bar", "bars:2", "cue"]


def render_with_changes(bundle: adaptive.Bundle, syncs: list[str], seed: int = 3):  # type: ignore[no-untyped-def]
    """Mix and stems of a render that changes state once per ``syncs`` entry."""
    engine = MusicEngine(bundle, output="offline", seed=seed)
    timing = engine.timing
    states = list(bundle.states)
    engine.set_parameter("intensity", 0.7)
    parts = [engine.render(int(timing.frames_per_bar * 1.3), stems=True)]
    requests = []
    for i, sync in enumerate(syncs):
        requests.append(engine.frame)
        engine.set_state(states[(i + 1) % len(states)], sync=sync)
        parts.append(engine.render(int(timing.frames_per_bar * 4.6), stems=True))
    mix = np.concatenate([m for m, _ in parts])
    stems = {name: np.concatenate([s[name] for _, s in parts]) for name in engine.stems}
    return mix, stems, engine, requests


@pytest.mark.parametrize("sync", SYNCS)
def test_each_sync_lands_on_its_boundary(bundle: adaptive.Bundle, sync: str) -> None:
    _, _, engine, requests = render_with_changes(bundle, [sync])
    (transition,) = engine.report()["transitions"]
    timing, landed, asked = engine.timing, transition["landed_frame"], requests[0]
    bar = timing.bar_at(asked)
    expected = {
        "immediate": asked,
        "beat": timing.next_beat(asked)[0],
        "bar": timing.bar_start(bar + 1),
        "bars:2": timing.bar_start(bar + 2),
        "cue": timing.bar_start((bar // 4 + 1) * 4),
    }[sync]
    assert landed == expected and transition["requested_frame"] == asked
    assert transition["sync"] == sync


def test_transitions_do_not_click(default_bundle: adaptive.Bundle) -> None:
    """Like with like: each landing against ordinary boundaries of the same kind (bar lines,
    or beats within a bar) in the two states it joins, where nothing changes.

    A landing may not step further than the music itself does at such boundaries:
    at most 1.5 times the largest step there, for the pitched stems together and for
    the drums. (Against the median of ordinary boundaries, the ratio is printed: note
    onsets that happen to fall on a landing make it noisy, so it is not asserted.)
    """
    _, stems, engine, _ = render_with_changes(default_bundle, SYNCS * 2, seed=5)
    report, timing = engine.report(), engine.timing
    drums = [n for n in engine.stems if default_bundle.spec.stems[n].role == "drums"]
    pitched = sum(audio for name, audio in stems.items() if name not in drums)
    window = int(0.005 * engine.sample_rate)

    def steps_of(audio: np.ndarray) -> np.ndarray:
        return np.abs(np.diff(audio, axis=0)).max(axis=1)

    pitched_steps = steps_of(pitched)
    drum_steps = steps_of(sum(stems[n] for n in drums)) if drums else None

    def largest(steps: np.ndarray, frame: int) -> float:
        return float(steps[max(0, frame - window) : frame + window].max())

    landed = [t["landed_frame"] for t in report["transitions"]]
    assert len(landed) == 2 * len(SYNCS)

    def quiet(frame: int) -> bool:  # nothing changes within half a bar
        far = all(abs(frame - f) > timing.frames_per_bar / 2 for f in landed)
        return far and frame + window < len(pitched_steps)

    ratios, medians = [], []
    for transition in report["transitions"]:
        states, frame = (transition["from"], transition["to"]), transition["landed_frame"]
        on_bar_line = frame == timing.bar_start(timing.bar_at(frame))
        bars = [b for b in report["bars"] if b["state"] in states and b["index"] > 0]
        if on_bar_line:
            ordinary = [b["start_frame"] for b in bars]
        else:
            beats = timing.meter.numerator
            ordinary = [timing.beat_start(b["index"], k) for b in bars for k in range(1, beats)]
        ordinary = [f for f in ordinary if quiet(f)]
        assert len(ordinary) >= 3, transition
        reference = [largest(pitched_steps, f) for f in ordinary]
        at_landing = largest(pitched_steps, frame)
        medians.append(at_landing / float(np.median(reference)))
        ratios.append(at_landing / max(reference))
        if drum_steps is not None:
            loudest = max(largest(drum_steps, f) for f in ordinary)
            assert largest(drum_steps, frame) <= 1.5 * loudest + 1e-6, transition
    print("landing step / largest ordinary:", np.round(ratios, 2))
    print("landing step / median ordinary:", np.round(medians, 2))
    assert max(ratios) <= 1.5, ratios
