"""Replay logs: a recorded session, offline or live through SDL, renders again bit for bit."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import tracemalloc
from pathlib import Path

import msgpack
import numpy as np
import pytest

import runtime
from runtime import EngineError, MusicEngine, _record, read_disk_audio, read_wav
from runtime._control import Command
from runtime._record import Recorder, ReplayError, compare_to_capture, read_log, replay
from runtime._timeline import Timeline, render_timeline
from runtime.cli import main

TIMELINE = {
    "duration": 9.0,
    "events": [
        {"time": 0.4, "parameter": "intensity", "value": 0.9},
        {"time": 1.3, "state": "combat"},
        {"time": 2.2, "stinger": "pickup"},
        {"time": 3.1, "parameter": "danger", "value": 0.8},
        {"time": 4.0, "state": "boss", "sync": "immediate"},
        {"time": 5.5, "stinger": "hit"},
        {"time": 6.3, "state": "explore", "sync": "beat"},
    ],
}


def bits(audio: np.ndarray) -> np.ndarray:
    """float32 samples as their bit patterns: -0.0 and 0.0 differ, NaN equals itself."""
    return np.ascontiguousarray(audio, dtype=np.float32).view(np.uint32)


def record_offline(bundle: runtime.Bundle, log: Path) -> np.ndarray:
    engine = MusicEngine(bundle, output="offline", seed=11)
    engine.record(log)
    assert engine.recording == str(log)
    mix = render_timeline(engine, Timeline.from_dict(TIMELINE))
    engine.set_volume(0.5)
    mix = np.concatenate([mix, engine.render(3000)])  # a block of another size, and a command
    engine.record(None)
    assert engine.recording is None
    return mix


def test_an_offline_session_replays_bit_for_bit(
    default_bundle: runtime.Bundle, tmp_path: Path
) -> None:
    log = tmp_path / "offline.replay"
    mix = record_offline(default_bundle, log)
    audio, read, _ = replay(log)
    assert audio.shape == mix.shape and read.end == mix.shape[0]
    assert np.array_equal(bits(audio), bits(mix))
    assert any(e[0] == "p" for e in read.composes)
    assert any(e[0] == "t" and e[7] for e in read.composes)  # the boss's tempo, ramped to
    assert read.stingers and read.swaps  # stingers, and a change within a bar
    # the CLI writes it as float32 WAV, every bit kept
    out = tmp_path / "again.wav"
    assert main(["render", "--replay", str(log), "-o", str(out)]) == 0
    again, rate = read_wav(out)
    assert rate == 48000 and np.array_equal(bits(again), bits(mix))


def test_a_log_started_mid_session_replays_its_span(
    default_bundle: runtime.Bundle, tmp_path: Path
) -> None:
    engine = MusicEngine(default_bundle, output="offline", seed=5)
    engine.set_state("combat", sync="bar")
    before = engine.render(150_000)  # the journal keeps this, packed in memory
    log = tmp_path / "late.replay"
    engine.record(log)
    engine.set_parameter("intensity", 0.95)
    engine.trigger("pickup")
    after = engine.render(120_000)
    engine.record(None)
    audio, read, _ = replay(log)
    assert read.from_frame == 150_000 and read.end == 270_000
    assert np.array_equal(bits(audio), bits(np.concatenate([before, after])))
    out = tmp_path / "span.wav"
    assert main(["render", "--replay", str(log), "-o", str(out)]) == 0
    span, _ = read_wav(out)
    assert np.array_equal(bits(span), bits(after))  # the recorded span: from the call on
    with pytest.raises(EngineError, match="already recorded"):
        engine.record(tmp_path / "twice.replay")  # a session has one log


def test_record_and_reload_exclude_each_other(
    default_bundle: runtime.Bundle, tmp_path: Path
) -> None:
    engine = MusicEngine(default_bundle, output="offline", seed=1)
    engine.record(tmp_path / "a.replay")
    with pytest.raises(EngineError, match="already recording"):
        engine.record(tmp_path / "b.replay")
    engine.render(4096)
    assert engine.reload(default_bundle) is False  # refused: a log holds one bundle
    assert any("while recording" in (e.name or "") for e in engine.update() if e.kind == "error")
    engine.stop()
    assert read_log(tmp_path / "a.replay").end == 4096
    reloaded = MusicEngine(default_bundle, output="offline", seed=1)
    reloaded.render(1000)
    assert reloaded.reload(default_bundle) is True
    with pytest.raises(EngineError, match="reloaded a bundle.*before start"):
        reloaded.record(tmp_path / "c.replay")  # its journal cannot replay the reload
    with pytest.raises(EngineError, match="cannot write"):
        MusicEngine(default_bundle, output="offline").record(tmp_path / "no" / "dir.replay")


LIVE_SCRIPT = textwrap.dedent(
    """
    import json, random, sys, time
    import runtime
    worker, log = sys.argv[1], sys.argv[2]
    engine = runtime.MusicEngine(runtime.load_bundle(), output="sdl", seed=7, worker=worker,
                                 cpu_budget=0.01)  # a budget this tight steps its level down
    if worker == "thread":  # logged from before start(); the process worker's from mid-session
        engine.record(log)
        # and the composer is late once: the mixer repeats a bar
        composer = engine._core._composer
        compose, late = composer.compose, [True]
        def slow(index, inputs=None):
            if index == 1 and late[0]:  # longer than bar 0 lasts
                late[0] = False
                time.sleep(2.5)
            return compose(index, inputs)
        composer.compose = slow
    engine.set_parameter("intensity", 0.3)  # before start(): applied at the first block
    engine.start()
    pace = random.Random(int(sys.argv[3]))
    calls = [
        ("parameter", "intensity", 0.9), ("state", "combat", None), ("stinger", "pickup", None),
        ("parameter", "danger", 0.7), ("state", "boss", "immediate"), ("stinger", "hit", None),
        ("parameter", "intensity", 0.2), ("state", "explore", "beat"), ("volume", 0.6, None),
    ]
    for number, (kind, a, b) in enumerate(calls):
        time.sleep(pace.uniform(0.1, 0.5))  # irregular times, from the game's thread
        if number == 2 and worker == "process":
            engine.record(log)
        if kind == "parameter":
            engine.set_parameter(a, b)
        elif kind == "state":
            engine.set_state(a, sync=b)
        elif kind == "stinger":
            engine.trigger(a)
        else:
            engine.set_volume(a)
        engine.update()
    time.sleep(0.6)
    refused = []
    try:
        engine.record(log + ".again")
    except runtime.EngineError as exc:
        refused.append(str(exc))
    refused.append(engine.reload(runtime.load_bundle()))  # a log holds one bundle: False
    engine.record(None)  # the log is complete when this returns; the music plays on
    from runtime._record import read_log
    ended = read_log(log).end
    engine.set_state("combat")  # after the log: not in it
    time.sleep(0.2)
    fallback = engine.stats().fallback_bars
    engine.stop()
    print(json.dumps({"output": engine.output, "worker": engine.worker, "fallback": fallback,
                      "refused": refused, "recording": engine.recording, "ended": ended}))
    """
)


@pytest.mark.parametrize("worker", ["thread", "process"])
def test_a_live_sdl_session_replays_bit_for_bit(tmp_path: Path, worker: str) -> None:
    raw, log, out = tmp_path / "sdl.raw", tmp_path / "live.replay", tmp_path / "replayed.wav"
    env = dict(
        os.environ,
        SDL_VIDEODRIVER="dummy",
        SDL_AUDIODRIVER="disk",
        SDL_DISKAUDIOFILE=str(raw),
        PYTHONPATH=os.pathsep.join(sys.path),
    )
    done = subprocess.run(
        [sys.executable, "-c", LIVE_SCRIPT, worker, str(log), "3" if worker == "thread" else "4"],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["output"] == "sdl" and result["worker"] == worker
    assert "already recording" in result["refused"][0] and result["refused"][1] is False
    assert result["recording"] is None
    assert main(["render", "--replay", str(log), "-o", str(out)]) == 0
    span, _ = read_wav(out)
    replayed, read, _ = replay(log)  # the whole session, for SDL's whole file
    assert np.array_equal(bits(span), bits(replayed[read.from_frame :]))
    assert (read.from_frame > 0) == (worker == "process")
    disk = read_disk_audio(raw)
    compared, differing, silence = compare_to_capture(disk, replayed)
    print(f"{worker}: {compared} frames compared, {differing} differing, {silence} of silence")
    print(f"{worker}: {result['fallback']} repeated bars")
    assert differing == 0 and replayed.shape[0] == result["ended"]
    # the whole span: SDL played on after the log ended, and stopped before all it was given
    assert compared >= min(disk.shape[0] - silence, replayed.shape[0]) - 1
    assert compared > 2 * 48000
    assert read.header["output"] == "sdl" and read.commands[0][1].value == 0.3
    if worker == "thread":  # kept since before start(): applied on the first block
        assert read.commands[0][0] == 0
    if result["fallback"]:  # the late bar was repeated, and the log says so
        assert any(serial == 0 for _, _, serial in read.takes)


# --- bad logs ------------------------------------------------------------------------------


def rewrite(log: Path, target: Path, change: object) -> Path:
    """``log``'s objects, the header changed by ``change(header)``, written to ``target``."""
    objects = list(msgpack.Unpacker(open(log, "rb"), raw=False))  # noqa: SIM115
    change(objects[0])  # type: ignore[operator]
    target.write_bytes(b"".join(msgpack.packb(o, use_bin_type=True) for o in objects))
    return target


