"""Misuse of the API: every wrong call raises an EngineError (or BundleError) that says what is allowed."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import adaptive
from runtime import BundleError, EngineError, MusicEngine, load_bundle

NOT_NAMES: list[Any] = [None, 3, 2.5, b"explore", ["explore"], {"a": 1}, {1, 2}, ("x",), object()]
NOT_NUMBERS: list[Any] = ["0.5", None, [0.5], True, False, 1j, object(), b"1"]
NOT_FINITE: list[Any] = [math.nan, math.inf, -math.inf, 10**400, -(10**400), np.float32("nan")]


@pytest.fixture(scope="module")
def engine(bundle: adaptive.Bundle) -> MusicEngine:
    return MusicEngine(bundle, output="offline", seed=1)


@pytest.mark.parametrize("name", NOT_NAMES)
@pytest.mark.parametrize("call", ["set_parameter", "set_state", "trigger"])
def test_names_that_are_not_strings(engine: MusicEngine, call: str, name: Any) -> None:
    args = (name, 0.5) if call == "set_parameter" else (name,)
    with pytest.raises(EngineError, match="name must be a string"):
        getattr(engine, call)(*args)


@pytest.mark.parametrize("value", NOT_NUMBERS)
def test_parameter_values_that_are_not_numbers(engine: MusicEngine, value: Any) -> None:
    with pytest.raises(EngineError, match="must be a number"):
        engine.set_parameter("intensity", value)


@pytest.mark.parametrize("value", NOT_FINITE)
def test_parameter_values_that_are_not_finite(engine: MusicEngine, value: Any) -> None:
    with pytest.raises(EngineError, match="finite"):
        engine.set_parameter("intensity", value)


@pytest.mark.parametrize(
    "sync", ["", "bars:0", "bars:17", "bars:x", "Bar", 1, None.__class__, ["bar"]]
)
def test_bad_syncs(engine: MusicEngine, sync: Any) -> None:
    with pytest.raises(EngineError, match="sync"):
        engine.set_state("combat", sync=sync)


@pytest.mark.parametrize("frames", [-1, True, 1.5, "10", None, 10**12, 600 * 48000 + 1])
def test_bad_render_sizes(engine: MusicEngine, frames: Any) -> None:
    with pytest.raises(EngineError, match="render frames"):
        engine.render(frames)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"bundle": 123}, "bundle must be"),
        ({"bundle": 1.5}, "bundle must be"),
        ({"output": "speakers"}, "output 'speakers'"),
        ({"output": 5}, "output 5"),
        ({"sample_rate": "48000"}, "sample_rate"),
        ({"sample_rate": 12}, "sample_rate"),
        ({"buffer_frames": 1.5}, "buffer_frames"),
        ({"buffer_frames": 0}, "buffer_frames"),
        ({"seed": -1}, "seed"),
        ({"seed": "7"}, "seed"),
        ({"lookahead_bars": 0}, "lookahead_bars"),
        ({"worker": "gpu"}, "worker 'gpu'"),
    ],
)
def test_bad_constructor_arguments(bundle: adaptive.Bundle, kwargs: dict, message: str) -> None:
    kwargs = {"bundle": bundle, "output": "offline", **kwargs}
    with pytest.raises(EngineError, match=message):
        MusicEngine(**kwargs)


@pytest.mark.parametrize("path", [123, 1.5, ["a.adaptive"]])
def test_load_bundle_with_a_path_that_is_not_one(path: Any) -> None:
    with pytest.raises((BundleError, EngineError)):
        load_bundle(path)


def test_load_bundle_names_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="missing.adaptive"):
        load_bundle(tmp_path / "missing.adaptive")


def test_calls_before_start_are_kept_for_when_it_plays(bundle: adaptive.Bundle) -> None:
    engine = MusicEngine(bundle, output="silent", worker="thread", seed=1)
    engine.set_parameter("intensity", 0.25)  # before start(): documented to be kept
    with engine:
        for _ in range(200):
            if engine.parameters["intensity"] == 0.25:
                break
            import time

            time.sleep(0.01)
    assert engine.parameters["intensity"] == 0.25
