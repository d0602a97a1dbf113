"""Shared fixtures for the whole test suite.

Fixtures
--------
``tiny_style_dir`` (function scope)
    A fresh temporary directory holding a *tiny style*: ``style.toml`` plus four
    small MIDI files written with mido under ``midi/`` (type 0 and type 1 files,
    a tempo change, drums on channel 10). States: ``explore``, ``combat``;
    stems: ``drums``, ``bass``, ``harmony``, ``melody``; parameter ``intensity``;
    stinger ``pickup``; a tiny ``[training]`` config. Tests may modify it freely.
``tiny_style_path`` (function scope)
    ``tiny_style_dir / "style.toml"``.
``tiny_bundle_path`` (session scope)
    A bundle baked once per session from an identical tiny style (a few seconds).
    Read it, never write to it.
``midi_writer`` (session scope)
    ``write_midi(path, tracks, *, midi_type=1, ticks_per_beat=480, tempos=())``,
    the helper that writes the tiny style's MIDI; see its docstring.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import mido
import pytest

# One MIDI event to write: (channel 1-16, pitch, start in beats, length in beats, velocity).
NoteEvent = tuple[int, int, float, float, int]

TICKS_PER_BEAT = 480

# The tiny style's training config: small enough that a bake takes a few seconds.
TINY_TRAINING = {
    "threads": 1,
    "window_bars": 2,
    "sequence_hidden": 16,
    "sequence_embed": 8,
    "sequence_steps": 25,
    "sequence_batch": 8,
    "drums_latent": 4,
    "drums_hidden": 32,
    "drums_steps": 40,
    "drums_batch": 16,
}


def write_midi(
    path: Path,
    tracks: Sequence[Sequence[NoteEvent]],
    *,
    midi_type: int = 1,
    ticks_per_beat: int = TICKS_PER_BEAT,
    tempos: Sequence[tuple[float, int]] = ((0.0, 120),),
) -> Path:
    """Write a real MIDI file with mido.

    Type 1: track 0 is a conductor track (tempo map only) and ``tracks[i]`` is
    file track ``i + 1``. Type 0: every note goes into the single track.
    ``tempos`` are ``(beat, bpm)`` changes. Notes end with note_on velocity 0
    (running-status style) on even tracks and with note_off on odd ones, so both
    forms are exercised.
    """

    def to_track(events: list[tuple[int, mido.Message | mido.MetaMessage]]) -> mido.MidiTrack:
        track = mido.MidiTrack()
        now = 0
        # Ends before starts at the same tick, so repeated notes do not overlap.
        for tick, msg in sorted(events, key=lambda e: (e[0], not _is_end(e[1]))):
            track.append(msg.copy(time=tick - now))
            now = tick
        track.append(mido.MetaMessage("end_of_track", time=0))
        return track

    tempo_events = [
        (round(beat * ticks_per_beat), mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(bpm)))
        for beat, bpm in tempos
    ]
    note_tracks = []
    for t, notes in enumerate(tracks):
        events: list[tuple[int, mido.Message | mido.MetaMessage]] = []
        for channel, pitch, start, length, velocity in notes:
            on = round(start * ticks_per_beat)
            off = round((start + length) * ticks_per_beat)
            events.append(
                (on, mido.Message("note_on", channel=channel - 1, note=pitch, velocity=velocity))
            )
            if t % 2 == 0:
                end = mido.Message("note_on", channel=channel - 1, note=pitch, velocity=0)
            else:
                end = mido.Message("note_off", channel=channel - 1, note=pitch, velocity=64)
            events.append((off, end))
        note_tracks.append(events)

    midi = mido.MidiFile(type=midi_type, ticks_per_beat=ticks_per_beat)
    if midi_type == 0:
        midi.tracks.append(to_track(tempo_events + [e for events in note_tracks for e in events]))
    else:
        midi.tracks.append(to_track(tempo_events))
        midi.tracks.extend(to_track(events) for events in note_tracks)
    path.parent.mkdir(parents=True, exist_ok=True)
    midi.save(str(path))
    return path


def _is_end(msg: mido.Message | mido.MetaMessage) -> bool:
    return msg.type == "note_off" or (msg.type == "note_on" and msg.velocity == 0)


# --- the tiny style's music -------------------------------------------------------------

MAJOR_TRIAD = (0, 4, 7)
MINOR_TRIAD = (0, 3, 7)


def _song(
    progression: Sequence[tuple[int, bool]],
    *,
    transpose: int,
    busy: bool,
    channels: tuple[int, int, int, int] = (1, 2, 3, 10),
) -> list[list[NoteEvent]]:
    """Melody, bass, chords and drums for a progression of (root pitch class, minor) bars in 4/4."""
    melody: list[NoteEvent] = []
    bass: list[NoteEvent] = []
    chords: list[NoteEvent] = []
    drums: list[NoteEvent] = []
    ch_mel, ch_bass, ch_chord, ch_drum = channels
    for bar, (root, minor) in enumerate(progression):
        t0 = bar * 4.0
        triad = [(root + i) % 12 for i in (MINOR_TRIAD if minor else MAJOR_TRIAD)]
        for i, pc in enumerate(triad):
            chords.append((ch_chord, 60 + transpose + pc, t0, 4.0, 70 + i))
        bass.append((ch_bass, 36 + transpose + root, t0, 2.0, 96))
        bass.append((ch_bass, 36 + transpose + triad[2], t0 + 2.0, 2.0, 90))
        tones = [72 + transpose + pc for pc in triad] + [72 + transpose + triad[1]]
        if busy:
            for i in range(8):
                melody.append((ch_mel, tones[i % 4], t0 + i * 0.5, 0.5, 100))
        else:
            for i in range(4):
                melody.append((ch_mel, tones[i], t0 + i, 1.0, 80))
        for beat in range(4):
            if beat in (0, 2) or (busy and beat == 1):
                drums.append((ch_drum, 36, t0 + beat, 0.25, 110))
            if beat in (1, 3):
                drums.append((ch_drum, 38, t0 + beat, 0.25, 100))
        hat_step = 0.25 if busy else 0.5
        for i in range(int(4 / hat_step)):
            drums.append((ch_drum, 42, t0 + i * hat_step, 0.1, 70 if i % 2 else 85))
        if busy and bar % 4 == 0:
            drums.append((ch_drum, 49, t0, 1.0, 115))
    return [melody, bass, chords, drums]


# C-Am-F-G and Am-F-C-G as (root pitch class, minor), 8 bars each.
EXPLORE_PROGRESSION = [(0, False), (9, True), (5, False), (7, False)] * 2
COMBAT_PROGRESSION = [(9, True), (5, False), (0, False), (7, False)] * 2

STYLE_TOML = """\
[style]
name = "tiny"
version = "0.1.0"
author = "adaptive tests"
license = "CC0-1.0"
description = "A tiny test style."
tempo = 120
meter = "4/4"
key = "C major"

