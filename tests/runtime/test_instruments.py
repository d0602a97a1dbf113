"""Instruments: band-limited oscillators, click-free notes and stealing, drums, sampler, cache."""

from __future__ import annotations

import math

import numpy as np
import pytest

from runtime._instruments import (
    INSTRUMENT_NAMES,
    PRESETS,
    DrumHit,
    DrumKit,
    Envelope,
    Sampler,
    SampleZone,
    SynthInstrument,
    SynthPatch,
    make_instrument,
)
from runtime._instruments._voice import allocate_voices

RATE = 48000
PITCHED = [name for name in INSTRUMENT_NAMES if PRESETS[name].patch is not None]


def _pitch_of(hz: float) -> float:
    return 69 + 12 * math.log2(hz / 440.0)


def _alias_ratio_db(signal: np.ndarray, hz: float) -> float:
    """Energy outside the harmonics below Nyquist, relative to the fundamental, in dB."""
    window = np.blackman(signal.shape[0])
    power = np.abs(np.fft.rfft(signal * window)) ** 2
    bin_hz = RATE / signal.shape[0]
    harmonic = np.zeros(power.shape[0], dtype=bool)
    k = 1
    while k * hz < RATE / 2:
        centre = int(round(k * hz / bin_hz))
        harmonic[max(0, centre - 6) : centre + 7] = True
        k += 1
    fundamental = power[int(round(hz / bin_hz)) - 6 : int(round(hz / bin_hz)) + 7].sum()
    return 10 * math.log10(power[~harmonic].sum() / fundamental)


@pytest.mark.parametrize("hz", [4000.0, 4123.0])
def test_saw_at_4khz_has_no_aliasing(hz: float) -> None:
    synth = SynthInstrument("saw", SynthPatch(saw=1.0), RATE)
    tone = synth.oscillator(_pitch_of(hz), RATE)
    assert _alias_ratio_db(tone.astype(np.float64), hz) <= -60.0


def test_the_alias_measure_catches_a_naive_saw() -> None:
    hz = 4123.0
    phase = (np.arange(RATE) * hz / RATE) % 1.0
    naive = 2.0 * phase - 1.0
    assert _alias_ratio_db(naive, hz) > -40.0  # a plain saw folds loudly: the measure sees it


def _steps(audio: np.ndarray) -> np.ndarray:
    padded = np.concatenate([np.zeros((2, 1)), audio, np.zeros((2, 1))], axis=1)
    return np.abs(np.diff(padded, axis=1)).max(axis=0)


@pytest.mark.parametrize("name", PITCHED)
def test_a_note_alone_is_click_free_at_note_on_and_off(name: str) -> None:
    instrument = make_instrument(name, RATE)
    held = 2 * RATE  # long enough that the sustained part spans the unison's beating
    out = np.zeros((2, RATE * 4), dtype=np.float32)
    instrument.render_into([(57, 0, held, 100)], out)
    steps = _steps(out)
    patch = PRESETS[name].patch
    assert patch is not None
    onset = int(max(patch.amp.attack, 0.002) * RATE) + 1  # the attack: the note-on transition
    sustained = steps[onset:held].max()
    assert sustained > 0
    assert steps[:onset].max() <= sustained, "note on clicks"
    assert steps[held:].max() <= sustained, "note off clicks"
    assert np.all(out[:, -100:] == 0.0), "the release must end in silence"


