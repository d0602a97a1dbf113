"""The training report: a real tiny bake with --report, then the page and its figures read back."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from authoring._losses import MAX_POINTS, LossCurves
from authoring._report import CURVE, STEM_COLOURS
from authoring.cli import main

pygame = pytest.importorskip("pygame")


def _pixels(path: Path, colour: tuple[int, int, int]) -> int:
    """How many pixels of the image at ``path`` have exactly ``colour``."""
    rgb = pygame.surfarray.array3d(pygame.image.load(str(path)))
    return int(np.all(rgb == np.array(colour, dtype=rgb.dtype), axis=2).sum())


def _images(page: Path) -> list[Path]:
    return [page.parent / src for src in re.findall(r'<img src="([^"]+)"', page.read_text())]


def test_bake_with_report_writes_a_page_of_real_figures(
    tiny_style_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out, report = tmp_path / "tiny.adaptive", tmp_path / "report"
    args = ["bake", str(tiny_style_path), "-o", str(out), "--quiet", "--report", str(report)]
    assert main(args) == 0
    assert f"training report: {report / 'index.html'}" in capsys.readouterr().out
    page = report / "index.html"
    images = _images(page)
    names = {p.name for p in images}
    for model in ("harmony", "melody", "bass", "drums_generator", "drums_critic"):
        assert f"loss_{model}.png" in names
    assert {"pianoroll_explore.png", "pianoroll_combat.png"} <= names
    assert any(p.parent.name == "evaluate" for p in images)  # the metrics' distributions
    for image in images:
        assert image.is_file() and image.stat().st_size > 0, image
        assert pygame.image.load(str(image)).get_width() > 100
    text = page.read_text()
    assert "Controllability" in text and "overlapping area" in text and "Drum critic" in text

    # the melody trained 25 steps: its curve is drawn as a line, not a blank frame
    assert _pixels(report / "loss_melody.png", CURVE) > 200
    roll = report / "pianoroll_combat.png"
    assert sum(_pixels(roll, colour) for colour in STEM_COLOURS) > 0  # notes at full velocity


def test_report_of_an_existing_bundle_without_a_reference(
    tiny_bundle_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", str(tiny_bundle_path), "--out", str(tmp_path), "--quiet"]) == 0
    capsys.readouterr()
    page = tmp_path / "index.html"
    assert all(p.is_file() for p in _images(page))
    assert "--reference STYLE.toml" in page.read_text()  # says how to add the metrics


def test_loss_curves_are_recorded_through_the_progress_display_and_thinned() -> None:
    shown: list[tuple[str, int, float]] = []

    class Display:
        def steps(self, description: str, total: int):  # type: ignore[no-untyped-def]
            return lambda done, _total, loss: shown.append((description, done, loss))

    curves = LossCurves(Display())
    melody = curves.steps("train melody", 1000)
    drums = curves.steps("train drums", 3)
    for step in range(1, 1001):
        melody(step, 1000, 10.0 / step)
    for step in range(1, 4):
        drums(step, 3, float(step))
    assert len(shown) == 1003  # the display still sees every step
    thinned = curves.thinned()
    assert set(thinned) == {"melody", "drums_generator"}
    assert len(thinned["melody"]) <= MAX_POINTS and thinned["melody"][-1][0] == 1000
    losses = [loss for _, loss in thinned["melody"]]
    assert losses == sorted(losses, reverse=True)  # still falling, as trained
    assert thinned["drums_generator"] == [[1.0, 1.0], [2.0, 2.0], [3.0, 3.0]]
