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

Conditioning (``ModelEntry.conditioning``, see ``adaptive._conditioning``): harmony
takes ``intensity, valence, state:*, chord_root:*, chord_minor, phrase_bar:*``; its
``valence`` blends the minor-key (0) and major-key (1) tables. Melody, bass and the
drums take ``attr:density, attr:polyphony, attr:velocity, attr:register,
attr:activity`` in place of ``intensity`` (target ranks in [0, 1] within the
training corpus of that role), and the drums append ``groove:0..G-1``.

``meta`` fields the runtime reads:

- every attribute-controlled model: ``attributes = {"names", "quantiles" (21-point
  table per attribute), "control": {name: [at_0, at_1, "intensity" | "valence"]},
  "arousal_shift"}``: how intensity/valence/arousal become target ranks
  (``adaptive._conditioning.attribute_targets``);
- melody, bass: ``pitch_range = [lo, hi]`` (key-normalized pitches seen in
  training: the range mask), ``hidden_size``, ``steps_per_bar``, and ``sampling =
  {"temperature", "top_p", "scale_prior" (12 log-weights per key-normalized pitch
  class, learned from the sources), "scale_prior_weight", "chord_tone_bias",
  "motif_copy"}``;
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

__all__ = ["SEQUENCE_IO", "HARMONY_IO", "DRUMS_GENERATOR_IO", "DRUMS_CRITIC_IO", "MODEL_ROLES"]

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
