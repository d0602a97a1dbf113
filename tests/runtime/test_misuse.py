"""Misuse of the API: every wrong call raises an EngineError (or BundleError) that says what is allowed.

Each probe is one pytest param with an id: a call on the engine's public API
(or on ``load_bundle``), and what it must do. ``None`` for the error means the
call is legal and behaves as documented (a str subclass is its string, numpy
numbers are numbers, an out-of-range value is clamped). Real-time lifecycle
probes (calls before ``start()`` and after ``stop()``, double start and stop,
the context manager) run at the end on silent and SDL-disk engines.

``set_volume``, ``reload``, ``watch`` and ``cpu_budget`` have their own probes at
the end of the table-driven part.
"""

from __future__ import annotations

import fractions
import math
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import adaptive
from runtime import BundleError, EngineError, MusicEngine, UnknownNameError, load_bundle


class Named(str):
    """A str subclass, as a game's own string type might be."""


class HostileStr(str):
    """A str subclass whose hash and equality raise: the engine must never run them."""

    def __hash__(self) -> int:
        raise RuntimeError("hostile __hash__ ran")

    def __eq__(self, other: object) -> bool:
        raise RuntimeError("hostile __eq__ ran")


class PathOf:
    """A PathLike whose ``__fspath__`` returns ``value`` (or raises it)."""

    def __init__(self, value: Any) -> None:
        self.value = value

    def __fspath__(self) -> Any:
        if isinstance(self.value, BaseException):
            raise self.value
        return self.value


class BadRepr:
    def __repr__(self) -> str:
        raise RuntimeError("hostile __repr__ ran")


NOT_NAMES: list[Any] = [
    pytest.param(None, id="None"),
    pytest.param(3, id="int"),
    pytest.param(2.5, id="float"),
    pytest.param(b"explore", id="bytes"),
    pytest.param(["explore"], id="list-unhashable"),
    pytest.param({"a": 1}, id="dict-unhashable"),
    pytest.param({1, 2}, id="set-unhashable"),
    pytest.param(("x",), id="tuple"),
    pytest.param(object(), id="object"),
    pytest.param(BadRepr(), id="hostile-repr"),
]
CALLS = ["set_parameter", "set_state", "trigger"]


def call_with_name(engine: MusicEngine, call: str, name: Any) -> Any:
    args = (name, 0.5) if call == "set_parameter" else (name,)
    return getattr(engine, call)(*args)


@pytest.fixture(scope="module")
def engine(bundle: adaptive.Bundle) -> MusicEngine:
    return MusicEngine(bundle, output="offline", seed=1)


# --- names: every call that takes one -------------------------------------------------------


@pytest.mark.parametrize("name", NOT_NAMES)
@pytest.mark.parametrize("call", CALLS)
def test_names_that_are_not_strings(engine: MusicEngine, call: str, name: Any) -> None:
    with pytest.raises(EngineError, match="name must be a string"):
        call_with_name(engine, call, name)


NAME_PROBES = [
    pytest.param("set_parameter", "tempo", UnknownNameError, id="unknown-parameter"),
    pytest.param("set_state", "menu", UnknownNameError, id="unknown-state"),
    pytest.param("trigger", "explosion", UnknownNameError, id="unknown-stinger"),
    pytest.param("set_state", "pickup", UnknownNameError, id="stinger-name-as-state"),
    pytest.param("trigger", "combat", UnknownNameError, id="state-name-as-stinger"),
    pytest.param("set_parameter", "combat", UnknownNameError, id="state-name-as-parameter"),
    pytest.param("set_parameter", "", UnknownNameError, id="empty-parameter"),
    pytest.param("set_state", "x" * 100_000, UnknownNameError, id="huge-state-name"),
    pytest.param("trigger", "pickup\x00", UnknownNameError, id="nul-in-stinger"),
    pytest.param("set_parameter", HostileStr("intensity"), None, id="hostile-str-parameter"),
    pytest.param("set_state", HostileStr("combat"), None, id="hostile-str-state"),
    pytest.param("trigger", HostileStr("pickup"), None, id="hostile-str-stinger"),
    pytest.param("set_parameter", Named("intensity"), None, id="str-subclass-parameter"),
    pytest.param("set_state", Named("explore"), None, id="str-subclass-state"),
    pytest.param("trigger", Named("pickup"), None, id="str-subclass-stinger"),
]


