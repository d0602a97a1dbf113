"""The bar: what the composer fills and the mixer plays, and what a report keeps of it."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ._control import StateChange

__all__ = ["BarAudio", "PlayedBar", "EMPTY_AUDIO"]

EMPTY_AUDIO = np.zeros((0, 0, 2), dtype=np.float32)

# stem -> notes as (pitch, start_frame inside the bar, frames, velocity)
BarNotes = dict[str, list[tuple[int, int, int, int]]]


@dataclass
class BarAudio:
    """A composed and rendered bar, ready for the mixer."""

    index: int
    start_frame: int
    frames: int
    state: str
    intensity: float
    chord: int
    change: StateChange | None
    playable: np.ndarray  # (stems, >= frames, 2) float32: this bar plus the previous bar's ring-out
    notes: BarNotes
    generate_ms: float
    render_ms: float
    fallback: bool = False
    gains: tuple[float, ...] = ()  # the stems' target gains when the bar started, set by the mixer
    program: int = 0  # which loaded bundle composed it (a hot reload starts a new program)
    serial: int = 0  # the composer's count of compose calls when it made this bar (replay logs)
    tempo: float = 0.0  # its tempo in the tempo map, as it played (set by the mixer)
    transition_bar: bool = False  # a generated lead-in from one state into the next
    phrase_bar: int = 0  # its position in the phrase, as the models were conditioned (0..3)

    def repeated_as(self, index: int, start_frame: int, frames: int) -> BarAudio:
        """This bar's audio played again in the place of a bar that was not ready."""
        return replace(
            self, index=index, start_frame=start_frame, frames=frames, fallback=True,
            generate_ms=0.0, render_ms=0.0,
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class PlayedBar:
    """What reports and MIDI export keep of a bar once it has played: no audio."""

    index: int
    start_frame: int
    frames: int
    state: str
    intensity: float
    chord: int
    fallback: bool
    gains: tuple[float, ...]
    notes: BarNotes
    tempo: float = 0.0
    transition_bar: bool = False
    phrase_bar: int = 0

    @classmethod
    def of(cls, bar: BarAudio) -> PlayedBar:
        return cls(**{name: getattr(bar, name) for name in cls.__slots__})  # type: ignore[attr-defined]
