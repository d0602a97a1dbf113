"""MIDI export: what the engine played goes out as MIDI and comes back through our importer."""

from __future__ import annotations

from pathlib import Path

import mido
import pytest

import adaptive
from adaptive import load_style
from adaptive._music import Key
from authoring import import_midi
from authoring._midi_export import key_signature_name, write_engine_midi
from runtime import MusicEngine
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
file = "played.mid"
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


def test_exported_midi_reimports_with_the_same_notes_and_velocities(
    played: tuple[MusicEngine, Path],
) -> None:
    engine, path = played
    style_path = path.parent / "style.toml"
    style_path.write_text(STYLE.format(tempo=engine.timing.tempo), encoding="utf-8")
    style = load_style(style_path)
    source = import_midi(path, style.sources[0], style)

    fps = engine.timing.frames_per_step
    steps = engine.timing.meter.steps_per_bar
    expected = {
        (stem, int(round(start / fps)), pitch, max(1, int(round(frames / fps))), velocity)
        for stem, pitch, start, frames, velocity in engine.played_notes()
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
