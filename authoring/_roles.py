"""One job per musical role: what its models learn from, and how they are trained.

``authoring._bake.prepare_jobs`` turns the imported sources into one ``RoleJob``
per role (harmony, melody, bass, drums); ``train_job`` trains one and exports
its models to ONNX with the parity check. A job is plain data, so
``authoring._runner`` can hand it to a worker process, and its ``digest`` tells
``authoring._watch`` whether a rebuild may keep the role's models.
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from adaptive._bundle import ModelEntry
from adaptive._tokens import Vocabulary

from ._calibrate import SamplingTarget, calibrated, uncalibrated
from ._train.config import TrainingConfig

__all__ = ["RoleJob", "RoleOutput", "ModelStats", "Weights", "LEARNING_KEYS", "train_job"]

ProgressFn = Callable[[int, int, float], None]


@dataclass(frozen=True)
class ModelStats:
    final_loss: float  # training loss at the end (harmony: mean NLL of the data)
    parity_max_abs_diff: float  # largest |torch - onnxruntime| over the parity inputs
    onnx_bytes: int
    seconds: float  # training + export time


# The [training] keys each kind of model learns with; every other key (sampling, threads)
# only reaches the models' meta, so changing it retrains nothing.
LEARNING_KEYS: dict[str, tuple[str, ...]] = {
    "harmony": ("harmony_smoothing", "harmony_backoff"),
    "sequence": (
        "seed",
        "window_bars",
        "sequence_hidden",
        "sequence_embed",
        "sequence_steps",
        "sequence_batch",
        "sequence_lr",
    ),
    "drums": (
        "seed",
        "drums_latent",
        "drums_hidden",
        "drums_steps",
        "drums_batch",
        "drums_lr",
        "drums_recon_weight",
        "drums_control_weight",
    ),
}
Weights = dict[str, dict[str, np.ndarray]]  # module name -> its state_dict as arrays


@dataclass
class RoleJob:
    """Everything one role's models learn from and ship with.

    Plain data (numpy, no torch), so a worker process can train it. ``digest``
    covers exactly what training sees: two jobs with the same digest train the
    same models, so a rebuild may reuse them; ``arch`` is the shape of the
    weights, which a fine-tune needs to match.
    """

    role: str  # harmony, melody, bass, drums
    kind: str  # harmony, sequence, drums
    models: tuple[str, ...]  # the bundle entries the job writes
    config: TrainingConfig
    seed: int
    data: Any  # (chord sequences, states) | SequenceData | DrumData
    features: list[str]
    feeds: dict[str, list[dict[str, np.ndarray]]]  # per model: parity-check inputs
    meta: dict[str, dict[str, Any]]  # per model
    arch: tuple[Any, ...]
    digest: str = ""
    steps: int = 1  # optimizer steps of a full training
    epoch_size: float = 1.0  # optimizer steps per pass over the data
    # melody / bass: what the sampler's scale prior is calibrated to (authoring._calibrate)
    calibration: SamplingTarget | None = None

    def __post_init__(self) -> None:
        self.digest = _digest(
            self.kind,
            self.seed,
            self.features,
            self.arch,
            [(k, getattr(self.config, k)) for k in LEARNING_KEYS[self.kind]],
            self.data,
        )


@dataclass
class RoleOutput:
    """A trained (or reused) role: its bundle entries and the weights to fine-tune from."""

    role: str
    entries: dict[str, ModelEntry]
    stats: dict[str, ModelStats]
    losses: dict[str, float]
    weights: Weights
    how: str = "trained"  # trained | fine-tuned | reused
    curves: dict[str, list[tuple[int, float]]] = field(default_factory=dict)  # (step, loss)

    def refreshed(self, job: RoleJob, how: str = "reused") -> RoleOutput:
        """The same models with the job's current meta (sampling, tempo: nothing learned).

        A sequence model's scale calibration is kept while the meta it was fitted
        with is unchanged, and fitted again otherwise (a few seconds, no training)."""
        entries = {}
        for name, entry in self.entries.items():
            if job.kind == "sequence" and uncalibrated(entry.meta) == job.meta[name]:
                entries[name] = replace(entry, conditioning=tuple(job.features))
                continue
            entry = replace(entry, meta=dict(job.meta[name]), conditioning=tuple(job.features))
            entries[name] = calibrated(entry, job.calibration) if job.kind == "sequence" else entry
        return replace(self, entries=entries, how=how)


def _digest(*parts: Any) -> str:
    digest = hashlib.sha256()

    def feed(value: Any) -> None:
        if isinstance(value, np.ndarray):
            digest.update(f"{value.dtype}{value.shape}".encode())
            digest.update(np.ascontiguousarray(value).tobytes())
        elif dataclasses.is_dataclass(value) and not isinstance(value, type):
            feed(type(value).__name__)
            for f in dataclasses.fields(value):
                feed(getattr(value, f.name))
        elif isinstance(value, list | tuple):
            digest.update(f"[{len(value)}".encode())
            for item in value:
                feed(item)
        else:
            digest.update(repr(value).encode())
        digest.update(b";")

    for part in parts:
        feed(part)
    return digest.hexdigest()


_OUTPUT_NAMES = {
    "harmony": ("probs",),
    "sequence": ("logits", "hidden_out"),
    "drums_generator": ("onset", "velocity", "timing"),
    "drums_critic": ("score",),
}


def train_job(
    job: RoleJob,
    *,
    init: Weights | None = None,
    steps: int | None = None,
    on_step: ProgressFn | None = None,
    on_export: Callable[[str], None] | None = None,
) -> RoleOutput:
    """Train one role and export its models with the parity check.

    ``init`` (weights of an earlier run with the same ``arch``) fine-tunes from
    them for ``steps`` optimizer steps instead of training from scratch.
    """
    from ._export import export_model
    from ._train.drums import train_drums
    from ._train.harmony import fit_harmony
    from ._train.sequence import SequenceStep, train_sequence

    t0 = time.perf_counter()
    config = job.config
    if steps is not None:
        config = replace(config, sequence_steps=steps, drums_steps=steps)
    entries: dict[str, ModelEntry] = {}
    stats: dict[str, ModelStats] = {}

    def export(module: Any, name: str, role: str, loss: float, started: float, **kw: Any) -> None:
        if on_export is not None:
            on_export(name)
        entry, diff = export_model(
            module,
            name=name,
            role=role,
            inputs=job.feeds[name],
            output_names=_OUTPUT_NAMES.get(name, _OUTPUT_NAMES.get(job.kind, ())),
            conditioning=job.features,
            meta=job.meta[name],
            **kw,
        )
        entries[name] = entry
        stats[name] = ModelStats(loss, diff, len(entry.onnx), time.perf_counter() - started)

    curve: list[tuple[int, float]] = []  # for the training report

    def record(done: int, total: int, loss: float) -> None:
        curve.append((done, float(loss)))
        if on_step is not None:
            on_step(done, total, loss)

    weights: Weights = {}
    if job.kind == "harmony":
        sequences, states = job.data
        harmony, loss = fit_harmony(sequences, job.features, states, config, record)
        export(harmony, "harmony", "harmony", loss, t0)
        losses = {"harmony": loss}
    elif job.kind == "sequence":
        model, loss = train_sequence(
            job.data,
            Vocabulary.default(),
            config,
            job.seed,
            record,
            init=None if init is None else init["model"],
        )
        weights["model"] = _arrays(model)
        export(SequenceStep(model), job.role, "sequence", loss, t0)
        entries[job.role] = calibrated(entries[job.role], job.calibration)
        losses = {job.role: loss}
    else:
        generator, critic, g_loss, d_loss = train_drums(job.data, config, job.seed, record, init)
        weights = {"generator": _arrays(generator), "critic": _arrays(critic)}
        export(generator, "drums_generator", "drums", g_loss, t0, dynamic_batch=True)
        export(critic, "drums_critic", "critic", d_loss, time.perf_counter(), dynamic_batch=True)
        losses = {"drums_generator": g_loss, "drums_critic": d_loss}
    how = "trained" if init is None else "fine-tuned"
    # the drums' progress reports the generator's loss
    return RoleOutput(job.role, entries, stats, losses, weights, how, {job.models[0]: curve})


def _arrays(module: Any) -> dict[str, np.ndarray]:
    return {k: v.detach().cpu().numpy().copy() for k, v in module.state_dict().items()}
