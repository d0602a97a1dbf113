"""The look-ahead worker: bars ready ahead of the playhead, stale bars composed again, freed off the audio thread."""

from __future__ import annotations

import gc
import time
import weakref

import adaptive
from runtime._control import StateChange
from runtime._scheduler import InlineSource, LookaheadScheduler, PlayedLog

from .conftest import make_rooms


def wait_for(condition, seconds: float = 20.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return False


def scheduler(bundle: adaptive.Bundle, lookahead: int = 2) -> tuple[LookaheadScheduler, list]:
    rooms = make_rooms(bundle)
    errors: list[BaseException] = []
    return LookaheadScheduler(
        rooms.composer, rooms.control, PlayedLog(), lookahead, errors.append
    ), errors


def test_the_worker_stays_ahead_of_the_playhead(bundle: adaptive.Bundle) -> None:
    s, errors = scheduler(bundle, lookahead=2)
    s.prime(1)
    s.start()
    try:
        first = s.take(0)
        assert first is not None and first.index == 0
        assert wait_for(lambda: s.ready_through >= 2)  # bars 1 and 2 composed while 0 plays
        for index in (1, 2):
            bar = s.take(index)
            assert bar is not None and bar.index == index and not bar.fallback
    finally:
        s.stop()
    assert not errors


def test_a_state_change_recomposes_the_bars_it_made_stale(bundle: adaptive.Bundle) -> None:
    s, errors = scheduler(bundle, lookahead=3)
    s.prime(1)
    s.start()
    try:
        assert s.take(0) is not None
        assert wait_for(lambda: s.ready_through >= 3)
        s.control.schedule = (StateChange("combat", "bar", 0, 2),)
        assert wait_for(lambda: s.log.regenerated >= 2)
        time.sleep(0.05)
        bars = [s.take(i) for i in (1, 2, 3)]
    finally:
        s.stop()
    assert [b.state for b in bars if b is not None] == ["explore", "combat", "combat"]
    assert not errors


def test_a_bar_not_ready_is_none_so_the_mixer_can_repeat(bundle: adaptive.Bundle) -> None:
    s, _ = scheduler(bundle)
    s.prime(1)  # the worker is not running: bar 1 never comes
    assert s.take(0) is not None
    assert s.take(1) is None


def test_retired_bars_are_freed_by_the_worker_not_the_caller(bundle: adaptive.Bundle) -> None:
    s, _ = scheduler(bundle)
    s.prime(1)
    bar = s.take(0)
    assert bar is not None
    audio = weakref.ref(bar.playable)
    s.retire(bar, True)
    del bar
    gc.collect()
    assert audio() is not None  # still queued: the mixer's thread did not free it
    s._free_retired()  # what the worker runs between bars
    assert audio() is None and [b.index for b in s.log.bars] == [0]


def test_a_failing_composer_is_reported_not_swallowed(bundle: adaptive.Bundle) -> None:
    s, errors = scheduler(bundle)

    def broken(index: int) -> None:
        raise RuntimeError(f"cannot compose bar {index}")

    s.composer.compose = broken  # type: ignore[method-assign,assignment]
    s.start()
    assert wait_for(lambda: bool(errors))
    s.stop()
    assert "cannot compose bar 0" in str(errors[0])


def test_inline_source_composes_on_demand_and_logs_what_played(bundle: adaptive.Bundle) -> None:
    rooms = make_rooms(bundle)
    source = InlineSource(rooms.composer, PlayedLog())
    bars = [source.take(i) for i in range(3)]
    for bar in bars:
        source.retire(bar, True)
    assert [b.index for b in source.log.bars] == [0, 1, 2] and source.log.generated == 3
    assert all(not hasattr(b, "playable") for b in source.log.bars)
