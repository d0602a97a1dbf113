"""The mix bus: pan, reverb and delay tails across bars, stem limiting, DC blocking, silence."""

from __future__ import annotations

import numpy as np
import pytest

import adaptive
from runtime import MusicEngine
from runtime._mixbus import MixBus, MixSettings, StemMix, mix_settings

RATE = 48000
BEAT = RATE / 2.0  # 120 bpm


def _bus(*stems: StemMix, **settings: float) -> MixBus:
    return MixBus(list(stems), MixSettings(**settings), RATE, BEAT)  # type: ignore[arg-type]


def _impulse(frames: int, at: int = 0, stems: int = 1) -> np.ndarray:
    dry = np.zeros((stems, 2, frames), dtype=np.float32)
    dry[:, :, at] = 0.5
    return dry


def test_pan_is_constant_power() -> None:
    bus = _bus(StemMix(pan=-1.0), StemMix(pan=0.0), StemMix(pan=0.5))
    tone = np.sin(np.arange(4000) * 0.05).astype(np.float32) * 0.3
    dry = np.broadcast_to(tone, (3, 2, 4000)).copy()
    out = bus.process(dry, 4000, 0)
    middle = slice(1000, 3000)
    assert np.abs(out[0, middle, 1]).max() < 1e-6  # hard left: nothing on the right
    power = (out[:, middle] ** 2).sum(axis=(1, 2))
    np.testing.assert_allclose(power, power[1], rtol=1e-3)
    assert np.abs(out[2, middle, 1]).max() > np.abs(out[2, middle, 0]).max()


def test_reverb_tail_carries_across_the_bar_line() -> None:
    frames = 24000
    bus = _bus(StemMix(reverb=1.0), reverb_seconds=2.0)
    first = bus.process(_impulse(frames, 100), frames, 0)
    second = bus.process(np.zeros((1, 2, frames), np.float32), frames, 1)
    assert np.abs(second).max() > 3e-4  # the tail rings on into the next bar
    # the same as one bar twice as long: the bar line leaves no seam
    whole = _bus(StemMix(reverb=1.0), reverb_seconds=2.0).process(
        _impulse(2 * frames, 100), 2 * frames, 0
    )
    joined = np.concatenate([first, second], axis=1)
    error = np.abs(joined - whole).max() / np.abs(whole).max()
    assert error < 1e-2

    # and it decays: a longer reverb time rings longer
    def energy_late(seconds: float) -> float:
        b = _bus(StemMix(reverb=1.0), reverb_seconds=seconds)
        b.process(_impulse(frames, 100), frames, 0)
        return float((b.process(np.zeros((1, 2, frames), np.float32), frames, 1) ** 2).sum())

    assert energy_late(3.0) > 2 * energy_late(0.8)


def test_a_bar_composed_again_starts_from_the_same_state() -> None:
    frames = 12000
    bus = _bus(StemMix(reverb=0.5, delay=0.5))
    bus.process(_impulse(frames, 10), frames, 0)
    once = bus.process(_impulse(frames, 500), frames, 1)
    again = bus.process(_impulse(frames, 500), frames, 1)
    np.testing.assert_array_equal(once, again)


def test_delay_echoes_on_the_beat_grid() -> None:
    frames = 48000
    bus = _bus(StemMix(delay=1.0), delay_beats=0.5, delay_feedback=0.5)
    out = bus.process(_impulse(frames, 1000), frames, 0)
    echo = out[0, 1500:, :].sum(axis=1)
    first = 1500 + int(np.argmax(np.abs(echo)))
    assert abs(first - (1000 + int(0.5 * BEAT))) <= 2
    # ping-pong: the second echo comes back on the other side, quieter
    left = np.abs(out[0, :, 0])
    right = np.abs(out[0, :, 1])
    second = 1000 + 2 * int(0.5 * BEAT)
    window = slice(second - 4, second + 4)
    assert right[window].max() > left[window].max()


