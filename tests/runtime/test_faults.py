"""Faults heal: a composer that raises is restarted, and the game hears about it."""

from __future__ import annotations

import time

import adaptive
from runtime import MusicEngine


def wait_for_events(engine: MusicEngine, seconds: float, until) -> list:  # type: ignore[no-untyped-def]
    seen = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        seen += engine.update()
        if until(seen):
            break
        time.sleep(0.01)
    return seen


def test_a_failing_composer_restarts_and_later_changes_land_on_their_bar(
    bundle: adaptive.Bundle,
) -> None:
    engine = MusicEngine(bundle, output="silent", worker="thread", seed=2)
    composer = engine._core._composer
    compose, failed = composer.compose, []

    def compose_once_broken(index: int):  # type: ignore[no-untyped-def]
        if index == 2 and not failed:
            failed.append(index)
            raise RuntimeError("injected fault in bar 2")
        return compose(index)

    composer.compose = compose_once_broken
    with engine:
        events = wait_for_events(engine, 30, lambda seen: any(e.kind == "error" for e in seen))
        (error,) = [e for e in events if e.kind == "error"]
        assert "injected fault in bar 2" in (error.name or "")
        events = wait_for_events(engine, 30, lambda seen: any(e.kind == "bar" for e in seen))
        bar = next(e for e in events if e.kind == "bar")
        engine.set_state("combat", sync="bar")
        asked = engine.frame
        events = wait_for_events(engine, 30, lambda seen: any(e.kind == "transition" for e in seen))
    (transition,) = [e for e in events if e.kind == "transition"]
    timing = engine.timing
    assert transition.name == "combat" and transition.frame == timing.bar_start(transition.bar)
    assert transition.bar > bar.bar and transition.frame > asked