@pytest.mark.parametrize(("call", "name", "error"), NAME_PROBES)
def test_names(engine: MusicEngine, call: str, name: Any, error: type | None) -> None:
    if error is None:
        assert call_with_name(engine, call, name) is None  # a string is its text
    else:
        with pytest.raises(error, match="known: "):
            call_with_name(engine, call, name)


# --- parameter values -----------------------------------------------------------------------

VALUE_PROBES = [
    pytest.param("0.5", "must be a number", id="str"),
    pytest.param(None, "must be a number", id="None"),
    pytest.param([0.5], "must be a number", id="list"),
    pytest.param(True, "must be a number", id="bool-True"),
    pytest.param(False, "must be a number", id="bool-False"),
    pytest.param(np.bool_(True), "must be a number", id="numpy-bool"),
    pytest.param(1j, "must be a number", id="complex"),
    pytest.param(object(), "must be a number", id="object"),
    pytest.param(b"1", "must be a number", id="bytes"),
    pytest.param(Decimal("0.5"), "must be a number", id="decimal"),
    pytest.param(fractions.Fraction(1, 2), "must be a number", id="fraction"),
    pytest.param(np.array(0.5), "must be a number", id="numpy-0d-array"),
    pytest.param(math.nan, "finite", id="nan"),
    pytest.param(math.inf, "finite", id="inf"),
    pytest.param(-math.inf, "finite", id="-inf"),
    pytest.param(10**400, "finite", id="10**400"),
    pytest.param(-(10**400), "finite", id="-10**400"),
    pytest.param(10**5000, "finite", id="10**5000-unprintable"),
    pytest.param(np.float32("nan"), "finite", id="numpy-float32-nan"),
    pytest.param(np.longdouble("1e4000"), "finite", id="longdouble-1e4000"),
]


@pytest.mark.parametrize(("value", "message"), VALUE_PROBES)
def test_parameter_values(engine: MusicEngine, value: Any, message: str) -> None:
    with pytest.raises(EngineError, match=message):
        engine.set_parameter("intensity", value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(5.0, 1.0, id="above-range-clamped"),
        pytest.param(-3, 0.0, id="below-range-clamped"),
        pytest.param(np.float32(0.25), 0.25, id="numpy-float32"),
        pytest.param(np.int64(1), 1.0, id="numpy-int64"),
    ],
)
def test_parameter_values_that_are_numbers_are_clamped_to_the_range(
    bundle: adaptive.Bundle, value: Any, expected: float
) -> None:
    spec = bundle.parameters["intensity"]
    engine = MusicEngine(bundle, output="offline", seed=1)
    engine.set_parameter("intensity", value)
    engine.render(engine.timing.bar_frames(0))  # the mixer applies it (seeking, if the style asks)
    low, high = float(spec["min"]), float(spec["max"])
    assert engine.parameters["intensity"] == pytest.approx(min(max(expected, low), high), abs=0.05)


# --- sync -----------------------------------------------------------------------------------

SYNC_PROBES = [
    pytest.param("", "not supported", id="empty"),
    pytest.param("bars:0", "not supported", id="bars-0"),
    pytest.param("bars:17", "not supported", id="bars-17"),
    pytest.param("bars:x", "not supported", id="bars-x"),
    pytest.param("bars:", "not supported", id="bars-nothing"),
    pytest.param("bars:-1", "not supported", id="bars-negative"),
    pytest.param("bars:¹", "not supported", id="bars-superscript-digit"),
    pytest.param("bars:٣", "not supported", id="bars-arabic-digit"),
    pytest.param("bars:" + "9" * 5000, "not supported", id="bars-5000-digits"),
    pytest.param("Bar", "not supported", id="wrong-case"),
    pytest.param(" bar", "not supported", id="leading-space"),
    pytest.param(b"bar", "must be a string", id="bytes"),
    pytest.param(1, "must be a string", id="int"),
    pytest.param(None.__class__, "must be a string", id="a-type"),
    pytest.param(["bar"], "must be a string", id="list"),
    pytest.param({"bar": 1}, "must be a string", id="dict-unhashable"),
]


