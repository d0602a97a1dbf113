"""bake: style.toml + MIDI sources -> one .adaptive bundle.

Phases: import every source, analyse chords, train one model per role
(harmony, melody, bass, drums generator + critic), export each to ONNX with a
parity check, then write the bundle atomically. Nothing touches ``out_path``
before ``adaptive.write_bundle``'s final rename, so a failed bake leaves an
existing bundle exactly as it was.

torch is imported lazily inside ``bake`` so that importing this module (for
example through the CLI) stays light.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import platform
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from adaptive._bundle import ModelEntry, write_bundle
from adaptive._conditioning import condition_features, encode_condition
from adaptive._errors import BundleError, StyleError
from adaptive._music import DRUM_VOICES
from adaptive._schema import Manifest, Music, ProvenanceEntry, TrainingRecord
from adaptive._style import Style, load_style
from adaptive._tokens import Vocabulary

from ._midi import ImportedSource, drum_voice, import_midi
from ._train.config import TrainingConfig, resolve_config

if TYPE_CHECKING:
    from ._train.drums import DrumData

__all__ = ["bake", "BakeResult", "ModelStats"]

ProgressFn = Callable[[int, int, float], None]


@dataclass(frozen=True)
class ModelStats:
    final_loss: float  # training loss at the end (harmony: mean NLL of the data)
    parity_max_abs_diff: float  # largest |torch - onnxruntime| over the parity inputs
    onnx_bytes: int
    seconds: float  # training + export time


@dataclass(frozen=True)
class BakeResult:
    out_path: Path
    sha256: str  # of the written bundle file
    seconds: float
    models: Mapping[str, ModelStats]
    sources: int
    bars: int
    config: Mapping[str, Any] = field(default_factory=dict)


class _Progress:
    """A rich progress display over the bake's phases, or nothing when disabled."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._progress: Any = None

    @contextmanager
    def running(self) -> Iterator[_Progress]:
        if not self.enabled:
            yield self
            return
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self._progress = Progress(
            TextColumn("[bold]{task.description:<18}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[info]}"),
            TimeElapsedColumn(),
        )
        with self._progress:
            yield self
        self._progress = None

    def task(self, description: str, total: int) -> Callable[[int, str], None]:
        """Add a phase; returns ``advance(done, info)``."""
        if self._progress is None:

            def silent(done: int, info: str = "") -> None:
                pass

            return silent
        task_id = self._progress.add_task(description, total=max(1, total), info="")
        progress = self._progress

        def update(done: int, info: str = "") -> None:
            progress.update(task_id, completed=done, info=info)

        return update

    def steps(self, description: str, total: int) -> ProgressFn:
        update = self.task(description, total)
        return lambda done, _total, loss: update(done, f"loss {loss:.3f}")


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _cond(
    style: Style, features: list[str], source: ImportedSource, state: str, chord: int, bar: int
) -> np.ndarray:
    return encode_condition(
        features,
        intensity=source.source.intensity,
        valence=style.states[state].valence,
        state=state,
        chord=chord,
        bar_index=bar,
    )


def _check_coverage(style: Style, imported: list[ImportedSource]) -> None:
    mapped = {stem for imp in imported for stem in imp.stems}
    for stem in style.stems:
        if stem not in mapped:
            raise StyleError(
                f"{style.path}: field 'stems.{stem}': no [[sources]] entry maps this stem, "
                "so its model has nothing to learn from; "
                "add it to some source's 'tracks' or 'channels'"
            )


def bake(
    style_path: str | os.PathLike[str],
    out_path: str | os.PathLike[str],
    *,
    progress: bool = True,
    overrides: Mapping[str, Any] | None = None,
    seed: int | None = None,
) -> BakeResult:
    """Bake the style at ``style_path`` into a bundle at ``out_path``.

    ``overrides`` replace keys of the style's ``[training]`` table (see
    ``authoring._train.config.TrainingConfig``); ``seed`` replaces ``training.seed``.
    The same style, config and seed give the same model bytes. Raises
    ``StyleError`` / ``MidiImportError`` naming the file and field, or
    ``ExportError`` if an exported model disagrees with torch; on any failure
    the file at ``out_path`` is left untouched.
    """
    started = time.perf_counter()
    style = load_style(Path(style_path))
    config = resolve_config(style.training, overrides, seed=seed, style_path=style.path)
    out = Path(out_path)
    if out.is_dir():  # fail before minutes of training, not at the final rename
        raise BundleError(
            f"{out}: is a directory; give the bundle's file path, e.g. {out / 'style.adaptive'}"
        )

    with _Progress(progress).running() as ui:
        imported = _import_all(style, ui)  # before torch loads: a bad MIDI file fails fast

        import torch  # lazily: the rest of authoring (and the CLI) must not pay for it

        previous_threads = torch.get_num_threads()
        torch.set_num_threads(config.threads)
        try:
            entries, stats, losses = _train_and_export(style, config, imported, ui)
        finally:
            torch.set_num_threads(previous_threads)
        write = ui.task("write bundle", 1)
        manifest = _manifest(style, config, imported, losses, time.perf_counter() - started)
        digest = write_bundle(out, manifest, entries)
        write(1, out.name)
    return BakeResult(
        out_path=out,
        sha256=digest,
        seconds=time.perf_counter() - started,
        models=stats,
        sources=len(imported),
        bars=sum(len(imp.bars) for imp in imported),
        config=config.to_dict(),
    )


