"""The IO contract of every model a bundle carries, shared by authoring and runtime.

``C`` is the length of the model's ``conditioning`` feature list, ``V`` the
vocabulary size, ``H`` ``meta["hidden_size"]``, ``Z`` ``meta["latent_size"]``,
``D`` the number of drum voices (``DRUM_VOICES``) and ``S`` ``meta["steps"]``.

=================  =====================================  ================================
model name         inputs                                 outputs
=================  =====================================  ================================
melody, bass       token int64 [1]                        logits float32 [1, V]
(role "sequence")  cond float32 [1, C]                    hidden_out float32 [1, H]
                   hidden float32 [1, H]
harmony            context int64 [1, 2]  (previous two    probs float32 [1, N]  (N = len(CHORDS);
(role "harmony")   chord indices; START_CHORD = none)     next-chord distribution, sums to 1)
                   cond float32 [1, C]
drums_generator    z float32 [K, Z]                       onset float32 [K, D, S] in [0, 1]
(role "drums")     cond float32 [K, C]                    velocity float32 [K, D, S] in [0, 1]
                                                          timing float32 [K, D, S] in [-0.5, 0.5]
                                                          (fraction of a step)
drums_critic       onset float32 [K, D, S]                score float32 [K, 1]  (higher = more
(role "critic")    velocity float32 [K, D, S]             like the training grooves)
                   cond float32 [K, C]
=================  =====================================  ================================

Sequence models also record ``meta["pitch_range"] = [lo, hi]`` (MIDI pitches seen
in training, key-normalized) so the runtime can mask samples to a playable range.

``read_bundle`` enforces this contract from three tables, extended together when a
model changes (for example a Transformer with a KV cache gets a role of its own):

- ``MODEL_SHAPES``: role -> the dtype and shape of every input and output, with the
  letters above filled in from the manifest and the model's meta;
- ``MODEL_META``: role -> the meta fields the runtime reads (other keys are allowed as
  bounded plain data);
- ``STEM_MODELS``: stem role -> the models a bundle must carry to play that stem.

Conditioning (``ModelEntry.conditioning``, see ``adaptive._conditioning``): harmony
takes ``intensity, valence, state:*, chord_root:*, chord_minor, phrase_bar:*``; its
``valence`` blends the minor-key (0) and major-key (1) tables. Melody, bass and the
drums take ``attr:density, attr:polyphony, attr:velocity, attr:register,
attr:activity`` in place of ``intensity`` (target ranks in [0, 1] within the
training corpus of that role), and the drums append ``groove:0..G-1``.

``meta`` fields the runtime reads:

- every attribute-controlled model: ``attributes = {"names", "quantiles" (21-point
  table per attribute), "control": {name: [at_0, at_1, "intensity" | "valence"]
  or [at_0, at_1, "intensity", knee, at_knee]}, "arousal_shift"}``: how
  intensity/valence/arousal become target ranks, the 5-item form bending the line
  at ``knee`` (where the style fades the stem in)
  (``adaptive._conditioning.attribute_targets``);
- melody, bass: ``pitch_range = [lo, hi]`` (key-normalized pitches seen in
  training: the range mask), ``hidden_size``, ``steps_per_bar``, and ``sampling =
  {"temperature", "top_p", "scale_prior" (12 log-weights per key-normalized pitch
  class, learned from the sources), "scale_prior_weight", "interval_prior" (log-weights
  of the leap from the previous note, 0 to 24 semitones, the last for any larger;
  learned from the sources), "interval_prior_weight", "notes_per_onset" (notes a
  chord may hold, 1 for a line), "chord_tone_bias", "motif_copy", "presence" (the
  chance the role plays a phrase rather than sitting it out, by the arrangement's
  busyness in equal fifths of the sources' bars, read off intensity from
  "presence_from", where the role is faded in), "chromatic" (pitch classes),
  "chromatic_offset" (logits added to them), "calibration"}``; the
  bake fits ``interval_prior_weight``, ``chromatic_offset`` and ``motif_copy`` to
  the sources (``authoring._calibrate``) and records what it matched in
  ``calibration``;
- drums_generator: ``latent_size``, ``steps``, ``voices``, ``candidates`` (K), and
  ``grooves = [{"density_rank", "states": {state: bars}}]``;
- harmony: ``temperature``, ``rhythms = [{"onsets": [steps], "count"}]`` (the
  style's harmony onset patterns, sparsest first) and ``state_tempo = {state: bpm}``
  (also in ``manifest["training"]["state_tempo"]``).

Bundles baked before attribute control (``intensity`` in a sequence model's
conditioning, no ``attributes`` / ``sampling`` meta) still play: the runtime falls
back to a soft diatonic prior and no motif memory.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ._schema import (
    OPTIONAL,
    REQUIRED,
    Integer,
    Items,
    Number,
    SchemaError,
    Text,
    _field,
)

__all__ = [
    "SEQUENCE_IO",
    "HARMONY_IO",
    "DRUMS_GENERATOR_IO",
    "DRUMS_CRITIC_IO",
    "MODEL_ROLES",
    "MODEL_SHAPES",
    "MODEL_META",
    "STEM_MODELS",
    "SequenceMeta",
    "HarmonyMeta",
    "DrumsMeta",
    "CriticMeta",
]

SEQUENCE_IO = (("token", "cond", "hidden"), ("logits", "hidden_out"))
HARMONY_IO = (("context", "cond"), ("probs",))
DRUMS_GENERATOR_IO = (("z", "cond"), ("onset", "velocity", "timing"))
DRUMS_CRITIC_IO = (("onset", "velocity", "cond"), ("score",))

# model name -> (role, IO names)
MODEL_ROLES: dict[str, tuple[str, tuple[tuple[str, ...], tuple[str, ...]]]] = {
    "melody": ("sequence", SEQUENCE_IO),
    "bass": ("sequence", SEQUENCE_IO),
    "harmony": ("harmony", HARMONY_IO),
    "drums_generator": ("drums", DRUMS_GENERATOR_IO),
    "drums_critic": ("critic", DRUMS_CRITIC_IO),
}

# role -> {tensor: (dtype, shape)} for inputs, then outputs. A letter is a size taken from
# the bundle (see the table above); "K" is the batch: symbolic, or any positive size.
Shapes = dict[str, tuple[str, tuple[int | str, ...]]]
MODEL_SHAPES: dict[str, tuple[Shapes, Shapes]] = {
    "sequence": (
        {"token": ("int64", (1,)), "cond": ("float32", (1, "C")), "hidden": ("float32", (1, "H"))},
        {"logits": ("float32", (1, "V")), "hidden_out": ("float32", (1, "H"))},
    ),
    "harmony": (
        {"context": ("int64", (1, 2)), "cond": ("float32", (1, "C"))},
        {"probs": ("float32", (1, "N"))},
    ),
    "drums": (
        {"z": ("float32", ("K", "Z")), "cond": ("float32", ("K", "C"))},
        {
            "onset": ("float32", ("K", "D", "S")),
            "velocity": ("float32", ("K", "D", "S")),
            "timing": ("float32", ("K", "D", "S")),
        },
    ),
    "critic": (
        {
            "onset": ("float32", ("K", "D", "S")),
            "velocity": ("float32", ("K", "D", "S")),
            "cond": ("float32", ("K", "C")),
        },
        {"score": ("float32", ("K", 1))},
    ),
}

# stem role -> the models a bundle must carry to play it
STEM_MODELS: dict[str, tuple[str, ...]] = {
    "melody": ("melody",),
    "bass": ("bass",),
    "drums": ("drums_generator",),
    "harmony": (),  # the harmony model is optional: without it the chords stay on the tonic
}


# --- per-role model meta (other keys are allowed as bounded plain data) -------------------


@dataclass(frozen=True, kw_only=True)
class SequenceMeta:
    hidden_size: int = _field(Integer(1, 4096), bundle=REQUIRED)
    pitch_range: tuple[int, ...] = _field(Items(Integer(0, 127), 2, 2), (36, 96))
    steps_per_bar: int | None = _field(Integer(1, 64), None)

    def check(self, where: str) -> None:
        if self.pitch_range[1] < self.pitch_range[0]:
            raise SchemaError(
                f"{where}.pitch_range", f"must be [low, high], got {list(self.pitch_range)}"
            )


@dataclass(frozen=True, kw_only=True)
class HarmonyMeta:
    orders: tuple[int, ...] = _field(Items(Integer(0, 8), 8), ())
    smoothing: float = _field(Number(0.0, 1e6), 0.0)
    backoff: float = _field(Number(0.0, 1e6), 0.0)


@dataclass(frozen=True, kw_only=True)
class DrumsMeta:
    latent_size: int = _field(Integer(1, 4096), bundle=REQUIRED)
    steps: int = _field(Integer(1, 64), bundle=REQUIRED)
    voices: tuple[str, ...] = _field(Items(Text(64), 16), ())
    hidden_size: int | None = _field(Integer(1, 4096), None)


@dataclass(frozen=True, kw_only=True)
class CriticMeta:
    steps: int = _field(Integer(1, 64), bundle=REQUIRED)
    voices: tuple[str, ...] = _field(Items(Text(64), 16), ())
    onset_input: str = _field(Text(256), "", bundle=OPTIONAL)


MODEL_META: dict[str, type] = {
    "sequence": SequenceMeta,
    "harmony": HarmonyMeta,
    "drums": DrumsMeta,
    "critic": CriticMeta,
}


def known_meta(role: str, meta: Mapping[str, Any]) -> tuple[type | None, dict[str, Any]]:
    """The meta dataclass of ``role`` and the part of ``meta`` it declares."""
    cls = MODEL_META.get(role)
    if cls is None:
        return None, {}
    keys = {f for f in cls.__dataclass_fields__}
    return cls, {k: v for k, v in meta.items() if k in keys}
