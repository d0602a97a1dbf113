"""The REMI-like token vocabulary that melody and bass models speak.

A bar is ``BAR`` followed by one group per note: ``POS_p PITCH_n DUR_d VEL_v``.
Positions are sixteenth-note steps inside the bar; durations are in steps.
One vocabulary is stored in every bundle and used by both authoring and runtime.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ._music import MAX_STEPS_PER_BAR, Note

__all__ = ["Vocabulary", "VELOCITY_BINS"]

VELOCITY_BINS = 8
_SPECIALS = ("PAD", "BOS", "BAR")


@dataclass(frozen=True)
class Vocabulary:
    tokens: tuple[str, ...]

    @classmethod
    def default(cls) -> Vocabulary:
        tokens = list(_SPECIALS)
        tokens += [f"POS_{i}" for i in range(MAX_STEPS_PER_BAR)]
        tokens += [f"PITCH_{p}" for p in range(128)]
        tokens += [f"DUR_{d}" for d in range(1, MAX_STEPS_PER_BAR + 1)]
        tokens += [f"VEL_{v}" for v in range(VELOCITY_BINS)]
        return cls(tuple(tokens))

    def __len__(self) -> int:
        return len(self.tokens)

    @property
    def pad(self) -> int:
        return 0

    @property
    def bos(self) -> int:
        return 1

    @property
    def bar(self) -> int:
        return 2

    @property
    def pos_offset(self) -> int:
        return len(_SPECIALS)

    @property
    def pitch_offset(self) -> int:
        return self.pos_offset + MAX_STEPS_PER_BAR

    @property
    def dur_offset(self) -> int:
        return self.pitch_offset + 128

    @property
    def vel_offset(self) -> int:
        return self.dur_offset + MAX_STEPS_PER_BAR

    def kind(self, token: int) -> str:
        """'special', 'pos', 'pitch', 'dur' or 'vel'."""
        if token < self.pos_offset:
            return "special"
        if token < self.pitch_offset:
            return "pos"
        if token < self.dur_offset:
            return "pitch"
        if token < self.vel_offset:
            return "dur"
        return "vel"

    @staticmethod
    def velocity_bin(velocity: int) -> int:
        return min(VELOCITY_BINS - 1, max(0, velocity) * VELOCITY_BINS // 128)

    @staticmethod
    def bin_velocity(velocity_bin: int) -> int:
        return int((velocity_bin + 0.5) * 128 / VELOCITY_BINS)

    def encode_bar(self, notes: Iterable[Note], steps_per_bar: int) -> list[int]:
        """Tokens for one bar: BAR, then POS/PITCH/DUR/VEL per note in time order."""
        out = [self.bar]
        for note in sorted(notes, key=lambda n: (n.start, n.pitch)):
            if note.start >= steps_per_bar:
                continue
            duration = min(note.duration, MAX_STEPS_PER_BAR)
            out += [
                self.pos_offset + note.start,
                self.pitch_offset + note.pitch,
                self.dur_offset + duration - 1,
                self.vel_offset + self.velocity_bin(note.velocity),
            ]
        return out

    def decode_bar(self, tokens: Sequence[int]) -> list[Note]:
        """Notes from one bar's tokens; incomplete groups are dropped."""
        notes: list[Note] = []
        group: dict[str, int] = {}
        for token in tokens:
            kind = self.kind(int(token))
            if kind == "special":
                group = {}
                continue
            if kind == "pos":
                group = {"pos": int(token) - self.pos_offset}
            elif kind in group or "pos" not in group:
                group = {}
            else:
                group[kind] = int(token)
            if len(group) == 4:
                notes.append(
                    Note(
                        pitch=group["pitch"] - self.pitch_offset,
                        start=group["pos"],
                        duration=group["dur"] - self.dur_offset + 1,
                        velocity=self.bin_velocity(group["vel"] - self.vel_offset),
                    )
                )
                group = {}
        return notes
