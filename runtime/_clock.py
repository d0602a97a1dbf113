"""The musical clock: bars and beats on the one sample clock, as a tempo map.

The map is a run of segments, each a tempo from a bar on: the first starts at
``origin_bar`` on ``origin_frame`` at ``tempo``; each entry of ``changes`` (bar,
tempo) starts a segment on that bar's first frame. Tempo changes land on bar
lines only, so every bar has one tempo and its beats are evenly spaced in it.

Bars never drift: a bar's start is rounded from its exact position within its
segment (``frame + round(k * frames_per_bar)``), and a segment starts on the
integer frame where the one before put that bar, so rounding errors never add up.

The mixer owns the map and replaces it whole (it is immutable) when a state
change brings another tempo (``retimed``); the composer and the reports read
whichever map is current. A hot reload to a bundle with another tempo or meter
keeps the one sample clock and starts a new map where the new bundle takes over
(``rebased``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Protocol

from adaptive._music import Meter

__all__ = ["MusicalClock", "TempoSegment", "MAX_RAMP_BARS", "clock_for_schedule"]

MAX_RAMP_BARS = 16
MAX_SEGMENTS = 40  # beyond this, segments long played are folded into the origin (the map is
# rebuilt on the audio thread at each state change: this keeps that under about 0.1 ms)


@lru_cache(maxsize=256)
def _grid(
    tempo: float, sample_rate: int, meter: Meter
) -> tuple[float, float, float, tuple[int, ...]]:
    """Frames per beat, bar and step, and each beat's frame in a bar, at ``tempo``: a map is
    rebuilt at each state change, mostly from the same few tempos."""
    # a beat is one denominator unit; tempo counts quarter notes
    beat = sample_rate * 60.0 / tempo * (4.0 / meter.denominator)
    offsets = tuple(int(round(b * beat)) for b in range(meter.numerator))
    per_bar = beat * meter.numerator
    return beat, per_bar, per_bar / meter.steps_per_bar, offsets


@dataclass(frozen=True, slots=True)
class TempoSegment:
    """One tempo from ``bar`` (on ``frame``) until the next segment's bar."""

    bar: int
    frame: int
    tempo: float
    frames_per_beat: float
    frames_per_bar: float
    frames_per_step: float
    beat_offsets: tuple[int, ...]  # each beat's frame within a bar of this segment

    @classmethod
    def at(cls, bar: int, frame: int, tempo: float, sample_rate: int, meter: Meter) -> TempoSegment:
        return cls(bar, frame, tempo, *_grid(tempo, sample_rate, meter))

    def bar_start(self, index: int) -> int:
        return self.frame + int(round((index - self.bar) * self.frames_per_bar))


