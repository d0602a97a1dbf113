"""What the game asked for, handed from the game's threads to the mixer and the worker.

The handoffs, and why they are safe without locks:

- ``Control.commands`` is a ``collections.deque``. Any thread appends (the game's
  threads); only the mixer pops. CPython documents ``deque.append`` and
  ``deque.popleft`` as atomic, so producers never block and never lose a command.
- ``Control.parameters`` is written only by the mixer (after seeking towards the
  target the game set) and read by the worker. Each value is one float behind one
  dict key, replaced whole.
- ``Control.schedule`` is a tuple that only the mixer replaces, as one reference
  assignment; the worker reads whichever tuple is current. Nothing mutates a tuple.
- ``Control.clock`` (the tempo map, ``runtime._clock``) is immutable too, and only
  the mixer replaces it, when a state change brings another tempo; the composer
  reads whichever map is current, and a bar composed under an older map is stale.

What a state change decides for the bars from its target bar on (``plan_for_bar``):
the state, the tempo (in the clock), whether the target bar is a generated
transition bar, and the phrase position the models are conditioned on (entry
``start``: the destination's phrase begins on its first bar, after the transition
bar if any; ``same_position``: the phrase runs on). Exit cues count 4-bar
phrases from the same origin.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

from adaptive._errors import EngineError

if TYPE_CHECKING:
    from ._clock import MusicalClock

__all__ = [
    "BarPlan", "Command", "Control", "StateChange", "Sync", "parse_sync", "SYNC_MODES", "CUE_BARS",
]  # fmt: skip

SYNC_MODES = ("immediate", "beat", "bar", "bars:N", "cue")
MAX_SYNC_BARS = 16
CUE_BARS = 4  # exit cues are marked at phrase ends: every 4 bars


@dataclass(frozen=True, slots=True)
class Sync:
    """Where a state change lands.

    ``immediate``: as soon as the new music is composed; ``beat``: the next beat
    it can be ready for; ``bar``: the next bar line (``bars`` = N: the N-th);
    ``cue``: the next exit cue, at the end of a 4-bar phrase.
    """

    kind: str = "bar"
    bars: int = 1

    def __str__(self) -> str:
        return f"bars:{self.bars}" if self.kind == "bar" and self.bars != 1 else self.kind

    @property
    def within_bar(self) -> bool:
        """Lands between bar lines, so the playing bar is replaced mid-way with a crossfade."""
        return self.kind in ("immediate", "beat")


def parse_sync(text: object) -> Sync:
    """``"immediate"``, ``"beat"``, ``"bar"``, ``"bars:N"`` (N in 1..16) or ``"cue"``."""
    if isinstance(text, str):
        text = str.__str__(text)  # a plain str: a subclass's own __eq__ never runs
        if text in ("immediate", "beat", "bar", "cue"):
            return Sync(text)
        count = text[5:] if text.startswith("bars:") else ""
        # ASCII digits only: int() refuses some that isdigit() accepts ("¹"), and long ones
        if 0 < len(count) <= 2 and count.isascii() and count.isdigit():
            if 1 <= int(count) <= MAX_SYNC_BARS:
                return Sync("bar", int(count))
    raise EngineError(
        f"sync {text!r:.40} is not supported; choose one of immediate, beat, bar, "
        f"bars:N (N in 1..{MAX_SYNC_BARS}), cue"
    )


@dataclass(frozen=True, slots=True)
class StateChange:
    state: str
    sync: str
    requested_frame: int
    target_bar: int  # the first bar composed in the new state
    landing_frame: int = -1  # where the music changes; a bar start unless the sync is within a bar
    fade_frames: int = 0  # crossfade length for a change within a bar
    fade: str = "equal_power"
    # the first bar at the new tempo: the target bar, or the next one when the change lands
    # within a bar (the rest of that bar keeps the tempo it started with)
    tempo_bar: int = -1
    ramp_bars: int = 0  # bars stepping from the old tempo to the new one
    transition_bar: bool = False  # the target bar is a generated lead-in to the new state
    phrase_origin: int = 0  # the bar whose phrase position is 0, from the target bar on
    from_state: str = ""  # the state before it (what a transition bar takes its energy from)


class BarPlan(NamedTuple):
    """What a bar is composed for, beyond the parameters: a bar composed for another plan
    (or another start frame or length in the tempo map) is stale."""

    state: str
    phrase_bar: int  # the bar's position in its phrase (the models' ``phrase_bar``), from 0
    transition_bar: bool
    from_state: str  # a transition bar's source; else the state itself


@dataclass(frozen=True, slots=True)
class Command:
    kind: str  # "parameter" | "state" | "stinger"
    name: str
    value: float = 0.0
    sync: Sync | None = None  # states: None follows the style's transition rule


class Control:
    def __init__(
        self, initial_state: str, parameters: dict[str, float], valence: dict[str, float]
    ) -> None:
        self.commands: deque[Command] = deque()
        self.parameters = dict(parameters)
        self.initial_state = initial_state
        self.schedule: tuple[
            StateChange, ...
        ] = ()  # ordered by target bar; replaced, never mutated
        self.state_valence = valence
        self.clock: MusicalClock | None = None  # the tempo map: the mixer's, replaced whole
        self.program = 0  # the program the mixer plays (a hot reload's view tells by it)

    def state_for_bar(self, index: int) -> str:
        change = self.change_for_bar(index)
        return self.initial_state if change is None else change.state

    def change_for_bar(self, index: int) -> StateChange | None:
        found = None
        for change in self.schedule:  # short: the mixer keeps only what is still relevant
            if change.target_bar <= index:
                found = change
        return found

    def plan_for_bar(self, index: int) -> BarPlan:
        change = self.change_for_bar(index)
        if change is None:
            return BarPlan(self.initial_state, index, False, self.initial_state)
        lead_in = change.transition_bar and index == change.target_bar
        return BarPlan(
            change.state,
            index - change.phrase_origin,
            lead_in,
            change.from_state if lead_in else change.state,
        )

    def phrase_origin_for(self, index: int) -> int:
        """The bar whose phrase position is 0 for bar ``index`` (exit cues count from it)."""
        change = self.change_for_bar(index)
        return 0 if change is None else change.phrase_origin

    def schedule_change(self, change: StateChange, playing: int) -> None:
        """Add a change (mixer only); a later request for the same or an earlier bar wins."""
        kept = [c for c in self.schedule if c.target_bar < change.target_bar]
        # one change before the bar playing now is enough to know its state
        old = [c for c in kept if c.target_bar <= playing]
        self.schedule = tuple(old[-1:] + [c for c in kept if c.target_bar > playing] + [change])

    def valence_for(self, state: str) -> float:
        if "valence" in self.parameters:
            return self.parameters["valence"]
        return self.state_valence.get(state, 0.5)