@pytest.mark.parametrize(("sync", "message"), SYNC_PROBES)
def test_bad_syncs(engine: MusicEngine, sync: Any, message: str) -> None:
    with pytest.raises(EngineError, match=message):
        engine.set_state("combat", sync=sync)


@pytest.mark.parametrize(
    "sync",
    [
        pytest.param(HostileStr("bar"), id="hostile-str"),
        pytest.param(Named("bars:2"), id="str-subclass"),
    ],
)
def test_syncs_that_are_str_subclasses_are_their_text(bundle: adaptive.Bundle, sync: str) -> None:
    engine = MusicEngine(bundle, output="offline", seed=1)
    engine.set_state("combat", sync=sync)
    engine.render(4 * engine.timing.bar_frames(0))
    assert engine.state == "combat"


# --- offline rendering ----------------------------------------------------------------------

RENDER_PROBES = [
    pytest.param((-1,), "render frames", id="negative"),
    pytest.param((-(10**400),), "render frames", id="-10**400"),
    pytest.param((True,), "render frames", id="bool"),
    pytest.param((1.5,), "render frames", id="float"),
    pytest.param((math.nan,), "render frames", id="nan"),
    pytest.param(("10",), "render frames", id="str"),
    pytest.param((None,), "render frames", id="None"),
    pytest.param((10**12,), "render frames", id="10**12"),
    pytest.param((600 * 48000 + 1,), "render frames", id="over-600-s"),
    pytest.param((10, None), "render stems", id="stems-None"),
    pytest.param((10, 1), "render stems", id="stems-int"),
    pytest.param((10, "yes"), "render stems", id="stems-str"),
]


@pytest.mark.parametrize(("args", "message"), RENDER_PROBES)
def test_bad_renders(engine: MusicEngine, args: tuple[Any, ...], message: str) -> None:
    with pytest.raises(EngineError, match=message):
        engine.render(*args)


@pytest.mark.parametrize(
    "frames",
    [
        pytest.param(0, id="zero"),
        pytest.param(np.int64(300), id="numpy-int"),
        pytest.param(7, id="7"),
    ],
)
def test_renders_that_are_legal(engine: MusicEngine, frames: Any) -> None:
    audio = engine.render(frames)
    assert audio.shape == (int(frames), 2) and audio.dtype == np.float32


def test_render_on_a_real_time_engine_says_it_needs_offline(bundle: adaptive.Bundle) -> None:
    with pytest.raises(EngineError, match="needs output='offline'"):
        MusicEngine(bundle, output="silent", worker="thread").render(100)


# --- the constructor: every parameter -------------------------------------------------------

