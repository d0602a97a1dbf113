"""Instrument speed: our SoundFont sampler against fluidsynth, and the default style's render speed.

Both figures are ratios measured in the same run, stored in ``benchmark.extra_info``:

    PYTHONPATH=$PWD .venv/bin/python -m pytest benchmarks/test_bench_instruments.py \\
        --benchmark-json=bench.json

The sampler comparison plays real General MIDI files (Debian's planetblupi-music-midi,
read with the project's own importer) through our sampler and mix bus and through
``fluidsynth -F`` with the same SoundFont (FluidR3_GM), both with reverb on, one thread
each, interleaved. It is skipped when the files, the SoundFont or fluidsynth are absent.
"""

from __future__ import annotations

import resource
import shutil
import subprocess
import time
from pathlib import Path

import mido
import numpy as np
import pytest

import adaptive
from adaptive import load_style
from runtime import MusicEngine
from runtime._instruments import PitchedInstrument, sampler_from_data
from runtime._mixbus import MixBus, MixSettings, StemMix

SOUNDFONT = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
MUSIC = Path("/usr/share/planetblupi/music")
FILES = ("music000.mid", "music001.mid", "music002.mid")
BARS = 24  # 48 s of each file at 120 bpm
RATE = 48000
TEMPO = 120.0
FRAMES_PER_STEP = RATE * 60 / TEMPO / 4


def _programs_and_channels(path: Path) -> tuple[dict[int, int], set[int]]:
    midi = mido.MidiFile(str(path))
    programs: dict[int, int] = {}
    sounding: set[int] = set()
    for track in midi.tracks:
        for msg in track:
            if msg.type == "program_change":
                programs.setdefault(msg.channel + 1, msg.program)
            elif msg.type == "note_on" and msg.velocity > 0:
                sounding.add(msg.channel + 1)
    return programs, sounding


def _import(
    path: Path, tmp: Path
) -> tuple[dict[str, list[tuple[int, int, int, int]]], dict[str, int], dict[str, str]]:
    """The file's notes per channel through authoring's importer, in frames at 120 bpm."""
    from authoring import import_midi

    programs, sounding = _programs_and_channels(path)
    stems = {f"ch{c}": ("drums" if c == 10 else "melody") for c in sorted(sounding)}
    toml = ['[style]\nname = "gm"\nlicense = "GPL-3+"\ntempo = 120\nkey = "C major"\n']
    for stem, role in stems.items():
        toml.append(
            f'[stems.{stem}]\nrole = "{role}"\ninstrument = "{"drums" if role == "drums" else "lead"}"\n'
        )
    toml.append("[states.play]\n")
    mapping = ", ".join(f"{stem} = {stem[2:]}" for stem in stems)
    toml.append(
        f'[[sources]]\nfile = "{path}"\nlicense = "GPL-3+"\nattribution = "planetblupi"\n'
        f'key = "C major"\nchannels = {{ {mapping} }}\n'
    )
    style_path = tmp / "style.toml"
    style_path.write_text("\n".join(toml), encoding="utf-8")
    style = load_style(style_path)
    source = import_midi(path, style.sources[0], style)
    steps = style.meter.steps_per_bar
    notes: dict[str, list[tuple[int, int, int, int]]] = {stem: [] for stem in stems}
    for bar in source.bars[:BARS]:
        for stem, bar_notes in bar.stems.items():
            for n in bar_notes:
                start = int(round((bar.index * steps + n.start) * FRAMES_PER_STEP))
                notes[stem].append(
                    (n.pitch, start, int(round(n.duration * FRAMES_PER_STEP)), n.velocity)
                )
    return notes, {stem: programs.get(int(stem[2:]), 0) for stem in stems}, stems


def _ours(
    samplers: dict[str, PitchedInstrument], notes: dict[str, list[tuple[int, int, int, int]]]
) -> np.ndarray:
    """Render bar by bar as the engine does: instruments, ring-out, mix bus with reverb."""
    names = list(samplers)
    bar = int(16 * FRAMES_PER_STEP)
    tail = int(1.5 * RATE)
    bus = MixBus([StemMix(reverb=0.25) for _ in names], MixSettings(), RATE, RATE * 60 / TEMPO)
    mix = np.zeros((BARS * bar, 2), dtype=np.float32)
    overflow = None
    for index in range(BARS):
        dry = np.zeros((len(names), 2, bar + tail), dtype=np.float32)
        lo, hi = index * bar, (index + 1) * bar
        for s, name in enumerate(names):
            here = [(p, st - lo, f, v) for p, st, f, v in notes[name] if lo <= st < hi]
            samplers[name].render_into(here, dry[s])
        if overflow is not None:
            dry[:, :, : overflow.shape[2]] += overflow
        overflow = dry[:, :, bar:].copy()
        playable = bus.process(dry[:, :, :bar], bar, index)
        mix[lo:hi] = playable.sum(axis=0)
    return mix


