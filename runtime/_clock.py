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
    beat_offsets: tuple[int, ...] = field(init=False)  # each beat's frame within a bar

    def __post_init__(self) -> None:
        # a beat is one denominator unit; tempo counts quarter notes
        beat = self.sample_rate * 60.0 / self.tempo * (4.0 / self.meter.denominator)
        object.__setattr__(self, "frames_per_beat", beat)
        object.__setattr__(self, "frames_per_bar", beat * self.meter.numerator)
        object.__setattr__(
            self, "frames_per_step", beat * self.meter.numerator / self.meter.steps_per_bar
        )
        offsets = tuple(int(round(b * beat)) for b in range(self.meter.numerator))
        object.__setattr__(self, "beat_offsets", offsets)

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
        """Beat ``beat`` of bar ``bar``: the bar's first frame plus the beat's offset in it,
        so beats agree with the bars the mixer plays."""
        if beat >= self.meter.numerator:
            return self.bar_start(bar + 1)
        return self.bar_start(bar) + self.beat_offsets[beat]

    def next_beat(self, frame: int) -> tuple[int, int, int]:
        """The first beat boundary at or after ``frame``: (frame, bar, beat)."""
        bar = self.bar_at(frame)
        offset = frame - self.bar_start(bar)
        for beat, at in enumerate(self.beat_offsets):
            if at >= offset:
                return frame - offset + at, bar, beat
        return self.bar_start(bar + 1), bar + 1, 0