@pytest.fixture(scope="module")
def good_log(default_bundle: runtime.Bundle, tmp_path_factory: pytest.TempPathFactory) -> Path:
    log = tmp_path_factory.mktemp("replay") / "good.replay"
    record_offline(default_bundle, log)
    return log


def test_bad_logs_give_clear_errors(good_log: Path, tmp_path: Path) -> None:
    data = good_log.read_bytes()
    cut = tmp_path / "cut.replay"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(ReplayError, match=f"{cut}.*truncated"):
        read_log(cut)
    version = rewrite(good_log, tmp_path / "v.replay", lambda h: h.update(version=99))
    with pytest.raises(ReplayError, match=f"{version}: field 'version' is 99"):
        read_log(version)
    digest = rewrite(
        good_log, tmp_path / "d.replay", lambda h: h["bundle"].update(sha256="ab" * 32)
    )
    with pytest.raises(ReplayError, match=f"{digest}: field 'bundle.sha256' is abab"):
        replay(digest)
    text = tmp_path / "notes.txt"
    text.write_text("hello, not a log")
    with pytest.raises(ReplayError, match=f"{text}: not an adaptive replay log.*'format'"):
        read_log(text)
    garbage = tmp_path / "garbage.replay"
    garbage.write_bytes(data[:40] + b"\xc1\xc1\xc1")
    with pytest.raises(ReplayError, match=f"{garbage}: not a readable replay log"):
        read_log(garbage)
    field = rewrite(good_log, tmp_path / "f.replay", lambda h: h.update(seed="seven"))
    with pytest.raises(ReplayError, match="field 'seed' is missing or not an integer"):
        read_log(field)
    with pytest.raises(ReplayError, match="not found"):
        read_log(tmp_path / "missing.replay")
    assert good_log.read_bytes() == data  # reading never touches the log


