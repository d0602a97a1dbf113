"""Harmony: the baked Markov model gives the next chord's distribution; we sample it.

Also here, because they are harmony's and need no model: chord names spelled in
the key (D minor has Bb and C#, never A# or Db for its own degrees; chromatic
roots take flats unless they are minor's raised sixth and seventh), and the
voicing of the harmony stem: each chord's three tones placed where they move
the fewest semitones from the previous voicing, struck on an onset pattern the
style's own harmony parts play (``meta["rhythms"]``), busier at higher intensity.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import product

import numpy as np

from adaptive._conditioning import encode_condition
from adaptive._music import CHORDS, START_CHORD, Key, Note

from ._onnx import OnnxModel

TEMPERATURE = 0.8
VOICING_RANGE = (48, 72)  # the harmony stem's voices stay within C3..C5 (key-normalized)
# the voicing's range moves with the mood, by this many semitones at valence 0 or 1:
# darker music voices its chords lower, as the melody and bass models are asked to
VOICING_VALENCE_SHIFT = 3

_LETTERS = "CDEFGAB"
_NATURAL = (0, 2, 4, 5, 7, 9, 11)
# The conventional tonic letter of each key (index = tonic pitch class).
_MAJOR_TONIC = ("C", "Db", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
_MINOR_TONIC = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "G#", "A", "Bb", "B")


def _name(letter: int, pitch_class: int) -> str:
    """The letter ``letter`` (0 = C) with the accidentals that make ``pitch_class``."""
    offset = (pitch_class - _NATURAL[letter] + 6) % 12 - 6  # -2..+2 in practice
    return _LETTERS[letter] + ("#" * offset if offset > 0 else "b" * -offset)


def spell_pitch_class(pitch_class: int, key: Key) -> str:
    """The name of an absolute pitch class in ``key``."""
    tonic_name = (_MINOR_TONIC if key.mode == "minor" else _MAJOR_TONIC)[key.tonic]
    tonic_letter = _LETTERS.index(tonic_name[0])
    scale = key.scale
    pitch_class %= 12
    if pitch_class in scale:
        return _name((tonic_letter + scale.index(pitch_class)) % 7, pitch_class)
    if key.mode == "minor":  # raised 3rd (Picardy), 6th and 7th: sharps or naturals
        for degree in (2, 5, 6):
            if (scale[degree] + 1) % 12 == pitch_class:
                return _name((tonic_letter + degree) % 7, pitch_class)
    if pitch_class in _NATURAL:  # a white key outside the scale keeps its plain name
        return _LETTERS[_NATURAL.index(pitch_class)]
    # Other chromatic roots are borrowed chords (bII, bIII, bVI, bVII...): flat the
    # degree above; in a sharp major key, sharpen the degree below instead.
    sharp_key = key.mode == "major" and key.tonic in (7, 2, 9, 4, 11, 6)  # G D A E B F#
    if sharp_key and pitch_class not in ((key.tonic + 10) % 12, (key.tonic + 8) % 12):
        degree = scale.index((pitch_class - 1) % 12)
        return _name((tonic_letter + degree) % 7, pitch_class)
    degree = scale.index((pitch_class + 1) % 12)
    return _name((tonic_letter + degree) % 7, pitch_class)


def spell_chord(chord: int, key: Key) -> str:
    """A key-relative chord index named in ``key``, e.g. 'Bb', 'Gm', 'C#' in D minor."""
    value = CHORDS[chord]
    root = (value.root - key.normalization_shift) % 12
    return spell_pitch_class(root, key) + ("" if value.quality == "maj" else "m")


def voicing_range(valence: float = 0.5) -> tuple[int, int]:
    """VOICING_RANGE moved with the mood: down for dark music, up for bright."""
    shift = round(VOICING_VALENCE_SHIFT * (2.0 * min(1.0, max(0.0, valence)) - 1.0))
    return VOICING_RANGE[0] + shift, VOICING_RANGE[1] + shift


def voice_chord(chord: int, previous: Sequence[int], valence: float = 0.5) -> tuple[int, ...]:
    """The chord's three tones (key-normalized pitches in ``voicing_range(valence)``) that
    move the fewest semitones in total from ``previous`` (voice by voice, low to high);
    with no previous voicing, the closest to the range's middle."""
    lo, hi = voicing_range(valence)
    middle = 0.5 * (lo + hi)
    options = [
        [p for p in range(lo, hi + 1) if p % 12 == pc] for pc in CHORDS[chord].pitch_classes()
    ]
    best: tuple[float, tuple[int, ...]] | None = None
    for combo in product(*options):
        voicing = tuple(sorted(combo))
        if voicing[-1] - voicing[0] > 12:  # keep it close: within an octave
            continue
        if previous and len(previous) == len(voicing):
            cost = float(sum(abs(a - b) for a, b in zip(voicing, sorted(previous), strict=True)))
        else:
            cost = abs(float(np.mean(voicing)) - middle)
        cost += 0.01 * abs(float(np.mean(voicing)) - middle)  # ties: stay central
        if best is None or cost < best[0]:
            best = (cost, voicing)
    assert best is not None  # every triad fits in a 24-semitone range
    return best[1]


