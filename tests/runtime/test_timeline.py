from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from adaptive import EngineError
from runtime import Timeline, load_timeline


def test_timeline_parses_and_sorts(tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    path.write_text(
        json.dumps(
            {
                "duration": 10,
                "events": [{"time": 4, "stinger": "hit"}, {"time": 1, "state": "combat"}],
            }
        )
    )
    timeline = load_timeline(path)
    assert [e.kind for e in timeline.events] == ["state", "stinger"]


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"events": []}, "duration"),
        ({"duration": -1}, "duration"),
        ({"duration": 5, "events": [{"time": 9, "state": "a"}]}, r"events\[0\]\.time"),
        ({"duration": 5, "events": [{"time": 1}]}, r"events\[0\]"),
        ({"duration": 5, "events": [{"time": 1, "parameter": "intensity"}]}, r"events\[0\]\.value"),
        ({"duration": 5, "events": [{"time": float("nan"), "state": "a"}]}, r"events\[0\]\.time"),
    ],
)
def test_bad_timelines_name_the_field(data: dict, field: str) -> None:
    with pytest.raises(EngineError, match=field):
        Timeline.from_dict(data, "t.json")


def test_unreadable_timeline_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text("{nope")
    with pytest.raises(EngineError, match="bad.json"):
        load_timeline(path)


def test_a_state_event_without_sync_follows_the_styles_rule(default_bundle: Any) -> None:
    """The default style moves into victory on the beat, with a swell: so does the timeline."""
    from runtime import MusicEngine, render_timeline

    timeline = Timeline.from_dict(
        {
            "duration": 9.0,
            "events": [
                {"time": 0.0, "state": "boss"},
                {"time": 4.9, "state": "victory"},  # boss at 128 bpm: within bar 2
                {"time": 4.9, "state": "combat", "sync": "bar"},  # given: it wins
            ],
        }
    )
    assert [e.sync for e in timeline.events] == [None, None, "bar"]
    engine = MusicEngine(default_bundle, output="offline", seed=2)
    render_timeline(engine, Timeline(timeline.duration, timeline.events[:2]))
    (victory,) = [t for t in engine.report()["transitions"] if t["to"] == "victory"]
    timing, landed = engine.timing, victory["landed_frame"]
    assert victory["sync"] == "beat"
    bar = timing.bar_at(landed)
    assert landed != timing.bar_start(bar)  # within the bar...
    assert (landed - timing.bar_start(bar)) in timing.beat_offsets_at(bar)  # ...on a beat of it
    again = MusicEngine(default_bundle, output="offline", seed=2)
    render_timeline(again, timeline)
    assert [t["sync"] for t in again.report()["transitions"]][-1] == "bar"
