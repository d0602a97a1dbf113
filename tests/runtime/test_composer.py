"""The composer: the same seed and bar give the same music, and a bar can be composed again."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import adaptive
from adaptive._bundle import write_bundle
from adaptive._schema import ParameterSpec, StateSpec
from runtime._composer import Composer
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


def _with_victory_and_danger(bundle: adaptive.Bundle, path: Path) -> adaptive.Bundle:
    """The tiny bundle plus a state borrowing explore's material and a mood parameter."""
    spec = bundle.spec
    victory = StateSpec(name="victory", valence=0.95, arousal=0.5, material="explore")
    danger = ParameterSpec(name="danger", maximum=2.0, default=0.0, valence=-0.4, arousal=0.4)
    manifest = dataclasses.replace(
        spec,
        states={**spec.states, "victory": victory},
        parameters={**spec.parameters, "danger": danger},
    )
    write_bundle(path, manifest, bundle.models)
    return adaptive.load_bundle(path)


def _fed_conditions(composer: Composer) -> dict[str, list[dict[str, float]]]:
    """Record every conditioning vector the composer feeds its real ONNX models, by name."""
    fed: dict[str, list[dict[str, float]]] = {}
    assert composer.harmony is not None
    models = [composer.harmony.model, *(g.model for g in composer.sequences.values())]
    if composer.drums is not None:
        models.append(composer.drums.generator)
    for model in models:

        def spy(
            feeds: dict[str, np.ndarray], run: Any = model.run, entry: Any = model.entry
        ) -> Any:
            values = feeds["cond"][0].tolist()
            fed.setdefault(entry.name, []).append(
                dict(zip(entry.conditioning, values, strict=True))
            )
            return run(feeds)

        model.run = spy  # type: ignore[method-assign]
    return fed


def test_a_borrowed_state_and_a_mood_parameter_reach_every_models_conditioning(
    bundle: adaptive.Bundle, tmp_path: Path
) -> None:
    rooms = make_rooms(_with_victory_and_danger(bundle, tmp_path / "v.adaptive"))
    composer = rooms.composer
    for generator in composer.sequences.values():  # no phrase sat out: every bar is written
        generator.presence = np.zeros(0)
    fed = _fed_conditions(composer)
    rooms.control.schedule = (StateChange("victory", "bar", 0, 0),)
    rooms.control.parameters["danger"] = 1.0  # half its range: valence -0.2, arousal +0.2
    bar = composer.compose(0)
    assert bar.state == "victory"  # the mix and the report see the game's state
    grim = {name: vectors[-1] for name, vectors in fed.items()}
    rooms.control.parameters["danger"] = 0.0
    composer.compose(0)
    for name, vectors in fed.items():
        seen = grim[name]
        # the models were trained on explore, never on victory: they hear explore
        assert seen["state:explore"] == 1.0 and "state:victory" not in seen, name
        assert seen["valence"] == pytest.approx(0.95 - 0.2), name
        assert vectors[-1]["valence"] == pytest.approx(0.95), name
    melody = fed["melody"]
    # arousal moves the intensity-driven attribute targets up by arousal_shift per unit
    shift = composer.sequences["melody"].attributes["arousal_shift"] * 0.2
    assert grim["melody"]["attr:density"] - melody[-1]["attr:density"] == pytest.approx(shift)
