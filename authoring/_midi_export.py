"""MIDI export: the notes the engine played, as a Standard MIDI File a DAW opens as it should.

One track per stem, named after it, with the stem's General MIDI program and
the velocities as generated; drums on channel 10. The conductor track holds
the tempo, meter and key. Times are written at 480 ticks per beat.

The notes are the composer's own (``BarAudio.notes``, kept per played bar and
read back with ``MusicEngine.played_notes()``): what the models generated for
each stem before the instruments rendered it, so the audio is not touched.
``export_timeline_midi`` plays a timeline through an offline engine and writes them.
A state may have its own tempo: the engine's played bars carry each bar's
tempo, so the conductor track has a tempo change on every bar whose tempo
differs from the one before, and each note is placed by the bar it falls in
(bar ``k`` starts on tick ``k`` bars in; within it, ticks run at its tempo).
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import mido

from adaptive._music import Key, Meter

__all__ = [
    "write_midi",
    "write_engine_midi",
    "export_timeline_midi",
    "key_signature_name",
    "TICKS_PER_BEAT",
]

TICKS_PER_BEAT = 480
_MAJOR = ("C", "Db", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
_MINOR = ("Cm", "C#m", "Dm", "Ebm", "Em", "Fm", "F#m", "Gm", "G#m", "Am", "Bbm", "Bm")
_DRUM_CHANNEL = 9  # General MIDI channel 10


def key_signature_name(key: Key) -> str:
    """The key as MIDI's key-signature meta event names it, e.g. 'Dm' or 'Bb'."""
    return (_MAJOR if key.mode == "major" else _MINOR)[key.tonic % 12]


def _channels(stems: Mapping[str, str]) -> dict[str, int]:
    """Drums on channel 10; pitched stems on 1..9, 11..16 in order (then shared)."""
    free = [c for c in range(16) if c != _DRUM_CHANNEL]
    out, k = {}, 0
    for stem, role in stems.items():
        if role == "drums":
            out[stem] = _DRUM_CHANNEL
        else:
            out[stem] = free[k % len(free)]
            k += 1
    return out


def write_midi(
    path: str | Path,
    notes: Iterable[tuple[str, int, int, int, int]],
    *,
    stems: Mapping[str, str],
    tempo: float,
    meter: Meter,
    key: Key,
    programs: Mapping[str, int],
    sample_rate: int,
    bars: Sequence[tuple[int, int, float]] = (),
) -> Path:
    """Write ``notes`` (stem, pitch, start_frame, frames, velocity) as a type 1 MIDI file.

    ``stems`` maps each stem to its role (a "drums" stem plays on channel 10);
    ``programs`` gives each stem's General MIDI program (0-based). ``bars``, as
    (index, start_frame, tempo) in order, is the tempo map the notes played on;
    without it the whole file is at ``tempo``.
    """
    path = Path(path)
    to_tick = _tick_map(bars, tempo, meter, sample_rate)
    channels = _channels(stems)
    events: dict[str, list[tuple[int, int, mido.Message]]] = {stem: [] for stem in stems}
    for stem, pitch, start, frames, velocity in notes:
        if stem not in events:
            continue
        channel = channels[stem]
        on = to_tick(start)
        off = max(on + 1, to_tick(start + frames))
        velocity = max(1, min(127, int(velocity)))
        pitch = max(0, min(127, int(pitch)))
        # at one tick, note-offs go before note-ons so repeated notes do not cut themselves
        events[stem].append(
            (on, 1, mido.Message("note_on", note=pitch, velocity=velocity, channel=channel))
        )
        events[stem].append(
            (off, 0, mido.Message("note_off", note=pitch, velocity=0, channel=channel))
        )
    midi = mido.MidiFile(type=1, ticks_per_beat=TICKS_PER_BEAT)
    conductor = mido.MidiTrack()
    conductor.append(mido.MetaMessage("track_name", name="tempo, meter and key", time=0))
    changes = _tempo_changes(bars, tempo, meter)
    conductor.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(changes[0][1]), time=0))
    conductor.append(
        mido.MetaMessage(
            "time_signature", numerator=meter.numerator, denominator=meter.denominator, time=0
        )
    )
    conductor.append(mido.MetaMessage("key_signature", key=key_signature_name(key), time=0))
    now = 0
    for tick, bpm in changes[1:]:
        conductor.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(bpm), time=tick - now))
        now = tick
    conductor.append(mido.MetaMessage("end_of_track", time=0))
    midi.tracks.append(conductor)
    for stem, stem_events in events.items():
        track = mido.MidiTrack()
        track.append(mido.MetaMessage("track_name", name=stem, time=0))
        channel = channels[stem]
        if channel != _DRUM_CHANNEL:
            program = max(0, min(127, int(programs.get(stem, 0))))
            track.append(mido.Message("program_change", program=program, channel=channel, time=0))
        now = 0
        for tick, _, message in sorted(stem_events, key=lambda e: (e[0], e[1])):
            track.append(message.copy(time=tick - now))
            now = tick
        track.append(mido.MetaMessage("end_of_track", time=0))
        midi.tracks.append(track)
    path.parent.mkdir(parents=True, exist_ok=True)
    midi.save(str(path))
    return path


