"""MusicEngine offline: composing, transitions on bar lines, stingers on beats, determinism, bad calls."""

from __future__ import annotations

import gc
import hashlib
import math
import threading
import weakref
from pathlib import Path

import numpy as np
import pytest

import adaptive
from runtime import (
    EngineError,
    MusicEngine,
    Timeline,
    UnknownNameError,
    read_wav,
    render_timeline,
    write_wav,
)


@pytest.fixture(scope="module")
def bundle(tiny_bundle_path: Path) -> adaptive.Bundle:
    return adaptive.load_bundle(tiny_bundle_path)


def engine(bundle: adaptive.Bundle, seed: int = 7) -> MusicEngine:
    return MusicEngine(bundle, output="offline", seed=seed)


def eight_bars_with_change(bundle: adaptive.Bundle, seed: int) -> tuple[np.ndarray, dict]:
    e = engine(bundle, seed)
    bar_seconds = e.timing.frames_per_bar / e.sample_rate
    timeline = Timeline.from_dict(
        {
            "duration": 8 * bar_seconds,
            "events": [
                {"time": 0.0, "state": "explore"},
                {"time": 0.5, "parameter": "intensity", "value": 0.8},
                {"time": 2.3 * bar_seconds, "state": "combat", "sync": "bar"},
                {"time": 5.1 * bar_seconds, "stinger": "pickup"},
            ],
        }
    )
    return render_timeline(e, timeline), e.report()


def test_eight_bars_with_state_change(bundle: adaptive.Bundle, tmp_path: Path) -> None:
    audio, report = eight_bars_with_change(bundle, seed=3)
    path = tmp_path / "eight.wav"
    write_wav(path, audio, 48000)
    wav, rate = read_wav(path)
    rms = float(np.sqrt(np.mean(wav.astype(np.float64) ** 2)))
    assert rate == 48000 and wav.shape == audio.shape
    assert rms > 0.02, "the render is silent"
    assert np.abs(wav).max() < 0.999, "the render clips"
    starts = {bar["start_frame"] for bar in report["bars"]}
    assert len(report["bars"]) == 8
    (transition,) = report["transitions"]
    assert (transition["from"], transition["to"]) == ("explore", "combat")
    assert transition["landed_frame"] in starts
    # the next bar line after the request, not a later one
    assert (
        0
        < transition["landed_frame"] - transition["requested_frame"]
        <= report["bars"][1]["start_frame"]
    )
    assert [b["state"] for b in report["bars"]] == ["explore"] * 3 + ["combat"] * 5
    (stinger,) = report["stingers"]
    assert stinger["landed_frame"] >= stinger["requested_frame"]
    assert report["underruns"] == 0 and report["fallback_bars"] == 0


def test_same_seed_gives_identical_bytes_and_other_seed_differs(
    bundle: adaptive.Bundle, tmp_path: Path
) -> None:
    digests = []
    for i, seed in enumerate((11, 11, 12)):
        audio, _ = eight_bars_with_change(bundle, seed)
        write_wav(tmp_path / f"{i}.wav", audio, 48000)
        digests.append(hashlib.sha256((tmp_path / f"{i}.wav").read_bytes()).hexdigest())
    assert digests[0] == digests[1]
    assert digests[0] != digests[2]


def test_threaded_renders_equal_single_threaded(bundle: adaptive.Bundle) -> None:
    expected = engine(bundle, 5).render(48000 * 3)
    results: list[np.ndarray] = [np.zeros(0)] * 3

    def work(i: int) -> None:
        results[i] = engine(bundle, 5).render(48000 * 3)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for result in results:
        np.testing.assert_array_equal(result, expected)


def test_commands_from_other_threads_give_the_same_audio_as_one_thread(
    bundle: adaptive.Bundle,
) -> None:
    script = [
        ("set_parameter", ("intensity", 0.9)),
        ("set_state", ("combat",)),
        ("trigger", ("pickup",)),
        ("set_parameter", ("intensity", 0.2)),
        ("set_state", ("explore", "bars:2")),
    ]

    def play(from_threads: bool) -> np.ndarray:
        e = engine(bundle, 9)
        out = [e.render(30000)]
        for method, args in script:
            call = getattr(e, method)
            if from_threads:
                worker = threading.Thread(target=call, args=args)
                worker.start()
                worker.join()
            else:
                call(*args)
            out.append(e.render(50000))
        return np.concatenate(out)

    np.testing.assert_array_equal(play(from_threads=True), play(from_threads=False))


