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