def _import_all(style: Style, ui: _Progress) -> list[ImportedSource]:
    advance = ui.task("import MIDI", len(style.sources))
    imported = []
    for i, source in enumerate(style.sources):
        imported.append(import_midi(source.path, source, style, index=i))
        advance(i + 1, source.path.name)
    _check_coverage(style, imported)
    return imported


def _train_and_export(
    style: Style, config: TrainingConfig, imported: list[ImportedSource], ui: _Progress
) -> tuple[dict[str, ModelEntry], dict[str, ModelStats], dict[str, float]]:
    from ._export import export_model
    from ._train.drums import train_drums
    from ._train.harmony import ChordSequence, fit_harmony
    from ._train.sequence import SequenceStep, build_windows, train_sequence

    states = list(style.states)
    features = condition_features(states)
    vocab = Vocabulary.default()
    spb = style.meter.steps_per_bar
    rng = np.random.default_rng(config.seed)  # parity inputs: deterministic too
    c_size = len(features)
    entries: dict[str, ModelEntry] = {}
    stats: dict[str, ModelStats] = {}
    losses: dict[str, float] = {}

    n_models = 1 + sum(1 for r in ("melody", "bass") if style.stems_with_role(r))
    n_models += 2 if style.stems_with_role("drums") else 0
    exported: list[Callable[[int, str], None]] = []  # the phase appears at the first export

    def export(module: Any, **kwargs: Any) -> tuple[ModelEntry, float]:
        if not exported:
            exported.append(ui.task("export ONNX", n_models))
        entry, diff = export_model(module, **kwargs)
        entries[entry.name] = entry
        exported[0](len(entries), f"{entry.name} (parity {diff:.1e})")
        return entry, diff

    def random_cond(k: int) -> np.ndarray:
        cond = rng.uniform(0, 1, (k, c_size)).astype(np.float32)
        return cond

    # --- harmony -----------------------------------------------------------------------
    t0 = time.perf_counter()
    sequences = [
        ChordSequence(tuple(bar.chord for bar in imp.bars if bar.chord >= 0), state)
        for imp in imported
        for state in imp.source.states
    ]
    harmony, loss = fit_harmony(sequences, features, states, config, ui.steps("train harmony", 1))
    feeds = []
    for k in range(4):
        cond = random_cond(1)
        lo = features.index(f"state:{states[0]}")
        cond[:, lo : lo + len(states)] = 0.0
        if k < 3:  # one-hot states, and one feed with no state at all
            cond[0, lo + k % len(states)] = 1.0
        feeds.append({"context": rng.integers(0, 25, (1, 2)).astype(np.int64), "cond": cond})
    entry, diff = export(
        harmony,
        name="harmony",
        role="harmony",
        inputs=feeds,
        output_names=("probs",),
        conditioning=features,
        meta={
            "orders": [0, 1, 2],
            "smoothing": config.harmony_smoothing,
            "backoff": config.harmony_backoff,
        },
    )
    stats["harmony"] = ModelStats(loss, diff, len(entry.onnx), time.perf_counter() - t0)
    losses["harmony"] = loss

    # --- melody and bass ----------------------------------------------------------------
    for offset, role in enumerate(("melody", "bass"), start=1):
        stems = style.stems_with_role(role)
        if not stems:
            continue
        t0 = time.perf_counter()
        runs = []
        pitches: list[int] = []
        for imp in imported:
            for stem in stems:
                if stem not in imp.stems:
                    continue
                bar_tokens = [vocab.encode_bar(bar.stems[stem], spb) for bar in imp.bars]
                pitches += [n.pitch for bar in imp.bars for n in bar.stems[stem]]
                for state in imp.source.states:
                    conds = [
                        _cond(style, features, imp, state, bar.chord, bar.index) for bar in imp.bars
                    ]
                    runs.append((bar_tokens, conds))
        data = build_windows(runs, config.window_bars, vocab, (min(pitches), max(pitches)))
        model, loss = train_sequence(
            data,
            vocab,
            config,
            config.seed + offset,
            ui.steps(f"train {role}", config.sequence_steps),
        )
        step = SequenceStep(model)
        h = config.sequence_hidden
        feeds = [
            {
                "token": rng.integers(0, len(vocab), (1,)).astype(np.int64),
                "cond": random_cond(1),
                "hidden": rng.normal(0, 0.5, (1, h)).astype(np.float32),
            }
            for _ in range(4)
        ]
        entry, diff = export(
            step,
            name=role,
            role="sequence",
            inputs=feeds,
            output_names=("logits", "hidden_out"),
            conditioning=features,
            meta={"hidden_size": h, "pitch_range": list(data.pitch_range), "steps_per_bar": spb},
        )
        stats[role] = ModelStats(loss, diff, len(entry.onnx), time.perf_counter() - t0)
        losses[role] = loss

    # --- drums --------------------------------------------------------------------------
    drum_stems = style.stems_with_role("drums")
    if drum_stems:
        t0 = time.perf_counter()
        drum_data = _drum_data(style, features, imported, drum_stems)
        generator, critic, g_loss, d_loss = train_drums(
            drum_data, config, config.seed + 3, ui.steps("train drums", config.drums_steps)
        )
        z_size = config.drums_latent
        voices = [name for name, _ in DRUM_VOICES]
        meta = {
            "latent_size": z_size,
            "steps": spb,
            "voices": voices,
            "hidden_size": config.drums_hidden,
        }
        feeds = [
            {"z": rng.normal(0, 1, (k, z_size)).astype(np.float32), "cond": random_cond(k)}
            for k in (4, 1, 7)
        ]
        entry, diff = export(
            generator,
            name="drums_generator",
            role="drums",
            inputs=feeds,
            output_names=("onset", "velocity", "timing"),
            conditioning=features,
            meta=meta,
            dynamic_batch=True,
        )
        stats["drums_generator"] = ModelStats(
            g_loss, diff, len(entry.onnx), time.perf_counter() - t0
        )
        t0 = time.perf_counter()
        feeds = []
        for k in (4, 1, 7):
            onset = (rng.uniform(0, 1, (k, len(voices), spb)) < 0.3).astype(np.float32)
            velocity = (rng.uniform(0, 1, onset.shape) * onset).astype(np.float32)
            feeds.append({"onset": onset, "velocity": velocity, "cond": random_cond(k)})
        entry, diff = export(
            critic,
            name="drums_critic",
            role="critic",
            inputs=feeds,
            output_names=("score",),
            conditioning=features,
            # The critic was trained on sampled hits, so score sampled hits too.
            meta={
                "steps": spb,
                "voices": voices,
                "onset_input": "sampled 0/1 hits, velocity * hits",
            },
            dynamic_batch=True,
        )
        stats["drums_critic"] = ModelStats(d_loss, diff, len(entry.onnx), time.perf_counter() - t0)
        losses["drums_generator"], losses["drums_critic"] = g_loss, d_loss
    return entries, stats, losses


