"""Melody and bass: a recurrent next-token model stepped token by token.

Sampling happens in numpy under a grammar (POS -> PITCH -> DUR -> VEL, positions
moving forward, durations that end inside the bar), so every bar decodes. A
position may repeat, for a dyad or a chord, up to ``notes_per_onset`` notes (learned
at bake from the sources: 1 for a line, 2 for a line doubled or in thirds). On
top of the model's logits, in this order:

- temperature and nucleus (top-p) sampling, from the model's ``meta["sampling"]``;
- a range mask: pitches outside the range seen in training are impossible;
- a *soft* scale prior: ``scale_prior_weight`` times the log pitch-class
  histogram of the training notes, so chromatic notes stay possible where the
  sources have them, plus ``chromatic_offset`` on the style's ``chromatic``
  pitch classes, calibrated at bake so that as many chromatic notes get through
  as in the sources;
- a soft interval prior: ``interval_prior_weight`` times the log histogram of the
  sources' leaps from one note to the next, so lines move the way the sources' do;
- chord tones favoured on the beat (``chord_tone_bias``);
- a motif memory (a copy mechanism, as in pointer-generator models): the third
  and fourth bar of a four-bar phrase replay the phrase's first and second bar,
  and the first and second bar replay those of the phrase before, each with
  probability ``motif_copy`` (fitted at bake to the sources' repetition, see
  ``authoring._calibrate``); a replayed bar keeps each remembered note with
  probability ``MOTIF_NOTE_KEEP`` and samples the rest afresh, so phrases
  repeat and vary as game music does;
- phrase rests: at the start of each phrase the line sits the phrase out with the
  chance its sources rest where the arrangement is that busy (``presence``, learned
  at bake; busyness read off intensity), so a melody comes and goes the way its
  sources' does. A resting bar still steps the model once, as a bar without notes.

The model is conditioned on target attribute ranks (density, polyphony,
velocity, register, activity) computed from the game's intensity, valence and
arousal through ``meta["attributes"]`` (see ``adaptive._conditioning``).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from adaptive._conditioning import PHRASE_BARS, arousal_shift, attribute_targets
from adaptive._music import CHORDS, STEPS_PER_QUARTER, Note
from adaptive._tokens import VELOCITY_BINS, Vocabulary

from ._conditions import Conditions
from ._onnx import OnnxModel

MAX_NOTES_PER_BAR = 24
MEMORY_BARS = PHRASE_BARS
MOTIF_NOTE_KEEP = 0.85  # in a replayed bar, the chance each remembered note is kept
# Older bundles carry no learned prior: the diatonic collection of the normalized key.
_DIATONIC = (0, 2, 4, 5, 7, 9, 11)
DEFAULT_SAMPLING = {
    "temperature": 0.9,
    "top_p": 0.95,
    "scale_prior": [0.0 if pc in _DIATONIC else -4.0 for pc in range(12)],
    "scale_prior_weight": 1.0,
    "chord_tone_bias": 1.0,
    "motif_copy": 0.0,
    "notes_per_onset": 1,
    "interval_prior": [0.0],
    "interval_prior_weight": 0.0,
    "presence": [],  # none: the line plays every phrase
    "presence_from": 0.0,
}
# the attribute ranks of a bar the stem sits out, as the models were trained on them
_RESTING = {"density": 0.0, "activity": 0.0}


def _choice(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A mask's allowed token ids (ascending) and their values (float64, as sampled)."""
    allowed = np.flatnonzero(np.isfinite(mask))
    return allowed, mask[allowed].astype(np.float64)


def _allows(allowed: np.ndarray, token: int) -> bool:
    i = int(np.searchsorted(allowed, token))
    return i < len(allowed) and int(allowed[i]) == token


def _one_per_pitch_and_onset(notes: list[Note]) -> list[Note]:
    """The first of notes that share a pitch and an onset (a repeat adds nothing)."""
    seen: set[tuple[int, int]] = set()
    out = []
    for note in notes:
        if (note.start, note.pitch) not in seen:
            seen.add((note.start, note.pitch))
            out.append(note)
    return out


