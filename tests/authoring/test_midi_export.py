"""MIDI export: what the engine played goes out as MIDI and comes back through our importer."""

from __future__ import annotations

import json
from pathlib import Path

import mido
import pytest

import adaptive
from adaptive import load_style
from adaptive._music import Key
from authoring import ImportedSource, import_midi
from authoring._midi_export import export_timeline_midi, key_signature_name, write_engine_midi
from authoring.cli import main
from runtime import MusicEngine
from runtime._clock import MusicalClock
from runtime._mixbus import mix_settings

STYLE = """\
[style]
name = "reimport"
license = "CC0-1.0"
tempo = {tempo}
key = "C major"

[stems.harmony]
role = "harmony"
[stems.bass]
role = "bass"
[stems.drums]
role = "drums"
[stems.melody]
role = "melody"

[states.explore]

[[sources]]
file = "{file}"
license = "CC0-1.0"
attribution = "test"
key = "C major"
tracks = {{ harmony = 1, bass = 2, drums = 3, melody = 4 }}
"""


@pytest.fixture(scope="module")
def played(tmp_path_factory: pytest.TempPathFactory) -> tuple[MusicEngine, Path]:
    engine = MusicEngine(adaptive.load_bundle(), output="offline", seed=11)
    engine.set_parameter("intensity", 0.9)  # every stem sounds
    engine.set_state("combat")
    engine.render(engine.timing.bar_frames(0) * 6)
    path = write_engine_midi(engine, tmp_path_factory.mktemp("midi") / "played.mid")
    return engine, path


Notes = list[tuple[str, int, int, int, int]]


def _reimport(path: Path, tempo: float) -> ImportedSource:
    style_path = path.parent / "style.toml"
    style_path.write_text(STYLE.format(tempo=tempo, file=path.name), encoding="utf-8")
    style = load_style(style_path)
    return import_midi(path, style.sources[0], style)


def _same_notes(source: ImportedSource, played: Notes, timing: MusicalClock) -> None:
    """The importer reads back every played note, on its step, with its velocity."""
    fps = timing.frames_per_step
    steps = timing.meter.steps_per_bar
    expected = {
        (stem, int(round(start / fps)), pitch, max(1, int(round(frames / fps))), velocity)
        for stem, pitch, start, frames, velocity in played
    }
    expected = {
        (s, t, p, 1 if s == "drums" else d, v) for s, t, p, d, v in expected
    }  # the importer gives drum hits one step
    first_bar = min(t for _, t, *_ in expected) // steps
    got = {
        (stem, (bar.index + first_bar) * steps + n.start, n.pitch, n.duration, n.velocity)
        for bar in source.bars
        for stem, notes in bar.stems.items()
        for n in notes
    }
    assert got == expected
    assert len({v for *_, v in expected}) > 5  # velocities as generated, not one fixed value


def test_exported_midi_reimports_with_the_same_notes_and_velocities(
    played: tuple[MusicEngine, Path],
) -> None:
    engine, path = played
    source = _reimport(path, engine.timing.tempo)
    _same_notes(source, engine.played_notes(), engine.timing)


