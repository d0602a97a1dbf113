"""The training report: one HTML page with PNG figures, for a bundle just baked or any bundle.

``adaptive bake --report DIR`` and ``adaptive report BUNDLE --out DIR`` write
``DIR/index.html`` with

- each model's loss curve (``manifest.training.loss_curves``; a bundle baked
  before curves were kept shows its final losses only), final loss and ONNX parity;
- a piano roll per state: a few bars the real engine composes offline in that
  state, every note the composer generated (``MusicEngine.played_notes``), a
  stem the state mutes drawn faint;
- with a reference style, the evaluation metrics of ``adaptive evaluate``
  (``authoring._evaluate``) as tables, and its distribution plots.

The figures are drawn with pygame (already a runtime dependency) on plain
surfaces: no display and no plotting library are needed.
"""

from __future__ import annotations

import html
import json
import math
import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import adaptive
from adaptive._music import DRUM_VOICES, PITCH_CLASS_NAMES

__all__ = ["write_report", "REPORT_BARS", "REPORT_INTENSITY"]

REPORT_BARS = 8  # bars drawn per state
REPORT_INTENSITY = 0.7  # most stems sound, so the roll shows every role
_WARMUP_BARS = 1  # the first bar may be composed before the state change lands
_SAMPLE_RATE = 16000  # only the notes matter here; a low rate renders faster

BACKGROUND = (252, 252, 250)
INK = (40, 40, 40)
GRID = (222, 222, 218)
CURVE = (200, 60, 50)
STEM_COLOURS = ((230, 90, 60), (60, 120, 230), (90, 170, 100), (190, 150, 40), (150, 80, 200))
_MUTED_GAIN = 0.05  # a stem below this gain in a bar is not heard there


@dataclass(frozen=True)
class _Roll:
    state: str
    bars: int
    steps_per_bar: int
    # (stem, pitch, start step, length in steps, velocity, heard)
    notes: list[tuple[str, int, float, float, int, bool]]


# --- drawing ---------------------------------------------------------------------------


@contextmanager
def _pygame() -> Iterator[Any]:
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
    import pygame

    pygame.font.init()
    try:
        yield pygame
    finally:
        pygame.font.quit()


def _text(surface: Any, pg: Any, text: str, at: tuple[int, int], size: int = 15, **kw: Any) -> None:
    font = pg.font.Font(None, size)
    image = font.render(text, True, kw.get("colour", INK))
    x, y = at
    if kw.get("right"):
        x -= image.get_width()
    if kw.get("centre"):
        x -= image.get_width() // 2
    if kw.get("middle"):
        y -= image.get_height() // 2
    surface.blit(image, (x, y))


def _ticks(lo: float, hi: float, count: int = 5, least: float = 0.0) -> list[float]:
    """Round tick values covering [lo, hi] (1, 2, 5 times a power of ten apart, >= ``least``)."""
    span = max(hi - lo, 1e-12)
    raw = max(span / count, least)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.ceil(lo / step) * step
    return [first + i * step for i in range(int((hi - first) / step + 1e-9) + 1)]


