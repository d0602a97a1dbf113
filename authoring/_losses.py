"""Loss curves: every training step's loss, kept while the bake runs, for the training report.

``LossCurves`` sits between the bake and its progress display: each training
phase asks the display for its step callback (``steps(description, total)``);
the curve of that model is recorded on the way through, so the training loops
need no change. The bundle keeps a thinned curve (``MAX_POINTS`` per model) in
``manifest.training.loss_curves``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["LossCurves", "MAX_POINTS"]

MAX_POINTS = 120  # per model in the manifest: enough for a smooth plot, small in the bundle
# the progress row of a phase -> the model whose loss its callback reports
_MODEL_OF_PHASE = {"drums": "drums_generator"}


class LossCurves:
    """Wraps a progress display; records (step, loss) of every training phase."""

    def __init__(self, display: Any) -> None:
        self._display = display
        self.points: dict[str, list[tuple[int, float]]] = {}

    def __getattr__(self, name: str) -> Any:  # every other phase goes straight through
        return getattr(self._display, name)

    def steps(self, description: str, total: int) -> Callable[[int, int, float], None]:
        shown = self._display.steps(description, total)
        phase = description.removeprefix("train ").strip()
        points = self.points.setdefault(_MODEL_OF_PHASE.get(phase, phase), [])

        def on_step(done: int, total: int, loss: float) -> None:
            points.append((done, float(loss)))
            shown(done, total, loss)

        return on_step

    def thinned(self, max_points: int = MAX_POINTS) -> dict[str, list[list[float]]]:
        """Each curve as at most ``max_points`` [step, loss] pairs: the mean of each stretch."""
        out: dict[str, list[list[float]]] = {}
        for model, points in self.points.items():
            finite = [(s, v) for s, v in points if v == v and abs(v) != float("inf")]
            if not finite:
                continue
            size = -(-len(finite) // max_points)  # ceil: steps per kept point
            out[model] = [
                [
                    float(finite[min(i + size, len(finite)) - 1][0]),
                    round(sum(v for _, v in finite[i : i + size]) / len(finite[i : i + size]), 6),
                ]
                for i in range(0, len(finite), size)
            ]
        return out
