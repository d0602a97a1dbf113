"""Eight game threads call the API at random against a running engine: nothing raises, hangs or is lost.

A few seconds on the silent output, in this process and in a worker process. Only
behaviour is asserted here; the callback's p99 against its budget, over 60 s, is
``benchmarks/test_bench_threads.py``.
"""

from __future__ import annotations

import pytest

import adaptive
from runtime import MusicEngine

from .hammer import THREADS, hammer


@pytest.mark.parametrize("worker", ["thread", "process"])
def test_eight_threads_calling_at_random_lose_nothing(bundle: adaptive.Bundle, worker: str) -> None:
    engine = MusicEngine(bundle, output="silent", worker=worker, seed=3)
    assert engine.worker == worker
    result = hammer(engine, seconds=2.0)
    assert result.unexpected == []
    assert result.stuck_threads == 0 and result.stop_returned  # no deadlock
    assert THREADS == 8 and {"set_parameter", "set_state", "trigger", "update", "misuse"} <= set(
        result.calls
    )
    assert result.parameters_reported == result.parameters_expected != {}  # the last word won
    assert result.triggered > 0
    assert result.stingers_played + result.stingers_dropped == result.triggered
    assert result.stingers_reported == result.stingers_played
    assert all(result.states_landed.values()) and len(result.states_landed) == len(bundle.states)


def test_report_survives_the_mixer_logging_while_it_reads(bundle: adaptive.Bundle) -> None:
    """The mixer's thread appends to its logs at any moment; report() must not iterate them live."""
    engine = MusicEngine(bundle, output="offline", seed=3)
    engine.trigger("pickup")
    engine.render(engine.timing.bar_frames(0))
    log = engine._core._mixer.stinger_log
    (played,) = list(log)

    class AppendsWhileRead:
        chord = played.chord

        def as_dict(self) -> dict:
            log.append(played)  # what the mixer does when a stinger starts mid-report
            return played.as_dict()

    log.append(AppendsWhileRead())
    stingers = engine.report()["stingers"]
    assert [s["name"] for s in stingers] == ["pickup", "pickup"]