def _ticks_per_bar(meter: Meter) -> int:
    return TICKS_PER_BEAT * 4 * meter.numerator // meter.denominator


def _tick_map(
    bars: Sequence[tuple[int, int, float]], tempo: float, meter: Meter, sample_rate: int
) -> Callable[[int], int]:
    """Frame -> tick: by the bar the frame falls in, at that bar's tempo."""
    if not bars:
        ticks_per_frame = TICKS_PER_BEAT * tempo / 60.0 / sample_rate
        return lambda frame: int(round(frame * ticks_per_frame))
    starts = [start for _, start, _ in bars]
    per_bar = _ticks_per_bar(meter)

    def to_tick(frame: int) -> int:
        i = max(0, bisect.bisect_right(starts, frame) - 1)
        index, start, bpm = bars[i]
        return index * per_bar + int(
            round((frame - start) * TICKS_PER_BEAT * bpm / 60.0 / sample_rate)
        )

    return to_tick


def _tempo_changes(
    bars: Sequence[tuple[int, int, float]], tempo: float, meter: Meter
) -> list[tuple[int, float]]:
    """(tick, bpm): the first tempo at tick 0, then one per bar whose tempo changes."""
    if not bars:
        return [(0, tempo)]
    per_bar = _ticks_per_bar(meter)
    changes = [(0, bars[0][2])]
    for index, _, bpm in bars[1:]:
        if bpm != changes[-1][1]:
            changes.append((index * per_bar, bpm))
    return changes


def write_engine_midi(engine: Any, path: str | Path) -> Path:
    """Everything a ``MusicEngine`` played so far, with the style's programs, as MIDI."""
    from runtime._mixbus import mix_settings

    bundle = engine.bundle
    mix = mix_settings(bundle.manifest)
    stems = {name: str(spec["role"]) for name, spec in bundle.stems.items()}
    played = sorted(engine.played_bars(), key=lambda b: b.index)
    return write_midi(
        path,
        engine.played_notes(),
        stems=stems,
        tempo=float(engine.timing.tempo),
        meter=engine.timing.meter,
        key=bundle.key,
        programs={name: mix.stems[name].program for name in stems},
        sample_rate=engine.sample_rate,
        bars=[(b.index, b.start_frame, b.tempo or engine.timing.tempo) for b in played],
    )


def export_timeline_midi(
    bundle: str | Path | None,
    timeline: str | Path,
    out: str | Path,
    *,
    seed: int = 0,
    sample_rate: int = 48000,
) -> tuple[Path, list[tuple[str, int, int, int, int]]]:
    """Play ``timeline`` through an offline engine and write what it played as MIDI.

    Returns the file and the notes written: (stem, pitch, start_frame, frames, velocity).
    """
    from adaptive import load_bundle
    from runtime import MusicEngine
    from runtime._timeline import fastest_tempo, load_timeline, render_timeline, timeline_bars

    loaded = load_bundle(bundle)
    script = load_timeline(timeline)
    engine = MusicEngine(
        loaded, output="offline", sample_rate=sample_rate, seed=seed,
        report_bars=int(timeline_bars(script, fastest_tempo(loaded), loaded.meter)) + 8,  # all
    )  # fmt: skip
    render_timeline(engine, script)
    return write_engine_midi(engine, out), engine.played_notes()
