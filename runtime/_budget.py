"""The CPU budget: the share of one core the engine may use, and how it gives way.

``MusicEngine(..., cpu_budget=0.15)`` lets the engine use at most 15% of one
core: the composer's worker and the audio callback together. The engine
measures its own cost, in CPU seconds per second of wall time over a window,
and before it could miss a bar it steps down, one documented level at a time:

0. full: everything as the style asks;
1. fewer critic candidates: the drum generator proposes one bar, unranked;
2. simpler voices: synth stems play one oscillator voice (no unison, no sub);
3. a shorter look-ahead: one bar ahead, so a state change throws away less.

Each level keeps the previous ones. When the share stays well under the
budget it steps back up, one level per window. ``EngineStats.budget_level``
and ``cpu_share`` show where it is. Offline renders ignore the budget, so
that they stay deterministic.
"""

from __future__ import annotations

__all__ = ["CpuBudget", "BUDGET_LEVELS"]

BUDGET_LEVELS = ("full", "fewer critic candidates", "simpler voices", "shorter look-ahead")
WINDOW_SECONDS = 2.0  # the share is measured over this much wall time
STEP_DOWN_AT = 0.85  # of the budget: give way before the budget is spent
STEP_UP_BELOW = 0.45  # of the budget: there is room to spare again
CALM_WINDOWS = 2  # windows in a row under STEP_UP_BELOW before stepping back up


class CpuBudget:
    """Counts the engine's CPU seconds and sets the level. One thread calls ``update``;
    ``spend`` may be called from the audio thread too (a float add, no lock: a lost
    increment under a race costs a microsecond of accounting, not correctness)."""

    def __init__(self, share: float | None) -> None:
        self.share = share
        self.level = 0
        self.cpu_share = 0.0  # the last window's measured share of one core
        self._spent = 0.0
        self._window_start: float | None = None
        self._window_spent = 0.0
        self._calm = 0

    def spend(self, cpu_seconds: float) -> None:
        self._spent += cpu_seconds

    def update(self, now: float) -> int:
        """Close the window if it is due; returns the level to work at."""
        if self._window_start is None:
            self._window_start, self._window_spent = now, self._spent
            return self.level
        elapsed = now - self._window_start
        if elapsed < WINDOW_SECONDS:
            return self.level
        spent = self._spent - self._window_spent
        self._window_start, self._window_spent = now, self._spent
        self.cpu_share = spent / elapsed
        if self.share is None:
            return self.level
        if self.cpu_share > self.share * STEP_DOWN_AT:
            self.level = min(self.level + 1, len(BUDGET_LEVELS) - 1)
            self._calm = 0
        elif self.cpu_share < self.share * STEP_UP_BELOW and self.level > 0:
            self._calm += 1
            if self._calm >= CALM_WINDOWS:
                self.level -= 1
                self._calm = 0
        else:
            self._calm = 0
        return self.level
