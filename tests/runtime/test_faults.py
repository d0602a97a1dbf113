"""Faults heal: a composer that raises is restarted, and the game hears about it."""

from __future__ import annotations

import threading
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


def test_eight_threads_calling_at_random_lose_nothing(bundle: adaptive.Bundle) -> None:
    engine = MusicEngine(bundle, output="silent", worker="thread", seed=3)
    states, stingers = list(bundle.states), list(bundle.stingers)
    errors: list[BaseException] = []
    stop = threading.Event()

    def hammer(seed: int) -> None:
        import random

        rng = random.Random(seed)
        try:
            while not stop.is_set():
                choice = rng.random()
                if choice < 0.6:
                    engine.set_parameter("intensity", rng.random())
                elif choice < 0.8:
                    engine.set_state(rng.choice(states), sync=rng.choice(["bar", "beat"]))
                elif stingers:
                    engine.trigger(rng.choice(stingers))
                engine.stats()
        except BaseException as exc:  # noqa: BLE001 - any escape fails the test
            errors.append(exc)

    with engine:
        threads = [threading.Thread(target=hammer, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        time.sleep(4.0)
        stop.set()
        for t in threads:
            t.join(timeout=10)
        engine.set_parameter("intensity", 0.123)  # the last word
        wait_for_events(engine, 10, lambda _: abs(engine.parameters["intensity"] - 0.123) < 1e-9)
        alive = engine.update()
    assert not errors and not any(t.is_alive() for t in threads)
    assert abs(engine.parameters["intensity"] - 0.123) < 1e-9  # no update was lost
    assert engine.stats().callbacks > 0 and alive is not None
