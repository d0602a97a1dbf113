"""MIDI import: one style source in, key-normalized notes per stem cut into bars out.

The importer reads type 0, 1 and 2 files with mido. Only ticks place notes
(tempo changes do not move the grid: a beat is ``ticks_per_beat`` ticks whatever
the tempo), but the tempo map is kept: ``ImportedSource.tempo`` is the source's
median tempo over its notes, from which the bake learns a tempo per state.
Notes are quantized to the sixteenth grid and cut into bars by the file's own
time signatures (the style's meter when the file has none). Bars in a meter the
style does not play are dropped with a warning naming the file and the meter; a
source left with no bar raises ``UnsupportedMeterError`` (the bake skips it with
a warning). Pitched stems are moved to C major / A minor so that every source
speaks the same key-relative language.

Every failure is a ``MidiImportError`` that names the file and the style field
(e.g. ``sources[3].tracks.bass``) so a sound designer can fix it.
"""

from __future__ import annotations

import warnings
from bisect import bisect_right
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
    "UnsupportedMeterError",
    "MeterWarning",
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


class UnsupportedMeterError(MidiImportError):
    """Every bar of a source is in a meter the style does not play; the bake skips it."""


class MeterWarning(UserWarning):
    """Bars of a source were dropped because their meter is not the style's."""


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
    tempo: float | None = None  # median bpm over the notes; None when the file sets none
    meters: tuple[str, ...] = ()  # the file's time signatures, in order ("4/4", ...)
    # General MIDI program (0-based) per pitched stem: the file's first program change on
    # the tracks and channels the stem's notes come from; absent when the file sets none
    programs: dict[str, int] = field(default_factory=dict)

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


def _meta_events(midi: mido.MidiFile) -> tuple[list[tuple[int, float]], list[tuple[int, int, int]]]:
    """Tempo changes (tick, bpm) and time signatures (tick, numerator, denominator)
    of every track, in absolute ticks (type 2 tracks each start at tick 0)."""
    tempos: list[tuple[int, float]] = []
    meters: list[tuple[int, int, int]] = []
    for track in midi.tracks:
        tick = 0
        for msg in track:
            tick += msg.time
            if msg.type == "set_tempo" and msg.tempo > 0:
                tempos.append((tick, float(mido.tempo2bpm(msg.tempo))))
            elif msg.type == "time_signature":
                meters.append((tick, int(msg.numerator), int(msg.denominator)))
    return sorted(tempos), sorted(meters)


def _stem_programs(
    midi: mido.MidiFile,
    source: SourceSpec,
    raw: Mapping[str, list[_RawNote]],
    roles: Mapping[str, str],
) -> dict[str, int]:
    """Each pitched stem's program: the first program change on its tracks and channels."""
    firsts: dict[tuple[int, int], int] = {}  # (track, 1-based channel) -> program
    for t, track in enumerate(midi.tracks):
        for msg in track:
            if msg.type == "program_change":
                firsts.setdefault((t, msg.channel + 1), int(msg.program))
    out: dict[str, int] = {}
    for stem, notes in raw.items():
        if roles[stem] == "drums":
            continue  # channel 10's program picks a kit, not an instrument
        tracks = source.tracks.get(stem) or range(len(midi.tracks))
        channels = sorted({n.channel for n in notes})
        found = [firsts[(t, c)] for t in tracks for c in channels if (t, c) in firsts]
        if found:
            out[stem] = found[0]
    return out


def _median_tempo(tempos: list[tuple[int, float]], starts: list[int]) -> float | None:
    """The tempo in force at the median note: what a listener hears as the piece's tempo."""
    if not tempos:
        return None
    if not starts:
        return tempos[0][1]
    ticks = [t for t, _ in tempos]
    at = [tempos[max(0, bisect_right(ticks, s) - 1)][1] for s in starts]
    return float(np.median(at))


@dataclass(frozen=True)
class _MeterSegment:
    start_step: int  # sixteenth step where the segment begins (on a bar line)
    first_bar: int  # number of its first bar
    steps_per_bar: int
    name: str  # e.g. "3/4"


