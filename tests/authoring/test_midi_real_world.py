"""The importer on real game soundtracks (Debian's planetblupi-music-midi, GPL-3+).

These files are never shipped or baked; they only show that real-world General
MIDI (drums on channel 10, many channels, long files) imports cleanly. The
tests skip when the package is not installed (``.ci/run`` installs it).
"""

from __future__ import annotations

from pathlib import Path

import mido
import pytest

from adaptive import load_style
from authoring import import_midi

MUSIC = Path("/usr/share/planetblupi/music")
FILES = sorted(MUSIC.glob("*.mid")) if MUSIC.is_dir() else []
pytestmark = pytest.mark.skipif(
    not FILES, reason="Debian package planetblupi-music-midi is not installed"
)

STYLE = """
[style]
name = "real-world"
license = "GPL-3.0-or-later"
tempo = 120
key = "C major"
[stems.drums]
role = "drums"
[stems.melody]
role = "melody"
[states.play]
[[sources]]
file = "{file}"
license = "GPL-3.0-or-later"
attribution = "Planet Blupi music (Debian planetblupi-music-midi)"
channels = {{ drums = 10, melody = {melody} }}
"""


def _pitched_channel(path: Path) -> int:
    counts: dict[int, int] = {}
    for track in mido.MidiFile(str(path)).tracks:
        for message in track:
            if message.type == "note_on" and message.velocity > 0 and message.channel != 9:
                counts[message.channel + 1] = counts.get(message.channel + 1, 0) + 1
    return max(counts, key=lambda c: counts[c])


def _import(path: Path, tmp_path: Path):  # type: ignore[no-untyped-def]
    style_path = tmp_path / "style.toml"
    style_path.write_text(STYLE.format(file=path, melody=_pitched_channel(path)))
    style = load_style(style_path)
    return import_midi(path, style.sources[0], style)


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_real_soundtrack_imports(path: Path, tmp_path: Path) -> None:
    imported = _import(path, tmp_path)
    bars = imported.bars
    assert len(bars) > 8
    drum_notes = [n for bar in bars for n in bar.stems.get("drums", [])]
    melody_notes = [n for bar in bars for n in bar.stems.get("melody", [])]
    assert drum_notes and melody_notes
    for bar in bars:
        for notes in bar.stems.values():
            assert all(0 <= n.start < 16 and n.start + n.duration <= 16 for n in notes)
    # drums keep their General MIDI notes: never transposed by key normalization
    assert {n.pitch for n in drum_notes} <= set(range(27, 88))


def test_type_0_and_type_1_give_the_same_notes(tmp_path: Path) -> None:
    original = FILES[0]
    merged = mido.MidiFile(str(original))
    type0 = mido.MidiFile(type=0, ticks_per_beat=merged.ticks_per_beat)
    type0.tracks.append(mido.merge_tracks(merged.tracks))
    type0_path = tmp_path / "type0.mid"
    type0.save(str(type0_path))
    a = _import(original, tmp_path)
    b = _import(type0_path, tmp_path)
    flat = [
        [
            (s, sorted((n.pitch, n.start, n.duration) for n in notes))
            for s, notes in bar.stems.items()
        ]
        for bar in a.bars
    ]
    flat0 = [
        [
            (s, sorted((n.pitch, n.start, n.duration) for n in notes))
            for s, notes in bar.stems.items()
        ]
        for bar in b.bars
    ]
    assert flat == flat0
