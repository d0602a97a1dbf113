"""Write the default style's MIDI sources and its style.toml, deterministically.

Run from anywhere (music21 is needed only here, never to bake or play)::

    pip install music21 && python examples/default/prepare_sources.py

What it writes into ``examples/default/``:

- ``midi/bach_*.mid``: J. S. Bach four-part chorales from the music21 corpus.
  Track 0 = soprano (melody), track 1 = alto + tenor (harmony), track 2 = bass.
- ``midi/ryan_*.mid``: fiddle tunes from Ryan's Mammoth Collection (1883) in the
  music21 corpus. Track 0 = the tune (melody).
- ``midi/groove_*.mid``: drum grooves we wrote (General MIDI, channel 10).
- ``midi/cue_*.mid``: short combat/boss cues we wrote, same layout as the chorales.
- ``style.toml``: from the template below, with one ``[[sources]]`` entry per
  file (licence, attribution and key for each).

Every file is 4/4 at the style tempo, 480 ticks per quarter, and bar 1 starts at
tick 0: an opening pickup (anacrusis) is dropped. Later short bars must pair up
into whole bars (a strain's last bar plus the next strain's pickup); pieces whose
bars cannot be aligned that way are skipped, as are pieces not in 4/4 (or 2/2,
the same bar). essenFolksong is never used: it is licensed non-commercial only.
"""

from __future__ import annotations

import hashlib
import io
import json
import random
import re
import string
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import mido
import music21
from music21 import chord, corpus, harmony, key, meter, note, stream

HERE = Path(__file__).resolve().parent
MIDI_DIR = HERE / "midi"
TEMPO = 112
TPQ = 480  # MIDI ticks per quarter note
BAR = 4 * TPQ
N_MAJOR_CHORALES = 30
N_MINOR_CHORALES = 20
N_TUNES = 44
OURS = ("Apache-2.0", "adaptive contributors")
PUBLIC_DOMAIN = "public-domain"

Ev = tuple[int, int, int, int]  # start tick, end tick, MIDI pitch, velocity


@dataclass
class Source:
    file: str
    license: str
    attribution: str
    states: list[str]
    intensity: float
    key: str | None
    tracks: dict[str, int] = field(default_factory=dict)
    channels: dict[str, int] = field(default_factory=dict)
    bars: int = 0


# ---------------------------------------------------------------- MIDI writing


def _monophonic_per_pitch(events: Iterable[Ev]) -> list[Ev]:
    """Cut overlapping notes of the same pitch so every note-on has its own note-off."""
    out: list[Ev] = []
    by_pitch: dict[int, list[Ev]] = {}
    for ev in sorted(events):
        by_pitch.setdefault(ev[2], []).append(ev)
    for evs in by_pitch.values():
        for i, (start, end, pitch, vel) in enumerate(evs):
            if i + 1 < len(evs) and evs[i + 1][0] < end:
                nxt = evs[i + 1]
                evs[i + 1] = (nxt[0], max(nxt[1], end), pitch, nxt[3])
                end = nxt[0]
            if end > start:
                out.append((start, end, pitch, vel))
    return sorted(out)


def write_midi(path: Path, tracks: Sequence[tuple[str, int, int, list[Ev]]], bars: int) -> None:
    """Write a type-1 file: one track per (name, channel 0-based, program, events)."""
    mid = mido.MidiFile(type=1, ticks_per_beat=TPQ)
    for index, (name, channel, program, events) in enumerate(tracks):
        track = mido.MidiTrack()
        track.append(mido.MetaMessage("track_name", name=name, time=0))
        if index == 0:
            track.append(mido.MetaMessage("time_signature", numerator=4, denominator=4, time=0))
            track.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(TEMPO), time=0))
        if program >= 0:
            track.append(mido.Message("program_change", channel=channel, program=program, time=0))
        timeline: list[tuple[int, int, int, int]] = []  # tick, order (offs first), pitch, vel
        for start, end, pitch, vel in _monophonic_per_pitch(events):
            timeline.append((start, 1, pitch, vel))
            timeline.append((end, 0, pitch, 0))
        now = 0
        for tick, kind, pitch, vel in sorted(timeline):
            msg = "note_on" if kind else "note_off"
            track.append(
                mido.Message(msg, channel=channel, note=pitch, velocity=vel, time=tick - now)
            )
            now = tick
        track.append(mido.MetaMessage("end_of_track", time=max(0, bars * BAR - now)))
        mid.tracks.append(track)
    path.parent.mkdir(parents=True, exist_ok=True)
    mid.save(str(path))


# ------------------------------------------------------------- corpus pieces


def _ticks(quarters: Fraction | float) -> int:
    return round(Fraction(quarters) * TPQ)


