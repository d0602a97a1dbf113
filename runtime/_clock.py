"""The musical clock: bars and beats on the one sample clock.

A hot reload to a bundle with another tempo or meter keeps the one sample clock
and starts the new bar grid where the new bundle takes over: ``rebased`` puts
bar ``origin_bar`` at ``origin_frame``, and bars after it have the new length.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from adaptive._music import Meter


@dataclass(frozen=True)
class MusicalClock:
    sample_rate: int
    tempo: float  # quarter notes per minute
    meter: Meter
    origin_bar: int = 0  # the bar at ``origin_frame``: a tempo change re-anchors the grid there
    origin_frame: int = 0
    # derived once: the mixer reads them in every block
    frames_per_beat: float = field(init=False)
    frames_per_bar: float = field(init=False)
    frames_per_step: float = field(init=False)

    def __post_init__(self) -> None:
        # a beat is one denominator unit; tempo counts quarter notes
        beat = self.sample_rate * 60.0 / self.tempo * (4.0 / self.meter.denominator)
        object.__setattr__(self, "frames_per_beat", beat)
        object.__setattr__(self, "frames_per_bar", beat * self.meter.numerator)
        object.__setattr__(
            self, "frames_per_step", beat * self.meter.numerator / self.meter.steps_per_bar
        )

    def rebased(self, bar: int, frame: int) -> MusicalClock:
        """This tempo and meter with bar ``bar`` starting at ``frame`` (for bars from there on)."""
        return replace(self, origin_bar=bar, origin_frame=frame)

    def bar_start(self, index: int) -> int:
        # rounded from the exact position, so bars never drift
        return self.origin_frame + int(round((index - self.origin_bar) * self.frames_per_bar))

    def bar_frames(self, index: int) -> int:
        return self.bar_start(index + 1) - self.bar_start(index)

    def bar_at(self, frame: int) -> int:
        index = self.origin_bar + int((frame - self.origin_frame) // self.frames_per_bar)
        while self.bar_start(index + 1) <= frame:
            index += 1
        while self.bar_start(index) > frame:
            index -= 1
        return index

    def beat_start(self, bar: int, beat: int) -> int:
        bars = bar - self.origin_bar
        return self.origin_frame + int(
            round(bars * self.frames_per_bar + beat * self.frames_per_beat)
        )

    def next_beat(self, frame: int) -> tuple[int, int, int]:
        """The first beat boundary at or after ``frame``: (frame, bar, beat)."""
        bar = self.bar_at(frame)
        for beat in range(self.meter.numerator + 1):
            start = self.beat_start(bar, beat)
            if start >= frame:
                if beat == self.meter.numerator:
                    return self.bar_start(bar + 1), bar + 1, 0
                return start, bar, beat
        return self.bar_start(bar + 1), bar + 1, 0