def harmony_rhythm(rhythms: Sequence[dict], intensity: float, steps: int) -> list[tuple[int, int]]:
    """(start, length) strikes for one bar: the style's onset pattern at this intensity."""
    patterns = [sorted({int(s) for s in r["onsets"] if 0 <= int(s) < steps}) for r in rhythms] or [
        [0]
    ]
    patterns = [p for p in patterns if p] or [[0]]
    onsets = patterns[min(len(patterns) - 1, int(intensity * len(patterns)))]
    if onsets[0] != 0:
        onsets = [0, *onsets]  # the chord always sounds from the bar line
    ends = [*onsets[1:], steps]
    return [(start, end - start) for start, end in zip(onsets, ends, strict=True)]


class HarmonyGenerator:
    def __init__(self, model: OnnxModel) -> None:
        self.model = model
        self.features = model.entry.conditioning
        meta = model.entry.meta
        self.temperature = float(meta.get("temperature", TEMPERATURE))
        self.rhythms = list(meta.get("rhythms", [{"onsets": [0]}]))
        self._context = np.zeros((1, 2), dtype=np.int64)
        self._cond = np.zeros((1, len(self.features)), dtype=np.float32)

    def next_chord(
        self,
        history: tuple[int, int],
        rng: np.random.Generator,
        *,
        intensity: float,
        valence: float,
        state: str,
        bar_index: int,
    ) -> int:
        self._context[0, 0], self._context[0, 1] = history
        previous = history[1] if history[1] != START_CHORD else -1
        encode_condition(
            self.features,
            intensity=intensity,
            valence=valence,
            state=state,
            chord=previous,
            bar_index=bar_index,
            out=self._cond[0],
        )
        (probs,) = self.model.run({"context": self._context, "cond": self._cond})
        # a little sharpening trims the smoothing's long tail of unlikely chords
        p = np.clip(probs[0].astype(np.float64), 0.0, None) ** (1.0 / self.temperature)
        total = p.sum()
        if not np.isfinite(total) or total <= 0:
            return 0  # the tonic: a safe chord if the model misbehaves
        return int(rng.choice(len(CHORDS), p=p / total))

    def bar_notes(
        self,
        chord: int,
        previous: Sequence[int],
        intensity: float,
        steps: int,
        valence: float = 0.5,
    ) -> tuple[list[Note], tuple[int, ...]]:
        """The harmony stem's notes for one bar and the voicing they end on."""
        voicing = voice_chord(chord, previous, valence)
        velocity = int(56 + 40 * min(1.0, max(0.0, intensity)))
        notes = [
            Note(p, start, length, velocity)
            for start, length in harmony_rhythm(self.rhythms, intensity, steps)
            for p in voicing
        ]
        return notes, voicing