def _fluidsynth_cpu(midi: Path, out: Path) -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(
        [
            "fluidsynth",
            "-ni",
            "-q",
            "-r",
            str(RATE),
            "-o",
            "synth.cpu-cores=1",
            "-F",
            str(out),
            str(SOUNDFONT),
            str(midi),
        ],
        check=True,
        capture_output=True,
        timeout=600,
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


@pytest.mark.skipif(shutil.which("fluidsynth") is None, reason="fluidsynth is not installed")
@pytest.mark.skipif(not SOUNDFONT.is_file(), reason="fluid-soundfont-gm is not installed")
@pytest.mark.skipif(
    not (MUSIC / FILES[0]).is_file(), reason="planetblupi-music-midi is not installed"
)
def test_sampler_against_fluidsynth(benchmark: pytest.FixtureRequest, tmp_path: Path) -> None:
    pytest.importorskip("sf2utils")
    from authoring._midi_export import write_midi
    from authoring._soundfont import extract_presets

    songs = []
    for i, name in enumerate(FILES):
        folder = tmp_path / str(i)
        folder.mkdir()
        notes, programs, roles = _import(MUSIC / name, folder)
        wanted = [((128, 0) if roles[s] == "drums" else (0, programs[s])) for s in roles]
        presets = extract_presets(SOUNDFONT, wanted)  # bake time: not measured
        samplers = {
            s: sampler_from_data(s, presets[key], RATE, polyphony=32)
            for s, key in zip(roles, wanted, strict=True)
        }
        # fluidsynth plays exactly the imported notes: write them as MIDI with the same programs
        midi = write_midi(
            folder / "notes.mid",
            [(s, p, st, f, v) for s, ns in notes.items() for p, st, f, v in ns],
            stems=roles,
            tempo=TEMPO,
            meter=adaptive.Meter(4, 4),
            key=adaptive.Key(0, "major"),
            programs=programs,
            sample_rate=RATE,
        )
        songs.append((notes, samplers, midi, folder))
    empty = write_midi(
        tmp_path / "empty.mid",
        [],
        stems={"a": "melody"},
        tempo=TEMPO,
        meter=adaptive.Meter(4, 4),
        key=adaptive.Key(0, "major"),
        programs={},
        sample_rate=RATE,
    )

    ours: list[float] = []
    theirs: list[float] = []
    loading: list[float] = []

    def run() -> None:
        for notes, samplers, midi, folder in songs:  # interleaved: ours, then theirs, per file
            for sampler in samplers.values():
                sampler.cache.clear()  # every round renders from scratch
            started = time.process_time()
            audio = _ours(samplers, notes)
            ours.append(time.process_time() - started)
            assert np.abs(audio).max() > 0.01
            theirs.append(_fluidsynth_cpu(midi, folder / "fluid.wav"))
        loading.append(_fluidsynth_cpu(empty, tmp_path / "empty.wav"))

    benchmark.pedantic(run, rounds=2, iterations=1)
    music = len(FILES) * BARS * 16 * FRAMES_PER_STEP / RATE
    load = float(np.median(loading)) * len(FILES) * 2
    benchmark.extra_info.update(
        seconds_of_music_per_round=music,
        ours_cpu_seconds=sum(ours) / 2,
        fluidsynth_cpu_seconds=sum(theirs) / 2,
        fluidsynth_load_cpu_seconds=float(np.median(loading)),
        ours_over_fluidsynth=sum(ours) / sum(theirs),
        ours_over_fluidsynth_without_its_soundfont_loading=sum(ours)
        / max(1e-9, sum(theirs) - load),
    )


def test_default_style_render_speed(benchmark: pytest.FixtureRequest) -> None:
    """Music seconds per CPU second for the default style with every stem sounding."""
    bundle = adaptive.load_bundle()
    factors: list[float] = []
    render_share: list[float] = []

    def render() -> None:
        engine = MusicEngine(bundle, output="offline", seed=len(factors))
        engine.set_parameter("intensity", 1.0)  # all stems sound
        seconds = 30.0
        started = time.process_time()
        engine.render(int(seconds * RATE))
        cpu = time.process_time() - started
        factors.append(seconds / cpu)
        # rendering (instruments and mix bus) against composing's whole wall time
        stats = engine.stats()
        render_share.append(stats.render_ms.p50 / (stats.render_ms.p50 + stats.generate_ms.p50))

    benchmark.pedantic(render, rounds=3, iterations=1)
    benchmark.extra_info.update(
        realtime_factor_cpu_median=float(np.median(factors)),
        realtime_factor_cpu_all=factors,
        render_share_of_compose_p50=float(np.median(render_share)),
    )