@dataclass(frozen=True)
class MusicalClock:
    sample_rate: int
    tempo: float  # quarter notes per minute, at ``origin_bar``
    meter: Meter
    origin_bar: int = 0  # the bar at ``origin_frame``: a reload re-anchors the grid there
    origin_frame: int = 0
    changes: tuple[tuple[int, float], ...] = ()  # (bar, tempo) after the origin, bars ascending
    # derived once: the mixer reads them in every block
    segments: tuple[TempoSegment, ...] = field(init=False, repr=False, compare=False)
    # the origin segment's, for code that wants one tempo (a map without changes has one)
    frames_per_beat: float = field(init=False, repr=False, compare=False)
    frames_per_bar: float = field(init=False, repr=False, compare=False)
    frames_per_step: float = field(init=False, repr=False, compare=False)
    beat_offsets: tuple[int, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        first = TempoSegment.at(
            self.origin_bar, self.origin_frame, self.tempo, self.sample_rate, self.meter
        )
        segments = [first]
        for bar, tempo in self.changes:
            if bar <= segments[-1].bar:
                raise ValueError(f"tempo change at bar {bar} is not after bar {segments[-1].bar}")
            start = segments[-1].bar_start(bar)
            segments.append(TempoSegment.at(bar, start, tempo, self.sample_rate, self.meter))
        object.__setattr__(self, "segments", tuple(segments))
        for name in ("frames_per_beat", "frames_per_bar", "frames_per_step", "beat_offsets"):
            object.__setattr__(self, name, getattr(first, name))

    # --- building maps (off the audio path or once per state change) ----------------------

    def rebased(self, bar: int, frame: int) -> MusicalClock:
        """This meter at its origin tempo, bar ``bar`` starting at ``frame`` (for bars from there on)."""
        return replace(self, origin_bar=bar, origin_frame=frame, changes=())

    def retimed(self, tempo_bar: int, tempo: float, ramp_bars: int = 0) -> MusicalClock:
        """The map with every change from ``tempo_bar`` on dropped, then ``tempo`` from there.

        ``ramp_bars`` N > 0 steps there: bars ``tempo_bar`` .. ``tempo_bar + N - 1`` play
        old + (new - old) * k / (N + 1) for k = 1..N, and ``tempo`` holds from
        ``tempo_bar + N`` on; old is the tempo of the bar before. The origin bar cannot change.
        """
        tempo_bar = max(tempo_bar, self.origin_bar + 1)
        kept = [(b, t) for b, t in self.changes if b < tempo_bar]
        old = kept[-1][1] if kept else self.tempo
        if tempo != old:
            steps = max(0, min(int(ramp_bars), MAX_RAMP_BARS))
            for k in range(1, steps + 1):
                kept.append((tempo_bar + k - 1, old + (tempo - old) * k / (steps + 1)))
            kept.append((tempo_bar + steps, tempo))
        clock = replace(self, changes=tuple(kept))
        return clock if len(kept) <= MAX_SEGMENTS else clock._folded(tempo_bar - 8)

    def _folded(self, bar: int) -> MusicalClock:
        """Segments ending before ``bar`` folded into the origin (bars long played)."""
        segment = self.segment(bar)
        later = tuple((b, t) for b, t in self.changes if b > segment.bar)
        return replace(
            self,
            tempo=segment.tempo,
            origin_bar=segment.bar,
            origin_frame=segment.frame,
            changes=later,
        )

    # --- reading (the audio path: no allocation beyond ints) ------------------------------

    def segment(self, bar: int) -> TempoSegment:
        """The segment bar ``bar`` plays in (bars before the origin: the origin's)."""
        segments = self.segments
        i = len(segments) - 1
        while i > 0 and segments[i].bar > bar:
            i -= 1
        return segments[i]

    def _segment_at_frame(self, frame: int) -> TempoSegment:
        segments = self.segments
        i = len(segments) - 1
        while i > 0 and segments[i].frame > frame:
            i -= 1
        return segments[i]

    def tempo_at(self, bar: int) -> float:
        return self.segment(bar).tempo

    def frames_per_beat_at(self, bar: int) -> float:
        return self.segment(bar).frames_per_beat

    def frames_per_bar_at(self, bar: int) -> float:
        return self.segment(bar).frames_per_bar

    def frames_per_step_at(self, bar: int) -> float:
        return self.segment(bar).frames_per_step

    def beat_offsets_at(self, bar: int) -> tuple[int, ...]:
        return self.segment(bar).beat_offsets

    @property
    def longest_bar(self) -> float:
        """The longest bar of the map, in (fractional) frames."""
        return max(s.frames_per_bar for s in self.segments)

    def bar_start(self, index: int) -> int:
        # rounded from the exact position in its segment, so bars never drift
        return self.segment(index).bar_start(index)

    def bar_frames(self, index: int) -> int:
        return self.bar_start(index + 1) - self.bar_start(index)

    def bar_at(self, frame: int) -> int:
        segment = self._segment_at_frame(frame)
        index = segment.bar + int((frame - segment.frame) // segment.frames_per_bar)
        while self.bar_start(index + 1) <= frame:
            index += 1
        while self.bar_start(index) > frame:
            index -= 1
        return index

    def beat_start(self, bar: int, beat: int) -> int:
        """Beat ``beat`` of bar ``bar``: the bar's first frame plus the beat's offset in it,
        so beats agree with the bars the mixer plays."""
        if beat >= self.meter.numerator:
            return self.bar_start(bar + 1)
        return self.bar_start(bar) + self.segment(bar).beat_offsets[beat]

    def next_beat(self, frame: int) -> tuple[int, int, int]:
        """The first beat boundary at or after ``frame``: (frame, bar, beat), on the beats
        of the bar it falls in (at that bar's tempo)."""
        bar = self.bar_at(frame)
        start = self.bar_start(bar)
        offset = frame - start
        for beat, at in enumerate(self.segment(bar).beat_offsets):
            if at >= offset:
                return start + at, bar, beat
        return self.bar_start(bar + 1), bar + 1, 0


class _Change(Protocol):
    @property
    def state(self) -> str: ...
    @property
    def tempo_bar(self) -> int: ...
    @property
    def ramp_bars(self) -> int: ...


def clock_for_schedule(
    clock: MusicalClock, schedule: Iterable[_Change], tempo_for: Callable[[str], float]
) -> MusicalClock:
    """``clock`` with the tempo of every scheduled change after its origin applied in order
    (a new bundle taking over a schedule made under the old one's tempos)."""
    for change in schedule:
        if change.tempo_bar > clock.origin_bar:
            clock = clock.retimed(change.tempo_bar, tempo_for(change.state), change.ramp_bars)
    return clock
