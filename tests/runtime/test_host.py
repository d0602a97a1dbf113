"""The worker process's parameter table: the game's latest target reaches the engine, in order."""

from __future__ import annotations

import math
import time

import adaptive
from runtime import MusicEngine
from runtime._host import PARAMETER_SLOTS, Rings, TargetReader


def _settled(engine: MusicEngine, name: str, value: float, seconds: float = 20.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        engine.update()
        if math.isclose(engine.parameters[name], value, abs_tol=1e-9):
            return True
        time.sleep(0.02)
    return False


def test_the_reader_reports_each_target_that_changed_once() -> None:
    rings = Rings()
    reader = TargetReader(rings.targets)
    names = ("intensity", "danger")
    assert reader.changes(names) == []  # never set: nothing to send
    rings.targets[1] = 0.25
    assert [(c.name, c.value) for c in reader.changes(names)] == [("danger", 0.25)]
    assert reader.changes(names) == []  # unchanged since
    rings.targets[0], rings.targets[1] = 0.5, 0.75
    assert [(c.name, c.value) for c in reader.changes(names)] == [
        ("intensity", 0.5),
        ("danger", 0.75),
    ]
    assert len(rings.targets) == PARAMETER_SLOTS


def test_a_worker_process_takes_the_last_value_set(bundle: adaptive.Bundle) -> None:
    engine = MusicEngine(bundle, output="silent", worker="process", seed=2)
    engine.set_parameter("intensity", 0.9)  # before start: kept, sent when it plays
    with engine:
        assert _settled(engine, "intensity", 0.9)
        for value in (0.1, 0.7, 0.3):  # faster than the worker polls: the last one wins
            engine.set_parameter("intensity", value)
        assert _settled(engine, "intensity", 0.3)
        engine.set_parameter("intensity", 2)  # an int, clamped to the range's top
        assert _settled(engine, "intensity", 1.0)
        engine.set_parameter("intensity", 0.3)  # back to a value it had before
        assert _settled(engine, "intensity", 0.3)
