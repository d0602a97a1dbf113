"""MIDI import: real files written with mido, read back through authoring.import_midi."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import mido
import pytest

from adaptive import Key, MidiImportError, load_style
from adaptive._music import CHORDS, Chord
from adaptive._style import Style
from authoring import ImportedSource, estimate_key, import_midi
from authoring._train.chords import detect_chord

HEAD = """\
[style]
name = "t"
license = "CC0-1.0"
meter = "{meter}"
key = "C major"

[stems.drums]
role = "drums"
[stems.bass]
role = "bass"
[stems.harmony]
role = "harmony"
[stems.melody]
role = "melody"

[states.explore]
[states.combat]
"""


def make_style(root: Path, sources: str, meter: str = "4/4") -> Style:
    path = root / "style.toml"
    path.write_text(HEAD.format(meter=meter) + sources, encoding="utf-8")
    return load_style(path)


def source(file: str, mapping: str, key: str | None = None) -> str:
    extra = f'key = "{key}"\n' if key else ""
    return (
        f'[[sources]]\nfile = "{file}"\nlicense = "CC0-1.0"\nattribution = "test"\n'
        f"{mapping}\n{extra}"
    )


def imported(style: Style, i: int = 0) -> ImportedSource:
    return import_midi(style.sources[i].path, style.sources[i], style)


def pitches(bar_notes: list) -> list[tuple[int, int, int]]:
    return [(n.pitch, n.start, n.duration) for n in bar_notes]


def test_quantization_and_bar_cutting(tmp_path: Path, midi_writer: Callable[..., Path]) -> None:
    midi_writer(
        tmp_path / "a.mid",
        [
            [
                (1, 60, 0.0, 1.0, 90),  # bar 0, step 0, 4 steps
                (1, 62, 0.98, 0.9, 90),  # slightly early: snaps to step 4, 4 steps
                (1, 64, 3.5, 2.0, 90),  # crosses the bar line: clipped to 2 steps
                (1, 65, 4.0, 0.05, 90),  # very short: at least one step
                (1, 67, 9.26, 0.5, 90),  # bar 2, step 5 (37.04 steps -> 37 -> bar 2 step 5)
            ]
        ],
    )
    style = make_style(tmp_path, source("a.mid", "tracks = { melody = 1 }", "C major"))
    result = imported(style)
    assert [b.index for b in result.bars] == [0, 1, 2]
    assert pitches(result.bars[0].stems["melody"]) == [(60, 0, 4), (62, 4, 4), (64, 14, 2)]
    assert pitches(result.bars[1].stems["melody"]) == [(65, 0, 1)]
    assert pitches(result.bars[2].stems["melody"]) == [(67, 5, 2)]
    assert result.shift == 0 and not result.key_estimated


def test_meter_decides_bar_length(tmp_path: Path, midi_writer: Callable[..., Path]) -> None:
    midi_writer(tmp_path / "a.mid", [[(1, 60, beat, 1.0, 90) for beat in range(6)]])
    style = make_style(tmp_path, source("a.mid", "tracks = { melody = 1 }", "C major"), "3/4")
    result = imported(style)
    assert len(result.bars) == 2
    assert [n.start for n in result.bars[1].stems["melody"]] == [0, 4, 8]


def test_key_normalization_given_and_estimated(
    tmp_path: Path, midi_writer: Callable[..., Path]
) -> None:
    # A D major scale and cadence (D E F# G A B C# D, then D-F#-A), drums alongside.
    scale = [62, 64, 66, 67, 69, 71, 73, 74, 62, 66, 69, 62]
    melody = [(1, p, float(i), 1.0, 90) for i, p in enumerate(scale)]
    drums = [(10, 36, float(i), 0.25, 100) for i in range(12)]
    midi_writer(tmp_path / "d.mid", [melody, drums])
    mapping = "tracks = { melody = 1, drums = 2 }"
    style = make_style(tmp_path, source("d.mid", mapping, "D major") + source("d.mid", mapping))
    given, estimated = imported(style, 0), imported(style, 1)
    assert estimated.key_estimated and estimated.key == Key.parse("D major")
    for result in (given, estimated):
        assert result.shift == -2
        assert result.bars[0].stems["melody"][0].pitch == 60  # D -> C
        assert {n.pitch for b in result.bars for n in b.stems["drums"]} == {36}  # not transposed


def test_estimate_key_minor() -> None:
    # A harmonic-minor flavoured line: A B C D E F G# A with weight on A and E.
    notes = [(57, 4.0), (59, 1.0), (60, 2.0), (62, 1.0), (64, 3.0), (65, 1.0), (68, 1.0), (69, 4.0)]
    assert estimate_key(notes) == Key.parse("A minor")
    assert Key.parse("A minor").normalization_shift == 0


def test_type0_and_type1_import_the_same_notes(
    tmp_path: Path, midi_writer: Callable[..., Path]
) -> None:
    melody = [(1, 72, float(i), 0.5, 90) for i in range(8)]
    bass = [(2, 36, 0.0, 4.0, 90), (2, 43, 4.0, 4.0, 90)]
    drums = [(10, 36, 0.0, 0.1, 110), (10, 38, 1.0, 0.1, 100), (10, 42, 0.5, 0.1, 70)]
    midi_writer(tmp_path / "one.mid", [melody, bass, drums], midi_type=1)
    midi_writer(tmp_path / "zero.mid", [melody, bass, drums], midi_type=0)
    assert mido.MidiFile(str(tmp_path / "zero.mid")).type == 0
    style = make_style(
        tmp_path,
        source("one.mid", "tracks = { melody = 1, bass = 2, drums = 3 }", "C major")
        + source("zero.mid", "channels = { melody = 1, bass = 2, drums = 10 }", "C major"),
    )
    one, zero = imported(style, 0), imported(style, 1)
    assert len(one.bars) == len(zero.bars) == 2
    for a, b in zip(one.bars, zero.bars, strict=True):
        assert a.stems == b.stems
        assert a.chord == b.chord


def test_channel_10_drums_in_a_type0_file(tmp_path: Path, midi_writer: Callable[..., Path]) -> None:
    notes = [(1, 60, 0.0, 1.0, 90), (10, 36, 0.0, 0.25, 110), (10, 38, 1.0, 0.25, 100)]
    midi_writer(tmp_path / "z.mid", [notes], midi_type=0)
    # The melody is mapped by track only: General MIDI percussion must not leak into it.
    style = make_style(
        tmp_path, source("z.mid", "tracks = { melody = 0 }\nchannels = { drums = 10 }", "C major")
    )
    result = imported(style)
    assert pitches(result.bars[0].stems["melody"]) == [(60, 0, 4)]
    assert [(n.pitch, n.start) for n in result.bars[0].stems["drums"]] == [(36, 0), (38, 4)]


def test_velocity_zero_note_off_overlaps_and_tempo_changes(tmp_path: Path) -> None:
    tpb = 96
    track = mido.MidiTrack(
        [
            mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(90), time=0),
            mido.Message("note_on", note=60, velocity=80, time=0),
            mido.Message("note_on", note=60, velocity=90, time=tpb),  # overlapping same pitch
            mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(160), time=tpb),
            mido.Message("note_on", note=60, velocity=0, time=0),  # ends the first (FIFO)
            mido.Message("note_on", note=60, velocity=0, time=tpb),  # ends the second
            mido.Message("note_on", note=64, velocity=70, time=0),
            mido.Message("note_off", note=64, velocity=0, time=tpb // 2),
        ]
    )
    midi = mido.MidiFile(type=0, ticks_per_beat=tpb)
    midi.tracks.append(track)
    midi.save(str(tmp_path / "v.mid"))
    style = make_style(tmp_path, source("v.mid", "channels = { melody = 1 }", "C major"))
    notes = imported(style).bars[0].stems["melody"]
    # Tempo changes do not move the grid: beats are ticks_per_beat ticks.
    assert [(n.pitch, n.start, n.duration, n.velocity) for n in notes] == [
        (60, 0, 8, 80),
        (60, 4, 8, 90),
        (64, 12, 2, 70),
    ]


def test_timing_offsets_are_kept(tmp_path: Path, midi_writer: Callable[..., Path]) -> None:
    midi_writer(tmp_path / "d.mid", [[(10, 38, 1.05, 0.1, 100)]])  # 4.2 steps: late by 0.2
    style = make_style(tmp_path, source("d.mid", "channels = { drums = 10 }"))
    result = imported(style)
    assert result.bars[0].stems["drums"][0].start == 4
    assert result.timing["drums"][0] == [pytest.approx(0.2, abs=1e-6)]


@pytest.mark.parametrize(
    ("content", "expect"),
    [
        (b"", "not a readable MIDI file"),
        (b"RIFF\x00\x00\x00\x04WAVE", "not a readable MIDI file"),
        (b"MThd\x00\x00\x00\x06\x00\x01\x00\x02\x01\xe0MTrk\x00\x00\x00\xff\x00", "MIDI"),
    ],
)
def test_corrupt_file_names_file_and_field(tmp_path: Path, content: bytes, expect: str) -> None:
    (tmp_path / "bad.mid").write_bytes(content)
    style = make_style(tmp_path, source("bad.mid", "tracks = { melody = 0 }"))
    with pytest.raises(MidiImportError) as info:
        imported(style)
    message = str(info.value)
    assert "bad.mid" in message and expect in message and "sources[0]" in message


def test_missing_file(tmp_path: Path) -> None:
    style = make_style(tmp_path, source("nope.mid", "tracks = { melody = 0 }"))
    with pytest.raises(
        MidiImportError, match=r"nope\.mid: MIDI file not found \(sources\[0\]\.file\)"
    ):
        imported(style)


def test_track_out_of_range_names_field(tmp_path: Path, midi_writer: Callable[..., Path]) -> None:
    midi_writer(tmp_path / "a.mid", [[(1, 60, 0.0, 1.0, 90)], [(2, 36, 0.0, 1.0, 90)]])
    style = make_style(
        tmp_path,
        source("a.mid", "tracks = { melody = 1, bass = 2 }", "C major")
        + source("a.mid", "tracks = { melody = 1, bass = 7 }", "C major"),
    )
    imported(style, 0)
    with pytest.raises(MidiImportError) as info:
        imported(style, 1)
    message = str(info.value)
    assert "a.mid" in message and "sources[1].tracks.bass" in message
    assert "track 7 does not exist" in message and "3 track(s)" in message


def test_mapped_stem_without_notes(tmp_path: Path, midi_writer: Callable[..., Path]) -> None:
    midi_writer(tmp_path / "a.mid", [[(1, 60, 0.0, 1.0, 90)]])
    style = make_style(
        tmp_path, source("a.mid", "tracks = { melody = 1 }\nchannels = { drums = 10 }")
    )
    with pytest.raises(
        MidiImportError, match=r"a\.mid: sources\[0\]\.channels\.drums: stem 'drums'"
    ):
        imported(style)
    assert issubclass(MidiImportError, ValueError)


def test_tiny_style_chords_follow_the_progression(tiny_style_path: Path) -> None:
    style = load_style(tiny_style_path)
    c, am, f, g = (
        Chord(0, "maj").index,
        Chord(9, "min").index,
        Chord(5, "maj").index,
        Chord(7, "maj").index,
    )
    expected = {
        "explore_a.mid": [c, am, f, g] * 2,  # C major as written
        "explore_b.mid": [c, am, f, g] * 2,  # D major, key estimated, moved to C
        "combat_a.mid": [am, f, c, g] * 2,  # A minor
        "both.mid": [am, f, c, g] * 2,  # E minor, key estimated, moved to A minor
    }
    for i, spec in enumerate(style.sources):
        result = import_midi(spec.path, spec, style, index=i)
        assert [b.chord for b in result.bars] == expected[spec.path.name], spec.path.name
        assert set(result.stems) == {"drums", "bass", "harmony", "melody"}


def test_detect_chord_cases() -> None:
    c_first_inversion = [(52, 8.0, True), (60, 16.0, False), (64, 16.0, False), (67, 16.0, False)]
    assert CHORDS[detect_chord(c_first_inversion)] == Chord(0, "maj")
    a_minor = [(45, 16.0, True), (60, 16.0, False), (64, 16.0, False), (69, 16.0, False)]
    assert CHORDS[detect_chord(a_minor)] == Chord(9, "min")
    # A melody line with passing tones over a G bass still reads as G.
    g_with_passing = [
        (43, 16.0, True),
        (67, 4.0, False),
        (69, 2.0, False),
        (71, 4.0, False),
        (74, 4.0, False),
    ]
    assert CHORDS[detect_chord(g_with_passing)] == Chord(7, "maj")
    assert detect_chord([]) == -1


def _meter_file(path: Path, meters: list[tuple[int, int, int]], notes: int, tempos=()) -> Path:
    """A type 0 file with time signatures (beat, numerator, denominator) and one
    quarter note per beat on C; ``tempos`` are (beat, bpm)."""
    tpb = 480
    events: list[tuple[int, int, mido.Message | mido.MetaMessage]] = []
    for beat, numerator, denominator in meters:
        events.append(
            (
                beat * tpb,
                0,
                mido.MetaMessage("time_signature", numerator=numerator, denominator=denominator),
            )
        )
    for beat, bpm in tempos:
        events.append((beat * tpb, 0, mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(bpm))))
    for i in range(notes):
        events.append((i * tpb, 2, mido.Message("note_on", note=60 + i % 5, velocity=90)))
        events.append(((i + 1) * tpb, 1, mido.Message("note_off", note=60 + i % 5, velocity=0)))
    track = mido.MidiTrack()
    now = 0
    for tick, _, msg in sorted(events, key=lambda e: (e[0], e[1])):
        track.append(msg.copy(time=tick - now))
        now = tick
    midi = mido.MidiFile(type=0, ticks_per_beat=tpb)
    midi.tracks.append(track)
    midi.save(str(path))
    return path


def test_bars_are_cut_by_the_files_own_meter(tmp_path: Path) -> None:
    _meter_file(tmp_path / "w.mid", [(0, 3, 4)], 9)
    style = make_style(tmp_path, source("w.mid", "channels = { melody = 1 }", "C major"), "3/4")
    result = imported(style)
    assert result.meters == ("3/4",)
    assert [[n.start for n in bar.stems["melody"]] for bar in result.bars] == [[0, 4, 8]] * 3


def test_a_source_in_an_unsupported_meter_is_skipped_by_name(tmp_path: Path) -> None:
    from authoring._midi import UnsupportedMeterError

    _meter_file(tmp_path / "waltz.mid", [(0, 3, 4)], 12)
    style = make_style(tmp_path, source("waltz.mid", "channels = { melody = 1 }", "C major"))
    with pytest.raises(UnsupportedMeterError, match=r"waltz\.mid.*3/4.*4/4"):
        imported(style)


def test_meter_changes_cut_bars_and_drop_unsupported_sections(tmp_path: Path) -> None:
    from authoring._midi import MeterWarning

    # two bars of 4/4, then two of 3/4, then one of 4/4 again
    _meter_file(tmp_path / "m.mid", [(0, 4, 4), (8, 3, 4), (14, 4, 4)], 18)
    style = make_style(tmp_path, source("m.mid", "channels = { melody = 1 }", "C major"))
    with pytest.warns(MeterWarning, match=r"m\.mid.*3/4"):
        result = imported(style)
    assert result.meters == ("4/4", "3/4")
    # the 3/4 bars are gone; the 4/4 bar after them starts on its own bar line
    assert [[n.start for n in bar.stems["melody"]] for bar in result.bars] == [[0, 4, 8, 12]] * 3
    assert [n.pitch for n in result.bars[2].stems["melody"]] == [64, 60, 61, 62]


def test_tempo_is_the_median_over_the_notes(tmp_path: Path) -> None:
    _meter_file(tmp_path / "t.mid", [], 16, tempos=[(0, 90), (4, 150), (12, 150)])
    style = make_style(tmp_path, source("t.mid", "channels = { melody = 1 }", "C major"))
    assert imported(style).tempo == pytest.approx(150.0, abs=0.01)
    _meter_file(tmp_path / "n.mid", [], 4)
    style = make_style(tmp_path, source("n.mid", "channels = { melody = 1 }", "C major"))
    assert imported(style).tempo is None
