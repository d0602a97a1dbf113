"""The CPU budget: the engine measures its share of a core and gives way in steps."""

from __future__ import annotations

import time

import numpy as np
import pytest

import adaptive
from runtime import EngineError, MusicEngine
from runtime._budget import BUDGET_LEVELS, WINDOW_SECONDS, CpuBudget
from runtime._instruments import SynthInstrument

from .conftest import make_rooms


def windows(budget: CpuBudget, shares: list[float]) -> list[int]:
    """Feed one window per share (CPU seconds per wall second); the level after each."""
    now = 0.0
    budget.update(now)
    levels = []
    for share in shares:
        budget.spend(share * WINDOW_SECONDS)
        now += WINDOW_SECONDS
        levels.append(budget.update(now))
    return levels


def test_it_steps_down_before_the_budget_is_spent_and_back_up_when_calm() -> None:
    budget = CpuBudget(0.1)
    # 0.09 is within 15% of the budget: give way; the lowest level is the last
    levels = windows(budget, [0.05, 0.09, 0.2, 0.2, 0.2, 0.07, 0.03, 0.03, 0.03, 0.03])
    assert levels == [0, 1, 2, 3, 3, 3, 3, 2, 2, 1]
    assert budget.cpu_share == pytest.approx(0.03)
    assert len(BUDGET_LEVELS) == 4


def test_without_a_budget_it_only_measures() -> None:
    budget = CpuBudget(None)
    assert windows(budget, [0.9, 0.9]) == [0, 0]
    assert budget.cpu_share == pytest.approx(0.9)


def test_the_composer_gives_way_at_each_level(default_bundle: adaptive.Bundle) -> None:
    rooms = make_rooms(default_bundle, seed=3)
    composer = rooms.composer
    assert composer.drums is not None and composer.drums.critic is not None
    asked: list[int] = []
    critic_run = composer.drums.critic.run

    def counted(feeds):  # type: ignore[no-untyped-def]
        asked.append(1)
        return critic_run(feeds)

    composer.drums.critic.run = counted  # type: ignore[method-assign]
    composer.compose(0)
    assert len(asked) == 1
    composer.level = 1
    composer.compose(1)
    assert len(asked) == 1, "the critic still ranked drum candidates at level 1"
    assert not composer._simpler
    composer.level = 2
    bar = composer.compose(2)
    synths = [n for n, i in composer.instruments.items() if isinstance(i, SynthInstrument)]
    assert synths and set(composer._simpler) == set(synths)
    assert all(i.patch.unison == 1 and not i.patch.partials for i in composer._simpler.values())
    assert np.abs(bar.playable).max() > 0.01


@pytest.mark.parametrize("worker", ["thread", "process"])
def test_a_tiny_budget_makes_a_live_engine_give_way(
    default_bundle: adaptive.Bundle, worker: str
) -> None:
    with MusicEngine(default_bundle, output="silent", worker=worker, cpu_budget=1e-4) as engine:
        deadline = time.monotonic() + 3 * WINDOW_SECONDS + 6.0  # generous on a busy machine
        while time.monotonic() < deadline:
            time.sleep(0.2)
            engine.update()
            stats = engine.stats()
            if stats.budget_level >= 1:
                break
        assert stats.budget_level >= 1, stats
        assert stats.cpu_share > 1e-4
        assert stats.callbacks > 0 and stats.bar >= 0  # the music plays on


@pytest.mark.parametrize("value", [0, -0.1, 1.5, float("nan"), float("inf"), True, "0.1"])
def test_a_bad_budget_is_an_engine_error(default_bundle: adaptive.Bundle, value: object) -> None:
    with pytest.raises(EngineError, match="cpu_budget"):
        MusicEngine(default_bundle, output="offline", cpu_budget=value)  # type: ignore[arg-type]