def _drum_data(
    style: Style, features: list[str], imported: list[ImportedSource], stems: list[str]
) -> DrumData:
    from ._train.drums import DrumData

    spb = style.meter.steps_per_bar
    onsets, velocities, timings, conds = [], [], [], []
    for imp in imported:
        for stem in stems:
            if stem not in imp.stems:
                continue
            for b, bar in enumerate(imp.bars):
                onset = np.zeros((len(DRUM_VOICES), spb), dtype=np.float32)
                velocity = np.zeros_like(onset)
                timing = np.zeros_like(onset)
                for note, offset in zip(bar.stems[stem], imp.timing[stem][b], strict=True):
                    row = drum_voice(note.pitch)
                    if row is None or note.start >= spb:
                        continue
                    # Two hits of one voice on one step: keep the louder one.
                    if note.velocity / 127 > velocity[row, note.start]:
                        onset[row, note.start] = 1.0
                        velocity[row, note.start] = note.velocity / 127
                        timing[row, note.start] = offset
                for state in imp.source.states:
                    onsets.append(onset)
                    velocities.append(velocity)
                    timings.append(timing)
                    conds.append(_cond(style, features, imp, state, bar.chord, bar.index))
    return DrumData(
        np.stack(onsets),
        np.stack(velocities),
        np.stack(timings),
        np.stack(conds).astype(np.float32),
    )


def _manifest(
    style: Style,
    config: TrainingConfig,
    imported: list[ImportedSource],
    losses: Mapping[str, float],
    seconds: float,
) -> Manifest:
    """The bundle's typed manifest: the style's shared fields plus what the bake learned."""
    base = style.path.resolve().parent
    provenance = []
    for imp in imported:
        source = imp.source
        try:
            relative = Path(os.path.relpath(source.path, base)).as_posix()
        except ValueError:  # another drive on Windows
            relative = source.path.as_posix()
        provenance.append(
            ProvenanceEntry(
                file=relative,
                sha256=_sha256_file(source.path),
                license=source.license,
                attribution=source.attribution,
            )
        )
    import torch  # already loaded by the bake; recorded so a bundle says what trained it

    shared = {f.name: getattr(style, f.name) for f in dataclasses.fields(Music)}
    return Manifest(
        **shared,
        created=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        vocabulary=Vocabulary.default().tokens,
        conditioning=tuple(condition_features(list(style.states))),
        provenance=tuple(provenance),
        training=TrainingRecord(
            config=config.to_dict(),
            losses={k: float(v) for k, v in losses.items()},
            seconds=round(seconds, 3),
            environment={
                "torch": torch.__version__,
                "python": platform.python_version(),
                "machine": platform.machine(),
            },
        ),
    )