def test_state_change_lands_on_the_next_bar_line(bundle: adaptive.Bundle) -> None:
    e = engine(bundle)
    bar = e.timing.bar_frames(0)
    e.render(bar + bar // 3)  # inside bar 1
    e.set_state("combat")
    e.render(2 * bar)
    events = e.update()
    (transition,) = [ev for ev in events if ev.kind == "transition"]
    assert (
        transition.frame == e.timing.bar_start(2)
        and transition.name == "combat"
        and transition.bar == 2
    )


def test_beat_and_bar_events_line_up(bundle: adaptive.Bundle) -> None:
    e = engine(bundle)
    e.render(e.timing.bar_frames(0) * 2 + 10)
    events = e.update()
    beats = [ev for ev in events if ev.kind == "beat"]
    bars = [ev for ev in events if ev.kind == "bar"]
    assert [b.bar for b in bars] == [0, 1, 2]
    assert [(b.bar, b.beat) for b in beats][:5] == [(0, 0), (0, 1), (0, 2), (0, 3), (1, 0)]
    assert all(b.frame == e.timing.beat_start(b.bar, b.beat) for b in beats)
    assert e.update() == []  # drained


def test_stinger_lands_on_the_next_beat_and_is_heard(bundle: adaptive.Bundle) -> None:
    quiet = engine(bundle)
    loud = engine(bundle)
    beat = quiet.timing.frames_per_beat
    for e in (quiet, loud):
        e.render(int(beat * 1.5))
    loud.trigger("pickup")
    a, b = quiet.render(int(beat * 2)), loud.render(int(beat * 2))
    (event,) = [ev for ev in loud.update() if ev.kind == "stinger"]
    assert event.frame == loud.timing.beat_start(0, 2)
    landed = event.frame - int(beat * 1.5)
    assert np.allclose(a[:landed], b[:landed])  # nothing before the beat
    assert np.abs(b[landed:] - a[landed:]).max() > 0.01  # something after it


def test_gain_change_is_heard_within_a_buffer_and_smoothing(bundle: adaptive.Bundle) -> None:
    e = engine(bundle)
    e.set_parameter("intensity", 0.0)
    e.render(48000)
    e.set_parameter("intensity", 1.0)
    _, stems = e.render(512 + 2400 * 3, stems=True)  # one buffer plus three smoothing constants
    drums = stems["drums"]
    fade = bundle.stems["drums"]["intensity"]
    assert fade[1] > 0, "the tiny style's drums must fade in with intensity"
    stats = e.stats()
    assert stats.frames == 48000 + 512 + 7200
    full = bundle.stems["drums"]["gain"] * bundle.states["explore"]["stems"].get("drums", 1.0)
    assert stats.stem_gains["drums"] > 0.9 * full
    assert drums.shape == (512 + 7200, 2)


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (
            lambda e: e.set_parameter("loudness", 0.5),
            UnknownNameError,
            "parameter 'loudness'.*known: intensity",
        ),
        (lambda e: e.set_parameter("intensity", math.nan), EngineError, "finite"),
        (lambda e: e.set_parameter("intensity", math.inf), EngineError, "finite"),
        (lambda e: e.set_parameter("intensity", "high"), EngineError, "number"),
        (lambda e: e.set_state("dance"), UnknownNameError, "state 'dance'.*explore"),
        (lambda e: e.set_state("combat", sync="whenever"), EngineError, "sync 'whenever'"),
        (lambda e: e.trigger("explosion"), UnknownNameError, "stinger 'explosion'.*pickup"),
        (lambda e: e.render(-1), EngineError, "frames"),
    ],
)
def test_bad_calls_raise_clear_errors_and_change_nothing(
    bundle: adaptive.Bundle, call, error, message
) -> None:  # type: ignore[no-untyped-def]
    e = engine(bundle)
    untouched = engine(bundle)
    np.testing.assert_array_equal(e.render(4800), untouched.render(4800))
    with pytest.raises(error, match=message):
        call(e)
    np.testing.assert_array_equal(e.render(4800), untouched.render(4800))  # it changed nothing


def test_constructor_rejects_bad_arguments(bundle: adaptive.Bundle) -> None:
    with pytest.raises(EngineError, match="output 'speakers'"):
        MusicEngine(bundle, output="speakers")  # type: ignore[arg-type]
    with pytest.raises(EngineError, match="sample_rate"):
        MusicEngine(bundle, output="offline", sample_rate=12)
    with pytest.raises(EngineError, match="render"):
        MusicEngine(bundle, output="silent").render(10)
    with pytest.raises(EngineError, match="bundle must be"):
        MusicEngine(123)  # type: ignore[arg-type]
    with pytest.raises(EngineError, match="buffer_frames"):
        MusicEngine(bundle, output="offline", buffer_frames=True)  # type: ignore[arg-type]


def test_parameters_are_clamped_to_their_range(bundle: adaptive.Bundle) -> None:
    e = engine(bundle)
    e.set_parameter("intensity", 7.0)
    e.render(16)
    assert e.parameters["intensity"] == 1.0


def test_engine_is_freed_after_use(bundle: adaptive.Bundle) -> None:
    e = engine(bundle)
    e.render(48000)
    ref = weakref.ref(e)
    del e
    gc.collect()
    assert ref() is None


def test_corrupt_model_bytes_raise_bundle_error(bundle: adaptive.Bundle, tmp_path: Path) -> None:
    manifest = dict(bundle.manifest)
    models = dict(bundle.models)
    broken = models["melody"]
    models["melody"] = adaptive.ModelEntry(
        broken.name,
        broken.role,
        b"\x08\x07garbage",
        broken.inputs,
        broken.outputs,
        broken.conditioning,
        broken.meta,
    )
    path = tmp_path / "broken.adaptive"
    with pytest.raises(adaptive.BundleError, match="models.melody.onnx"):
        adaptive.write_bundle(path, manifest, models)  # refused when written, as when read
        MusicEngine(path, output="offline")


def test_reports_keep_played_bars_without_their_audio(bundle: adaptive.Bundle) -> None:
    e = engine(bundle)
    e.render(e.timing.bar_frames(0) * 12 + 10)
    report = e.report()
    assert [b["index"] for b in report["bars"]] == list(range(13))
    notes = e.played_notes()
    assert notes and all(0 <= start < e.timing.bar_start(13) for _, _, start, _, _ in notes)