CONSTRUCTOR_PROBES = [
    pytest.param({"bundle": 123}, EngineError, "bundle must be", id="bundle-int"),
    pytest.param({"bundle": 1.5}, EngineError, "bundle must be", id="bundle-float"),
    pytest.param({"bundle": b"a.adaptive"}, EngineError, "bundle must be", id="bundle-bytes"),
    pytest.param({"bundle": ["a"]}, EngineError, "bundle must be", id="bundle-list"),
    pytest.param({"bundle": PathOf(123)}, BundleError, "path", id="bundle-fspath-int"),
    pytest.param({"bundle": PathOf(OSError("no"))}, BundleError, "path", id="bundle-fspath-raises"),
    pytest.param({"bundle": "a\x00b"}, BundleError, "cannot open", id="bundle-nul-in-path"),
    pytest.param({"bundle": "/"}, BundleError, "directory", id="bundle-directory"),
    pytest.param({"output": "speakers"}, EngineError, "output 'speakers'", id="output-unknown"),
    pytest.param({"output": 5}, EngineError, "output 5", id="output-int"),
    pytest.param({"output": None}, EngineError, "output None", id="output-None"),
    pytest.param({"output": ["sdl"]}, EngineError, "output", id="output-list"),
    pytest.param({"output": b"sdl"}, EngineError, "output b'sdl'", id="output-bytes"),
    pytest.param({"output": HostileStr("x")}, EngineError, "output 'x'", id="output-hostile-str"),
    pytest.param({"sample_rate": "48000"}, EngineError, "sample_rate", id="rate-str"),
    pytest.param({"sample_rate": 12}, EngineError, "sample_rate", id="rate-too-low"),
    pytest.param({"sample_rate": True}, EngineError, "sample_rate", id="rate-bool"),
    pytest.param({"sample_rate": 48000.0}, EngineError, "sample_rate", id="rate-float"),
    pytest.param({"sample_rate": math.nan}, EngineError, "sample_rate", id="rate-nan"),
    pytest.param({"sample_rate": 10**400}, EngineError, "sample_rate", id="rate-10**400"),
    pytest.param({"buffer_frames": 1.5}, EngineError, "buffer_frames", id="buffer-float"),
    pytest.param({"buffer_frames": 0}, EngineError, "buffer_frames", id="buffer-zero"),
    pytest.param({"buffer_frames": -512}, EngineError, "buffer_frames", id="buffer-negative"),
    pytest.param({"buffer_frames": 10**9}, EngineError, "buffer_frames", id="buffer-huge"),
    pytest.param({"buffer_frames": True}, EngineError, "buffer_frames", id="buffer-bool"),
    pytest.param({"seed": -1}, EngineError, "seed", id="seed-negative"),
    pytest.param({"seed": "7"}, EngineError, "seed", id="seed-str"),
    pytest.param({"seed": 2**64}, EngineError, "seed", id="seed-over-64-bits"),
    pytest.param({"seed": True}, EngineError, "seed", id="seed-bool"),
    pytest.param({"seed": 1.5}, EngineError, "seed", id="seed-float"),
    pytest.param({"lookahead_bars": 0}, EngineError, "lookahead_bars", id="lookahead-zero"),
    pytest.param({"lookahead_bars": 9}, EngineError, "lookahead_bars", id="lookahead-9"),
    pytest.param({"lookahead_bars": "1"}, EngineError, "lookahead_bars", id="lookahead-str"),
    pytest.param({"worker": "gpu"}, EngineError, "worker 'gpu'", id="worker-unknown"),
    pytest.param({"worker": None}, EngineError, "worker None", id="worker-None"),
    pytest.param({"worker": {}}, EngineError, "worker", id="worker-dict-unhashable"),
    pytest.param({"worker": HostileStr("x")}, EngineError, "worker 'x'", id="worker-hostile-str"),
    pytest.param({"report_bars": 0}, EngineError, "report_bars", id="report-bars-zero"),
    pytest.param({"report_bars": 2**40}, EngineError, "report_bars", id="report-bars-huge"),
    pytest.param({"report_bars": "x"}, EngineError, "report_bars", id="report-bars-str"),
]


@pytest.mark.parametrize(("kwargs", "error", "message"), CONSTRUCTOR_PROBES)
def test_bad_constructor_arguments(
    bundle: adaptive.Bundle, kwargs: dict[str, Any], error: type, message: str
) -> None:
    kwargs = {"bundle": bundle, "output": "offline", **kwargs}
    with pytest.raises(error, match=message):
        MusicEngine(**kwargs)


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param({"output": Named("offline")}, id="output-str-subclass"),
        pytest.param({"output": "offline", "sample_rate": np.int32(44100)}, id="rate-numpy-int"),
        pytest.param({"output": "offline", "seed": 2**63 - 1}, id="seed-largest"),
    ],
)
def test_constructor_arguments_that_are_legal(bundle: adaptive.Bundle, kwargs: dict) -> None:
    engine = MusicEngine(bundle, **kwargs)
    assert engine.render(64).shape == (64, 2)
    assert type(engine.sample_rate) is int and type(engine.seed) is int


