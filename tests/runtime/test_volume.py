"""The master volume: a linear fader after the limiter, ramped so a change never clicks."""

from __future__ import annotations

import math

import numpy as np
import pytest

import adaptive
import runtime
from runtime._control import Command
from runtime._wire import Wire

SR = 48000
SEED = 5


def engine(bundle: adaptive.Bundle) -> runtime.MusicEngine:
    music = runtime.MusicEngine(bundle, output="offline", seed=SEED)
    music.set_parameter("intensity", 0.9)
    return music


def two_seconds(music: runtime.MusicEngine) -> np.ndarray:
    """Two renders of a second each: the same blocks as a render with a change between them."""
    return np.concatenate([music.render(SR), music.render(SR)])


@pytest.fixture(scope="module")
def reference(default_bundle: adaptive.Bundle) -> np.ndarray:
    return two_seconds(engine(default_bundle))


def test_half_volume_is_half_the_level(
    default_bundle: adaptive.Bundle, reference: np.ndarray
) -> None:
    music = engine(default_bundle)
    music.set_volume(0.5)
    assert music.volume == 0.5
    out = two_seconds(music)
    settled = SR // 5  # past the ramp (one offline block)
    assert np.abs(reference[settled:]).max() > 0.05
    assert np.array_equal(out[settled:], reference[settled:] * np.float32(0.5))
    assert music.stats().volume == 0.5


def test_volume_zero_is_silence_after_the_ramp(
    default_bundle: adaptive.Bundle, reference: np.ndarray
) -> None:
    music = engine(default_bundle)
    before = music.render(SR)
    music.set_volume(0.0)
    after = music.render(SR)
    assert np.array_equal(before, reference[:SR])
    assert np.abs(after[:512]).max() > 0  # it fades, it does not cut
    assert not after[SR // 5 :].any()


def test_a_volume_change_does_not_click(
    default_bundle: adaptive.Bundle, reference: np.ndarray
) -> None:
    music = engine(default_bundle)
    music.set_volume(0.0)
    quiet = music.render(SR)
    music.set_volume(1.0)  # the hardest change: silence to full level
    loud = music.render(SR)
    out = np.concatenate([quiet, loud])
    steps = np.abs(np.diff(out, axis=0)).max(axis=1)
    steady = np.abs(np.diff(reference, axis=0)).max()  # the music's own largest step
    near_change = steps[SR - 1024 : SR + SR // 5].max()
    assert near_change <= 1.05 * steady
    assert np.array_equal(loud[SR // 5 :], reference[SR + SR // 5 :])  # then exactly the mix


@pytest.mark.parametrize("bad", [math.nan, math.inf, -0.1, 1.01, "0.5", True, None])
def test_bad_volumes_are_refused(default_bundle: adaptive.Bundle, bad: object) -> None:
    music = engine(default_bundle)
    with pytest.raises(adaptive.EngineError, match="volume"):
        music.set_volume(bad)  # type: ignore[arg-type]
    assert music.volume == 1.0


def test_the_wire_carries_volume_and_keeps_names_across_a_reload(
    default_bundle: adaptive.Bundle, tiny_bundle_path: object
) -> None:
    game, worker = Wire(default_bundle), Wire(default_bundle)
    record = game.pack_command(Command("volume", "", 0.25))
    assert list(worker.unpack_commands(record)) == [Command("volume", "", 0.25)]
    before = game.pack_command(Command("state", "boss"))
    game.extend(adaptive.load_bundle(tiny_bundle_path))  # type: ignore[arg-type]
    worker.take_tables(game.tables())
    assert list(worker.unpack_commands(before)) == [Command("state", "boss")]  # same index
    event = runtime.MusicEvent("reload", 96000, 2, 0, "tiny", 2.0)
    assert list(game.unpack_events(worker.pack_events([event]))) == [event]
