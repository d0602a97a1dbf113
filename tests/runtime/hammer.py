"""Eight game threads calling a running engine's API at random: the harness a test and a benchmark share.

Each thread, with its own seed, picks a call at random and then sleeps up to
``pause`` seconds (a game thread does other work between calls): parameters
(only the thread that owns a parameter sets it, so its last value is known),
state changes with every sync, stinger triggers, ``update()``, ``stats()`` and
the read-only properties, now and then ``report()``, and calls that must raise
an ``EngineError``. Afterwards, ``hammer`` checks what a lost update would break:

- each parameter ends at its owner's last value;
- every stinger triggered was played or dropped by its cooldown or the voice
  caps (``stinger`` events + ``stats().stingers_dropped``), none vanished;
- a state asked for lands (each state in turn, after the threads stop);
- nothing raised but the expected ``EngineError``s, and every thread and
  ``stop()`` returned (no deadlock).
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from runtime import EngineError, MusicEngine

THREADS = 8
SYNCS = (None, "immediate", "beat", "bar", "bars:2", "cue")
SETTLE_SECONDS = 20.0  # for the last commands to be heard (a busy machine, a bar's wait)


@dataclass
class HammerResult:
    calls: Counter = field(default_factory=Counter)
    unexpected: list[str] = field(default_factory=list)  # anything but the EngineErrors asked for
    stuck_threads: int = 0
    stop_returned: bool = False
    triggered: int = 0
    stingers_played: int = 0  # "stinger" events the game saw
    stingers_reported: int = 0  # stingers in report()
    stingers_dropped: int = 0
    parameters_expected: dict[str, float] = field(default_factory=dict)
    parameters_reported: dict[str, float] = field(default_factory=dict)
    states_landed: dict[str, bool] = field(default_factory=dict)
    callback_p99_ms: list[float] = field(default_factory=list)  # one per stats() sample
    budget_ms: float = 0.0
    underruns: int = 0
    fallback_bars: int = 0
    worker: str = ""

    @property
    def p99_over_budget(self) -> float:
        return max(self.callback_p99_ms, default=0.0) / self.budget_ms


def hammer(engine: MusicEngine, seconds: float, pause: float = 0.002) -> HammerResult:
    """Run ``THREADS`` random callers for ``seconds`` against ``engine`` (not yet started)."""
    result = HammerResult(worker=engine.worker)
    result.budget_ms = 1000.0 * engine.buffer_frames / engine.sample_rate
    states, stingers = list(engine.states), list(engine.stingers)
    parameters = list(engine.bundle.parameters)
    owners = {name: i % THREADS for i, name in enumerate(parameters)}
    last_value: dict[str, float] = {}
    events: list[Any] = []
    triggered = [0] * THREADS
    stop = threading.Event()

    def caller(index: int) -> None:
        rng = random.Random(index)
        owned = [name for name, owner in owners.items() if owner == index]
        calls: Counter = Counter()
        try:
            while not stop.is_set():
                pick = rng.random()
                if pick < 0.3 and owned:
                    name = rng.choice(owned)
                    value = round(rng.random(), 4)
                    engine.set_parameter(name, value)
                    last_value[name] = value
                    calls["set_parameter"] += 1
                elif pick < 0.45:
                    engine.set_state(rng.choice(states), sync=rng.choice(SYNCS))
                    calls["set_state"] += 1
                elif pick < 0.6 and stingers:
                    engine.trigger(rng.choice(stingers))
                    triggered[index] += 1
                    calls["trigger"] += 1
                elif pick < 0.75:
                    events.extend(engine.update())
                    calls["update"] += 1
                elif pick < 0.9:
                    stats = engine.stats()
                    _ = (engine.state, engine.parameters, engine.frame, stats.callbacks)
                    calls["stats"] += 1
                elif pick < 0.998:
                    misuse = rng.choice(
                        [
                            lambda: engine.set_parameter(parameters[0], math.nan),
                            lambda: engine.set_state(states[0], sync="bars:99"),
                            lambda: engine.trigger(["not", "a", "name"]),
                            lambda: engine.set_state("no such state"),
                        ]
                    )
                    try:
                        misuse()
                        result.unexpected.append("a misuse call did not raise")
                    except EngineError:
                        calls["misuse"] += 1
                else:
                    engine.report()
                    calls["report"] += 1
                time.sleep(rng.uniform(0.0, pause))
        except BaseException as exc:  # noqa: BLE001 - any escape is what this looks for
            result.unexpected.append(f"thread {index}: {type(exc).__name__}: {exc}")
        result.calls.update(calls)

    def sample_timing() -> None:
        stats = engine.stats()
        if stats.callbacks:
            result.callback_p99_ms.append(stats.callback_ms.p99)

    engine.start()
    try:
        threads = [threading.Thread(target=caller, args=(i,), daemon=True) for i in range(THREADS)]
        for thread in threads:
            thread.start()
        started = time.monotonic()
        next_sample = started + 1.0
        while time.monotonic() - started < seconds:
            events.extend(engine.update())  # the game's frame
            if time.monotonic() >= next_sample:
                sample_timing()  # the ring behind p99 holds the last ~20 s of callbacks
                next_sample += 5.0
            time.sleep(1 / 60)
        stop.set()
        for thread in threads:
            thread.join(timeout=10.0)
        result.stuck_threads = sum(thread.is_alive() for thread in threads)
        sample_timing()
        result.triggered = sum(triggered)
        result.parameters_expected = dict(last_value)
        _settle(engine, result, events)
        for state in states[1:] + states[:1]:  # each state in turn, ending where it began
            engine.set_state(state, sync="immediate")
            result.states_landed[state] = _wait(engine, events, lambda s=state: engine.state == s)
        report = engine.report()
        result.stingers_reported = len(report["stingers"])
        stats = engine.stats()
        result.underruns, result.fallback_bars = stats.underruns, stats.fallback_bars
    finally:
        result.stop_returned = _stop_within(engine, 30.0)
    return result


def _settle(engine: MusicEngine, result: HammerResult, events: list[Any]) -> None:
    """Wait until the last commands are heard: parameters at their values, stingers accounted."""

    def settled() -> bool:
        result.parameters_reported = {
            name: engine.parameters[name] for name in result.parameters_expected
        }
        result.stingers_played = sum(1 for e in events if e.kind == "stinger")
        result.stingers_dropped = engine.stats().stingers_dropped
        return (
            result.parameters_reported == result.parameters_expected
            and result.stingers_played + result.stingers_dropped == result.triggered
        )

    _wait(engine, events, settled)


def _wait(engine: MusicEngine, events: list[Any], done: Any) -> bool:
    deadline = time.monotonic() + SETTLE_SECONDS
    while time.monotonic() < deadline:
        events.extend(engine.update())
        if done():
            return True
        time.sleep(0.02)
    return bool(done())


def _stop_within(engine: MusicEngine, seconds: float) -> bool:
    stopper = threading.Thread(target=engine.stop, daemon=True)
    stopper.start()
    stopper.join(timeout=seconds)
    return not stopper.is_alive()