def test_the_cli_names_a_bad_log_and_writes_nothing(
    good_log: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    version = rewrite(good_log, tmp_path / "v.replay", lambda h: h.update(version=2))
    out = tmp_path / "out.wav"
    assert main(["render", "--replay", str(version), "-o", str(out)]) == 2
    error = capsys.readouterr().err
    assert "error:" in error and str(version) in error and "'version'" in error
    assert not out.exists()
    assert (
        main(["render", "--replay", str(good_log), "--stems", str(tmp_path), "-o", str(out)]) == 2
    )
    assert main(["render", "-o", str(out)]) == 2  # neither a timeline nor a log
    assert not out.exists()
    # a log that reads well but does not replay (a bar start moved): --out keeps what it had
    objects = list(msgpack.Unpacker(open(good_log, "rb"), raw=False))  # noqa: SIM115
    moved = next(o for o in objects[1:] if o[0] == "k" and o[2] == 2)
    moved[1] += 1
    diverged = tmp_path / "diverged.replay"
    diverged.write_bytes(b"".join(msgpack.packb(o, use_bin_type=True) for o in objects))
    out.write_bytes(b"an earlier render")
    assert main(["render", "--replay", str(diverged), "-o", str(out)]) == 2
    error = capsys.readouterr().err
    assert str(diverged) in error and "diverged" in error and "'k'" in error
    assert out.read_bytes() == b"an earlier render"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


# --- the audio thread's side -----------------------------------------------------------------


def test_recording_costs_the_callback_no_audio_buffers(tmp_path: Path) -> None:
    from .test_mixer import mixer

    m, bars = mixer()
    prebuilt = {i: bars.take(i) for i in range(12)}
    bars.take = prebuilt.pop  # type: ignore[method-assign]
    recorder = Recorder({"format": "adaptive-replay", "version": 1})
    recorder.start_log(tmp_path / "mixer.replay", 0)
    m.recorder = recorder
    out = np.zeros((8192, 2), dtype=np.float32)
    for _ in range(20):
        m.process(out)
    tracemalloc.start()
    try:
        start, _ = tracemalloc.get_traced_memory()
        for i in range(80):  # bar lines, commands, a stinger: each an entry in the queue
            if i % 10 == 0:
                m.control.commands.append(Command("parameter", "intensity", i / 100))
            if i == 40:
                m.control.commands.append(Command("stinger", "click"))
            m.process(out)
            m.events.clear()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    recorder.end(m.frame)
    recorder.close()
    assert peak - start < 48 * 1024, f"the callback allocated {peak - start} bytes at its peak"
    entries = list(msgpack.Unpacker(open(tmp_path / "mixer.replay", "rb"), raw=False))  # noqa: SIM115
    tags = [e[0] for e in entries[1:]]
    assert tags.count("c") == 9 and "s" in tags and tags.count("k") >= 5 and tags[-1] == "e"


def test_a_writer_that_falls_behind_marks_the_log_lost(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_record, "WRITE_PERIOD_SECONDS", 60.0)  # the writer writes only at close
    monkeypatch.setattr(_record, "MAX_PENDING", 4)
    log = tmp_path / "lost.replay"
    recorder = Recorder({"format": "adaptive-replay", "version": 1})
    recorder.start_log(log, 0)
    for frame in range(10):
        recorder.take(frame, frame, 1)  # more than the queue holds: dropped, never waited for
    recorder.end(10)
    recorder.close()
    assert recorder.lost
    entries = list(msgpack.Unpacker(open(log, "rb"), raw=False))  # noqa: SIM115
    assert len(entries) == 1 + 4 + 2 and entries[-2][0] == "x"


def test_a_journal_past_its_bytes_is_dropped_and_says_so(
    default_bundle: runtime.Bundle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_record, "JOURNAL_BYTES", 64)  # a bar or two of entries
    engine = MusicEngine(default_bundle, output="offline", seed=2)
    engine.render(300_000)
    with pytest.raises(EngineError, match="outgrew.*before start"):
        engine.record(tmp_path / "late.replay")
    assert not (tmp_path / "late.replay").exists()


def test_a_log_the_disk_refuses_ends_truncated_and_the_music_plays_on(
    default_bundle: runtime.Bundle, tmp_path: Path
) -> None:
    if not Path("/dev/full").exists():
        pytest.skip("needs /dev/full, a file every write to fails")
    engine = MusicEngine(default_bundle, output="offline", seed=2)
    engine.record("/dev/full")  # opens; each write fails with "no space left"
    engine.render(200_000)
    engine.stop()  # does not raise
    assert engine.render(1000).shape == (1000, 2)
    journal = engine._core._journal
    assert journal.failed is not None and "/dev/full" in journal.failed


def test_a_stinger_whose_version_was_not_ready_replays_as_it_played(
    default_bundle: runtime.Bundle, tmp_path: Path
) -> None:
    """Live, a stinger plays as written when the worker has not rendered its version for the
    bar's chord and tempo yet: the log says which, and the replay plays the same."""
    log = tmp_path / "written.replay"
    engine = MusicEngine(default_bundle, output="offline", seed=4)
    engine._core._mixer.stingers.fit_on_demand = False  # no version is ever ready in time
    engine.record(log)
    engine.trigger("pickup")
    mix = engine.render(90_000)
    engine.set_state("boss", sync="bar")
    engine.trigger("hit")
    mix = np.concatenate([mix, engine.render(200_000)])
    engine.record(None)
    audio, read, _ = replay(log)
    assert [s[3] for s in read.stingers] == [0, 0]
    assert np.array_equal(bits(audio), bits(mix))
