"""Timelines: scripted game sessions for offline renders.

JSON, times in seconds::

    {"duration": 30.0, "events": [
        {"time": 0.0, "state": "explore"},
        {"time": 4.0, "parameter": "intensity", "value": 0.9},
        {"time": 9.1, "state": "combat", "sync": "bar"},
        {"time": 12.0, "stinger": "pickup"}]}

A state event without ``sync`` follows the style's transition rule for the pair.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from adaptive._errors import EngineError
from adaptive._music import Meter

from ._engine import MusicEngine

MAX_DURATION = 3600.0


@dataclass(frozen=True)
class TimelineEvent:
    time: float
    kind: str  # "state" | "parameter" | "stinger"
    name: str
    value: float = 0.0
    sync: str | None = None  # states: None follows the style's transition rule


@dataclass(frozen=True)
class Timeline:
    duration: float
    events: tuple[TimelineEvent, ...]

    @classmethod
    def from_dict(cls, data: Any, source: str = "timeline") -> Timeline:
        def fail(field: str, message: str) -> EngineError:
            return EngineError(f"{source}: field '{field}' {message}")

        def number(value: Any, field: str, lo: float, hi: float) -> float:
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not math.isfinite(value)
                or not lo <= value <= hi
            ):
                raise fail(field, f"must be a number in [{lo}, {hi}], got {value!r}")
            return float(value)

        if not isinstance(data, dict):
            raise fail("(top level)", "must be an object with 'duration' and 'events'")
        duration = number(data.get("duration"), "duration", 0.001, MAX_DURATION)
        raw_events = data.get("events", [])
        if not isinstance(raw_events, list):
            raise fail("events", "must be a list")
        events = []
        for i, raw in enumerate(raw_events):
            where = f"events[{i}]"
            if not isinstance(raw, dict):
                raise fail(where, "must be an object")
            time = number(raw.get("time"), f"{where}.time", 0.0, duration)
            kinds = [k for k in ("state", "parameter", "stinger") if k in raw]
            if len(kinds) != 1:
                raise fail(
                    where,
                    f"needs exactly one of 'state', 'parameter', 'stinger', got {sorted(raw)}",
                )
            kind = kinds[0]
            name = raw[kind]
            if not isinstance(name, str) or not name:
                raise fail(f"{where}.{kind}", f"must be a name, got {name!r}")
            value = (
                number(raw.get("value"), f"{where}.value", -1e9, 1e9)
                if kind == "parameter"
                else 0.0
            )
            sync = raw.get("sync")  # left out: the style's [[transitions]] rule decides
            if sync is not None and not isinstance(sync, str):
                raise fail(f"{where}.sync", f"must be a string, got {sync!r}")
            events.append(TimelineEvent(time, kind, name, value, sync))
        events.sort(key=lambda e: e.time)  # stable: equal times keep file order
        return cls(duration, tuple(events))


def load_timeline(path: str | os.PathLike[str]) -> Timeline:
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise EngineError(f"{path}: timeline file not found") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise EngineError(f"{path}: not a readable JSON timeline: {exc}") from None
    return Timeline.from_dict(data, str(path))


def timeline_bars(timeline: Timeline, tempo: float, meter: Meter) -> float:
    """How many bars ``timeline`` lasts at ``tempo`` (quarter notes per minute) in ``meter``."""
    return timeline.duration * tempo / 60 / meter.numerator * (meter.denominator / 4)


def fastest_tempo(bundle: Any) -> float:
    """The fastest tempo ``bundle`` plays (a state's own, or the style's): the most bars a
    timeline can last, with ``timeline_bars``."""
    spec = bundle.spec
    return max([spec.tempo, *(spec.tempo_for(state) for state in spec.states)])


def render_timeline(engine: MusicEngine, timeline: Timeline, stems: bool = False) -> Any:
    """Play ``timeline`` through an offline engine; returns what ``engine.render`` returns."""
    # Check every name before rendering anything, so a typo fails fast.
    for i, event in enumerate(timeline.events):
        known = {
            "state": engine.states,
            "parameter": tuple(engine.parameters),
            "stinger": engine.stingers,
        }[event.kind]
        if event.name not in known:
            raise EngineError(
                f"timeline field 'events[{i}].{event.kind}': {event.name!r} is not in the bundle; known: {', '.join(known)}"
            )
    total = int(round(timeline.duration * engine.sample_rate))
    mixes: list[np.ndarray] = []
    stem_parts: dict[str, list[np.ndarray]] = {}
    done = 0

    def render_until(frame: int) -> None:
        nonlocal done
        if frame <= done:
            return
        result = engine.render(frame - done, stems=stems)
        if stems:
            mix, parts = result
            for name, audio in parts.items():
                stem_parts.setdefault(name, []).append(audio)
        else:
            mix = result
        mixes.append(mix)
        done = frame

    for event in timeline.events:
        render_until(min(total, int(round(event.time * engine.sample_rate))))
        if event.kind == "state":
            engine.set_state(event.name, sync=event.sync)
        elif event.kind == "parameter":
            engine.set_parameter(event.name, event.value)
        else:
            engine.trigger(event.name)
    render_until(total)
    mix = np.concatenate(mixes) if mixes else np.zeros((0, 2), np.float32)
    if not stems:
        return mix
    return mix, {name: np.concatenate(parts) for name, parts in stem_parts.items()}