def test_export_midi_of_a_timeline_reimports_with_the_same_notes_programs_and_velocities(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = adaptive.load_bundle()
    bar = 60.0 / bundle.tempo * bundle.meter.numerator
    timeline = tmp_path / "timeline.json"
    timeline.write_text(
        json.dumps(
            {
                "duration": 5 * bar,
                "events": [
                    {"time": 0.0, "state": "explore"},
                    {"time": 0.0, "parameter": "intensity", "value": 0.9},
                    {"time": 1.5 * bar, "state": "combat", "sync": "bar"},
                ],
            }
        )
    )
    path, notes = export_timeline_midi(None, timeline, tmp_path / "cue.mid", seed=3)
    source = _reimport(path, bundle.tempo)
    _same_notes(source, notes, MusicalClock(48000, bundle.tempo, bundle.meter))
    programs = mix_settings(bundle.manifest).stems
    pitched = [s for s, spec in bundle.stems.items() if spec["role"] != "drums"]
    assert source.programs == {s: programs[s].program for s in pitched}
    assert {stem for stem, *_ in notes} == set(bundle.stems)  # every stem played

    # the command writes the same file from the same timeline and seed
    again = tmp_path / "again.mid"
    args = ["export-midi", "--timeline", str(timeline), "-o", str(again), "--seed", "3"]
    assert main(args) == 0
    assert f"{len(notes)} notes on 4 stems" in capsys.readouterr().out
    assert again.read_bytes() == path.read_bytes()


def test_exported_midi_has_programs_names_meta_and_drums_on_channel_10(
    played: tuple[MusicEngine, Path],
) -> None:
    engine, path = played
    midi = mido.MidiFile(str(path))
    programs = mix_settings(engine.bundle.manifest).stems
    names = [next(m.name for m in t if m.type == "track_name") for t in midi.tracks[1:]]
    assert names == list(engine.bundle.stems)
    for track, stem in zip(midi.tracks[1:], names, strict=True):
        channels = {m.channel for m in track if m.type == "note_on"}
        changes = [m.program for m in track if m.type == "program_change"]
        if engine.bundle.stems[stem]["role"] == "drums":
            assert channels == {9} and changes == []
        else:
            assert 9 not in channels and changes == [programs[stem].program]
    meta = {m.type: m for m in midi.tracks[0]}
    assert mido.tempo2bpm(meta["set_tempo"].tempo) == pytest.approx(engine.timing.tempo)
    assert (meta["time_signature"].numerator, meta["time_signature"].denominator) == (4, 4)
    assert meta["key_signature"].key == "Dm"  # the default style plays in D minor
    assert len({p.program for p in programs.values()}) > 2  # not every track a piano


def test_key_signature_names() -> None:
    assert key_signature_name(Key.parse("D minor")) == "Dm"
    assert key_signature_name(Key.parse("Bb major")) == "Bb"
    assert key_signature_name(Key.parse("F# minor")) == "F#m"


def test_a_session_across_tempos_exports_its_tempo_map(tmp_path: Path) -> None:
    """Boss is faster (with a ramp): the file changes tempo on the bars that did, and
    every note sits on the tick of its place in its own bar."""
    bundle = adaptive.load_bundle()
    engine = MusicEngine(bundle, output="offline", seed=3)
    engine.render(int(1.5 * engine.timing.bar_frames(0)))
    engine.set_state("boss", sync="bar")
    engine.render(6 * engine.timing.bar_frames(0))
    path = write_engine_midi(engine, tmp_path / "boss.mid")
    bars = sorted(engine.played_bars(), key=lambda b: b.index)
    midi = mido.MidiFile(str(path))
    tick, changes = 0, []
    for message in midi.tracks[0]:
        tick += message.time
        if message.type == "set_tempo":
            changes.append((tick, round(mido.tempo2bpm(message.tempo), 2)))
    expected = [(0, bars[0].tempo)] + [
        (b.index * 1920, round(b.tempo, 2))
        for a, b in zip(bars, bars[1:], strict=False)
        if a.tempo != b.tempo
    ]
    assert changes == expected and len(changes) >= 3 and changes[-1][1] == 128.0
    # every note on: its bar's first tick plus its offset at that bar's tempo
    by_stem = {stem: [] for stem in engine.bundle.stems}
    for bar in bars:
        for stem, notes in bar.notes.items():
            for _, start, _, _ in notes:
                ticks = start * 480 * bar.tempo / 60.0 / engine.sample_rate
                by_stem[stem].append(bar.index * 1920 + int(round(ticks)))
    for track in midi.tracks[1:]:
        name = next(m.name for m in track if m.type == "track_name")
        tick, ons = 0, []
        for message in track:
            tick += message.time
            if message.type == "note_on":
                ons.append(tick)
        assert ons == sorted(by_stem[name]), name