def _loss_png(
    path: Path, model: str, points: Sequence[Sequence[float]], final: float | None
) -> None:
    """One model's loss against the training step, with axes, ticks and labels."""
    width, height = 520, 300
    left, right, top, bottom = 62, 16, 30, 42
    with _pygame() as pg:
        surface = pg.Surface((width, height))
        surface.fill(BACKGROUND)
        steps = [float(p[0]) for p in points]
        losses = [float(p[1]) for p in points]
        if not losses and final is not None:
            steps, losses = [1.0], [float(final)]
        lo, hi = (min(losses), max(losses)) if losses else (0.0, 1.0)
        pad = (hi - lo) * 0.08 or abs(hi) * 0.1 or 0.1
        lo, hi = lo - pad, hi + pad
        s0, s1 = (min(steps), max(steps)) if steps else (0.0, 1.0)
        if s1 <= s0:
            s0, s1 = s0 - 1.0, s1 + 1.0
            if s0 < 0:
                s0, s1 = 0.0, s1 - s0
        plot_w, plot_h = width - left - right, height - top - bottom

        def xy(step: float, loss: float) -> tuple[float, float]:
            return (
                left + (step - s0) / (s1 - s0) * plot_w,
                top + (hi - loss) / (hi - lo) * plot_h,
            )

        for value in _ticks(lo, hi):
            y = round(xy(s0, value)[1])
            pg.draw.line(surface, GRID, (left, y), (left + plot_w, y))
            _text(surface, pg, f"{value:.3g}", (left - 6, y), right=True, middle=True)
        for value in _ticks(s0, s1, least=1.0):  # whole steps
            x = round(xy(value, lo)[0])
            pg.draw.line(surface, GRID, (x, top), (x, top + plot_h))
            _text(surface, pg, f"{value:g}", (x, top + plot_h + 6), centre=True)
        pg.draw.rect(surface, INK, (left, top, plot_w + 1, plot_h + 1), 1)
        line = [xy(s, v) for s, v in zip(steps, losses, strict=True)]
        if len(line) >= 2:
            for offset in (0, 1):  # two pixels thick: readable when the page scales it down
                pg.draw.lines(surface, CURVE, False, [(x, y + offset) for x, y in line])
        for x, y in line if len(line) < 20 else line[-1:]:
            pg.draw.circle(surface, CURVE, (round(x), round(y)), 4)
        title = f"{model}: loss"
        if losses:
            title += f"  (last {losses[-1]:.4g})"
        _text(surface, pg, title, (left, 8), size=20)
        if len(line) < 2:
            note = "one value: counted rather than trained, or baked before curves were kept"
            _text(surface, pg, note, (left + plot_w // 2, top + 12), size=14, centre=True)
        _text(surface, pg, "training step", (left + plot_w // 2, height - 16), centre=True)
        pg.image.save(surface, str(path))


def _roll_png(path: Path, roll: _Roll, stems: Sequence[str], roles: Mapping[str, str]) -> None:
    """A piano roll: pitched stems on a pitch axis, drums below on one row per voice."""
    cell, row = 7, 5
    drum_row = 11
    left, top, right, bottom = 64, 34, 12, 30
    pitched = [n for n in roll.notes if roles[n[0]] != "drums"]
    pitches = [n[1] for n in pitched] or [60]
    p_lo, p_hi = min(pitches) - 2, max(pitches) + 2
    grid_w = roll.bars * roll.steps_per_bar * cell
    pitch_h = (p_hi - p_lo + 1) * row
    drums_h = len(DRUM_VOICES) * drum_row if any(roles[s] == "drums" for s in stems) else 0
    width = left + grid_w + right
    height = top + pitch_h + (drums_h + 8 if drums_h else 0) + bottom
    colour = {s: STEM_COLOURS[i % len(STEM_COLOURS)] for i, s in enumerate(stems)}
    voice_row = {note: i for i, (_, note) in enumerate(DRUM_VOICES)}
    drums_top = top + pitch_h + 8
    with _pygame() as pg:
        surface = pg.Surface((width, height))
        surface.fill(BACKGROUND)
        for pitch in range(p_lo, p_hi + 1):  # C rows labelled, black keys shaded
            y = top + (p_hi - pitch) * row
            if PITCH_CLASS_NAMES[pitch % 12].endswith("#"):
                pg.draw.rect(surface, (242, 242, 238), (left, y, grid_w, row))
            if pitch % 12 == 0:
                pg.draw.line(surface, GRID, (left, y + row), (left + grid_w, y + row))
                _text(
                    surface, pg, f"C{pitch // 12 - 1}", (left - 5, y + row), right=True, middle=True
                )
        if drums_h:
            for i, (name, _) in enumerate(DRUM_VOICES):
                y = drums_top + i * drum_row
                pg.draw.line(surface, GRID, (left, y + drum_row), (left + grid_w, y + drum_row))
                _text(
                    surface,
                    pg,
                    name,
                    (left - 5, y + drum_row // 2),
                    size=13,
                    right=True,
                    middle=True,
                )
        for step in range(roll.bars * roll.steps_per_bar + 1):
            x = left + step * cell
            bar_line = step % roll.steps_per_bar == 0
            if bar_line or step % 4 == 0:
                pg.draw.line(
                    surface, (150, 150, 150) if bar_line else GRID,
                    (x, top), (x, top + pitch_h + (drums_h + 8 if drums_h else 0)),
                )  # fmt: skip
            if bar_line and step < roll.bars * roll.steps_per_bar:
                _text(surface, pg, str(step // roll.steps_per_bar + 1), (x + 3, top - 14), size=14)
        for stem, pitch, start, length, velocity, heard in roll.notes:
            x = left + round(start * cell)
            base = colour[stem]
            shade = 0.45 + 0.55 * velocity / 127 if heard else 0.15
            fill = tuple(round(255 - (255 - c) * shade) for c in base)
            if roles[stem] == "drums":
                if pitch not in voice_row:
                    continue
                y = drums_top + voice_row[pitch] * drum_row
                pg.draw.rect(surface, fill, (x, y + 1, cell - 1, drum_row - 2))
            else:
                w = max(2, round(length * cell) - 1)
                y = top + (p_hi - pitch) * row
                pg.draw.rect(surface, fill, (x, y, min(w, left + grid_w - x), row))
        pg.draw.rect(surface, INK, (left, top, grid_w + 1, pitch_h + 1), 1)
        _text(surface, pg, f"{roll.state}  (intensity {REPORT_INTENSITY:g})", (left, 6), size=20)
        x = left
        for stem in stems:  # the legend
            pg.draw.rect(surface, colour[stem], (x, height - 20, 12, 12))
            _text(surface, pg, stem, (x + 16, height - 20), size=15)
            x += 24 + pg.font.Font(None, 15).size(stem)[0]
        pg.image.save(surface, str(path))


# --- what is drawn ---------------------------------------------------------------------------


def _state_roll(bundle: adaptive.Bundle, state: str, bars: int, seed: int) -> _Roll:
    """``bars`` bars the engine composes in ``state``: every generated note, per stem."""
    from runtime import MusicEngine

    engine = MusicEngine(bundle, output="offline", sample_rate=_SAMPLE_RATE, seed=seed)
    engine.set_state(state)
    engine.set_parameter("intensity", REPORT_INTENSITY)
    engine.render(1)  # from its first frame the music plays the state's own tempo
    clock = engine.timing
    engine.render(clock.bar_start(bars + _WARMUP_BARS) - 1)
    stems = list(engine.stems)
    fps = clock.frames_per_step_at(_WARMUP_BARS)
    notes = []
    for bar in engine.played_bars()[_WARMUP_BARS : _WARMUP_BARS + bars]:
        offset = (bar.start_frame - clock.bar_start(_WARMUP_BARS)) / fps
        for s, stem in enumerate(stems):
            heard = not bar.gains or bar.gains[s] > _MUTED_GAIN
            for pitch, start, frames, velocity in bar.notes.get(stem, []):
                notes.append((stem, pitch, offset + start / fps, frames / fps, velocity, heard))
    return _Roll(state, bars, clock.meter.steps_per_bar, notes)


def _number(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return html.escape(str(value))
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.4g}"
    return html.escape(str(value))


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{_number(v)}</td>" for v in row) + "</tr>" for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _metrics_html(report: Mapping[str, Any], plots: Sequence[str]) -> str:
    from ._evaluate import FEATURES

    parts = [
        "<h2>Evaluation</h2>",
        f"<p>Against <code>{html.escape(str(report['reference']['path']))}</code> "
        f"({report['reference']['pieces']} pieces); {report['renders']['bars_total']} bars "
        "rendered by the engine (see <code>adaptive evaluate</code>).</p>",
        "<h3>Controllability (Spearman rho against intensity)</h3>",
        _table(
            ["stem", "rho notes", "rho notes per bar", "notes per bar at 1 : at 0"],
            [
                [role, e["rho_notes"], e["rho_notes_per_bar"], e["ratio_1_to_0"]]
                for role, e in report["controllability"].items()
            ],
        ),
        "<h3>Quality (heard notes; overlapping area with the reference, 1 is the same)</h3>",
        _table(
            ["feature", "generated", "reference", "overlapping area"],
            [
                [name, q["generated"], q["reference"], q["overlapping_area"]]
                for name in FEATURES
                for q in [report["quality"][name]]
            ],
        ),
    ]
    quality = report["quality"]
    repetition = quality["melody_4gram_repetition"]
    parts.append(
        f"<p>Melody 4-gram repetition {_number(repetition['generated'])} (reference "
        f"{_number(repetition['reference'])}); melody 8-gram copy rate against the training "
        f"sources {_number(quality['melody_8gram_copy_rate'])}.</p>"
    )
    mood = report["valence"]
    parts.append(
        "<h3>Mood</h3>"
        + _table(
            ["", "minor chord share", "register", "notes per bar"],
            [
                [
                    label,
                    mood[label]["minor_chord_share"],
                    mood[label]["register"],
                    mood[label]["notes_per_bar"],
                ]
                for label in ("dark", "bright")
            ],
        )  # fmt: skip
        + f"<p>Dark against bright goes the expected way: {html.escape(str(mood['direction_ok']))}</p>"
    )
    critic = report.get("drums_critic")
    if critic:
        parts.append(
            "<h3>Drum critic</h3>"
            f"<p>{html.escape(critic['metric'])}: critic's pick {_number(critic['critic_pick'])}, "
            f"a random candidate {_number(critic['random_candidate'])}, the best candidate "
            f"{_number(critic['best_candidate'])} ({critic['trials']} trials).</p>"
        )
    if plots:
        parts.append("<h3>Distributions (red: generated, blue: reference)</h3><div class=grid>")
        parts += [
            f'<figure><img src="{html.escape(p)}" alt="{html.escape(p)}">'
            f"<figcaption>{html.escape(Path(p).stem.removeprefix('distribution_'))}</figcaption>"
            "</figure>"
            for p in plots
            if "distribution_" in p
        ]
        parts.append("</div>")
    return "\n".join(parts)


_STYLE = """
body { font-family: sans-serif; margin: 2em; color: #222; max-width: 1200px; }
table { border-collapse: collapse; margin: 0.5em 0 1em; }
td, th { border: 1px solid #ccc; padding: 3px 8px; text-align: right; }
td:first-child, th:first-child { text-align: left; }
.grid { display: flex; flex-wrap: wrap; gap: 12px; }
figure { margin: 0; }
img { max-width: 100%; border: 1px solid #ddd; }
"""


def write_report(
    bundle_path: str | Path | None,
    out_dir: str | Path,
    *,
    reference: str | Path | None = None,
    bars: int = REPORT_BARS,
    seed: int = 0,
    progress: bool = False,
) -> Path:
    """Write ``out_dir/index.html`` and its PNGs for a bundle; returns the page's path.

    ``reference`` (a style.toml, usually the one baked) adds the evaluation metrics.
    """
    bundle = adaptive.load_bundle(bundle_path)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    training = dict(bundle.manifest.get("training") or {})
    losses = dict(training.get("losses") or {})
    curves = dict(training.get("loss_curves") or {})
    parity = dict(training.get("parity") or {})
    states = list(bundle.states)
    jobs = len(losses) + len(states) + (1 if reference is not None else 0)

    from rich.progress import Progress

    with Progress(disable=not progress, transient=True) as bar:
        task = bar.add_task("training report", total=max(1, jobs))
        loss_images = {}
        for model in losses:
            name = f"loss_{model}.png"
            _loss_png(out / name, model, curves.get(model, []), losses.get(model))
            loss_images[model] = name
            bar.advance(task)
        roll_images = {}
        roles = {name: str(spec["role"]) for name, spec in bundle.stems.items()}
        for state in states:
            name = f"pianoroll_{state}.png"
            _roll_png(out / name, _state_roll(bundle, state, bars, seed), list(roles), roles)
            roll_images[state] = name
            bar.advance(task)
        metrics = ""
        if reference is not None:
            from ._evaluate import evaluate, write_json

            report = evaluate(
                bundle_path, reference, bars=bars, seeds=(seed,), levels=3,
                plots=out / "evaluate", critic_trials=100,
            )  # fmt: skip
            write_json(report, out / "evaluate.json")
            plots = [f"evaluate/{p}" for p in report.get("plots", [])]
            metrics = _metrics_html(report, plots)
            bar.advance(task)

    models = {m.name: m for m in bundle.models.values()}
    summary = _table(
        ["model", "role", "final loss", "steps", "|torch - ONNX|", "ONNX bytes"],
        [
            [
                model,
                models[model].role if model in models else "-",
                losses.get(model),
                int(curves[model][-1][0]) if curves.get(model) else "-",
                parity.get(model, "-"),
                len(models[model].onnx) if model in models else "-",
            ]
            for model in losses
        ],
    )
    job = training.get("distributed") or {}
    config = training.get("config") or {}
    about = (
        f"baked {html.escape(str(bundle.manifest.get('created', '?')))} in "
        f"{_number(training.get('seconds'))} s, seed {_number(config.get('seed'))}"
        + (f", {job['world_size']} workers ({html.escape(str(job.get('backend')))})" if job else "")
    )
    if not curves and losses:
        about += "; this bundle predates loss curves, so only the final losses are drawn"
    page = [
        "<!doctype html><html><head><meta charset=utf-8>",
        f"<title>{html.escape(bundle.name)}: training report</title>",
        f"<style>{_STYLE}</style></head><body>",
        f"<h1>{html.escape(bundle.name)}: training report</h1>",
        f"<p>{about}. {bundle.tempo:g} bpm, {bundle.meter}, {html.escape(str(bundle.key))}.</p>",
        "<h2>Models</h2>",
        summary,
        "<div class=grid>",
        *(f'<img src="{n}" alt="loss curve of {html.escape(m)}">' for m, n in loss_images.items()),
        "</div>",
        f"<h2>Piano rolls: {bars} bars per state</h2>",
        "<p>What the engine composes offline in each state (seed "
        f"{seed}); faint notes belong to stems the state mutes.</p>",
        *(
            f'<h3>{html.escape(s)}</h3><img src="{n}" alt="piano roll of {html.escape(s)}">'
            for s, n in roll_images.items()
        ),
        metrics
        or "<p>No evaluation metrics: pass the style (<code>--reference STYLE.toml</code>) to add them.</p>",
        "</body></html>",
    ]
    index = out / "index.html"
    index.write_text("\n".join(page), encoding="utf-8")
    (out / "report.json").write_text(
        json.dumps(
            {"losses": losses, "loss_curves": curves, "parity": parity,
             "images": [*loss_images.values(), *roll_images.values()]},
            indent=2,
        ),
        encoding="utf-8",
    )  # fmt: skip
    return index
