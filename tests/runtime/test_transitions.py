"""Transitions in real renders: on their boundary's exact sample, for every sync, without clicks;
and across tempos: every bar start where the tempo map puts it, transition bars, entry points."""

from __future__ import annotations

import copy
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import adaptive
from adaptive import write_bundle
from runtime import MusicEngine

SR = 48000
# the tiny bundle (trained at 120) played faster, so live sessions take seconds
TEMPOS = {"explore": 240.0, "combat": 300.0}


def frames_per_bar(tempo: float) -> float:
    return SR * 240.0 / tempo  # 4/4


def with_tempos(
    path: Path, bundle: adaptive.Bundle, tempos: dict[str, float], rules: list[dict[str, Any]]
) -> adaptive.Bundle:
    """``bundle`` with a tempo per state and these ``[[transitions]]`` rules."""
    manifest = copy.deepcopy(dict(bundle.manifest))
    for state, tempo in tempos.items():
        manifest["states"][state]["tempo"] = tempo
    manifest["transitions"] = rules
    write_bundle(path, manifest, bundle.models)
    return adaptive.load_bundle(path)


@pytest.fixture(scope="module")
def tempo_bundles(bundle: adaptive.Bundle, tmp_path_factory: pytest.TempPathFactory) -> Any:
    root = tmp_path_factory.mktemp("tempo")

    def make(name: str, **rule: Any) -> adaptive.Bundle:
        return with_tempos(root / f"{name}.adaptive", bundle, TEMPOS, [rule] if rule else [])

    return make


def expected_starts(report: dict[str, Any]) -> list[int]:
    """Every played bar's start, worked out by hand from each bar's tempo in the report: a
    run of bars at one tempo is rounded from exact positions from the run's first bar, and
    a run starts where the run before put it; never accumulated bar by bar."""
    bars = report["bars"]
    starts, anchor, anchor_frame = [], 0, 0
    for i, bar in enumerate(bars):
        if i and bar["tempo"] != bars[i - 1]["tempo"]:
            previous = bars[i - 1]["tempo"]
            anchor_frame += int(round((i - anchor) * frames_per_bar(previous)))
            anchor = i
        starts.append(anchor_frame + int(round((i - anchor) * frames_per_bar(bar["tempo"]))))
    return starts


def session(bundle: adaptive.Bundle, at: float, state: str, sync: str, bars: float = 6.0) -> Any:
    """An offline render: ``at`` bars of the first state, a change, ``bars`` more bars."""
    engine = MusicEngine(bundle, output="offline", seed=3)
    asked = int(at * frames_per_bar(TEMPOS["explore"]))
    engine.render(asked)
    engine.set_state(state, sync=sync)
    engine.render(int(bars * frames_per_bar(TEMPOS["explore"])))
    return engine, engine.report(), asked


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


