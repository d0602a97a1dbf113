"""Chord detection: which of the 24 key-relative triads best fits a bar.

Numpy only (the MIDI importer uses it, and it must not pull in torch).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from adaptive._music import CHORDS

__all__ = ["detect_chord", "DIATONIC", "CHORD_TEMPLATES"]

# Triads that belong to C major / A minor (the normalized key): C, Dm, Em, F, G, Am.
DIATONIC = frozenset(
    c.index
    for c in CHORDS
    if (c.root, c.quality)
    in {(0, "maj"), (2, "min"), (4, "min"), (5, "maj"), (7, "maj"), (9, "min")}
)

# [24, 12] membership matrix: 1 for chord tones.
CHORD_TEMPLATES = np.zeros((len(CHORDS), 12))
for _i, _c in enumerate(CHORDS):
    CHORD_TEMPLATES[_i, list(_c.pitch_classes())] = 1.0
_ROOTS = np.zeros((len(CHORDS), 12))
for _i, _c in enumerate(CHORDS):
    _ROOTS[_i, _c.root] = 1.0
_PRIOR = np.array([0.04 if i in DIATONIC else 0.0 for i in range(len(CHORDS))])

BASS_WEIGHT = 2.0  # a bass note counts twice: it defines the harmony more than an inner voice
NON_CHORD_PENALTY = 0.6  # how much a pitch outside the triad counts against it
ROOT_BONUS = 0.2  # prefer the chord whose root the bass plays (A-C-E over C: Am, not C6)


def detect_chord(notes: Iterable[tuple[int, float, bool]]) -> int:
    """Best chord index for ``(pitch, weight, is_bass)`` notes (weight: e.g. duration in steps).

    Scores each triad by how much of the weighted pitch-class content it covers,
    minus what it leaves out, plus a bonus when the bass sits on its root and a
    small tie-break towards diatonic chords. Returns -1 for an empty bar.
    """
    content = np.zeros(12)
    bass = np.zeros(12)
    for pitch, weight, is_bass in notes:
        w = float(weight) * (BASS_WEIGHT if is_bass else 1.0)
        content[pitch % 12] += w
        if is_bass:
            bass[pitch % 12] += float(weight)
    total = content.sum()
    if total <= 0:
        return -1
    content /= total
    if bass.sum() > 0:
        bass /= bass.sum()
    inside = CHORD_TEMPLATES @ content
    scores = inside - NON_CHORD_PENALTY * (1.0 - inside) + ROOT_BONUS * (_ROOTS @ bass) + _PRIOR
    return int(np.argmax(scores))
