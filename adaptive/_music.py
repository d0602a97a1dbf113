"""Music types and the little theory both sides share.

All pitches are MIDI numbers. Training data is key-normalized: major keys are
moved to C, minor keys to A minor (relative major C), so a key-relative chord
index means the same thing in every source.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

__all__ = [
    "Note",
    "Bar",
    "Meter",
    "Key",
    "Chord",
    "CHORDS",
    "START_CHORD",
    "STEPS_PER_QUARTER",
    "MAX_STEPS_PER_BAR",
    "DRUM_VOICES",
]

STEPS_PER_QUARTER = 4  # the generation grid is sixteenth notes
MAX_STEPS_PER_BAR = 32

PITCH_CLASS_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
_FLATS = {"Db": 1, "Eb": 3, "Gb": 6, "Ab": 8, "Bb": 10, "Cb": 11, "Fb": 4, "E#": 5, "B#": 0}
MAJOR_SCALE = (0, 2, 4, 5, 7, 9, 11)
NATURAL_MINOR_SCALE = (0, 2, 3, 5, 7, 8, 10)

# General MIDI drum notes for the voices the drum model plays, in row order.
DRUM_VOICES: tuple[tuple[str, int], ...] = (
    ("kick", 36),
    ("snare", 38),
    ("closed_hat", 42),
    ("open_hat", 46),
    ("crash", 49),
    ("tom", 45),
)


@dataclass(frozen=True, slots=True)
class Note:
    """One note inside a bar: start and duration in grid steps."""

    pitch: int
    start: int
    duration: int
    velocity: int

    def __post_init__(self) -> None:
        if not 0 <= self.pitch <= 127:
            raise ValueError(f"note pitch {self.pitch} is outside 0..127")
        if self.start < 0 or self.duration < 1:
            raise ValueError(
                f"note start {self.start} / duration {self.duration} must be >= 0 / >= 1"
            )
        if not 1 <= self.velocity <= 127:
            raise ValueError(f"note velocity {self.velocity} is outside 1..127")


@dataclass(frozen=True, slots=True)
class Meter:
    numerator: int = 4
    denominator: int = 4

    @classmethod
    def parse(cls, text: str) -> Meter:
        match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
        if not match:
            raise ValueError(f"meter {text!r} is not of the form 'N/D', e.g. '4/4'")
        meter = cls(int(match.group(1)), int(match.group(2)))
        if meter.denominator not in (2, 4, 8, 16) or not 1 <= meter.numerator <= 16:
            raise ValueError(f"meter {text!r} is not supported (denominator 2/4/8/16, 1..16 beats)")
        if meter.steps_per_bar > MAX_STEPS_PER_BAR:
            raise ValueError(f"meter {text!r} has more than {MAX_STEPS_PER_BAR} sixteenths per bar")
        return meter

    @property
    def steps_per_bar(self) -> int:
        return self.numerator * STEPS_PER_QUARTER * 4 // self.denominator

    @property
    def steps_per_beat(self) -> int:
        return STEPS_PER_QUARTER * 4 // self.denominator

    def __str__(self) -> str:
        return f"{self.numerator}/{self.denominator}"


@dataclass(frozen=True, slots=True)
class Key:
    """A key, e.g. ``Key.parse("D minor")``."""

    tonic: int  # pitch class 0..11
    mode: str  # "major" | "minor"

    @classmethod
    def parse(cls, text: str) -> Key:
        match = re.fullmatch(r"\s*([A-Ga-g])([#b]?)\s*(major|minor|maj|min|m)?\s*", text)
        if not match:
            raise ValueError(f"key {text!r} is not of the form 'C major' or 'F# minor'")
        name = match.group(1).upper() + match.group(2)
        tonic = _FLATS[name] if name in _FLATS else PITCH_CLASS_NAMES.index(name)
        mode = "minor" if (match.group(3) or "major") in ("minor", "min", "m") else "major"
        return cls(tonic, mode)

    @property
    def scale(self) -> tuple[int, ...]:
        """Pitch classes of the key's scale."""
        steps = MAJOR_SCALE if self.mode == "major" else NATURAL_MINOR_SCALE
        return tuple((self.tonic + s) % 12 for s in steps)

    @property
    def normalization_shift(self) -> int:
        """Semitones to add to move this key to C major / A minor, in -6..5."""
        relative_major = self.tonic if self.mode == "major" else (self.tonic + 3) % 12
        shift = (-relative_major) % 12
        return shift - 12 if shift > 5 else shift

    def __str__(self) -> str:
        return f"{PITCH_CLASS_NAMES[self.tonic]} {self.mode}"


@dataclass(frozen=True, slots=True)
class Chord:
    """A triad relative to the normalized key (C major / A minor)."""

    root: int  # pitch class 0..11, key-relative
    quality: str  # "maj" | "min"

    @property
    def index(self) -> int:
        return CHORDS.index(self)

    def pitch_classes(self, shift: int = 0) -> tuple[int, int, int]:
        third = 4 if self.quality == "maj" else 3
        return tuple((self.root + shift + i) % 12 for i in (0, third, 7))  # type: ignore[return-value]

    def name(self, shift: int = 0) -> str:
        suffix = "" if self.quality == "maj" else "m"
        return PITCH_CLASS_NAMES[(self.root + shift) % 12] + suffix


CHORDS: tuple[Chord, ...] = tuple(Chord(r, q) for r in range(12) for q in ("maj", "min"))
START_CHORD = len(CHORDS)  # the index that stands for "no chord yet" in the harmony model's context


@dataclass(slots=True)
class Bar:
    """The notes of every stem in one bar, plus the bar's chord (key-relative index)."""

    index: int
    chord: int
    stems: dict[str, list[Note]] = field(default_factory=dict)
