"""The training configuration: defaults, overridden by ``[training]`` in the style
file, overridden by ``overrides`` passed to ``bake`` (tests use a tiny one).

Every key is checked against a table (type and range); an unknown key or a bad
value raises ``StyleError`` naming ``training.<key>``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from adaptive._errors import StyleError

__all__ = ["TrainingConfig", "resolve_config", "CONFIG_LIMITS"]


@dataclass(frozen=True)
class TrainingConfig:
    seed: int = 0
    threads: int = 2  # torch CPU threads while baking
    window_bars: int = 4  # bars per training sequence (melody/bass)
    # melody / bass GRU
    sequence_hidden: int = 128
    sequence_embed: int = 48
    sequence_steps: int = 500  # optimizer steps (not epochs: time stays bounded on big styles)
    sequence_batch: int = 32
    sequence_lr: float = 3e-3
    # harmony Markov model
    harmony_smoothing: float = 0.1  # additive (Lidstone) smoothing per table cell
    harmony_backoff: float = 2.0  # higher: trust longer contexts only after more observations
    # drums GAN
    drums_latent: int = 16
    drums_hidden: int = 128
    drums_steps: int = 600
    drums_batch: int = 64
    drums_lr: float = 2e-3
    drums_recon_weight: float = 1.0  # reconstruction term that keeps the GAN on the grooves
    drums_control_weight: float = 1.0  # pull of the density target on off-corpus conditions
    drums_candidates: int = 4  # bars the generator proposes per bar; the critic keeps one
    # sampling at run time (stored in the models' meta["sampling"])
    sampling_temperature: float = 0.9
    sampling_top_p: float = 0.95  # nucleus: sample only from the smallest set with this mass
    scale_prior_weight: float = 0.5  # weight of the sources' pitch-class log-histogram
    interval_prior_weight: float = 1.0  # weight of the sources' melodic-interval log-histogram
    chord_tone_bias: float = 1.0  # logit bonus for chord tones on the beat
    motif_copy: float = 0.6  # chance a phrase's 3rd/4th bar replays a token of its 1st/2nd
    phrase_rests: float = 1.0  # share of the sources' whole-phrase rests kept (0: always play)
    harmony_temperature: float = 0.8

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# key -> (type, lo, hi)
CONFIG_LIMITS: dict[str, tuple[type, float, float]] = {
    "seed": (int, 0, 2**31 - 1),
    "threads": (int, 1, 64),
    "window_bars": (int, 1, 32),
    "sequence_hidden": (int, 4, 1024),
    "sequence_embed": (int, 4, 512),
    "sequence_steps": (int, 1, 1_000_000),
    "sequence_batch": (int, 1, 4096),
    "sequence_lr": (float, 1e-6, 1.0),
    "harmony_smoothing": (float, 1e-6, 100.0),
    "harmony_backoff": (float, 1e-6, 1000.0),
    "drums_latent": (int, 1, 256),
    "drums_hidden": (int, 4, 2048),
    "drums_steps": (int, 1, 1_000_000),
    "drums_batch": (int, 1, 4096),
    "drums_lr": (float, 1e-6, 1.0),
    "drums_recon_weight": (float, 0.0, 100.0),
    "drums_control_weight": (float, 0.0, 100.0),
    "drums_candidates": (int, 1, 64),
    "sampling_temperature": (float, 0.05, 5.0),
    "sampling_top_p": (float, 0.05, 1.0),
    "scale_prior_weight": (float, 0.0, 10.0),
    "interval_prior_weight": (float, 0.0, 10.0),
    "chord_tone_bias": (float, 0.0, 10.0),
    "motif_copy": (float, 0.0, 1.0),
    "phrase_rests": (float, 0.0, 1.0),
    "harmony_temperature": (float, 0.05, 5.0),
}
assert set(CONFIG_LIMITS) == {f.name for f in fields(TrainingConfig)}


def _check(key: str, value: Any, where: str) -> int | float:
    if key not in CONFIG_LIMITS:
        raise StyleError(
            f"{where}: field 'training.{key}' is not a known field; "
            f"known: {', '.join(CONFIG_LIMITS)}"
        )
    kind, lo, hi = CONFIG_LIMITS[key]
    ok_type = isinstance(value, int | float) and not isinstance(value, bool)
    if kind is int and ok_type and isinstance(value, float) and value.is_integer():
        value = int(value)
    if not ok_type or (kind is int and not isinstance(value, int)) or not math.isfinite(value):
        raise StyleError(
            f"{where}: field 'training.{key}' must be "
            f"{'an integer' if kind is int else 'a number'}, got {value!r}"
        )
    if not lo <= value <= hi:
        raise StyleError(
            f"{where}: field 'training.{key}' must be in [{lo:g}, {hi:g}], got {value!r}"
        )
    return kind(value)


def resolve_config(
    style_training: Mapping[str, Any],
    overrides: Mapping[str, Any] | None = None,
    *,
    seed: int | None = None,
    style_path: Path | str = "style",
) -> TrainingConfig:
    """Defaults <- style.training <- overrides <- seed. Raises StyleError naming training.<key>."""
    values: dict[str, Any] = {}
    for key, value in style_training.items():
        values[key] = _check(key, value, str(style_path))
    for key, value in (overrides or {}).items():
        values[key] = _check(key, value, "bake overrides")
    if seed is not None:
        values["seed"] = _check("seed", seed, "bake seed")
    return TrainingConfig(**values)
