"""What the game asked for, shared between the game thread, the mixer and the worker.

The game thread only appends commands to a deque (atomic in CPython); the mixer
drains them at the start of each buffer and turns them into a schedule that the
generation worker reads. Nothing here blocks.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True)
class StateChange:
    state: str
    sync: str
    requested_frame: int
    target_bar: int


@dataclass(frozen=True)
class Command:
    kind: str  # "parameter" | "state" | "stinger"
    name: str
    value: float = 0.0
    sync: str = "bar"


class Control:
    def __init__(
        self, initial_state: str, parameters: dict[str, float], valence: dict[str, float]
    ) -> None:
        self.commands: deque[Command] = deque()
        self.parameters = dict(parameters)
        self.initial_state = initial_state
        self.schedule: list[StateChange] = []  # append-only, ordered by target bar
        self.state_valence = valence

    def state_for_bar(self, index: int) -> str:
        state = self.initial_state
        for change in self.schedule:  # short list; later entries win
            if change.target_bar <= index:
                state = change.state
        return state

    def change_for_bar(self, index: int) -> StateChange | None:
        found = None
        for change in self.schedule:
            if change.target_bar <= index:
                found = change
        return found

    def valence_for(self, state: str) -> float:
        if "valence" in self.parameters:
            return self.parameters["valence"]
        return self.state_valence.get(state, 0.5)