def _meter_segments(
    meters: list[tuple[int, int, int]], tpb: int, default_steps: int, default_name: str
) -> list[_MeterSegment]:
    """Bar grid from the time signatures; a change that falls inside a bar starts a new bar."""
    segments = [_MeterSegment(0, 0, default_steps, default_name)]
    for tick, numerator, denominator in meters:
        step = int(round(tick * STEPS_PER_QUARTER / tpb))
        steps = max(1, numerator * STEPS_PER_QUARTER * 4 // max(1, denominator))
        last = segments[-1]
        bars_before = -(-(step - last.start_step) // last.steps_per_bar)  # ceil
        if step <= last.start_step:  # replaces the segment that starts here
            segments[-1] = _MeterSegment(
                last.start_step, last.first_bar, steps, f"{numerator}/{denominator}"
            )
            continue
        start = last.start_step + bars_before * last.steps_per_bar
        segments.append(
            _MeterSegment(start, last.first_bar + bars_before, steps, f"{numerator}/{denominator}")
        )
    return segments


def _locate(segments: list[_MeterSegment], starts: list[int], step: int) -> tuple[int, int, int]:
    """(bar number, step within the bar, segment index) of a sixteenth step."""
    k = max(0, bisect_right(starts, step) - 1)
    seg = segments[k]
    bar, offset = divmod(step - seg.start_step, seg.steps_per_bar)
    return seg.first_bar + bar, offset, k


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
    tempos, meter_events = _meta_events(midi)
    segments = _meter_segments(meter_events, tpb, steps_per_bar, str(style.meter))
    segment_starts = [seg.start_step for seg in segments]
    note_starts = sorted(n.start for notes in raw.values() for n in notes)
    tempo = _median_tempo(tempos, note_starts)

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
    dropped: dict[str, int] = defaultdict(int)  # unsupported meter -> notes dropped
    for stem, notes in raw.items():
        drums = roles[stem] == "drums"
        for n in notes:
            exact = step(n.start)
            start = int(round(exact))
            end = max(start + 1, int(round(step(n.end))))
            bar, offset, k = _locate(segments, segment_starts, start)
            if segments[k].steps_per_bar != steps_per_bar:
                dropped[segments[k].name] += 1
                continue
            # A note crossing the bar line is clipped at the bar end.
            duration = 1 if drums else max(1, min(end - start, steps_per_bar - offset))
            pitch = n.pitch if drums else _fold(n.pitch + shift)
            note = Note(
                pitch=pitch, start=offset, duration=duration, velocity=max(1, min(127, n.velocity))
            )
            per_bar[bar][stem].append((note, float(np.clip(exact - start, -0.5, 0.5))))

    meters_used = tuple(dict.fromkeys(seg.name for seg in segments))
    if dropped:
        names = ", ".join(sorted(dropped))
        if not per_bar:
            raise UnsupportedMeterError(
                f"{path}: every bar is in {names}, which the style's meter {style.meter} "
                f"cannot play ({where}.file); the source is skipped"
            )
        warnings.warn(
            f"{path}: {sum(dropped.values())} note(s) in {names} bars dropped; the style plays "
            f"{style.meter} ({where}.file)",
            MeterWarning,
            stacklevel=2,
        )
    if not per_bar:  # every mapped stem was checked non-empty, so this is unreachable
        raise MidiImportError(f"{path}: no notes in any mapped stem ({where})")
    first, last = min(per_bar), max(per_bar)  # leading/trailing silence is not music to learn
    bars: list[Bar] = []
    timing: dict[str, list[list[float]]] = {stem: [] for stem in raw}
    first_bars = [seg.first_bar for seg in segments]
    for number in range(first, last + 1):
        if segments[max(0, bisect_right(first_bars, number) - 1)].steps_per_bar != steps_per_bar:
            continue  # a bar of an unsupported meter: dropped (warned above)
        content = per_bar.get(number, {})
        cut = Bar(index=len(bars), chord=-1, stems={})
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
        tempo=tempo,
        meters=meters_used,
        programs=_stem_programs(midi, source, raw, roles),
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