def test_voice_stealing_is_click_free() -> None:
    lead = make_instrument("lead", RATE, polyphony=1)
    out = np.zeros((2, RATE * 2), dtype=np.float32)
    steal = int(0.4 * RATE)
    lead.render_into([(62, 0, RATE, 110), (69, steal, RATE // 2, 110)], out)
    steps = _steps(out)
    sustained = steps[int(0.05 * RATE) : steal].max()
    around = steps[steal - 200 : steal + int(0.05 * RATE)]
    assert around.max() <= sustained
    # the first voice is really gone: after the fade only the second note sounds
    alone = np.zeros_like(out)
    lead.render_into([(69, steal, RATE // 2, 110)], alone)
    after = steal + int(0.02 * RATE)
    np.testing.assert_allclose(out[:, after:], alone[:, after:], atol=1e-6)


def test_voice_limit_steals_the_oldest_voice_first() -> None:
    notes = [(60, 0, 100, 90), (64, 10, 100, 90), (67, 20, 100, 90)]
    play = allocate_voices(notes, [500, 500, 500], limit=2, fade=5)
    assert play == [25, 500, 500]  # the first note is cut 5 frames after the third starts
    same = allocate_voices(
        [(60, 0, 100, 90), (64, 10, 100, 90), (64, 20, 100, 90)], [500] * 3, 2, 5
    )
    assert same == [500, 15, 500]  # a voice on the same pitch goes first


def test_velocity_makes_notes_louder_and_brighter() -> None:
    lead = make_instrument("lead", RATE)
    soft, hard = lead.note(60, RATE // 4, 40), lead.note(60, RATE // 4, 120)
    assert np.abs(hard).max() > 2 * np.abs(soft).max()

    def centroid(x: np.ndarray) -> float:
        spectrum = np.abs(np.fft.rfft(x[0]))
        return float((spectrum * np.arange(spectrum.shape[0])).sum() / spectrum.sum())

    assert centroid(hard) > centroid(soft)


def test_unison_spreads_the_voices_in_stereo() -> None:
    pad = make_instrument("pad", RATE)
    note = pad.note(60, RATE, 90)
    assert note.shape[0] == 2
    assert not np.allclose(note[0], note[1])


def test_note_cache_is_bounded_in_bytes() -> None:
    patch = SynthPatch(saw=1.0)
    synth = SynthInstrument("saw", patch, RATE, cache_bytes=2_000_000)
    out = np.zeros((2, RATE), dtype=np.float32)
    for pitch in range(40, 90):
        synth.render_into([(pitch, 0, RATE // 4, 100)], out)
    assert 0 < synth.cache.nbytes <= 2_000_000
    assert len(synth.cache) < 50


def test_rendering_is_deterministic() -> None:
    a, b = make_instrument("pad", RATE), make_instrument("pad", RATE)
    notes = [(50, 0, 20000, 80), (57, 100, 20000, 80), (62, 5000, 9000, 70)]
    x, y = np.zeros((2, 60000), np.float32), np.zeros((2, 60000), np.float32)
    a.render_into(notes, x)
    b.render_into(notes, y)
    assert x.tobytes() == y.tobytes()


def test_interleaved_render_matches_planar() -> None:
    bass = make_instrument("bass", RATE)
    notes = [(40, 0, 10000, 100), (43, 12000, 10000, 90)]
    planar = np.zeros((2, 40000), np.float32)
    interleaved = np.zeros((40000, 2), np.float32)
    bass.render_into(notes, planar)
    bass.render(notes, interleaved)
    np.testing.assert_array_equal(planar.T, interleaved)


def _reference_voice(synth: SynthInstrument, pitch: int, frames: int, velocity: int) -> np.ndarray:
    """A synth note the plain way: float64 phase, per-frame table level, no run splitting."""
    from runtime._instruments._synth import FILTER_LEVELS, TABLE_SIZE, _phase_increment
    from runtime._instruments._voice import adsr, midi_hz, velocity_gain

    patch, sr = synth.patch, synth.sample_rate
    env = adsr(patch.amp, frames, sr).astype(np.float64) * velocity_gain(
        velocity, patch.velocity_db
    )
    total = env.shape[0]
    tables = synth.tables(pitch)[0].astype(np.float64).reshape(FILTER_LEVELS, TABLE_SIZE + 1)
    opening = patch.cutoff + patch.key_velocity_cutoff * (velocity - 1) / 126.0
    top = FILTER_LEVELS - 1 - 1e-3
    if patch.filter_amount:
        level = adsr(patch.filter_env, frames, sr, False, total - frames).astype(np.float64)
        level = np.clip(level * patch.filter_amount + opening, 0.0, top)
    else:
        level = np.full(total, min(max(opening, 0.0), top))
    lower = np.floor(level).astype(int)
    weight = level - lower
    voices = max(1, patch.unison)
    out = np.zeros((2 if patch.spread > 0 and voices > 1 else 1, total))
    for v in range(voices):
        position = 0.0 if voices == 1 else 2.0 * v / (voices - 1) - 1.0
        increment = int(
            _phase_increment(midi_hz(pitch) * 2.0 ** (patch.detune_cents * position / 1200.0), sr)
        )
        start = (pitch * 2654435761 + v * 40503 * 65537) % (1 << 32)
        phase = (np.arange(total, dtype=np.int64) * increment + start) % (1 << 32)
        i, frac = phase >> 21, (phase & ((1 << 21) - 1)) / 2.0**21
        low, high = lower, np.minimum(lower + 1, FILTER_LEVELS - 1)
        at_low = tables[low, i] + (tables[low, i + 1] - tables[low, i]) * frac
        at_high = tables[high, i] + (tables[high, i + 1] - tables[high, i]) * frac
        wave = (at_low * (1 - weight) + at_high * weight) / np.sqrt(voices)
        if out.shape[0] == 1:
            out[0] += wave
        else:
            angle = (position * patch.spread + 1.0) * np.pi / 4.0
            out[0] += wave * np.cos(angle) * np.sqrt(2.0)
            out[1] += wave * np.sin(angle) * np.sqrt(2.0)
    return out * env


@pytest.mark.parametrize("name", ["lead", "pad", "pluck", "keys", "brass"])
def test_synth_voice_matches_a_plain_reference(name: str) -> None:
    """The fixed-point phase, slope tables and per-level runs change speed, not sound."""
    synth = make_instrument(name, RATE)
    assert isinstance(synth, SynthInstrument) and not synth.patch.sub
    for pitch, frames, velocity in ((45, 30000, 110), (72, 9000, 40)):
        note = synth._voice(pitch, frames, velocity)
        expected = _reference_voice(synth, pitch, frames, velocity)
        assert note.shape == expected.shape
        # float32 against float64: a few parts per million of the note's peak
        assert np.abs(note - expected).max() <= 1e-5 * np.abs(expected).max()


# --- drums ---------------------------------------------------------------------------------


def test_closed_hat_chokes_the_open_hat_without_a_click() -> None:
    kit = DrumKit(RATE)
    open_row = kit.names.index("open_hat")
    closed_row = kit.names.index("closed_hat")
    alone = np.zeros((2, RATE), np.float32)
    kit.render_into([DrumHit(open_row, 0, 0.9)], alone)
    choked = np.zeros((2, RATE), np.float32)
    at = int(0.1 * RATE)
    kit.render_into([DrumHit(open_row, 0, 0.9), DrumHit(closed_row, at, 0.9)], choked)
    closed = np.zeros((2, RATE), np.float32)
    kit.render_into([DrumHit(closed_row, at, 0.9)], closed)
    rest = choked - closed  # what is left of the open hat
    late = slice(at + int(0.01 * RATE), None)
    assert np.abs(rest[:, late]).max() == 0.0  # choked: silent after the fade
    assert np.abs(alone[:, late]).max() > 0.05  # unchoked it would still ring
    assert _steps(rest)[at - 10 : at + 400].max() <= _steps(alone)[:at].max()


def test_hard_hits_are_louder_and_brighter() -> None:
    kit = DrumKit(RATE)
    snare = kit.names.index("snare")
    soft, hard = kit.hit(snare, 0.3), kit.hit(snare, 1.0)
    assert np.abs(hard).max() > 2 * np.abs(soft).max()
    assert (
        np.abs(np.diff(hard)).mean() / np.abs(hard).mean()
        > np.abs(np.diff(soft)).mean() / np.abs(soft).mean()
    )


def test_drums_have_no_dc() -> None:
    kit = DrumKit(RATE)
    for voice in range(len(kit.names)):
        hit = kit.hit(voice, 1.0).astype(np.float64)
        assert abs(hit.mean()) < 1e-3 * np.abs(hit).max()


def _reference_lowpass(x: np.ndarray, hz: float, rate: int) -> np.ndarray:
    """The one-pole low-pass by FFT at a power-of-two size, as the kit was first made."""
    a = float(np.exp(-2 * np.pi * hz / rate))
    size = 1 << int(np.ceil(np.log2(x.shape[0] + 4096)))
    w = 2 * np.pi * np.arange(size // 2 + 1) / size
    response = (1 - a) / (1 - a * np.exp(-1j * w))
    return np.fft.irfft(np.fft.rfft(x, size) * response, size)[: x.shape[0]]


def test_drum_layers_match_a_plain_reference(monkeypatch: pytest.MonkeyPatch) -> None:
    """Filtering the noise once, FFTs of 2^a 3^b 5^c points and float32 sines, each drum
    made when first played: the same kit, sample for sample within float32 precision."""
    from runtime._instruments import _drums

    kit = _drums._layers(RATE)
    made = list(kit)  # every drum, before the reference functions are patched in
    monkeypatch.setattr(_drums, "_one_pole_lowpass", _reference_lowpass)
    monkeypatch.setattr(
        _drums, "_sines", lambda cycles, offset: np.sin(2 * np.pi * cycles + offset)
    )

    class Plain(_drums._Synth):
        def noise_highpass(self, hz: float, frames: int) -> np.ndarray:
            x = self.noise[:frames]
            return x - _reference_lowpass(x, hz, self.sr)

    plain = Plain(RATE)
    for voice, (name, _) in enumerate(_drums.DRUM_VOICES):
        for layer, expected in zip(made[voice], _drums._Kit._make(plain, name), strict=True):
            assert layer.shape == expected.shape
            assert np.abs(layer - expected).max() <= 2e-6 * np.abs(expected).max(), name
            # and the spectrum, band by band: within a hundredth of a dB
            bands = np.array_split(np.abs(np.fft.rfft(layer.astype(np.float64))) ** 2, 24)
            reference = np.array_split(np.abs(np.fft.rfft(expected.astype(np.float64))) ** 2, 24)
            db = [10 * np.log10(b.sum() / r.sum()) for b, r in zip(bands, reference, strict=True)]
            assert max(abs(d) for d in db) < 0.01, name


# --- sampler -------------------------------------------------------------------------------


def _sine_zone(hz: float, root: int, frames: int, **kwargs: object) -> SampleZone:
    t = np.arange(frames) / RATE
    return SampleZone(
        audio=np.sin(2 * np.pi * hz * t).astype(np.float32), sample_rate=RATE, root=root, **kwargs
    )  # type: ignore[arg-type]


def _peak_hz(x: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(x * np.hanning(x.shape[0])))
    return float(np.argmax(spectrum) * RATE / x.shape[0])


def test_sampler_picks_zones_by_key_and_velocity() -> None:
    low = _sine_zone(220.0, 57, RATE, keys=(0, 63))
    high = _sine_zone(880.0, 81, RATE, keys=(64, 127), velocities=(1, 90))
    loud = _sine_zone(880.0, 81, RATE, keys=(64, 127), velocities=(91, 127), gain=0.5)
    sampler = Sampler("test", [low, high, loud], RATE)
    assert sampler.zones_for(50, 100) == [0]
    assert sampler.zones_for(70, 80) == [1]
    assert sampler.zones_for(70, 120) == [2]


def test_sampler_transposes_by_interpolation() -> None:
    zone = _sine_zone(440.0, 69, RATE)
    sampler = Sampler("test", [zone], RATE)
    up = sampler.note(81, RATE // 4, 127)[0, 2000:10000]
    assert abs(_peak_hz(up) - 880.0) < 10.0
    down = sampler.note(62, RATE // 4, 127)[0, 2000:10000]
    assert abs(_peak_hz(down) - 440.0 * 2 ** (-7 / 12)) < 10.0


def test_sampler_loops_while_held_and_stops_without_a_loop() -> None:
    period = 100  # 480 Hz: the loop holds whole cycles
    frames = period * 20
    looped = _sine_zone(
        480.0, 69, frames, loop=(period * 5, period * 15), envelope=Envelope(0.001, 0.0, 1.0, 0.05)
    )
    plain = _sine_zone(480.0, 69, frames, envelope=Envelope(0.001, 0.0, 1.0, 0.05))
    held = RATE // 2  # far longer than the 2000-frame sample
    with_loop = Sampler("a", [looped], RATE).note(69, held, 127)
    without = Sampler("b", [plain], RATE).note(69, held, 127)
    late = slice(held // 2, held)
    assert np.abs(with_loop[0, late]).max() > 0.9
    assert np.abs(without[0, late]).max() == 0.0
    # the loop seam is smooth: no step larger than the sine's own
    assert np.abs(np.diff(with_loop[0, 1000:held])).max() < 2 * np.pi * 480 / RATE * 1.05


def test_sampler_rejects_bad_loops() -> None:
    with pytest.raises(ValueError, match="loop"):
        Sampler("bad", [_sine_zone(440.0, 69, 1000, loop=(500, 2000))], RATE)


def test_unknown_instrument_names_the_known_ones() -> None:
    with pytest.raises(ValueError, match="known: drums, lead"):
        make_instrument("kazoo", RATE)


def test_the_schema_names_exactly_the_runtimes_voices() -> None:
    from adaptive import INSTRUMENTS
    from runtime._instruments._presets import INSTRUMENT_NAMES

    assert sorted(INSTRUMENTS) == sorted(INSTRUMENT_NAMES)