def _velocity(tick: int, base: int) -> int:
    pos = tick % BAR
    accent = 10 if pos == 0 else 6 if pos == 2 * TPQ else 3 if pos % TPQ == 0 else 0
    return min(127, base + accent)


def _bar_shift(part: stream.Part) -> int | None:
    """Ticks to add so bar 1 lands on a multiple of BAR, or None if bars misalign.

    A short first measure is a pickup (it ends on a bar line); a short measure
    elsewhere must end a strain (start on a bar line) or be the pickup into the
    next strain (end on one), or be the last measure.
    """
    measures = list(part.getElementsByClass(stream.Measure))
    if len(measures) < 4:
        return None
    shift = (BAR - _ticks(measures[0].duration.quarterLength)) % BAR
    for i, m in enumerate(measures):
        start = shift + _ticks(m.offset)
        length = _ticks(m.duration.quarterLength)
        if length == BAR and start % BAR == 0:
            continue
        if 0 < length < BAR and (
            start % BAR == 0 or (start + length) % BAR == 0 or i == len(measures) - 1
        ):
            continue
        return None
    return shift


def _part_events(part: stream.Part, shift: int, base: int, top_only: bool = True) -> list[Ev]:
    events: list[Ev] = []
    flat = part.stripTies().flatten()
    for element in flat.notes:
        if isinstance(element, harmony.ChordSymbol) or element.quarterLength == 0:
            continue
        if isinstance(element, chord.Chord):
            pitches = [p.midi for p in element.pitches]
            chosen = [max(pitches)] if top_only else pitches
        elif isinstance(element, note.Note):
            chosen = [element.pitch.midi]
        else:
            continue
        start = shift + _ticks(element.getOffsetBySite(flat))
        end = start + _ticks(element.quarterLength)
        if shift:  # drop the opening pickup: its bar 1 becomes our bar 0 at tick 0
            start, end = max(0, start - BAR), end - BAR
            if end <= 0:
                continue
        events.extend((start, end, p, _velocity(start, base)) for p in chosen if 0 <= p <= 127)
    return events


def _is_common_time(score: stream.Score) -> bool:
    signatures = list(score.recurse().getElementsByClass(meter.TimeSignature))
    return bool(signatures) and all(ts.ratioString in ("4/4", "2/2") for ts in signatures)


def _key_name(score: stream.Score) -> str:
    """music21's key analysis, preferring the reading that matches the key signature."""
    analysed = score.analyze("key")
    candidates = [analysed, *analysed.alternateInterpretations]
    signatures = list(score.recurse().getElementsByClass(key.KeySignature))
    best = analysed
    if signatures:
        sharps = signatures[0].sharps
        for cand in candidates:
            if cand.sharps == sharps:
                best = cand
                break
    tonic = best.tonic.name.replace("-", "b")
    if len(tonic) > 2:  # a double accidental: fall back to the enharmonic spelling
        tonic = best.tonic.getEnharmonic().name.replace("-", "b")
    return f"{tonic} {best.mode}"


