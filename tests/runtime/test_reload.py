"""Hot reload: a new bundle is heard from a bar line on; a bad one changes nothing."""

from __future__ import annotations

import copy
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import adaptive
import runtime
from adaptive import default_bundle_path, write_bundle

SR = 48000
SEED = 3
GAINS = {"melody": 0.2, "drums": 1.6}  # the edit: a quieter melody, louder drums


def edited(path: Path, bundle: adaptive.Bundle, **changes: Any) -> Path:
    """``bundle`` written to ``path`` with a mix edit (stem gains) and manifest fields changed."""
    manifest = copy.deepcopy(dict(bundle.manifest))
    for stem, gain in changes.pop("gains", {}).items():
        manifest["stems"][stem]["gain"] = gain
    manifest.update(changes)
    write_bundle(path, manifest, bundle.models)
    return path


@pytest.fixture(scope="module")
def louder(default_bundle: adaptive.Bundle, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return edited(
        tmp_path_factory.mktemp("reload") / "louder.adaptive", default_bundle, gains=GAINS
    )


def session(
    bundle: adaptive.Bundle,
    before: float,
    after: float,
    between: Callable[[Any], Any] | None = None,
) -> tuple[np.ndarray, dict[str, np.ndarray], list[runtime.MusicEvent], runtime.MusicEngine]:
    """Render ``before`` seconds, call ``between(engine)``, render ``after`` more; stems too."""
    engine = runtime.MusicEngine(bundle, output="offline", seed=SEED)
    engine.set_state("combat")
    engine.set_parameter("intensity", 0.9)
    mix_a, stems_a = engine.render(int(before * SR), stems=True)
    if between is not None:
        between(engine)
    mix_b, stems_b = engine.render(int(after * SR), stems=True)
    stems = {name: np.concatenate([stems_a[name], stems_b[name]]) for name in stems_a}
    return np.concatenate([mix_a, mix_b]), stems, engine.update(), engine


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))


@pytest.fixture(scope="module")
def reference(default_bundle: adaptive.Bundle) -> tuple[Any, ...]:
    return session(default_bundle, 2.5, 3.5)