[stems.drums]
role = "drums"
intensity = [0.0, 0.3]

[stems.bass]
role = "bass"

[stems.harmony]
role = "harmony"
instrument = "pad"

[stems.melody]
role = "melody"
intensity = [0.2, 0.6]

[states.explore]
valence = 0.7
arousal = 0.3
stems = { drums = 0.6 }

[states.combat]
valence = 0.2
arousal = 0.9

[parameters.intensity]
min = 0.0
max = 1.0
default = 0.4

[stingers.pickup]
instrument = "lead"
notes = [[0, 7, 2, 100], [2, 12, 4, 110]]

# Type 1, C major, note_off endings on odd tracks; track 0 is the tempo track.
[[sources]]
file = "midi/explore_a.mid"
license = "CC0-1.0"
attribution = "adaptive tests"
states = ["explore"]
intensity = 0.3
key = "C major"
tracks = { melody = 1, bass = 2, harmony = 3, drums = 4 }

# Type 0 in D major (the key is estimated), mapped by channel.
[[sources]]
file = "midi/explore_b.mid"
license = "CC0-1.0"
attribution = "adaptive tests"
states = ["explore"]
intensity = 0.4
channels = { melody = 1, bass = 2, harmony = 3, drums = 10 }

# Type 1, A minor, busier, with a tempo change.
[[sources]]
file = "midi/combat_a.mid"
license = "CC-BY-4.0"
attribution = "adaptive tests (combat)"
states = ["combat"]
intensity = 0.9
key = "A minor"
tracks = { melody = 1, bass = 2, harmony = 3, drums = 4 }

# Type 1 in E minor, tagged with both states.
[[sources]]
file = "midi/both.mid"
license = "CC0-1.0"
attribution = "adaptive tests"
states = ["explore", "combat"]
intensity = 0.6
tracks = { melody = 1, bass = 2, harmony = 3, drums = 4 }

[training]
"""


def write_tiny_style(root: Path) -> Path:
    """Write the tiny style into ``root``; returns the style.toml path."""
    midi = root / "midi"
    write_midi(midi / "explore_a.mid", _song(EXPLORE_PROGRESSION, transpose=0, busy=False))
    write_midi(
        midi / "explore_b.mid", _song(EXPLORE_PROGRESSION, transpose=2, busy=False), midi_type=0
    )
    write_midi(
        midi / "combat_a.mid",
        _song(COMBAT_PROGRESSION, transpose=0, busy=True),
        tempos=((0.0, 140), (8.0, 150), (16.0, 132)),
    )
    write_midi(midi / "both.mid", _song(COMBAT_PROGRESSION, transpose=7, busy=True))
    training = "".join(f"{k} = {v}\n" for k, v in TINY_TRAINING.items())
    path = root / "style.toml"
    path.write_text(STYLE_TOML + training, encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def midi_writer() -> Callable[..., Path]:
    return write_midi


@pytest.fixture
def tiny_style_dir(tmp_path: Path) -> Path:
    write_tiny_style(tmp_path)
    return tmp_path


@pytest.fixture
def tiny_style_path(tiny_style_dir: Path) -> Path:
    return tiny_style_dir / "style.toml"


@pytest.fixture(scope="session")
def tiny_bundle_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from authoring import bake

    root = tmp_path_factory.mktemp("tiny_bundle")
    style = write_tiny_style(root)
    out = root / "tiny.adaptive"
    bake(style, out, progress=False)
    return out