def _bars(events: Iterable[Ev]) -> int:
    return max((end - 1) // BAR + 1 for _, end, _, _ in events)


def _order(paths: Iterable[Path]) -> list[Path]:
    """A fixed shuffle, so picks spread over the alphabet but never change."""
    return sorted(paths, key=lambda p: hashlib.sha256(p.name.encode()).hexdigest())


def chorales() -> list[Source]:
    out: list[Source] = []
    counts = {"major": 0, "minor": 0}
    quota = {"major": N_MAJOR_CHORALES, "minor": N_MINOR_CHORALES}
    paths = [Path(p) for p in corpus.getComposer("bach")]
    for path in _order(p for p in paths if p.suffix in (".mxl", ".xml", ".krn")):
        if all(counts[m] >= quota[m] for m in counts):
            break
        score = corpus.parse(str(path))
        if not isinstance(score, stream.Score) or not _is_common_time(score):
            continue
        voices: dict[str, stream.Part] = {}
        for part in score.parts:
            name = (part.partName or "").strip().lower()
            for voice in ("soprano", "alto", "tenor", "bass"):
                if name.startswith(voice) and voice not in voices:
                    voices[voice] = part
        if len(voices) != 4:
            continue
        shifts = {_bar_shift(p) for p in voices.values()}
        if len(shifts) != 1 or None in shifts:
            continue
        shift = shifts.pop()
        assert shift is not None
        key_name = _key_name(score)
        mode = key_name.split()[1]
        if counts[mode] >= quota[mode]:
            continue
        stem = path.name.removesuffix(".mxl").removesuffix(".xml").removesuffix(".krn")
        file = f"midi/bach_{stem}.mid"
        if any(src.file == file for src in out):  # the same chorale in two formats
            continue
        counts[mode] += 1
        melody = _part_events(voices["soprano"], shift, 84)
        inner = _part_events(voices["alto"], shift, 64) + _part_events(voices["tenor"], shift, 60)
        bass = _part_events(voices["bass"], shift, 76)
        bars = _bars(melody + inner + bass)
        write_midi(
            HERE / file,
            [("melody", 0, 73, melody), ("harmony", 1, 48, inner), ("bass", 2, 32, bass)],
            bars,
        )
        bwv = stem.removeprefix("bwv")
        busy = min(1.0, max(0.0, (len(melody) / bars - 3) / 4))  # 0 = long notes, 1 = busy
        if mode == "major" and counts[mode] % 3:
            states, intensity = ["explore"], 0.2 + 0.2 * busy
        elif mode == "major":  # every third major chorale: harmony and bass for combat too
            states, intensity = ["explore", "combat"], 0.45 + 0.1 * busy
        elif counts[mode] % 4:
            states, intensity = ["boss"], 0.85 + 0.1 * busy
        else:  # every fourth minor chorale: dark harmony for combat too
            states, intensity = ["boss", "combat"], 0.75 + 0.1 * busy
        out.append(
            Source(
                file=file,
                license=PUBLIC_DOMAIN,
                attribution=(
                    f"Johann Sebastian Bach, four-part chorale BWV {bwv}; "
                    f"{_encoding_credit(path)}; converted to MIDI by adaptive contributors"
                ),
                states=states,
                intensity=round(intensity, 2),
                key=key_name,
                tracks={"melody": 0, "harmony": 1, "bass": 2},
                bars=bars,
            )
        )
    return out


def _encoding_credit(path: Path) -> str:
    """Where the encoding came from, quoting any credit or copyright line in the file."""
    raw = path.read_bytes()
    if path.suffix == ".mxl":
        with zipfile.ZipFile(io.BytesIO(raw)) as archive:
            raw = b"".join(archive.read(n) for n in archive.namelist() if not n.endswith("/"))
    text = raw.decode("utf-8", errors="replace")
    kind = "Humdrum **kern" if path.suffix == ".krn" else "MusicXML"
    credit = f"{kind} encoding from the music21 corpus (bach/{path.name})"
    for words in re.findall(r"<credit-words[^>]*>(.*?)</credit-words>", text, re.S):
        if re.search(r"©|\(c\)|copyright|greentree", words, re.I):
            return f"{credit}, credited in the file as '{' '.join(words.split())}'"
    return credit


def _abc_header(path: Path) -> dict[str, str]:
    fields: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        if len(line) > 2 and line[1] == ":" and line[0] in "TMRCZK" and line[0] not in fields:
            fields[line[0]] = line[2:].strip()
        if line.startswith("K:"):
            break
    return fields


def _person(text: str) -> str:
    """'Contributed by Ray Davies,  ray:davies99...' -> 'Ray Davies' (no e-mail addresses)."""
    words = [w for w in text.replace(",", " ").split() if ":" not in w and "@" not in w]
    words = [w for w in words if not w.strip("<>").replace("/", "").replace("-", "").isdigit()]
    drop = {"contributed", "transcribed", "by"}
    return " ".join(w for w in words if w.lower() not in drop).strip(" .<>")


ORIGINS = {
    "scotch",
    "scottish",
    "irish",
    "english",
    "welsh",
    "german",
    "french",
    "traditional",
    "old",
}


def fiddle_tunes() -> list[Source]:
    out: list[Source] = []
    for path in _order(Path(p) for p in corpus.getComposer("ryansMammoth")):
        if len(out) >= N_TUNES:
            break
        head = _abc_header(path)
        rhythm = head.get("R", "").lower()
        if head.get("M", "").replace(" ", "") not in ("C", "C|", "4/4") or rhythm not in (
            "reel",
            "hornpipe",
            "clog",
            "highland fling",
        ):
            continue
        score = corpus.parse(str(path))
        if (
            not isinstance(score, stream.Score)
            or len(score.parts) != 1
            or not _is_common_time(score)
        ):
            continue
        part = score.parts[0]
        shift = _bar_shift(part)
        if shift is None:
            continue
        melody = _part_events(part, shift, 80)
        if not melody:
            continue
        key_name = _key_name(score)
        bars = _bars(melody)
        stem = path.stem
        file = f"midi/ryan_{stem}.mid"
        write_midi(HERE / file, [("melody", 0, 40, melody)], bars)
        # "Pigeon on the Gat:e -- Reel" -> "Pigeon on the Gate Reel" (':' is an encoding artefact)
        title = head.get("T", stem).replace("--", " ").replace(":", "")
        title = " ".join(title.split()).strip(" .")
        title = string.capwords(title) if title.isupper() else title
        composer = head.get("C", "").strip(" .")
        composer = string.capwords(composer) if composer.isupper() else composer
        if composer.lower() in ORIGINS:
            by = f" ({composer})"
        else:
            by = f" by {composer}" if composer else ""
        transcriber = _person(head.get("Z", ""))
        abc = f"ABC transcription by {transcriber}" if transcriber else "ABC encoding"
        minor = key_name.endswith("minor")
        states = ["combat", "boss"] if minor else ["combat"]
        intensity = {"reel": 0.75, "highland fling": 0.7, "clog": 0.65, "hornpipe": 0.6}[rhythm]
        out.append(
            Source(
                file=file,
                license=PUBLIC_DOMAIN,
                attribution=(
                    f"'{title}'{by}, Ryan's Mammoth Collection (Boston, 1883); {abc} "
                    f"from the music21 corpus (ryansMammoth/{path.name}); converted to MIDI "
                    "by adaptive contributors"
                ),
                states=states,
                intensity=round(intensity + (0.1 if minor else 0.0), 2),
                key=key_name,
                tracks={"melody": 0},
                bars=bars,
            )
        )
    return out


# ------------------------------------------------------------ our own material

KICK, SNARE, HAT, OPEN_HAT, CRASH, TOM = 36, 38, 42, 46, 49, 45
VOICES = {"k": KICK, "s": SNARE, "h": HAT, "o": OPEN_HAT, "c": CRASH, "t": TOM}
LEVEL = {"X": 1.0, "x": 0.8, "g": 0.45, "o": 0.8}  # accent, normal, ghost, open hat; "." rest

# Drum grooves as drum tab, one sixteenth per character and "|" between bars.
# A header line reads: name state intensity base-velocity swing-ticks fill.
# Lanes: k kick, s snare, h closed hat ("o" in it opens the hat), o open hat,
# c crash, t tom. A lane with fewer bars than the longest loops. Each groove
# plays 8 bars: its pattern looped, a crash on bar 1 (and bar 5 outside explore),
# and the named fill in bar 8.
FILLS = """
soft
  k X...............
  t ........x.x.g.x.
  s ............g.x.
mid
  k X.....x.........
  s ........x.xxX.x.
  t ............x.X.
hard
  k X.x.X.x.X.x.X.x.
  s ....X.x.xxxxXXXX
  t X.X.....X.X.....
"""
GROOVES = """
explore_pulse explore 0.15 52 0 soft
  k X.......x.......
  h x...x...x...x...
explore_halftime explore 0.25 56 0 soft
  k X.........x.....
  s ........x.......
  h x.g.x.g.x.g.x.g.
explore_walk explore 0.3 58 12 soft
  k X.......X.......|X.......X.....x.
  s ....g.......g...
  h x.x.x.x.x.x.x.x.|x.x.x.x.x.x.x.xo
explore_toms explore 0.2 50 0 soft
  k X...............
  t ......x.....g...
  h ....x.......x...
explore_brush explore 0.35 60 10 soft
  k X.....x.........
  s ....x.......x...
  h xgxgxgxgxgxgxgxg
explore_drift explore 0.1 46 0 soft
  k X...............|X.......x.......
  h ........x.......|........x...g...
explore_rise explore 0.4 64 8 mid
  k X.....x...x.....
  s ....x.......x...|....x.......x..g
  h x.x.x.x.x.x.x.x.|x.x.x.x.x.x.o...
combat_drive combat 0.65 88 0 mid
  k X.....x.X.......
  s ....X.......X...
  h x.x.x.x.x.x.x.x.
combat_gallop combat 0.7 92 0 mid
  k X..xX..xX..xX..x
  s ....X.......X...
  h x.x.x.x.x.x.x.x.
combat_syncopate combat 0.7 90 0 mid
  k X..x..x...x.....|X..x..x...x..x..
  s ....X.......X..g|....X..g....X...
  h xgxgxgxgxgxgxgxg|xgxgxgxgxgxgxgxo
combat_sixteenths combat 0.8 94 0 hard
  k X.x...x.X.x.....
  s ....X.......X...
  h xxxxxxxxxxxxxxxx
combat_openhat combat 0.75 90 0 mid
  k X.......X.x.....
  s ....X.......X...
  o ..x...x...x...x.
  h x...x...x...x...
combat_march combat 0.6 86 0 mid
  k X.......X.......
  s ..g.X.g...g.X.gg
  h x.x.x.x.x.x.x.x.
combat_tribal combat 0.7 90 0 mid
  k X.....X.....X...|X.....X.....X.x.
  t ..x..x..x..x..xx|..x..x..x..x....
  s ....X.......X...|....X.......XxXx
combat_shuffle combat 0.65 88 14 mid
  k X.....x.X.....x.
  s ....X.......X...
  h x.gxx.gxx.gxx.gx
combat_push combat 0.75 92 0 mid
  k X.x...x.X.x...x.|X.x...x.X.x.x.x.
  s ....X.......X...|....X.......X.gX
  h x.x.x.x.x.x.x.x.|x.x.x.x.x.x.x.o.
boss_double_kick boss 0.95 104 0 hard
  k XxxxXxxxXxxxXxxx
  s ....X.......X...
  h x.x.x.x.x.x.x.x.
boss_blast boss 1.0 108 0 hard
  k X.x.X.x.X.x.X.x.
  s .x.x.x.x.x.x.x.x
  c x...x...x...x...
boss_halftime_heavy boss 0.85 104 0 hard
  k X.x...x.X.xx....
  s ........X.......
  o x...x...x...x...
boss_toms boss 0.9 100 0 hard
  k X..xX..xX..xX..x|X..xX..xX..xX.xx
  t x.x.x.x.xxx.xxx.|x.x.x.x.xxxxXXXX
  s ....X.......X...
boss_pound boss 0.9 106 0 hard
  k XxX.XxX.XxX.XxX.
  s ....X.......X...
  o x.......x.......
  h ..x.x.x...x.x.x.
boss_break boss 0.85 100 0 hard
  k X..X..X..X..X.X.|X..X..X..X..X...
  s ....X.......X...|....X..X....XXXX
  h xxxxxxxxxxxxxxxx|xxxxxxxxxxxx....
"""


def _tab(text: str) -> dict[str, tuple[list[str], dict[str, list[str]]]]:
    """Parse drum tab: name -> (header words, lane -> one 16-step string per bar)."""
    out: dict[str, tuple[list[str], dict[str, list[str]]]] = {}
    lanes: dict[str, list[str]] = {}
    for line in text.strip().splitlines():
        if not line.startswith(" "):
            name, *header = line.split()
            lanes = {}
            out[name] = (header, lanes)
            continue
        voice, steps = line.split()
        bars = steps.split("|")
        assert voice in VOICES and all(len(b) == 16 for b in bars), line
        lanes[voice] = bars
    return out


def _drum_bar(
    lanes: dict[str, str], bar: int, base: int, swing: int, rng: random.Random
) -> list[Ev]:
    events: list[Ev] = []
    for voice, steps in lanes.items():
        for step, mark in enumerate(steps):
            if mark == ".":
                continue
            tick = bar * BAR + step * TPQ // 4
            if voice in "ho" and step % 2 == 1:
                tick += swing  # late off-beat hats: a gentle swing
            elif voice in "ho" and (bar, step) != (0, 0):
                tick += rng.randint(-4, 4)  # a little looseness, never before bar 1
            vel = round(base * LEVEL[mark] + rng.randint(-6, 6))
            pitch = OPEN_HAT if mark == "o" else VOICES[voice]
            events.append((tick, tick + TPQ // 8, pitch, max(1, min(127, vel))))
    return events


def grooves() -> list[Source]:
    fills = {name: lanes for name, (_, lanes) in _tab(FILLS).items()}
    out: list[Source] = []
    for name, (header, lanes) in _tab(GROOVES).items():
        state, intensity, base, swing, fill = header
        rng = random.Random(name)
        events: list[Ev] = []
        for bar in range(8):
            source = fills[fill] if bar == 7 else lanes
            pattern = {v: bars[bar % len(bars)] for v, bars in source.items()}
            if bar == 0 or (bar == 4 and state != "explore"):
                pattern["c"] = "X" + pattern.get("c", "." * 16)[1:]
            events += _drum_bar(pattern, bar, int(base), int(swing), rng)
        file = f"midi/groove_{name}.mid"
        write_midi(HERE / file, [("drums", 9, -1, events)], 8)
        out.append(
            Source(file, *OURS, [state], float(intensity), None, channels={"drums": 10}, bars=8)
        )
    return out


@dataclass(frozen=True)
class Cue:
    """An 8-bar cue in the style key. Pitches are semitones above the tonic."""

    name: str
    state: str
    intensity: float
    chords: str  # one chord per bar: semitones above the tonic, "m" minor or "M" major
    bass: str  # 16 steps per bar: "r" root, "o" octave, "f" fifth, "." rest
    stabs: str  # 16 steps per bar of harmony stabs ("X" accent, "x"), or "hold"
    melody: tuple[tuple[int, int, int], ...]  # (step, semitones, steps) over 2 bars, x4


CUES = (
    Cue(
        "combat_chase", "combat", 0.7, "0m 8M 3M 10M", "r.r.o.r.r.r.o.rf", "x..x..x...x..x..",
        ((0, 7, 2), (2, 8, 2), (4, 7, 2), (6, 3, 2), (8, 5, 4), (12, 3, 4), (16, 2, 4),
         (20, 3, 2), (22, 5, 2), (24, 7, 8)),
    ),
    Cue(
        "combat_skirmish", "combat", 0.65, "0m 0m 5m 7M", "r..r..r.r..r..o.", "hold",
        ((0, 12, 3), (3, 10, 3), (6, 7, 2), (8, 8, 4), (12, 7, 4), (16, 3, 3), (19, 5, 3),
         (22, 7, 2), (24, 2, 6), (30, -1, 2)),
    ),
    Cue(
        "combat_stride", "combat", 0.75, "0m 10M 8M 7M", "r.rrr.rro.rrr.rf", "x.x...x.x.x...x.",
        ((0, 3, 1), (1, 5, 1), (2, 7, 2), (4, 10, 2), (6, 7, 2), (8, 12, 4), (12, 10, 2),
         (14, 7, 2), (16, 8, 4), (20, 7, 4), (24, 5, 4), (28, 2, 4)),
    ),
    Cue(
        "boss_doom", "boss", 0.95, "0m 1M 0m 6M", "r.rrr.rrr.rrr.ro", "hold",
        ((0, 0, 4), (4, 1, 4), (8, 0, 2), (10, 7, 2), (12, 6, 4), (16, 12, 6), (22, 13, 2),
         (24, 12, 4), (28, 6, 4)),
    ),
    Cue(
        "boss_siege", "boss", 0.9, "0m 8M 5m 7M", "rrrrrrrrrrrrorro", "X...x...X...x.x.",
        ((0, 12, 2), (2, 11, 2), (4, 12, 2), (6, 7, 2), (8, 8, 2), (10, 7, 2), (12, 5, 2),
         (14, 3, 2), (16, 2, 4), (20, 3, 4), (24, -1, 4), (28, 2, 4)),
    ),
    Cue(
        "boss_final", "boss", 1.0, "0m 3M 10M 7M", "r.rro.rrr.rro.rf", "x.x.x.x.x.x.x.x.",
        ((0, 0, 2), (2, 3, 2), (4, 7, 2), (6, 12, 2), (8, 10, 3), (11, 8, 3), (14, 7, 2),
         (16, 15, 4), (20, 14, 4), (24, 12, 8)),
    ),
)  # fmt: skip


def cues(tonic: int = 62) -> list[Source]:
    """Our cues, in D minor (tonic 62 = D4), the style's key: 4 chords played twice."""
    out: list[Source] = []
    for cue in CUES:
        rng = random.Random(cue.name)
        bass: list[Ev] = []
        pad: list[Ev] = []
        melody: list[Ev] = []
        chords = cue.chords.split() * 2
        for bar, chord_name in enumerate(chords):
            root, quality = int(chord_name[:-1]), chord_name[-1]
            at = bar * BAR
            low = tonic - 24 + root - (12 if root > 6 else 0)
            for step, mark in enumerate(cue.bass):
                if mark != ".":
                    t = at + step * TPQ // 4
                    vel = (100 if step % 4 == 0 else 84) + rng.randint(-4, 4)
                    pitch = low + {"r": 0, "o": 12, "f": 7}[mark]
                    bass.append((t, t + TPQ // 4 - 20, pitch, vel))
            third = 3 if quality == "m" else 4
            triad = [tonic - 12 + root + i - (12 if root > 4 else 0) for i in (0, third, 7)]
            if cue.stabs == "hold":
                pad += [(at, at + BAR, p, 62) for p in triad]
                continue
            for step, mark in enumerate(cue.stabs):
                if mark != ".":
                    t = at + step * TPQ // 4
                    pad += [(t, t + TPQ // 2, p, 86 if mark == "X" else 72) for p in triad]
        for phrase in range(len(chords) // 2):
            at = phrase * 2 * BAR
            turn = 5 if phrase == 2 else 0  # the third phrase climbs a fourth
            for step, semis, steps in cue.melody:
                t = at + step * TPQ // 4
                vel = 88 + rng.randint(-6, 6)
                melody.append((t, t + steps * TPQ // 4, tonic + semis + turn, vel))
        file = f"midi/cue_{cue.name}.mid"
        layout = [("melody", 0, 81, melody), ("harmony", 1, 50, pad), ("bass", 2, 38, bass)]
        write_midi(HERE / file, layout, len(chords))
        tracks = {"melody": 0, "harmony": 1, "bass": 2}
        out.append(
            Source(file, *OURS, [cue.state], cue.intensity, "D minor", tracks, bars=len(chords))
        )
    return out


# ---------------------------------------------------------------- style.toml

TEMPLATE = """\
# The default style of adaptive: a small, moody adventure soundtrack.
#
# A style is this file plus the MIDI files it lists under [[sources]]. Bake it
# into one .adaptive bundle with the `adaptive` CLI. Paths are relative to this
# file. Every field is checked when the style loads; a mistake names the field.
#
# This file and midi/ are generated by prepare_sources.py (music21 {music21}).
# Edit the template in that script, not this file, then run:
#     pip install music21 && python examples/default/prepare_sources.py

[style]
name = "default"
version = "0.1.0"
author = "adaptive contributors"
# The licence of the bundle you bake from this style. The sources are public
# domain compositions plus material the adaptive contributors wrote.
license = "Apache-2.0"
description = "Chorales, fiddle reels, our own grooves: calm explore, driving combat, heavy boss, bright victory, dark game over."
tempo = {tempo}           # quarter notes per minute
meter = "4/4"         # only 4/4 today: every source is written in 4/4
key = "D minor"       # the key the runtime plays in; sources are moved there

# ----------------------------------------------------------------------------
# Stems: the layers the mixer plays. `role` picks the model that writes the
# notes (drums, bass, harmony, melody); `instrument` picks the voice that plays
# them (drums, bass, pad, lead, pluck). `intensity = [start, full]` fades the
# stem in as the intensity parameter rises: silent below `start`, full gain at
# `full`. [0, 0] means always on. `gain` is the stem's level (0..2).
# ----------------------------------------------------------------------------

[stems.harmony]
role = "harmony"
instrument = "pad"
gain = 0.6
intensity = [0.0, 0.0]     # always there: the floor of the music
pan = -0.1                 # -1 left .. 1 right
reverb = 0.45              # send to the mix reverb, 0..1

[stems.bass]
role = "bass"
instrument = "bass"
gain = 0.8
intensity = [0.0, 0.25]
pan = 0.0                  # centred and dry: the low end stays tight
reverb = 0.0

[stems.drums]
role = "drums"
instrument = "drums"
gain = 0.8
intensity = [0.15, 0.5]
reverb = 0.12              # a little room; each drum has its own pan in the kit

[stems.melody]
role = "melody"
instrument = "lead"
gain = 0.7
intensity = [0.3, 0.7]
pan = 0.12
reverb = 0.3
delay = 0.18               # send to the mix delay, synced to the tempo

# The master bus: the loudness the bake calibrates to (LUFS, ITU-R BS.1770), the
# limiter's ceiling, the shared reverb and the tempo-synced delay.
[mix]
loudness_lufs = -16.0
ceiling_db = -1.0
reverb_seconds = 1.8
reverb_damping = 0.5
delay_beats = 0.75         # a dotted eighth
delay_feedback = 0.3

# ----------------------------------------------------------------------------
# States: what the game says is happening (`set_state("combat")`). Valence
# (0 = dark, 1 = bright) and arousal (0 = calm, 1 = agitated) condition the
# models; `stems` multiplies each stem's gain while the state is active.
# ----------------------------------------------------------------------------

[states.explore]
valence = 0.65
arousal = 0.25
stems = {{ harmony = 1.0, bass = 0.8, drums = 0.6, melody = 0.9 }}

[states.combat]
valence = 0.4
arousal = 0.75
stems = {{ harmony = 0.8, bass = 1.0, drums = 1.0, melody = 1.0 }}

[states.boss]
valence = 0.15
arousal = 0.95
tempo = 128                # faster than the style's 112: the bars after the change are shorter
stems = {{ harmony = 1.0, bass = 1.2, drums = 1.2, melody = 0.9 }}

# A state may play the learned material of a state the models were trained on
# (`material`), with its own mood and mix: no sources of its own, no retraining.

[states.victory]           # the boss falls: explore's bright material, tune forward
material = "explore"
valence = 0.95
arousal = 0.6
stems = {{ harmony = 1.1, bass = 0.9, drums = 0.35, melody = 1.25 }}

[states.game_over]         # the player is down: the boss's dark chords, nearly alone
material = "boss"
valence = 0.05
arousal = 0.1
stems = {{ harmony = 0.8, bass = 0.4, drums = 0.0, melody = 0.0 }}

# ----------------------------------------------------------------------------
# Parameters: continuous values the game sets (`set_parameter("intensity", x)`).
# `intensity` drives the stem fades above and conditions the models. `seek`
# is how fast the music follows a new value (units per second; 0 jumps).
# `valence` / `arousal` shift the state's mood by that much at `max` (in
# proportion below it; the sum stays within 0..1), so the models write darker
# or more agitated music as the parameter rises.
# ----------------------------------------------------------------------------

[parameters.intensity]
min = 0.0
max = 1.0
default = 0.3

[parameters.danger]        # how grim things look: low health, a big pack, a boss
min = 0.0
max = 1.0
default = 0.0
seek = 0.5                 # a full swing takes 2 s: mood drifts, it does not jump
valence = -0.35            # at full danger every state is 0.35 darker...
arousal = 0.25             # ...and more agitated

# ----------------------------------------------------------------------------
# Stingers: short motifs the game triggers (`trigger("hit")`), mixed over the
# music. notes = [[step, semitones above the tonic, length in steps, velocity]]
# where a step is a sixteenth note at the style tempo.
# ----------------------------------------------------------------------------

[stingers.pickup]          # an item picked up: a quick rising arpeggio
instrument = "pluck"
gain = 0.7
notes = [[0, 12, 1, 90], [1, 15, 1, 96], [2, 19, 1, 104], [3, 24, 3, 112]]

[stingers.hit]             # the player is hit: a low stab and a falling tritone
instrument = "bass"
gain = 0.9
notes = [[0, -12, 2, 120], [0, -24, 2, 120], [2, -18, 4, 100]]

[stingers.victory]         # the boss falls: a fanfare ending on the major tonic
instrument = "lead"
gain = 0.8
notes = [
  [0, 7, 2, 96], [2, 7, 1, 90], [3, 7, 1, 90], [4, 12, 4, 108],
  [8, 10, 2, 96], [10, 12, 2, 100], [12, 16, 8, 116], [12, 12, 8, 100], [12, 7, 8, 96],
]

# ----------------------------------------------------------------------------
# Transitions: how the music moves between states. The most specific rule wins
# (from and to > from > to > "*"); a pair with no rule changes on the next bar.
# `sync`: immediate, beat, bar, bars (with `bars = N`) or cue (the end of the
# 4-bar phrase). A change within a bar (immediate, beat) crossfades the old
# music into the new with `fade` (linear, equal_power, s_curve) over
# `fade_beats` beats. A state with its own `tempo` takes it from a bar line;
# `tempo_ramp_bars = N` steps there over N bars. `transition_bar = true` inserts
# one generated bar that leads into the destination (a fill, ending on the
# dominant); `entry` ("start" or "same_position") is where in its 4-bar phrase
# the destination enters.
# ----------------------------------------------------------------------------

[[transitions]]            # a fight starts, or calms down, on the bar line
from = "explore"
to = "combat"
sync = "bar"

[[transitions]]
from = "combat"
to = "explore"
sync = "bar"

[[transitions]]            # the boss enters with the downbeat, after a lead-in bar and
from = "*"                 # a two-bar climb to its tempo
to = "boss"
sync = "bar"
transition_bar = true
tempo_ramp_bars = 2

[[transitions]]            # the boss falls: the very next beat, a quick bright swell
from = "*"
to = "victory"
sync = "beat"
fade = "s_curve"
fade_beats = 0.5

[[transitions]]            # after the fanfare, explore picks up at the end of the phrase
from = "victory"
to = "explore"
sync = "cue"

[[transitions]]            # the player is down: on the beat, the music sinks over two beats
from = "*"                 # where it is in its phrase (no new phrase's downbeat accent)
to = "game_over"
sync = "beat"
fade = "equal_power"
fade_beats = 2
entry = "same_position"

# ----------------------------------------------------------------------------
# Sources: the example MIDI the models learn from. Each entry names the file,
# its licence and attribution (shown in the game's credits), the states it is
# an example of, how intense it is (0..1), its key (training moves every
# source to the same key), and which stem each MIDI track (0-based) or MIDI
# channel (1-based; 10 is General MIDI drums) feeds.
#
# Chorales and fiddle tunes: public domain compositions, encoded in the music21
# corpus (see each attribution). Grooves and cues: written by the adaptive
# contributors, Apache-2.0.
# ----------------------------------------------------------------------------
"""


def _toml_value(value: object) -> str:
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + " }"
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return json.dumps(value, ensure_ascii=False)


def write_style(sources: Sequence[Source]) -> None:
    lines = [TEMPLATE.format(music21=music21.__version__, tempo=TEMPO)]
    for src in sources:
        lines.append("")
        lines.append(f"[[sources]]  # {src.bars} bars")
        lines.append(f"file = {_toml_value(src.file)}")
        lines.append(f"license = {_toml_value(src.license)}")
        lines.append(f"attribution = {_toml_value(src.attribution)}")
        lines.append(f"states = {_toml_value(src.states)}")
        lines.append(f"intensity = {src.intensity}")
        if src.key:
            lines.append(f"key = {_toml_value(src.key)}")
        if src.tracks:
            lines.append(f"tracks = {_toml_value(src.tracks)}")
        if src.channels:
            lines.append(f"channels = {_toml_value(src.channels)}")
    (HERE / "style.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")


def main() -> None:
    for old in MIDI_DIR.glob("*.mid"):
        old.unlink()
    sources = [
        *sorted(chorales(), key=lambda src: src.file),
        *sorted(fiddle_tunes(), key=lambda src: src.file),
        *grooves(),
        *cues(),
    ]
    write_style(sources)
    by_kind: dict[str, int] = {}
    for src in sources:
        kind = Path(src.file).name.split("_")[0]
        by_kind[kind] = by_kind.get(kind, 0) + 1
    print(f"wrote {len(sources)} sources to {MIDI_DIR}: {by_kind}")


if __name__ == "__main__":
    main()