def test_stems_never_exceed_their_ceiling() -> None:
    frames = 48000
    loud = StemMix(max_gain=1.5)
    bus = _bus(loud, StemMix(), ceiling_db=-1.0)
    t = np.arange(frames) / RATE
    dry = np.zeros((2, 2, frames), np.float32)
    dry[0] = 3.0 * np.sin(2 * np.pi * 110 * t) * (t > 0.5)
    dry[1] = 0.2 * np.sin(2 * np.pi * 330 * t)
    out = bus.process(dry, frames, 0)
    ceiling = 10 ** (-1 / 20)
    assert np.abs(out[0]).max() <= ceiling / 1.5 + 1e-6  # the mixer may raise it by 1.5
    np.testing.assert_allclose(
        out[1, 100:, 0], dry[1, 0, 100:], atol=1e-3
    )  # a quiet stem: untouched


def test_dc_is_removed() -> None:
    frames = RATE * 2
    bus = _bus(StemMix(dc_block=True))
    t = np.arange(frames) / RATE
    dry = np.zeros((1, 2, frames), np.float32)
    dry[0] = 0.3 + 0.2 * np.sin(2 * np.pi * 200 * t)
    half = frames // 2
    first = bus.process(dry[:, :, :half], half, 0)
    out = np.concatenate([first, bus.process(dry[:, :, half:], half, 1)], axis=1)
    assert abs(out[0, RATE:, 0].mean()) < 0.003
    assert np.abs(out[0, RATE:, 0]).max() == pytest.approx(0.2, abs=0.01)  # the tone stays
    assert np.abs(np.diff(out[0, half - 50 : half + 50, 0])).max() < 0.03  # no seam at the bar


def test_silence_flushes_the_effects_to_exact_zeros() -> None:
    frames = 48000
    bus = _bus(StemMix(reverb=1.0, delay=1.0), reverb_seconds=0.5, delay_feedback=0.3)
    bus.process(_impulse(frames, 0), frames, 0)
    for index in range(1, 12):  # (the bus adds its returns into the dry buffer it is given)
        out = bus.process(np.zeros((1, 2, frames), np.float32), frames, index)
    assert not out.any()
    state = bus._after[11]
    assert not state.reverb.any() and not state.delay.any()


def test_mix_settings_read_the_manifest_with_instrument_defaults() -> None:
    manifest = {
        "stems": {
            "lead": {"instrument": "lead", "gain": 0.5, "pan": -0.4},
            "kit": {"instrument": "drums", "gain": 1.0, "program": 3},
        },
        "states": {"a": {"stems": {"lead": 2.0}}},
        "mix": {"reverb_seconds": 3.0},
    }
    mix = mix_settings(manifest, master_gain=0.7)
    assert mix.reverb_seconds == 3.0
    assert mix.stems["lead"].pan == -0.4
    assert mix.stems["lead"].max_gain == pytest.approx(0.5 * 2.0 * 0.7)
    assert mix.stems["kit"].program == 3
    assert mix.stems["kit"].reverb > 0  # the drum kit's default send


def test_default_render_never_clips_in_the_mix_or_any_stem() -> None:
    engine = MusicEngine(adaptive.load_bundle(), output="offline", seed=3)
    engine.set_parameter("intensity", 1.0)
    engine.set_state("boss")
    mix, stems = engine.render(RATE * 12, stems=True)
    assert np.abs(mix).max() < 1.0
    for name, audio in stems.items():
        assert np.abs(audio).max() < 10 ** (-1 / 20) + 1e-4, name
        assert abs(float(audio[:, 0].mean())) < 2e-3, name


def test_offline_render_is_deterministic() -> None:
    bundle = adaptive.load_bundle()
    a = MusicEngine(bundle, output="offline", seed=5).render(RATE * 5)
    b = MusicEngine(bundle, output="offline", seed=5).render(RATE * 5)
    assert a.tobytes() == b.tobytes()
