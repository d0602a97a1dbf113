"""MIDI import: one style source in, key-normalized notes per stem cut into bars out.

The importer reads type 0, 1 and 2 files with mido. Only ticks matter (tempo
changes do not move the grid: a beat is ``ticks_per_beat`` ticks whatever the
tempo). Notes are quantized to the sixteenth grid, cut into bars of the style's
meter, and pitched stems are moved to C major / A minor so that every source
speaks the same key-relative language.

Every failure is a ``MidiImportError`` that names the file and the style field
(e.g. ``sources[3].tracks.bass``) so a sound designer can fix it.
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import mido
import numpy as np

from adaptive._errors import MidiImportError
from adaptive._music import DRUM_VOICES, STEPS_PER_QUARTER, Bar, Key, Note
from adaptive._style import SourceSpec, Style

from ._train.chords import detect_chord

__all__ = [
    "ImportedSource",
    "import_midi",
    "estimate_key",
    "drum_voice",
    "DRUM_CHANNEL",
]

DRUM_CHANNEL = 10  # General MIDI percussion, 1-based

# General MIDI percussion notes folded onto the drum model's voices (rows of DRUM_VOICES).
_VOICE_ROW = {name: i for i, (name, _) in enumerate(DRUM_VOICES)}
_GM_DRUMS: dict[int, str] = {
    35: "kick", 36: "kick",
    37: "snare", 38: "snare", 39: "snare", 40: "snare",
    42: "closed_hat", 44: "closed_hat", 51: "closed_hat", 53: "closed_hat", 59: "closed_hat",
    46: "open_hat",
    49: "crash", 52: "crash", 55: "crash", 57: "crash",
    41: "tom", 43: "tom", 45: "tom", 47: "tom", 48: "tom", 50: "tom",
}  # fmt: skip

# Krumhansl-Kessler key profiles (probe-tone ratings), index 0 = tonic.
_MAJOR_PROFILE = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
_MINOR_PROFILE = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])


def drum_voice(pitch: int) -> int | None:
    """Row in DRUM_VOICES for a General MIDI percussion note; None if the model lacks the voice."""
    name = _GM_DRUMS.get(pitch)
    return None if name is None else _VOICE_ROW[name]


@dataclass
class ImportedSource:
    """One imported source.

    ``bars`` hold key-normalized notes per mapped stem (a mapped stem is always
    present, possibly empty) and the bar's detected chord (key-relative index
    into CHORDS, -1 when the bar has no pitched content). ``timing`` holds, per
    stem and bar, each note's micro-timing (fraction of a step, -0.5..0.5) in the
    same order as the bar's notes; the drum model learns its feel from it.
    """

    source: SourceSpec
    key: Key
    key_estimated: bool
    shift: int  # semitones added to pitched stems
    ticks_per_beat: int
    bars: list[Bar]
    timing: dict[str, list[list[float]]] = field(default_factory=dict)

    @property
    def stems(self) -> list[str]:
        return sorted({s for bar in self.bars for s in bar.stems})


@dataclass
class _RawNote:
    channel: int  # 1-based
    pitch: int
    velocity: int
    start: int  # ticks
    end: int


def _read_track(track: Iterable[mido.Message]) -> list[_RawNote]:
    """Notes of one track with absolute ticks; note_on velocity 0 is a note_off."""
    notes: list[_RawNote] = []
    # Overlapping notes of the same pitch and channel: close the oldest first (FIFO),
    # which is what most sequencers do.
    open_notes: dict[tuple[int, int], deque[tuple[int, int]]] = defaultdict(deque)
    tick = 0
    for msg in track:
        tick += msg.time
        if msg.type == "note_on" and msg.velocity > 0:
            open_notes[(msg.channel, msg.note)].append((tick, msg.velocity))
        elif msg.type in ("note_off", "note_on"):
            queue = open_notes.get((msg.channel, msg.note))
            if queue:
                start, velocity = queue.popleft()
                notes.append(_RawNote(msg.channel + 1, msg.note, velocity, start, tick))
    for (channel, pitch), queue in open_notes.items():  # never closed: end at the track's end
        for start, velocity in queue:
            notes.append(_RawNote(channel + 1, pitch, velocity, start, max(tick, start + 1)))
    return notes


def estimate_key(notes: Iterable[tuple[int, float]]) -> Key:
    """Krumhansl-Schmuckler: correlate the duration-weighted pitch-class histogram
    of ``(pitch, weight)`` pairs with the 24 rotated key profiles."""
    histogram = np.zeros(12)
    for pitch, weight in notes:
        histogram[pitch % 12] += weight
    if histogram.sum() <= 0:
        return Key(0, "major")
    best: tuple[float, int, str] = (-2.0, 0, "major")
    for mode, profile in (("major", _MAJOR_PROFILE), ("minor", _MINOR_PROFILE)):
        for tonic in range(12):
            r = float(np.corrcoef(histogram, np.roll(profile, tonic))[0, 1])
            if np.isfinite(r) and r > best[0] + 1e-9:
                best = (r, tonic, mode)
    return Key(best[1], best[2])


def _fold(pitch: int) -> int:
    """Keep a transposed pitch inside 0..127 by moving it an octave."""
    while pitch < 0:
        pitch += 12
    while pitch > 127:
        pitch -= 12
    return pitch


def _source_index(source: SourceSpec, style: Style) -> int | None:
    for i, candidate in enumerate(style.sources):
        if candidate is source:
            return i
    for i, candidate in enumerate(style.sources):
        if candidate == source:
            return i
    return None


def import_midi(
    path: str | Path, source: SourceSpec, style: Style, *, index: int | None = None
) -> ImportedSource:
    """Read one source's MIDI file and return its notes per stem, key-normalized, cut into bars.

    ``index`` is the source's position in ``style.sources`` (looked up when not
    given); it only makes error messages name the field, e.g. ``sources[3].tracks.bass``.
    """
    path = Path(path)
    i = _source_index(source, style) if index is None else index
    where = f"sources[{i}]" if i is not None else "sources[?]"
    try:
        midi = mido.MidiFile(str(path), clip=True)
    except FileNotFoundError:
        raise MidiImportError(f"{path}: MIDI file not found ({where}.file)") from None
    except IsADirectoryError:
        raise MidiImportError(f"{path}: is a directory, not a MIDI file ({where}.file)") from None
    except Exception as exc:  # mido raises OSError, EOFError, ValueError, KeyError... on bad bytes
        raise MidiImportError(
            f"{path}: not a readable MIDI file ({where}.file): {type(exc).__name__}: {exc}"
        ) from None
    if midi.type not in (0, 1, 2) or not midi.ticks_per_beat or midi.ticks_per_beat <= 0:
        raise MidiImportError(
            f"{path}: unsupported MIDI file (type {midi.type}, ticks_per_beat "
            f"{midi.ticks_per_beat}); only metrical type 0/1/2 files are supported ({where}.file)"
        )
    try:
        tracks = [_read_track(track) for track in midi.tracks]
    except Exception as exc:  # a message with bad data bytes
        raise MidiImportError(f"{path}: corrupt MIDI data ({where}.file): {exc}") from None

    roles = {name: spec.role for name, spec in style.stems.items()}
    raw: dict[str, list[_RawNote]] = {}
    for stem in sorted(set(source.tracks) | set(source.channels)):
        raw[stem] = _select(path, where, stem, roles[stem], source, tracks)

    tpb = midi.ticks_per_beat
    steps_per_bar = style.meter.steps_per_bar

    # Key: the source's own, else estimated from its pitched notes (weighted by length).
    if source.key is not None:
        key, estimated = source.key, False
    else:
        pitched = [
            (n.pitch, (n.end - n.start) / tpb)
            for stem, notes in raw.items()
            if roles[stem] != "drums"
            for n in notes
        ]
        key = estimate_key(pitched) if pitched else style.key
        estimated = True
    shift = key.normalization_shift

    def step(tick: int) -> float:
        return tick * STEPS_PER_QUARTER / tpb

    per_bar: dict[int, dict[str, list[tuple[Note, float]]]] = defaultdict(lambda: defaultdict(list))
    for stem, notes in raw.items():
        drums = roles[stem] == "drums"
        for n in notes:
            exact = step(n.start)
            start = int(round(exact))
            end = max(start + 1, int(round(step(n.end))))
            bar, offset = divmod(start, steps_per_bar)
            # A note crossing the bar line is clipped at the bar end.
            duration = 1 if drums else max(1, min(end - start, steps_per_bar - offset))
            pitch = n.pitch if drums else _fold(n.pitch + shift)
            note = Note(
                pitch=pitch, start=offset, duration=duration, velocity=max(1, min(127, n.velocity))
            )
            per_bar[bar][stem].append((note, float(np.clip(exact - start, -0.5, 0.5))))

    if not per_bar:  # every mapped stem was checked non-empty, so this is unreachable
        raise MidiImportError(f"{path}: no notes in any mapped stem ({where})")
    first, last = min(per_bar), max(per_bar)  # leading/trailing silence is not music to learn
    bars: list[Bar] = []
    timing: dict[str, list[list[float]]] = {stem: [] for stem in raw}
    for number in range(first, last + 1):
        content = per_bar.get(number, {})
        cut = Bar(index=number - first, chord=-1, stems={})
        for stem in raw:
            pairs = sorted(content.get(stem, []), key=lambda p: (p[0].start, p[0].pitch))
            cut.stems[stem] = [p[0] for p in pairs]
            timing[stem].append([p[1] for p in pairs])
        cut.chord = chord_of_bar(cut, roles)
        bars.append(cut)
    return ImportedSource(
        source=source,
        key=key,
        key_estimated=estimated,
        shift=shift,
        ticks_per_beat=tpb,
        bars=bars,
        timing=timing,
    )


def chord_of_bar(bar: Bar, roles: Mapping[str, str]) -> int:
    """The bar's chord from its harmony and bass stems (melody only if they are silent)."""
    weighted: list[tuple[int, float, bool]] = []  # (pitch, weight, is_bass)
    for stem, notes in bar.stems.items():
        if roles.get(stem) in ("harmony", "bass"):
            weighted += [(n.pitch, float(n.duration), roles[stem] == "bass") for n in notes]
    if not weighted:
        for stem, notes in bar.stems.items():
            if roles.get(stem) == "melody":
                weighted += [(n.pitch, float(n.duration), False) for n in notes]
    return detect_chord(weighted)


