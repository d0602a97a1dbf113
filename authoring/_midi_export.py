"""MIDI export: the notes the engine played, as a Standard MIDI File a DAW opens as it should.

One track per stem, named after it, with the stem's General MIDI program and
the velocities as generated; drums on channel 10. The conductor track holds
the tempo, meter and key. Times are written at 480 ticks per beat.

The notes are the composer's own (``BarAudio.notes``, kept per played bar and
read back with ``MusicEngine.played_notes()``): what the models generated for
each stem before the instruments rendered it, so the audio is not touched.
``export_timeline_midi`` plays a timeline through an offline engine and writes them.
The runtime plays the whole session at the bundle's tempo (a state's ``tempo``
only conditions the bake), so the file carries that one tempo.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
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
) -> Path:
    """Write ``notes`` (stem, pitch, start_frame, frames, velocity) as a type 1 MIDI file.

    ``stems`` maps each stem to its role (a "drums" stem plays on channel 10);
    ``programs`` gives each stem's General MIDI program (0-based).
    """
    path = Path(path)
    ticks_per_frame = TICKS_PER_BEAT * tempo / 60.0 / sample_rate
    channels = _channels(stems)
    events: dict[str, list[tuple[int, int, mido.Message]]] = {stem: [] for stem in stems}
    for stem, pitch, start, frames, velocity in notes:
        if stem not in events:
            continue
        channel = channels[stem]
        on = int(round(start * ticks_per_frame))
        off = on + max(1, int(round(frames * ticks_per_frame)))
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
    conductor.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(tempo), time=0))
    conductor.append(
        mido.MetaMessage(
            "time_signature", numerator=meter.numerator, denominator=meter.denominator, time=0
        )
    )
    conductor.append(mido.MetaMessage("key_signature", key=key_signature_name(key), time=0))
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


def write_engine_midi(engine: Any, path: str | Path) -> Path:
    """Everything a ``MusicEngine`` played so far, with the style's programs, as MIDI."""
    from runtime._mixbus import mix_settings

    bundle = engine.bundle
    mix = mix_settings(bundle.manifest)
    stems = {name: str(spec["role"]) for name, spec in bundle.stems.items()}
    return write_midi(
        path,
        engine.played_notes(),
        stems=stems,
        tempo=float(engine.timing.tempo),
        meter=engine.timing.meter,
        key=bundle.key,
        programs={name: mix.stems[name].program for name in stems},
        sample_rate=engine.sample_rate,
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
    from runtime._timeline import load_timeline, render_timeline, timeline_bars

    loaded = load_bundle(bundle)
    script = load_timeline(timeline)
    engine = MusicEngine(
        loaded, output="offline", sample_rate=sample_rate, seed=seed,
        report_bars=int(timeline_bars(script, loaded.tempo, loaded.meter)) + 8,  # every bar
    )  # fmt: skip
    render_timeline(engine, script)
    return write_engine_midi(engine, out), engine.played_notes()