@dataclass
class SequenceContext:
    hidden: np.ndarray  # (1, H) float32, carried bar to bar
    history: tuple[tuple[int, ...], ...] = field(default_factory=tuple)  # recent bars' tokens
    last_pitch: int = -1  # the line's latest note, for the interval prior (-1: none yet)
    phrase: tuple[str, int] | None = None  # (state, phrase) the rest decision was made for
    resting: bool = False  # this phrase is sat out


class SequenceGenerator:
    def __init__(self, model: OnnxModel, vocabulary: Vocabulary, steps_per_bar: int) -> None:
        self.model = model
        self.vocab = vocabulary
        self.steps_per_bar = steps_per_bar
        meta = model.entry.meta
        self.hidden_size = int(meta["hidden_size"])
        self.attributes = meta.get("attributes")
        sampling = {**DEFAULT_SAMPLING, **meta.get("sampling", {})}
        self.temperature = float(sampling["temperature"])
        self.top_p = float(sampling["top_p"])
        self.chord_tone_bias = float(sampling["chord_tone_bias"])
        self.motif_copy = float(sampling["motif_copy"])
        self.notes_per_onset = max(1, int(sampling["notes_per_onset"]))
        self.presence = np.asarray(sampling["presence"], dtype=np.float64)
        self._presence_knee = min(0.9, max(0.0, float(sampling["presence_from"])))
        self._presence_centres = (np.arange(self.presence.size) + 0.5) / max(1, self.presence.size)
        lo, hi = meta.get("pitch_range", [36, 96])
        self.features = model.entry.conditioning
        v = vocabulary
        size = len(v)
        steps = steps_per_bar
        prior = float(sampling["scale_prior_weight"]) * np.asarray(
            sampling["scale_prior"], dtype=np.float32
        )
        # the bake's calibration: how far the chromatic pitch classes are lifted (or
        # lowered) so that as many get through as in the sources (authoring._calibrate)
        for pc in sampling.get("chromatic", ()):
            prior[int(pc) % 12] += float(sampling.get("chromatic_offset", 0.0))
        # Static masks, one per token kind (and position) expected next.
        self._mask_pitch = np.full(size, -np.inf, dtype=np.float32)
        for p in range(int(lo), int(hi) + 1):
            self._mask_pitch[v.pitch_offset + p] = prior[p % 12]
        self._mask_vel = np.full(size, -np.inf, dtype=np.float32)
        self._mask_vel[v.vel_offset : v.vel_offset + VELOCITY_BINS] = 0.0
        self._mask_pos = np.full((steps + 1, size), -np.inf, dtype=np.float32)  # after position-1
        self._mask_dur = np.full((steps, size), -np.inf, dtype=np.float32)
        for after in range(steps + 1):
            self._mask_pos[after, v.bar] = 0.0
            self._mask_pos[after, v.pos_offset + after : v.pos_offset + steps] = 0.0
        for position in range(steps):
            self._mask_dur[position, v.dur_offset : v.dur_offset + steps - position] = 0.0
        # chord-tone bonus per chord, added to the pitch mask on the beat
        self._chord_pitch = np.zeros((len(CHORDS), size), dtype=np.float32)
        for c, chord in enumerate(CHORDS):
            tones = set(chord.pitch_classes())
            for p in range(int(lo), int(hi) + 1):
                if p % 12 in tones:
                    self._chord_pitch[c, v.pitch_offset + p] = self.chord_tone_bias
        self._token = np.zeros(1, dtype=np.int64)
        self._cond = np.zeros((1, len(self.features)), dtype=np.float32)
        # Each mask as (allowed token ids, their mask values): sampling then sorts the
        # few tokens the grammar allows (a dozen to a few dozen) instead of the whole
        # vocabulary, with the same result.
        self._choice_pos = [_choice(m) for m in self._mask_pos]
        self._choice_dur = [_choice(m) for m in self._mask_dur]
        self._choice_vel = _choice(self._mask_vel)
        self._choice_pitch = _choice(self._mask_pitch)
        self._choice_pitch_on_beat = [
            _choice(self._mask_pitch + self._chord_pitch[c]) for c in range(len(CHORDS))
        ]
        # the interval prior of each allowed pitch, one row per previous pitch (0..127)
        leaps = float(sampling["interval_prior_weight"]) * np.asarray(
            sampling["interval_prior"], dtype=np.float64
        )
        pitches = self._choice_pitch[0] - v.pitch_offset
        distance = np.abs(pitches[None, :] - np.arange(128)[:, None])
        self._leap_rows = leaps[np.minimum(distance, len(leaps) - 1)]
        self._leaps = bool(np.any(leaps != 0.0))

    def initial_context(self) -> SequenceContext:
        return SequenceContext(hidden=np.zeros((1, self.hidden_size), dtype=np.float32))

    def targets(self, conditions: Conditions) -> dict[str, float] | None:
        """The attribute ranks this bar is generated for (None for a bundle without them)."""
        if self.attributes is None:
            return None
        return attribute_targets(
            self.attributes, conditions.intensity, conditions.valence, conditions.arousal
        )

    def presence_at(self, conditions: Conditions) -> float:
        """The chance this line plays a phrase that starts now: the learned presence at the
        arrangement busyness this intensity asks for (0 where the stem fades in, 1 at full
        intensity; a driving mood reads busier, as in ``attribute_targets``)."""
        if self.presence.size == 0:
            return 1.0
        knee = self._presence_knee
        busy = (conditions.intensity - knee) / (1.0 - knee)
        if self.attributes is not None:
            busy += arousal_shift(self.attributes, conditions.arousal)
        return float(np.interp(min(1.0, max(0.0, busy)), self._presence_centres, self.presence))

    def _resting(
        self, context: SequenceContext, conditions: Conditions, rng: np.random.Generator
    ) -> tuple[tuple[str, int] | None, bool]:
        """Whether this bar is sat out: decided once per phrase (and on a new state)."""
        if self.presence.size == 0:
            return None, False
        phrase = (conditions.state, conditions.bar_index // PHRASE_BARS)
        if phrase == context.phrase and conditions.bar_index % PHRASE_BARS:
            return phrase, context.resting
        return phrase, bool(rng.random() >= self.presence_at(conditions))

    def _step(self, token: int, hidden: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        self._token[0] = token
        logits, hidden_out = self.model.run(
            {"token": self._token, "cond": self._cond, "hidden": hidden}
        )
        return logits[0], hidden_out

    def _sample(
        self,
        logits: np.ndarray,
        choice: tuple[np.ndarray, np.ndarray],
        rng: np.random.Generator,
        prefer: int = -1,
    ) -> int:
        allowed, values = choice
        if prefer >= 0 and _allows(allowed, prefer):  # the motif memory's token
            return prefer
        scores = logits[allowed].astype(np.float64) / self.temperature + values
        probs = np.exp(scores - scores.max())
        # nucleus sampling with one uniform draw: the smallest set of likeliest tokens
        # holding top_p of the mass, then inverse-CDF inside it (cheaper than rng.choice)
        order = np.argsort(-probs, kind="stable")
        cumulative = np.cumsum(probs[order])
        keep = min(len(order), int(np.searchsorted(cumulative, self.top_p * cumulative[-1])) + 1)
        u = rng.random() * cumulative[keep - 1]
        pick = order[min(keep - 1, int(np.searchsorted(cumulative, u, side="right")))]
        return int(allowed[pick])

    @staticmethod
    def _memory(context: SequenceContext, bar_index: int) -> list[tuple[int, ...]] | None:
        """The remembered bar's note groups (POS, PITCH, DUR, VEL) for this phrase position:
        the second half of a phrase answers its first half, the first half of a phrase
        the same bar of the phrase before (so phrases, too, can loop)."""
        half = PHRASE_BARS // 2
        back = half if bar_index % PHRASE_BARS >= half else PHRASE_BARS
        if len(context.history) < back:
            return None
        tokens = context.history[-back][1:]
        return [tuple(tokens[i : i + 4]) for i in range(0, len(tokens) - 3, 4)]

    def generate_bar(
        self,
        context: SequenceContext,
        rng: np.random.Generator,
        conditions: Conditions,
    ) -> tuple[list[Note], SequenceContext]:
        v = self.vocab
        phrase, resting = self._resting(context, conditions, rng)
        if resting:  # one bar-without-notes step, and the line carries on after the phrase
            targets = self.targets(conditions)
            targets = None if targets is None else {**targets, **_RESTING}
            conditions.encode(self.features, out=self._cond[0], attributes=targets)
            _, hidden = self._step(v.bar, context.hidden)
            return [], replace(context, hidden=hidden.copy(), phrase=phrase, resting=True)
        conditions.encode(self.features, out=self._cond[0], attributes=self.targets(conditions))
        memory = self._memory(context, conditions.bar_index) if self.motif_copy > 0 else None
        if memory is not None and rng.random() >= self.motif_copy:
            memory = None  # this bar is new material
        chord = conditions.chord if 0 <= conditions.chord < len(CHORDS) else -1
        logits, hidden = self._step(v.bar, context.hidden)
        tokens: list[int] = [v.bar]
        position = -1
        last_pitch = context.last_pitch
        at_onset = 0  # notes so far at this position
        group: int | None = 0 if memory is not None else None  # the remembered note we follow
        while len(tokens) < 1 + 4 * MAX_NOTES_PER_BAR:
            # next position (this one again, while the onset has room), or the end of the bar
            prefer = -1
            keep = memory is not None and rng.random() < MOTIF_NOTE_KEEP
            if keep and memory is not None and group is not None:
                prefer = memory[group][0] if group < len(memory) else v.bar
            earliest = (
                position if 0 <= position and at_onset < self.notes_per_onset else position + 1
            )
            token = self._sample(logits, self._choice_pos[earliest], rng, prefer)
            if token == v.bar:
                break
            at_onset = at_onset + 1 if token - v.pos_offset == position else 1
            position = token - v.pos_offset
            if memory is not None:  # follow the remembered note at this position, if any
                group = next((g for g, m in enumerate(memory) if m[0] == token), None)
            tokens.append(token)
            logits, hidden = self._step(token, hidden)
            pitch = self._choice_pitch
            if chord >= 0 and position % STEPS_PER_QUARTER == 0 and self.chord_tone_bias > 0:
                pitch = self._choice_pitch_on_beat[chord]
            if self._leaps and last_pitch >= 0:
                pitch = (pitch[0], pitch[1] + self._leap_rows[last_pitch])
            for kind, choice in (
                (1, pitch),
                (2, self._choice_dur[position]),
                (3, self._choice_vel),
            ):
                prefer = memory[group][kind] if keep and memory and group is not None else -1
                token = self._sample(logits, choice, rng, prefer)
                if kind == 1:
                    last_pitch = token - v.pitch_offset
                tokens.append(token)
                logits, hidden = self._step(token, hidden)
            if memory is not None and group is not None:
                group += 1
            elif memory is not None:  # a new note: rejoin the memory at the next position
                group = next(
                    (g for g, m in enumerate(memory) if m[0] > v.pos_offset + position), len(memory)
                )
        history = (*context.history, tuple(tokens))[-MEMORY_BARS:]
        notes = v.decode_bar(tokens)
        if self.notes_per_onset > 1:
            notes = _one_per_pitch_and_onset(notes)
        return notes, SequenceContext(
            hidden=hidden.copy(), history=history, last_pitch=last_pitch, phrase=phrase
        )