def expected_landing(timing: Any, asked: int, sync: str) -> int:
    """Where a change asked for at frame ``asked`` lands, by the sync's definition."""
    bar = timing.bar_at(asked)
    return {
        "immediate": asked,
        "beat": timing.next_beat(asked)[0],
        "bar": timing.bar_start(bar + 1),
        "bars:2": timing.bar_start(bar + 2),
        "cue": timing.bar_start((bar // 4 + 1) * 4),
    }[sync]


@pytest.mark.parametrize("sync", SYNCS)
def test_each_sync_lands_on_its_boundary(bundle: adaptive.Bundle, sync: str) -> None:
    _, _, engine, requests = render_with_changes(bundle, [sync])
    (transition,) = engine.report()["transitions"]
    timing, landed, asked = engine.timing, transition["landed_frame"], requests[0]
    expected = expected_landing(timing, asked, sync)
    assert landed == expected and transition["requested_frame"] == asked
    assert transition["sync"] == sync


@pytest.fixture(scope="module")
def default_with_tempos(
    default_bundle: adaptive.Bundle, tmp_path_factory: pytest.TempPathFactory
) -> adaptive.Bundle:
    """The default bundle with a tempo per state, a ramp and a transition bar into boss."""
    rules = [dict(r) for r in default_bundle.manifest.get("transitions", [])]
    for rule in rules:
        if rule.get("to") == "boss":
            rule.update(tempo_ramp_bars=2, transition_bar=True)
    path = tmp_path_factory.mktemp("tempo") / "default.adaptive"
    tempos = {"explore": 104.0, "combat": 120.0, "boss": 132.0}
    return with_tempos(path, default_bundle, tempos, rules)


@pytest.mark.parametrize("tempos", [False, True], ids=["default_bundle", "a_tempo_per_state"])
def test_transitions_do_not_click(
    default_bundle: adaptive.Bundle, default_with_tempos: adaptive.Bundle, tempos: bool
) -> None:
    """Like with like: each landing against ordinary boundaries of the same kind (bar lines,
    or beats within a bar) in the two states it joins, where nothing changes.

    The largest sample step within 5 ms of a landing, for the pitched stems together, is
    at most 1.5 times the median of the same figure over ordinary boundaries of the
    state on either side, whichever is louder (an ``immediate`` landing, on any frame, at
    most the largest step there); the drums, whose downbeats differ from bar to bar, at
    most 1.5 times the largest of theirs or of bar lines at the same place in the phrase.
    """
    if tempos:
        default_bundle = default_with_tempos
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
    if tempos:  # the changes moved the tempo (ramps too) and led into boss with a bar
        assert len({b["tempo"] for b in report["bars"]}) >= 4
        assert any(b["transition_bar"] for b in report["bars"])

    def quiet(frame: int) -> bool:  # nothing changes within half a bar
        far = all(abs(frame - f) > timing.frames_per_bar / 2 for f in landed)
        return far and frame + window < len(pitched_steps)

    ratios = []
    for transition in report["transitions"]:
        states, frame = (transition["from"], transition["to"]), transition["landed_frame"]
        on_bar_line = frame == timing.bar_start(timing.bar_at(frame))

        def ordinary(state: str, on_bar_line: bool = on_bar_line) -> list[int]:
            bars = [b for b in report["bars"] if b["state"] == state and b["index"] > 0]
            if on_bar_line:
                found = [b["start_frame"] for b in bars]
            else:
                beats = timing.meter.numerator
                found = [timing.beat_start(b["index"], k) for b in bars for k in range(1, beats)]
            return [f for f in found if quiet(f)]

        alike = {state: ordinary(state) for state in states}
        assert sum(len(v) for v in alike.values()) >= 3, transition
        # the window straddles both states: the louder one's ordinary boundaries are the
        # reference (a stem that one state plays forward steps further at every sample)
        steps = [[largest(pitched_steps, f) for f in frames] for frames in alike.values()]
        reference = max(float(np.median(v)) for v in steps if v)
        at_landing = largest(pitched_steps, frame)
        if transition["sync"] == "immediate":  # on any frame, where note onsets may fall too:
            reference = max(max(v) for v in steps if v) / 1.5  # the beats' largest step
        ratios.append(at_landing / reference)
        if drum_steps is not None:
            frames = [f for v in alike.values() for f in v]
            if on_bar_line:  # drums mark phrase starts (a crash), so: bar lines at the same
                # place in the phrase, in any state
                phrase = next(b["phrase_bar"] for b in report["bars"] if b["start_frame"] == frame)
                frames += [
                    b["start_frame"]
                    for b in report["bars"]
                    if b["phrase_bar"] == phrase and b["index"] > 0 and quiet(b["start_frame"])
                ]
            loudest = max(largest(drum_steps, f) for f in frames)
            # (40 dB under the render's largest drum step, a step is no click however it compares)
            floor = 0.01 * float(drum_steps.max())
            assert largest(drum_steps, frame) <= max(1.5 * loudest, floor), transition
    print("landing step / median of the ordinary boundaries:", np.round(ratios, 2))
    assert max(ratios) <= 1.5, ratios


def test_a_bar_synced_change_to_a_faster_state_shortens_bars_from_the_landing_bar(
    tempo_bundles: Any,
) -> None:
    engine, report, asked = session(tempo_bundles("plain"), 1.3, "combat", "bar")
    (transition,) = report["transitions"]
    assert transition["bar"] == 2 and transition["landed_frame"] == 2 * 48000
    bars = report["bars"]
    assert [b["index"] for b in bars] == list(range(len(bars))) and len(bars) >= 8
    assert [b["start_frame"] for b in bars] == expected_starts(report)
    assert all(b["start_frame"] == engine.timing.bar_start(b["index"]) for b in bars)
    assert [b["tempo"] for b in bars[:4]] == [240.0, 240.0, 300.0, 300.0]
    assert {b["frames"] for b in bars[:2]} == {48000} and {b["frames"] for b in bars[2:-1]} == {
        38400
    }
    assert [b["state"] for b in bars[1:3]] == ["explore", "combat"]


def test_a_beat_synced_change_keeps_the_old_tempo_until_the_next_bar_line(
    tempo_bundles: Any,
) -> None:
    engine, report, asked = session(tempo_bundles("plain"), 1.3, "combat", "beat")
    (transition,) = report["transitions"]
    # on the next beat of bar 1 (12000 frames a beat at 240 bpm), within the bar
    assert transition["landed_frame"] == 48000 + 2 * 12000 and transition["bar"] == 1
    bars = report["bars"]
    assert (bars[1]["state"], bars[1]["tempo"], bars[1]["frames"]) == ("combat", 240.0, 48000)
    assert (bars[2]["tempo"], bars[2]["frames"]) == (300.0, 38400)  # from the bar line on
    assert [b["start_frame"] for b in bars] == expected_starts(report)
    beats = [e for e in engine.update() if e.kind == "beat" and e.bar in (2, 3)]
    assert [e.frame - 96000 for e in beats] == [k * 9600 for k in range(8)]  # the new beats


def test_a_ramp_steps_monotonically_over_its_bars(tempo_bundles: Any) -> None:
    ramp = tempo_bundles("ramp", tempo_ramp_bars=2)  # every pair
    assert ramp.spec.transition("explore", "combat").tempo_ramp_bars == 2
    engine, report, _ = session(ramp, 1.3, "combat", "bar")
    tempos = [b["tempo"] for b in report["bars"][:7]]
    assert tempos == [240.0, 240.0, 260.0, 280.0, 300.0, 300.0, 300.0]
    frames = [b["frames"] for b in report["bars"][1:6]]
    assert frames == sorted(frames, reverse=True) and len(set(frames)) == 4
    assert [b["start_frame"] for b in report["bars"]] == expected_starts(report)
    # and back down, the same way
    engine.set_state("explore", sync="bar")
    engine.render(int(6 * frames_per_bar(300.0)))
    back = [b["tempo"] for b in engine.report()["bars"][8:] if b["state"] == "explore"]
    assert back[:3] == [280.0, 260.0, 240.0] and back == sorted(back, reverse=True)


@pytest.mark.parametrize("sync", SYNCS)
def test_each_sync_lands_on_its_boundary_across_tempos(tempo_bundles: Any, sync: str) -> None:
    engine, report, asked = session(tempo_bundles("plain"), 1.3, "combat", sync, bars=7.0)
    (transition,) = report["transitions"]
    timing = engine.timing
    expected = expected_landing(timing, asked, sync)
    assert transition["landed_frame"] == expected and transition["requested_frame"] == asked
    assert [b["start_frame"] for b in report["bars"]] == expected_starts(report)
    assert report["bars"][-2]["tempo"] == 300.0


def test_a_transition_bar_leads_into_the_destination(tempo_bundles: Any) -> None:
    lead_in = tempo_bundles("lead_in", to="combat", transition_bar=True)
    engine, report, _ = session(lead_in, 1.3, "combat", "bar")
    (transition,) = report["transitions"]
    bars = report["bars"]
    assert transition["landed_frame"] == bars[2]["start_frame"] == 96000  # where the sync says
    assert [b["transition_bar"] for b in bars[:5]] == [False, False, True, False, False]
    assert [b["state"] for b in bars[1:4]] == ["explore", "combat", "combat"]
    assert bars[2]["chords"] == ["G"]  # the dominant of C major, resolved by the next bar
    assert [b["phrase_bar"] for b in bars[2:5]] == [3, 0, 1]  # combat's phrase starts after it
    assert bars[2]["tempo"] == 300.0
    played = {b.index: b for b in engine.played_bars()}
    assert played[2].transition_bar and not played[3].transition_bar
    last_beat = 3 * 9600
    fill = [n for n in played[2].notes["drums"] if n[1] >= last_beat]
    assert len(fill) >= 4 and {n[0] for n in fill} >= {38, 45}  # snare and tom fill
    # the same change without the rule has no transition bar
    _, plain, _ = session(tempo_bundles("plain"), 1.3, "combat", "bar")
    assert not any(b["transition_bar"] for b in plain["bars"])


def test_the_entry_decides_the_phrase_position_and_the_cue_count(tempo_bundles: Any) -> None:
    positions, cues = {}, {}
    for entry in ("start", "same_position"):
        bundle = tempo_bundles(entry, to="combat", entry=entry)
        engine, _, _ = session(bundle, 1.3, "combat", "bar", bars=1.2)  # lands on bar 2
        engine.set_state("explore", sync="cue")
        engine.render(int(8 * frames_per_bar(300.0)))
        report = engine.report()
        positions[entry] = [b["phrase_bar"] for b in report["bars"][:5]]
        (_, back) = report["transitions"]
        cues[entry] = back["bar"]
    assert positions["start"] == [0, 1, 0, 1, 2]  # combat enters at the start of its phrase
    assert positions["same_position"] == [0, 1, 2, 3, 0]
    assert cues == {"start": 6, "same_position": 4}  # the exit cue ends combat's own phrase


@pytest.mark.parametrize("worker", ["thread", "process"])
def test_a_live_engine_plays_the_tempo_map_an_offline_render_plays(
    tempo_bundles: Any, worker: str
) -> None:
    bundle = tempo_bundles("live", to="combat", tempo_ramp_bars=1, transition_bar=True)
    engine = MusicEngine(bundle, output="silent", worker=worker, seed=3)
    with engine:
        engine.set_state("combat", sync="bar")
        deadline = time.monotonic() + 30.0
        while time.monotonic() < deadline:
            events = engine.update()
            if any(e.kind == "bar" and e.bar >= 6 for e in events):
                break
            time.sleep(0.02)
        bar_events = [e for e in events if e.kind == "bar"]
        assert bar_events and engine.timing.bar_start(bar_events[-1].bar) == bar_events[-1].frame
        live = engine.report()
        while len(live["bars"]) < 8 and time.monotonic() < deadline:  # a busy machine's
            time.sleep(0.05)  # report may trail the bar events: wait for it, not for a time
            live = engine.report()
    (transition,) = live["transitions"]
    target = transition["bar"]
    offline = MusicEngine(bundle, output="offline", seed=3)
    offline.render(offline.timing.bar_start(target - 1) + 1)
    offline.set_state("combat", sync="bar")
    offline.render(int(7 * frames_per_bar(240.0)))
    fields = ("index", "start_frame", "frames", "state", "tempo", "transition_bar", "phrase_bar")
    shape = {b["index"]: tuple(b[f] for f in fields) for b in offline.report()["bars"]}
    played = [b for b in live["bars"] if b["index"] in shape][:-1]  # the last: still playing
    assert len(played) >= 6
    assert [tuple(b[f] for f in fields) for b in played] == [shape[b["index"]] for b in played]
    assert [b["tempo"] for b in played][target : target + 3] == [270.0, 300.0, 300.0]


def test_the_command_line_render_plays_the_same_tempo_map(
    tempo_bundles: Any, tmp_path: Path
) -> None:
    """``adaptive render`` of a timeline and the engine driven by hand agree bar for bar."""
    import json

    from runtime.cli import main

    bundle = tempo_bundles("cli", to="combat", tempo_ramp_bars=1, transition_bar=True)
    timeline = tmp_path / "t.json"
    events = [{"time": 1.3, "state": "combat"}]  # the rule's sync: the next bar line
    timeline.write_text(json.dumps({"duration": 7.0, "events": events}))
    out, report_path = tmp_path / "o.wav", tmp_path / "r.json"
    args = ["render", str(bundle.path), "--timeline", str(timeline), "--out", str(out)]
    assert main([*args, "--report", str(report_path), "--seed", "3"]) == 0
    cli = json.loads(report_path.read_text())
    _, by_hand, _ = session(bundle, 1.3, "combat", "bar", bars=6.0)
    fields = ("index", "start_frame", "frames", "state", "tempo", "transition_bar", "phrase_bar")
    common = min(len(cli["bars"]), len(by_hand["bars"])) - 1
    assert common >= 7
    assert [tuple(b[f] for f in fields) for b in cli["bars"][:common]] == [
        tuple(b[f] for f in fields) for b in by_hand["bars"][:common]
    ]
    assert [b["tempo"] for b in cli["bars"][1:5]] == [240.0, 270.0, 300.0, 300.0]
    assert cli["bars"][2]["transition_bar"] and cli["transitions"][0]["landed_frame"] == 96000


def test_a_stinger_lands_on_a_beat_of_the_bar_it_falls_in(tempo_bundles: Any) -> None:
    engine, _, _ = session(tempo_bundles("plain"), 1.3, "combat", "bar", bars=1.0)
    asked = 96000 + 38400 + 5000  # in bar 3, at 300 bpm: 9600 frames a beat
    engine.render(asked - engine.frame)
    engine.trigger("pickup")  # its sync: the next beat
    engine.render(48000)
    (stinger,) = engine.report()["stingers"]
    assert (stinger["bar"], stinger["beat"]) == (3, 1)
    assert stinger["landed_frame"] == 96000 + 38400 + 9600