def test_a_mix_edit_is_heard_from_the_next_bar_line(
    default_bundle: adaptive.Bundle, louder: Path, reference: tuple[Any, ...]
) -> None:
    ref_mix, ref_stems, _, ref_engine = reference
    accepted: list[bool] = []
    mix, stems, events, engine = session(
        default_bundle, 2.5, 3.5, lambda e: accepted.append(e.reload(louder))
    )
    assert accepted == [True]
    clock = engine.timing
    switch = clock.bar_start(clock.bar_at(int(2.5 * SR)) + 1)  # the next bar line after the call
    reloads = [e for e in events if e.kind == "reload"]
    assert [(e.frame, e.bar, e.name) for e in reloads] == [
        (switch, clock.bar_at(switch), "default")
    ]
    bar_frames = {e.frame for e in events if e.kind == "bar"}
    assert switch in bar_frames
    # identical up to the bar line, different from it on
    assert np.array_equal(mix[:switch], ref_mix[:switch])
    assert not np.allclose(mix[switch : switch + SR // 2], ref_mix[switch : switch + SR // 2])
    # the crossfade does not click: no sample step near the switch beyond the music's own
    steps = np.abs(np.diff(mix[switch - 512 : switch + SR // 5], axis=0)).max()
    assert steps <= 1.05 * np.abs(np.diff(ref_mix, axis=0)).max()
    # after the crossfade each stem plays at its new gain: the same notes, scaled
    settled = switch + SR // 4
    for name, stem in stems.items():
        ratio = (
            GAINS.get(name, default_bundle.stems[name]["gain"]) / default_bundle.stems[name]["gain"]
        )
        assert rms(stem[settled:]) == pytest.approx(
            ratio * rms(ref_stems[name][settled:]), rel=0.02
        )
    assert engine.played_notes() == ref_engine.played_notes()  # the phrase carries on
    # state and parameters kept
    assert engine.state == "combat" and engine.parameters["intensity"] == pytest.approx(0.9)
    assert engine.report()["reloads"] == 1
    assert engine.stats().stem_gains["drums"] == pytest.approx(
        2 * ref_engine.stats().stem_gains["drums"]
    )


def test_another_bundle_maps_the_state_and_starts_its_own_bar_grid(
    default_bundle: adaptive.Bundle, tiny_bundle_path: Path
) -> None:
    """The tiny bundle: other models, stem order, stingers, no boss state, 120 bpm not 112."""
    tiny = adaptive.load_bundle(tiny_bundle_path)
    engine = runtime.MusicEngine(default_bundle, output="offline", seed=SEED)
    engine.set_state("boss")
    engine.set_parameter("intensity", 0.9)
    engine.render(int(2.5 * SR))
    old_clock = engine.timing
    assert engine.reload(tiny)
    engine.trigger("pickup")  # both have it
    engine.render(int(6 * SR))
    events = [e for e in engine.update() if e.kind != "beat"]
    switch = next(e for e in events if e.kind == "reload")
    assert switch.frame == old_clock.bar_start(switch.bar) and switch.name == tiny.name
    # on the switch frame: reload, then the move to the tiny bundle's default state, then the bar
    on_switch = [(e.kind, e.name) for e in events if e.frame == switch.frame]
    assert on_switch == [("reload", tiny.name), ("transition", "explore"), ("bar", "explore")]
    bars = [e.frame for e in events if e.kind == "bar"]
    before = [b for b in bars if b <= switch.frame]
    after = [b for b in bars if b >= switch.frame]
    assert np.diff(before).max() - np.diff(before).min() <= 1
    assert set(np.diff(before)) <= {round(old_clock.frames_per_bar), int(old_clock.frames_per_bar)}
    assert len(after) >= 3 and set(np.diff(after)) == {SR * 60 * 4 // 120}  # 120 bpm, 4/4
    assert engine.timing.tempo == 120 and engine.timing.bar_start(switch.bar) == switch.frame
    assert engine.state == "explore" and engine.stems == tuple(tiny.stems)
    assert engine.parameters["intensity"] == pytest.approx(0.9)
    assert any(e.kind == "stinger" and e.name == "pickup" for e in events)


def test_parameters_are_clamped_to_the_new_ranges(
    default_bundle: adaptive.Bundle, tmp_path: Path
) -> None:
    parameters = copy.deepcopy(dict(default_bundle.manifest["parameters"]))
    parameters["intensity"].update({"max": 0.5, "default": 0.2})
    narrower = edited(tmp_path / "narrow.adaptive", default_bundle, parameters=parameters)
    engine = runtime.MusicEngine(default_bundle, output="offline", seed=SEED)
    engine.set_parameter("intensity", 0.9)
    engine.render(SR)
    assert engine.reload(narrower)
    engine.render(3 * SR)
    assert engine.parameters["intensity"] == pytest.approx(0.5)
    engine.set_parameter("intensity", 0.8)  # checked against the new range from now on
    engine.render(SR // 10)
    assert engine.parameters["intensity"] == pytest.approx(0.5)


def _truncated(path: Path) -> Path:
    data = default_bundle_path().read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def _corrupted(path: Path) -> Path:
    data = bytearray(default_bundle_path().read_bytes())
    data[len(data) // 2 : len(data) // 2 + 64] = bytes(64)
    path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize(
    ("make", "problem"),
    [
        (lambda p: p, "not found"),
        (_truncated, ""),
        (_corrupted, "corrupt"),
    ],
    ids=["missing", "truncated", "corrupted"],
)
def test_a_bad_bundle_leaves_the_music_untouched(
    default_bundle: adaptive.Bundle,
    reference: tuple[Any, ...],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    make: Callable[[Path], Path],
    problem: str,
) -> None:
    path = make(tmp_path / "bad.adaptive")
    results: list[bool] = []
    with caplog.at_level(logging.WARNING, logger="runtime"):
        mix, _, events, engine = session(
            default_bundle, 2.5, 3.5, lambda e: results.append(e.reload(path))
        )
    assert results == [False]
    assert np.array_equal(mix, reference[0])
    errors = [e.name for e in events if e.kind == "error"]
    assert len(errors) == 1 and str(path) in errors[0] and problem in errors[0]
    assert not [e for e in events if e.kind == "reload"]
    assert any(str(path) in r.getMessage() for r in caplog.records)
    assert engine.report()["reloads"] == 0


def _render_until(engine: runtime.MusicEngine, kind: str, timeout: float = 10.0) -> list[Any]:
    """Render in small steps, as a game's frames would, until an event of ``kind`` arrives."""
    seen: list[Any] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        engine.render(SR // 20)
        seen += engine.update()
        if any(e.kind == kind for e in seen):
            return seen
        time.sleep(0.01)
    raise AssertionError(f"no {kind!r} event in {timeout} s: {[e.kind for e in seen][-8:]}")


def test_watch_reloads_on_an_atomic_replace_and_reports_a_broken_write(
    default_bundle: adaptive.Bundle, louder: Path, tmp_path: Path
) -> None:
    path = tmp_path / "live.adaptive"
    path.write_bytes(default_bundle_path().read_bytes())
    engine = runtime.MusicEngine(path, output="offline", seed=SEED)
    engine.watch(poll=0.05)
    assert engine.watching == str(path)
    engine.render(SR)
    drums_before = engine.stats().stem_gains["drums"]
    # a broken write: reported, and the music plays on unchanged
    broken = _truncated(tmp_path / "broken.tmp")
    os.replace(broken, path)
    events = _render_until(engine, "error")
    assert any(e.kind == "error" and str(path) in e.name for e in events)
    assert not [e for e in events if e.kind == "reload"]
    # the fixed file, written the way the bake writes it: a temporary file, then os.replace
    fixed = tmp_path / "fixed.tmp"
    fixed.write_bytes(louder.read_bytes())
    os.replace(fixed, path)
    events = _render_until(engine, "reload")
    engine.render(SR // 2)
    assert engine.stats().stem_gains["drums"] == pytest.approx(2 * drums_before, rel=1e-3)
    engine.stop()
    assert engine.watching is None


def test_the_worker_process_reloads(
    default_bundle: adaptive.Bundle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The hosted engine: bytes on the pipe, names through the ring, events back."""
    monkeypatch.setenv("SDL_AUDIODRIVER", "dummy")
    fast = edited(tmp_path / "fast.adaptive", default_bundle, tempo=224)  # bars of about 1 s
    fast_louder = edited(tmp_path / "fast_louder.adaptive", default_bundle, tempo=224, gains=GAINS)
    engine = runtime.MusicEngine(fast, output="sdl", worker="process", seed=SEED)
    if engine.worker != "process":
        pytest.skip("this platform cannot fork a worker process")
    events: list[Any] = []

    def wait_for(kind: str, timeout: float = 8.0) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for event in engine.update():
                events.append(event)
                if event.kind == kind:
                    return event
            time.sleep(0.01)
        raise AssertionError(f"no {kind!r} event: {[e.kind for e in events if e.kind != 'beat']}")

    engine.set_parameter("intensity", 0.9)  # every stem at full gain
    with engine:
        wait_for("bar")
        time.sleep(0.3)  # a stats snapshot with the gains settled
        engine.update()
        drums_before = engine.stats().stem_gains["drums"]
        assert not engine.reload(tmp_path / "missing.adaptive")
        assert str(tmp_path / "missing.adaptive") in wait_for("error").name
        assert engine.reload(fast_louder)
        engine.set_volume(0.5)
        landed = wait_for("reload")
        assert landed.name == "default" and landed.frame == engine.timing.bar_start(landed.bar)
        time.sleep(0.3)
        engine.update()
        assert engine.stats().stem_gains["drums"] == pytest.approx(2 * drums_before, rel=0.02)
        assert engine.stats().volume == 0.5  # through the command ring too
        engine.set_state("combat")
        assert wait_for("transition").name == "combat"
        assert not [e for e in events if e.kind == "error" and "missing" not in str(e.name)]


def test_a_reload_keeps_the_tempo_map_or_brings_its_own_tempos(
    tiny_bundle_path: Path, tmp_path: Path
) -> None:
    """Tempo per state across reloads: the same tempos keep every bar line; other tempos
    apply from the switch, to the state playing and to a change already scheduled."""
    from .test_transitions import TEMPOS, with_tempos

    tiny = adaptive.load_bundle(tiny_bundle_path)
    plain = with_tempos(tmp_path / "plain.adaptive", tiny, TEMPOS, [])
    manifest = copy.deepcopy(dict(plain.manifest))
    manifest["stems"]["drums"]["gain"] = 1.5
    write_bundle(tmp_path / "remix.adaptive", manifest, plain.models)
    remix = adaptive.load_bundle(tmp_path / "remix.adaptive")
    slower = with_tempos(tmp_path / "slower.adaptive", tiny, {**TEMPOS, "combat": 200.0}, [])

    def bars(sync: str, reload_to: adaptive.Bundle | None, reload_at: int) -> list[tuple[int, ...]]:
        engine = runtime.MusicEngine(plain, output="offline", seed=SEED)
        engine.render(int(1.3 * 48000))  # explore at 240 bpm: 48000 frames a bar
        engine.set_state("combat", sync=sync)
        engine.render(reload_at - engine.frame)
        if reload_to is not None:
            assert engine.reload(reload_to)
        engine.render(int(6 * 48000))
        report = engine.report()
        assert report["reloads"] == int(reload_to is not None)
        timing = engine.timing  # a new bundle's map starts on the switch bar
        assert all(
            b["start_frame"] == timing.bar_start(b["index"])
            for b in report["bars"]
            if b["index"] >= timing.origin_bar
        )
        return [(b["start_frame"], b["frames"], b["tempo"]) for b in report["bars"]]

    after_landing = 96000 + int(1.3 * 38400)  # combat from bar 2 at 300 bpm; bar 3 plays
    reference = bars("bar", None, after_landing)
    assert bars("bar", remix, after_landing) == reference  # a mix edit: bar lines stay
    moved = bars("bar", slower, after_landing)  # the switch on bar 4: combat at 200 from there
    assert moved[:4] == reference[:4] and moved[4][0] == reference[4][0]
    assert [b[1:] for b in moved[4:7]] == [(57600, 200.0)] * 3
    # a change to combat scheduled for bar 3 before the switch on bar 2 takes the new tempo
    pending = bars("bars:2", slower, int(1.5 * 48000))
    assert [b[1:] for b in pending[:5]] == [(48000, 240.0)] * 3 + [(57600, 200.0)] * 2
