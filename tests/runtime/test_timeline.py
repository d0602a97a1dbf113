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
                {"time": 5.3, "state": "victory"},
                {"time": 5.3, "state": "combat", "sync": "bar"},  # given: it wins
            ],
        }
    )
    assert [e.sync for e in timeline.events] == [None, None, "bar"]
    engine = MusicEngine(default_bundle, output="offline", seed=2)
    render_timeline(engine, Timeline(timeline.duration, timeline.events[:2]))
    (victory,) = [t for t in engine.report()["transitions"] if t["to"] == "victory"]
    per_beat = engine.timing.frames_per_beat
    assert victory["sync"] == "beat"
    assert victory["landed_frame"] % engine.timing.frames_per_bar != 0  # within the bar...
    assert (
        abs(victory["landed_frame"] / per_beat - round(victory["landed_frame"] / per_beat)) < 1e-3
    )
    again = MusicEngine(default_bundle, output="offline", seed=2)
    render_timeline(again, timeline)
    assert [t["sync"] for t in again.report()["transitions"]][-1] == "bar"