def _select(
    path: Path,
    where: str,
    stem: str,
    role: str,
    source: SourceSpec,
    tracks: list[list[_RawNote]],
) -> list[_RawNote]:
    """The notes a stem maps to: its tracks (all, if none given), filtered by its channels."""
    if stem in source.tracks:
        field_name = f"{where}.tracks.{stem}"
        for t in source.tracks[stem]:
            if t >= len(tracks):
                raise MidiImportError(
                    f"{path}: {field_name}: track {t} does not exist; the file has "
                    f"{len(tracks)} track(s), indices 0..{len(tracks) - 1}"
                )
        chosen = [n for t in source.tracks[stem] for n in tracks[t]]
    else:
        field_name = f"{where}.channels.{stem}"
        chosen = [n for track in tracks for n in track]
    if stem in source.channels:
        wanted = set(source.channels[stem])
        chosen = [n for n in chosen if n.channel in wanted]
        if stem in source.tracks:
            field_name = f"{where}.tracks.{stem} / {where}.channels.{stem}"
    elif role != "drums":
        # A pitched stem mapped by track never takes General MIDI percussion.
        chosen = [n for n in chosen if n.channel != DRUM_CHANNEL]
    if not chosen:
        channels = source.channels.get(stem)
        detail = f" on channel(s) {', '.join(map(str, channels))}" if channels else ""
        tracks_text = (
            f"track(s) {', '.join(map(str, source.tracks[stem]))}"
            if stem in source.tracks
            else "the file"
        )
        raise MidiImportError(
            f"{path}: {field_name}: stem {stem!r} has no notes in {tracks_text}{detail}; "
            "check the track indices (0-based) and channels (1-based, drums usually 10)"
        )
    return chosen
