"""Stats and reports as typed records.

``TimingRing`` is how the audio thread and the worker record durations without
allocating: a fixed numpy ring written in place. ``EngineStats`` is what
``MusicEngine.stats()`` returns, cheap enough to read every frame because the
percentiles behind it are recomputed at most a few times a second.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

__all__ = ["TimingRing", "EngineStats", "TransitionRecord", "StingerRecord", "Percentiles"]


class TimingRing:
    """The last ``size`` durations in ms; ``add`` is a store and an increment."""

    def __init__(self, size: int = 2048) -> None:
        self.values = np.zeros(size, dtype=np.float64)
        self.count = 0
        self.maximum = 0.0

    def add(self, ms: float) -> None:
        self.values[self.count % self.values.shape[0]] = ms
        self.count += 1
        if ms > self.maximum:
            self.maximum = ms

    def percentiles(self) -> Percentiles:
        n = min(self.count, self.values.shape[0])
        if n == 0:
            return Percentiles()
        p50, p99 = np.percentile(self.values[:n], (50, 99))
        return Percentiles(float(p50), float(p99), self.maximum)


@dataclass(frozen=True, slots=True)
class Percentiles:
    p50: float = 0.0
    p99: float = 0.0
    max: float = 0.0


@dataclass(frozen=True, slots=True)
class TransitionRecord:
    from_state: str
    to_state: str
    sync: str
    requested_frame: int
    landed_frame: int
    bar: int

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["from"], data["to"] = data.pop("from_state"), data.pop("to_state")
        return data


@dataclass(frozen=True, slots=True)
class StingerRecord:
    name: str
    requested_frame: int
    landed_frame: int
    bar: int
    beat: int
    chord: int = -1  # the key-normalized chord its audio was fitted to; -1: as written

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class EngineStats:
    """A snapshot of the engine, for a HUD, a profiler overlay or a log line."""

    output: str
    frames: int
    seconds: float
    state: str
    bar: int
    callbacks: int
    underruns: int  # times the output device ran dry
    fallback_bars: int  # bars repeated because the composer was late
    bars_generated: int
    bars_regenerated: int  # composed again after a state change
    lookahead_ms: float  # composed music ready beyond the playhead
    callback_ms: Percentiles
    generate_ms: Percentiles
    render_ms: Percentiles
    stingers_dropped: int
    stem_gains: dict[str, float] = field(default_factory=dict)
    parameters: dict[str, float] = field(default_factory=dict)
    budget_level: int = 0  # how far the CPU budget has made the engine give way (runtime._budget)
    cpu_share: float = 0.0  # the engine's measured share of one core, over the last window
    volume: float = 1.0  # the master volume the mixer is heading for

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def __getitem__(self, name: str) -> Any:
        """``stats["underruns"]`` reads like the attribute, for code that logs by name."""
        if name not in self.__dataclass_fields__:
            raise KeyError(name)
        return getattr(self, name)


class StatsCache:
    """Recomputes percentiles at most every ``interval`` seconds."""

    def __init__(self, interval: float = 0.25) -> None:
        self.interval = interval
        self._at = -1e9
        self._values: tuple[Percentiles, Percentiles, Percentiles] | None = None

    def get(
        self, callback: TimingRing, generate: TimingRing, render: TimingRing
    ) -> tuple[Percentiles, Percentiles, Percentiles]:
        now = time.monotonic()
        if self._values is None or now - self._at > self.interval:
            self._values = (callback.percentiles(), generate.percentiles(), render.percentiles())
            self._at = now
        return self._values
