"""Fixtures for the runtime's rooms: the tiny bundle, and a clock, control and composer on it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

import adaptive
from runtime._bar import BarAudio
from runtime._clock import MusicalClock
from runtime._composer import Composer
from runtime._control import Control


@pytest.fixture(scope="module")
def bundle(tiny_bundle_path: Path) -> adaptive.Bundle:
    return adaptive.load_bundle(tiny_bundle_path)


@dataclass
class Rooms:
    clock: MusicalClock
    control: Control
    composer: Composer


def make_rooms(bundle: adaptive.Bundle, seed: int = 1, sample_rate: int = 48000) -> Rooms:
    clock = MusicalClock(sample_rate, bundle.tempo, bundle.meter)
    control = Control(
        initial_state=next(iter(bundle.states)),
        parameters={n: float(p["default"]) for n, p in bundle.parameters.items()},
        valence={n: float(s["valence"]) for n, s in bundle.states.items()},
    )
    return Rooms(clock, control, Composer(bundle, clock, control, seed))


@pytest.fixture
def rooms(bundle: adaptive.Bundle) -> Rooms:
    return make_rooms(bundle)


def constant_bar(clock: MusicalClock, index: int, stems: int, level: float, state: str) -> BarAudio:
    """A bar whose every stem plays a constant ``level``: easy to recognise in the mix."""
    frames = clock.bar_frames(index)
    playable = np.full((stems, frames + 2, 2), level, dtype=np.float32)
    return BarAudio(
        index, clock.bar_start(index), frames, state, 0.5, 0, None, playable, {}, 0.0, 0.0
    )
