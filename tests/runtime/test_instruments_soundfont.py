"""A SoundFont preset baked to sampler data and played by our sampler sounds like fluidsynth's."""

from __future__ import annotations

import shutil
import subprocess
import wave
from pathlib import Path

import mido
import msgpack
import numpy as np
import pytest

from runtime._instruments import sampler_from_data

SOUNDFONT = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
RATE = 48000

pytest.importorskip("sf2utils.sf2parse", reason="SoundFont import needs sf2utils (authoring extra)")

pytestmark = [
    pytest.mark.skipif(not SOUNDFONT.is_file(), reason="fluid-soundfont-gm is not installed"),
    pytest.mark.skipif(shutil.which("fluidsynth") is None, reason="fluidsynth is not installed"),
]


def _fluidsynth_note(
    tmp: Path, program: int, pitch: int, velocity: int, seconds: float
) -> np.ndarray:
    midi = mido.MidiFile(ticks_per_beat=480)
    track = mido.MidiTrack()
    track.append(mido.MetaMessage("set_tempo", tempo=500000))  # 120 bpm: a beat is 0.5 s
    track.append(mido.Message("program_change", program=program, channel=0))
    track.append(mido.Message("note_on", note=pitch, velocity=velocity, channel=0))
    track.append(
        mido.Message("note_off", note=pitch, velocity=0, channel=0, time=int(seconds * 960))
    )
    track.append(mido.MetaMessage("end_of_track", time=960 * 2))
    midi.tracks.append(track)
    path = tmp / "note.mid"
    midi.save(str(path))
    out = tmp / "note.wav"
    subprocess.run(
        [
            "fluidsynth",
            "-ni",
            "-q",
            "-R",
            "0",
            "-C",
            "0",
            "-g",
            "1.0",
            "-r",
            str(RATE),
            "-F",
            str(out),
            str(SOUNDFONT),
            str(path),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    with wave.open(str(out)) as w:
        frames = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
        return frames.reshape(-1, w.getnchannels()).astype(np.float64).T / 32768.0


def _band_levels(x: np.ndarray) -> np.ndarray:
    """Long-term spectrum in third-octave bands, 100 Hz .. 8 kHz, in dB relative to its total."""
    mono = x.mean(axis=0)
    spectrum = np.abs(np.fft.rfft(mono * np.hanning(mono.shape[0]))) ** 2
    hz = np.fft.rfftfreq(mono.shape[0], 1.0 / RATE)
    edges = 100.0 * 2.0 ** (np.arange(0, 19) / 3.0)  # 100 Hz .. 6.4 kHz band starts
    bands = np.array([spectrum[(hz >= lo) & (hz < lo * 2 ** (1 / 3))].sum() for lo in edges])
    return 10 * np.log10(bands / bands.sum() + 1e-20)


@pytest.mark.parametrize(("program", "pitch"), [(48, 60), (0, 64), (73, 72)])
def test_baked_preset_matches_fluidsynth_long_term_spectrum(
    tmp_path: Path, program: int, pitch: int
) -> None:
    from authoring._soundfont import extract_preset

    data = msgpack.unpackb(
        msgpack.packb(extract_preset(SOUNDFONT, program))
    )  # as stored in a bundle
    assert data["provenance"]["license"] == "MIT"
    sampler = sampler_from_data("preset", data, RATE)
    seconds = 1.5
    ours = np.zeros((2, int(RATE * 4)), dtype=np.float32)
    sampler.render_into([(pitch, 0, int(seconds * RATE), 100)], ours)
    theirs = _fluidsynth_note(tmp_path, program, pitch, 100, seconds)
    n = int(seconds * RATE)  # compare the held part: both play the same zones
    a, b = _band_levels(ours[:, :n].astype(np.float64)), _band_levels(theirs[:, :n])
    loud = b > -30.0  # bands that carry the sound; quieter ones are noise-floor detail
    # Tolerance: 3 dB per third-octave band (measured: 0.1 to 0.8 dB on these presets).
    # fluidsynth also runs the preset's low-pass filter, modulation envelope and LFOs,
    # which the baked sampler does not carry; they tilt the spectrum by a dB or two,
    # while a wrong zone, root key or octave moves energy by far more (see below).
    assert np.abs(a[loud] - b[loud]).max() <= 3.0, (a.round(1), b.round(1))
    # and the sound's pitch is the same: the strongest band agrees
    assert abs(int(np.argmax(a)) - int(np.argmax(b))) <= 1


def test_a_wrong_octave_fails_the_comparison(tmp_path: Path) -> None:
    """The tolerance is tight enough to catch a real mistake: one octave off."""
    from authoring._soundfont import extract_preset

    sampler = sampler_from_data("preset", extract_preset(SOUNDFONT, 73), RATE)
    n = int(1.5 * RATE)
    ours = np.zeros((2, RATE * 4), dtype=np.float32)
    sampler.render_into([(84, 0, n, 100)], ours)  # one octave above the reference
    theirs = _fluidsynth_note(tmp_path, 73, 72, 100, 1.5)
    a, b = _band_levels(ours[:, :n].astype(np.float64)), _band_levels(theirs[:, :n])
    loud = b > -30.0
    assert np.abs(a[loud] - b[loud]).max() > 3.0


def test_a_preset_named_in_the_style_is_baked_into_the_bundle_and_played(
    tiny_style_dir: Path, tmp_path: Path
) -> None:
    """The round trip: style.toml names a preset, the bake copies it, the engine plays it."""
    import adaptive
    from authoring import bake
    from runtime import MusicEngine
    from runtime._instruments import Sampler

    style = tiny_style_dir / "style.toml"
    text = style.read_text(encoding="utf-8")
    named = f'[stems.harmony]\nsoundfont = "{SOUNDFONT}"\npreset = 48\n'
    style.write_text(text.replace("[stems.harmony]\n", named, 1), encoding="utf-8")
    out = tmp_path / "strings.adaptive"
    bake(style, out, progress=False, overrides={"sequence_steps": 3, "drums_steps": 3})

    bundle = adaptive.load_bundle(out)
    assert set(bundle.samplers) == {"harmony"}
    data = bundle.samplers["harmony"]
    used = {zone["sample"] for zone in data["zones"]}
    assert used == set(range(len(data["samples"]))), "a sample no zone plays was copied"
    credit = [p for p in bundle.spec.provenance if p.kind == "soundfont"]
    assert [(c.file, c.license) for c in credit] == [(SOUNDFONT.name, "MIT")]
    assert any("MIT" in line and "Fluid" in line for line in bundle.credits())

    engine = MusicEngine(bundle, output="offline", seed=2)
    assert isinstance(engine._core._composer.instruments["harmony"], Sampler)
    _, stems = engine.render(RATE * 3, stems=True)
    assert np.abs(stems["harmony"]).max() > 0.01
    assert abs(float(stems["harmony"][:, 0].mean())) < 1e-3  # sampled stems are DC-blocked

    # what the bundle carries sounds like fluidsynth playing the SoundFont itself
    sampler = sampler_from_data("harmony", data, RATE)
    n = int(1.5 * RATE)
    ours = np.zeros((2, RATE * 4), dtype=np.float32)
    sampler.render_into([(60, 0, n, 100)], ours)
    theirs = _fluidsynth_note(tmp_path, 48, 60, 100, 1.5)
    a, b = _band_levels(ours[:, :n].astype(np.float64)), _band_levels(theirs[:, :n])
    loud = b > -30.0
    assert np.abs(a[loud] - b[loud]).max() <= 3.0  # the tolerance argued above


def test_a_preset_without_a_soundfont_fails_before_training(tiny_style_dir: Path) -> None:
    from adaptive import StyleError
    from authoring import bake

    style = tiny_style_dir / "style.toml"
    text = style.read_text(encoding="utf-8")
    style.write_text(text.replace("[stems.harmony]\n", "[stems.harmony]\npreset = 48\n", 1))
    with pytest.raises(StyleError, match=r"stems\.harmony\.soundfont"):
        bake(style, tiny_style_dir / "x.adaptive", progress=False)
    assert not (tiny_style_dir / "x.adaptive").exists()
