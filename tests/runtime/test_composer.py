"""The composer: the same seed and bar give the same music, and a bar can be composed again."""

from __future__ import annotations

import numpy as np

import adaptive
from runtime._control import StateChange

from .conftest import make_rooms


def test_a_bar_is_the_same_for_the_same_seed_and_index(bundle: adaptive.Bundle) -> None:
    a, b = make_rooms(bundle, seed=5), make_rooms(bundle, seed=5)
    bars_a = [a.composer.compose(i) for i in range(3)]
    bars_b = [b.composer.compose(i) for i in range(3)]
    for x, y in zip(bars_a, bars_b, strict=True):
        assert x.notes == y.notes and x.chord == y.chord
        np.testing.assert_array_equal(x.playable, y.playable)
    other = make_rooms(bundle, seed=6).composer.compose(0)
    assert other.notes != bars_a[0].notes or not np.array_equal(other.playable, bars_a[0].playable)


def test_bar_audio_covers_the_bar_and_is_not_silent(bundle: adaptive.Bundle) -> None:
    rooms = make_rooms(bundle)
    bar = rooms.composer.compose(0)
    assert bar.frames == rooms.clock.bar_frames(0) and bar.start_frame == 0
    assert bar.playable.shape[0] == len(bundle.stems) and bar.playable.shape[1] >= bar.frames
    assert bar.playable.dtype == np.float32 and float(np.abs(bar.playable).max()) > 0.01
    assert set(bar.notes) == set(bundle.stems)


def test_composing_a_bar_again_in_a_new_state_keeps_the_bars_before(
    bundle: adaptive.Bundle,
) -> None:
    rooms = make_rooms(bundle)
    first = [rooms.composer.compose(i) for i in range(3)]
    rooms.control.schedule = (StateChange("combat", "bar", 0, 2),)
    again = rooms.composer.compose(2)
    assert again.state == "combat" and first[2].state == "explore"
    assert again.change is not None and again.change.target_bar == 2
    # bar 1's context is untouched: composing bar 2 in its old state gives the old bar back
    rooms.control.schedule = ()
    np.testing.assert_array_equal(rooms.composer.compose(2).playable, first[2].playable)


def test_forgetting_old_bars_keeps_memory_flat(bundle: adaptive.Bundle) -> None:
    composer = make_rooms(bundle).composer
    for index in range(12):
        composer.compose(index)
        composer.forget_before(index - 2)
    assert len(composer._contexts) <= 3 and len(composer._overflow) <= 3
