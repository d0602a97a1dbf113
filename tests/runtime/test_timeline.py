from __future__ import annotations

import json
from pathlib import Path

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