BUDGET_PROBES = [
    pytest.param(0, id="budget-zero"),
    pytest.param(-0.5, id="budget-negative"),
    pytest.param(1.01, id="budget-over-a-core"),
    pytest.param(math.nan, id="budget-nan"),
    pytest.param(math.inf, id="budget-inf"),
    pytest.param(10**400, id="budget-10**400"),
    pytest.param(True, id="budget-bool"),
    pytest.param("0.15", id="budget-str"),
    pytest.param(BadRepr(), id="budget-hostile-repr"),
]


@pytest.mark.parametrize("value", BUDGET_PROBES)
def test_bad_cpu_budgets(bundle: adaptive.Bundle, value: Any) -> None:
    with pytest.raises(EngineError, match="cpu_budget"):
        MusicEngine(bundle, output="offline", cpu_budget=value)


VOLUME_PROBES = [
    pytest.param(-0.1, id="volume-negative"),
    pytest.param(1.5, id="volume-too-loud"),
    pytest.param(math.nan, id="volume-nan"),
    pytest.param(-math.inf, id="volume-minus-inf"),
    pytest.param(10**400, id="volume-10**400"),
    pytest.param(False, id="volume-bool"),
    pytest.param("0.5", id="volume-str"),
    pytest.param(None, id="volume-None"),
    pytest.param(BadRepr(), id="volume-hostile-repr"),
]


@pytest.mark.parametrize("value", VOLUME_PROBES)
def test_bad_volumes(engine: MusicEngine, value: Any) -> None:
    with pytest.raises(EngineError, match="volume"):
        engine.set_volume(value)


RELOAD_PROBES = [
    pytest.param(123, id="reload-int"),
    pytest.param(b"x.adaptive", id="reload-bytes"),
    pytest.param(["x"], id="reload-list"),
    pytest.param(PathOf(123), id="reload-fspath-int"),
    pytest.param(PathOf(OSError("no")), id="reload-fspath-raises"),
]


@pytest.mark.parametrize("value", RELOAD_PROBES)
def test_bad_reloads(engine: MusicEngine, value: Any) -> None:
    before = engine.render(256)
    with pytest.raises(EngineError, match="reload"):
        engine.reload(value)
    assert engine.render(256).shape == before.shape  # the music plays on


def test_a_reload_of_a_missing_file_is_refused_and_reported(
    engine: MusicEngine, tmp_path: Path
) -> None:
    assert engine.reload(tmp_path / "gone.adaptive") is False
    errors = [e for e in engine.update() if e.kind == "error"]
    assert errors and "gone.adaptive" in str(errors[-1].name)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        pytest.param({"path": 123}, "path", id="watch-int"),
        pytest.param({"path": "x.adaptive", "poll": 0}, "poll", id="watch-poll-zero"),
        pytest.param({"path": "x.adaptive", "poll": math.nan}, "poll", id="watch-poll-nan"),
        pytest.param({"path": "x.adaptive", "poll": "1"}, "poll", id="watch-poll-str"),
        pytest.param({"path": "x.adaptive", "poll": BadRepr()}, "poll", id="watch-hostile-repr"),
    ],
)
def test_bad_watches(engine: MusicEngine, kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(EngineError, match=message):
        engine.watch(**kwargs)
    assert engine.watching is None


# --- load_bundle ----------------------------------------------------------------------------

LOAD_PROBES = [
    pytest.param(123, id="int"),
    pytest.param(1.5, id="float"),
    pytest.param(["a.adaptive"], id="list"),
    pytest.param(b"a.adaptive", id="bytes"),
    pytest.param(PathOf(123), id="fspath-int"),
    pytest.param(PathOf(b"/tmp/x.adaptive"), id="fspath-bytes"),
    pytest.param(PathOf(RuntimeError("boom")), id="fspath-raises"),
    pytest.param("a\x00b.adaptive", id="nul-in-path"),
    pytest.param("x" * 100_000, id="path-too-long"),
    pytest.param("", id="empty-path"),
    pytest.param("/", id="directory"),
    pytest.param("/dev/null", id="device"),
]


@pytest.mark.parametrize("path", LOAD_PROBES)
def test_load_bundle_with_a_path_that_is_not_one(path: Any) -> None:
    with pytest.raises(BundleError):
        load_bundle(path)


def test_load_bundle_names_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="missing.adaptive"):
        load_bundle(tmp_path / "missing.adaptive")


# --- the lifecycle: before start(), after stop(), twice, the context manager -------------------


def wait_until(check: Callable[[], bool], engine: MusicEngine, seconds: float = 20.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        engine.update()  # the process worker's values arrive with update()
        if check():
            return True
        time.sleep(0.01)
    return check()


def set_before_start(engine: MusicEngine) -> None:
    engine.set_parameter("intensity", 0.25)  # documented: kept for when it plays
    engine.trigger("pickup")
    with engine:
        assert wait_until(lambda: engine.parameters["intensity"] == 0.25, engine)


def set_after_stop(engine: MusicEngine) -> None:
    with engine:
        pass
    engine.set_parameter("intensity", 0.75)  # between stop() and a new start(): kept
    with engine:
        assert wait_until(lambda: engine.parameters["intensity"] == 0.75, engine)


def start_twice_stop_twice(engine: MusicEngine) -> None:
    engine.stop()  # before any start(): nothing to do
    assert engine.start() is engine and engine.start() is engine
    assert wait_until(lambda: engine.frame > 0, engine)
    engine.stop()
    engine.stop()
    frame = engine.frame
    time.sleep(0.05)
    assert engine.frame == frame  # stopped means stopped
    with engine:  # and start() plays on from there
        assert wait_until(lambda: engine.frame > frame, engine)


def nested_context(engine: MusicEngine) -> None:
    with engine:
        with engine:  # start() is idempotent
            assert engine.start() is engine
        engine.set_parameter("intensity", 0.5)  # after the inner exit stopped it: kept
    with engine:
        assert wait_until(lambda: engine.parameters["intensity"] == 0.5, engine)


def exception_inside_with(engine: MusicEngine) -> None:
    with pytest.raises(ZeroDivisionError), engine:
        assert wait_until(lambda: engine.frame > 0, engine)
        _ = 1 / 0  # the game's own error: not swallowed, and the music stops
    frame = engine.frame
    time.sleep(0.05)
    assert engine.frame == frame


def reads_before_start_and_after_stop(engine: MusicEngine) -> None:
    assert engine.update() == [] and engine.stats().callbacks == 0
    assert engine.state == "explore" and engine.parameters["intensity"] >= 0.0
    with engine:
        assert wait_until(lambda: engine.stats().callbacks > 0, engine)
    assert engine.stats().callbacks > 0  # the counters outlive stop()
    assert isinstance(engine.report()["bars"], list) and isinstance(engine.played_notes(), list)


def state_change_before_start(engine: MusicEngine) -> None:
    engine.set_state("combat", sync="immediate")
    with engine:
        assert wait_until(lambda: engine.state == "combat", engine)


LIFECYCLE = [probe for probe in (
    set_before_start, set_after_stop, start_twice_stop_twice, nested_context,
    exception_inside_with, reads_before_start_and_after_stop, state_change_before_start,
)]  # fmt: skip


@pytest.mark.parametrize("probe", LIFECYCLE, ids=[p.__name__ for p in LIFECYCLE])
def test_lifecycle_on_a_threaded_engine(bundle: adaptive.Bundle, probe: Callable) -> None:
    engine = MusicEngine(bundle, output="silent", worker="thread", seed=1)
    try:
        probe(engine)
    finally:
        engine.stop()


@pytest.mark.parametrize(
    "probe", [set_before_start, set_after_stop], ids=["set_before_start", "set_after_stop"]
)
def test_lifecycle_on_a_process_engine(
    bundle: adaptive.Bundle, probe: Callable, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SDL_AUDIODRIVER", "disk")  # read by SDL in the forked worker
    monkeypatch.setenv("SDL_DISKAUDIOFILE", str(tmp_path / "out.raw"))
    engine = MusicEngine(bundle, output="sdl", worker="process", seed=1)
    try:
        probe(engine)
    finally:
        engine.stop()
