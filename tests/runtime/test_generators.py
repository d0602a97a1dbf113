"""The generators on real baked models: grammar, sampling knobs, motif memory,
chord spelling, voice-leading, harmony rhythm and groove choice."""

from __future__ import annotations

from dataclasses import replace
from itertools import product
from pathlib import Path

import numpy as np
import pytest

import adaptive
from adaptive._music import CHORDS, Chord, Key
from adaptive._tokens import Vocabulary
from runtime.generators import Conditions, DrumGenerator, OnnxModel, SequenceGenerator
from runtime.generators._harmony import (
    VOICING_RANGE,
    harmony_rhythm,
    spell_chord,
    voice_chord,
    voicing_range,
)

STEPS = 16
DIATONIC = {0, 2, 4, 5, 7, 9, 11}


@pytest.fixture(scope="module")
def bundle(tiny_bundle_path: Path) -> adaptive.Bundle:
    return adaptive.load_bundle(tiny_bundle_path)


def melody(bundle: adaptive.Bundle, rests: bool = False, **sampling: object) -> SequenceGenerator:
    """The tiny bundle's melody with these sampling settings; without ``rests`` it plays
    every phrase (the knobs are tested on the line as it plays)."""
    entry = bundle.models["melody"]
    if not rests:
        sampling.setdefault("presence", [])
    meta = {**entry.meta, "sampling": {**entry.meta["sampling"], **sampling}}
    return SequenceGenerator(OnnxModel(replace(entry, meta=meta)), Vocabulary.default(), STEPS)


def run_bars(
    generator: SequenceGenerator, bars: int, seed: int, intensity: float = 0.7, chord: int = 0
) -> list[list]:
    context = generator.initial_context()
    out = []
    for index in range(bars):
        rng = np.random.default_rng((seed, index))
        cond = Conditions(intensity, 0.5, "explore", chord, index)
        notes, context = generator.generate_bar(context, rng, cond)
        out.append(notes)
    return out


def test_every_generated_bar_decodes_completely(bundle: adaptive.Bundle) -> None:
    generator = melody(bundle, rests=True)
    lo, hi = bundle.models["melody"].meta["pitch_range"]
    context = generator.initial_context()
    rng = np.random.default_rng(0)
    for index in range(60):
        cond = Conditions(float(rng.uniform()), float(rng.uniform()), "combat", index % 24, index)
        notes, context = generator.generate_bar(context, rng, cond)
        if context.resting:  # a phrase the line sits out (see presence)
            assert notes == []
            continue
        tokens = context.history[-1]
        # BAR + one complete POS/PITCH/DUR/VEL group per note: nothing was dropped
        assert len(tokens) == 1 + 4 * len(notes)
        for note in notes:
            assert 0 <= note.start < STEPS and note.start + note.duration <= STEPS
            assert lo <= note.pitch <= hi


def test_scale_prior_is_soft_and_weighted(bundle: adaptive.Bundle) -> None:
    def chromatic_share(weight: float) -> float:
        generator = melody(
            bundle, scale_prior_weight=weight, chord_tone_bias=0.0, chromatic_offset=0.0
        )
        pitches = [n.pitch for bar in run_bars(generator, 40, 1) for n in bar]
        return float(np.mean([p % 12 not in DIATONIC for p in pitches]))

    loose, strict = chromatic_share(0.0), chromatic_share(8.0)
    assert loose > 0.0  # chromatic notes are possible: there is no hard diatonic mask
    assert strict < loose


def test_the_interval_prior_is_soft_and_weighted(bundle: adaptive.Bundle) -> None:
    """A prior that favours steps (as the sources' leap histogram does) shrinks the
    line's leaps as its weight grows; a large leap stays possible."""

    def leaps(weight: float) -> np.ndarray:
        steps = [0.0, -0.5, -0.5, -1.5, -2.0] + [-4.0] * 20  # 0..24 semitones
        generator = melody(
            bundle, interval_prior=steps, interval_prior_weight=weight, chord_tone_bias=0.0
        )
        line = [
            n.pitch
            for bar in run_bars(generator, 40, 2)
            for n in sorted(bar, key=lambda n: n.start)
        ]
        return np.abs(np.diff(line))

    free, held = leaps(0.0), leaps(3.0)
    assert held.mean() < free.mean()
    assert np.mean(held >= 5) < np.mean(free >= 5)


def test_a_line_model_writes_one_note_per_onset_and_a_chord_model_may_stack_them(
    bundle: adaptive.Bundle,
) -> None:
    def stacked(notes_per_onset: int) -> tuple[float, int]:
        generator = melody(bundle, notes_per_onset=notes_per_onset)
        bars = run_bars(generator, 40, 3)
        onsets = [(b, n.start) for b, bar in enumerate(bars) for n in bar]
        most = max(onsets.count(o) for o in set(onsets))
        for bar in bars:  # never the same pitch twice on one onset
            assert len({(n.start, n.pitch) for n in bar}) == len(bar)
        return len(onsets) / len(set(onsets)), most

    line, chords = stacked(1), stacked(3)
    assert line == (1.0, 1)
    assert chords[0] > 1.0 and chords[1] <= 3


def test_the_calibrated_chromatic_offset_lets_chromatic_notes_through(
    bundle: adaptive.Bundle,
) -> None:
    def chromatic_share(offset: float) -> float:
        generator = melody(bundle, chromatic=[1, 3, 6, 8, 10], chromatic_offset=offset)
        pitches = [n.pitch for bar in run_bars(generator, 40, 1) for n in bar]
        return float(np.mean([p % 12 not in DIATONIC for p in pitches]))

    assert chromatic_share(-4.0) <= chromatic_share(0.0) < chromatic_share(6.0)


def test_chord_tones_are_favoured_on_the_beat(bundle: adaptive.Bundle) -> None:
    chord = Chord(2, "min").index  # D F A
    tones = set(CHORDS[chord].pitch_classes())

    def share(bias: float) -> float:
        bars = run_bars(melody(bundle, chord_tone_bias=bias), 40, 2, chord=chord)
        on_beat = [n.pitch % 12 in tones for bar in bars for n in bar if n.start % 4 == 0]
        return float(np.mean(on_beat))

    assert share(4.0) > share(0.0) + 0.1


def test_motif_memory_replays_the_phrase_start(
    bundle: adaptive.Bundle, monkeypatch: pytest.MonkeyPatch
) -> None:
    from runtime.generators import _sequence

    varied = run_bars(melody(bundle, motif_copy=1.0), 8, 3)
    monkeypatch.setattr(_sequence, "MOTIF_NOTE_KEEP", 1.0)  # keep every remembered note
    bars = run_bars(melody(bundle, motif_copy=1.0), 8, 3)
    assert bars[2] == bars[0] and bars[3] == bars[1]
    assert bars[6] == bars[4] and bars[7] == bars[5]
    free = run_bars(melody(bundle, motif_copy=0.0), 8, 3)
    assert free[2] != free[0] or free[3] != free[1]

    def shared(a: list, b: list) -> int:
        return len({(n.start, n.pitch) for n in a} & {(n.start, n.pitch) for n in b})

    # with the default keep chance a replay varies, but keeps more than free bars do
    kept = sum(shared(varied[i], varied[i - 2]) for i in (2, 3, 6, 7))
    assert kept > sum(shared(free[i], free[i - 2]) for i in (2, 3, 6, 7))


def test_a_line_sits_out_whole_phrases_as_often_as_its_presence_says(
    bundle: adaptive.Bundle,
) -> None:
    assert not any(run_bars(melody(bundle, presence=[0.0] * 5), 8, 0))
    playing = run_bars(melody(bundle, presence=[1.0] * 5), 8, 0)
    assert sum(map(bool, playing)) >= 6
    half = melody(bundle, presence=[0.5] * 5, motif_copy=1.0)
    phrases = [run_bars(half, 8, seed)[p : p + 4] for seed in range(20) for p in (0, 4)]
    silent = [not any(phrase) for phrase in phrases]
    assert 0.25 <= np.mean(silent) <= 0.75
    # a phrase is sat out whole: a silent bar mid-phrase and a played one do not mix
    assert all(sum(map(bool, p)) >= 2 for p, rest in zip(phrases, silent, strict=True) if not rest)
    # the motif memory skips a rest: it remembers the phrase that was played
    context = half.initial_context()
    for index in range(12):
        rng = np.random.default_rng((5, index))
        before = context.history
        notes, context = half.generate_bar(context, rng, Conditions(0.7, 0.5, "explore", 0, index))
        if not notes and context.resting:
            assert context.history == before


def test_presence_is_read_off_intensity_from_where_the_stem_fades_in(
    bundle: adaptive.Bundle,
) -> None:
    line = melody(bundle, presence=[0.0, 0.25, 0.5, 0.75, 1.0], presence_from=0.2)
    at = [line.presence_at(Conditions(x, 0.5, "explore", 0, 0)) for x in (0.0, 0.2, 0.6, 1.0)]
    assert at == pytest.approx([0.0, 0.0, 0.5, 1.0])
    calm = line.presence_at(Conditions(0.6, 0.5, "explore", 0, 0, arousal=0.1))
    assert calm < at[2]  # a calm mood reads as a sparser arrangement
    assert melody(bundle, presence=[]).presence_at(Conditions(0.0, 0.5, "explore", 0, 0)) == 1.0


def test_top_p_narrows_sampling_to_the_likeliest_token(bundle: adaptive.Bundle) -> None:
    narrow = melody(bundle, top_p=0.01, motif_copy=0.0)
    assert run_bars(narrow, 4, 10) == run_bars(narrow, 4, 11)  # greedy: the seed cannot matter
    wide = melody(bundle, top_p=1.0, motif_copy=0.0)
    assert run_bars(wide, 4, 10) != run_bars(wide, 4, 11)


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("D minor", ["Dm", "Gm", "Am", "A", "Bb", "C", "F", "C#", "Eb", "E"]),
        ("C major", ["C", "F", "G", "Am", "Dm", "Em", "Bb", "Ab", "Eb", "D"]),
        ("Bb major", ["Bb", "Eb", "F", "Gm", "Cm", "Dm", "Ab", "Gb", "Db", "C"]),
        ("E major", ["E", "A", "B", "C#m", "F#m", "G#m", "D", "C", "G", "F#"]),
    ],
)
def test_chord_names_are_spelled_in_the_key(key: str, expected: list[str]) -> None:
    parsed = Key.parse(key)
    tonic = parsed.tonic
    # Triads by absolute root/quality, as the listener would name them.
    wanted = {
        "D minor": [(2, "min"), (7, "min"), (9, "min"), (9, "maj"), (10, "maj"), (0, "maj"),
                    (5, "maj"), (1, "maj"), (3, "maj"), (4, "maj")],
        "C major": [(0, "maj"), (5, "maj"), (7, "maj"), (9, "min"), (2, "min"), (4, "min"),
                    (10, "maj"), (8, "maj"), (3, "maj"), (2, "maj")],
        "Bb major": [(10, "maj"), (3, "maj"), (5, "maj"), (7, "min"), (0, "min"), (2, "min"),
                     (8, "maj"), (6, "maj"), (1, "maj"), (0, "maj")],
        "E major": [(4, "maj"), (9, "maj"), (11, "maj"), (1, "min"), (6, "min"), (8, "min"),
                    (2, "maj"), (0, "maj"), (7, "maj"), (6, "maj")],
    }[key]  # fmt: skip
    assert tonic == Key.parse(key).tonic
    shift = parsed.normalization_shift
    names = [
        spell_chord(Chord((root + shift) % 12, quality).index, parsed) for root, quality in wanted
    ]
    assert names == expected


def test_voicing_moves_the_fewest_semitones() -> None:
    lo, hi = VOICING_RANGE
    rng = np.random.default_rng(4)
    previous = voice_chord(0, ())
    assert previous == tuple(sorted(previous)) and lo <= previous[0] and previous[-1] <= hi
    for _ in range(40):
        chord = int(rng.integers(len(CHORDS)))
        voicing = voice_chord(chord, previous)
        assert {p % 12 for p in voicing} == set(CHORDS[chord].pitch_classes())
        options = [
            [p for p in range(lo, hi + 1) if p % 12 == pc] for pc in CHORDS[chord].pitch_classes()
        ]
        best = min(
            sum(abs(a - b) for a, b in zip(sorted(c), previous, strict=True))
            for c in product(*options)
            if max(c) - min(c) <= 12
        )
        assert sum(abs(a - b) for a, b in zip(voicing, previous, strict=True)) == best
        previous = voicing


def test_dark_music_voices_its_chords_lower() -> None:
    assert voicing_range(0.5) == VOICING_RANGE
    rng = np.random.default_rng(5)
    progression = [int(rng.integers(len(CHORDS))) for _ in range(32)]

    def mean_pitch(valence: float) -> float:
        lo, hi = voicing_range(valence)
        previous: tuple[int, ...] = ()
        pitches = []
        for chord in progression:
            previous = voice_chord(chord, previous, valence)
            assert lo <= previous[0] and previous[-1] <= hi
            pitches += previous
        return float(np.mean(pitches))

    assert mean_pitch(0.0) < mean_pitch(0.5) < mean_pitch(1.0)


def test_harmony_rhythm_follows_the_style_and_intensity() -> None:
    rhythms = [{"onsets": [0]}, {"onsets": [0, 8]}, {"onsets": [0, 4, 8, 12]}]
    assert harmony_rhythm(rhythms, 0.0, 16) == [(0, 16)]
    assert harmony_rhythm(rhythms, 0.5, 16) == [(0, 8), (8, 8)]
    assert harmony_rhythm(rhythms, 1.0, 16) == [(0, 4), (4, 4), (8, 4), (12, 4)]
    assert harmony_rhythm([{"onsets": [4, 12]}], 1.0, 16) == [(0, 4), (4, 8), (12, 4)]


def test_drum_groove_follows_density_with_the_state_as_a_prior(bundle: adaptive.Bundle) -> None:
    from runtime.generators._drums import STATE_PRIOR

    drums = DrumGenerator(
        OnnxModel(bundle.models["drums_generator"]), OnnxModel(bundle.models["drums_critic"])
    )
    grooves = bundle.models["drums_generator"].meta["grooves"]
    assert grooves and all(set(g["states"]) == set(bundle.states) for g in grooves)
    for state in bundle.states:
        total = sum(g["states"][state] for g in grooves) + len(grooves)

        def cost(g: int, target: float, state: str = state, total: int = total) -> float:
            prior = (grooves[g]["states"][state] + 1) / total
            return abs(grooves[g]["density_rank"] - target) - STATE_PRIOR * np.log(prior)

        for target in (0.0, 0.5, 1.0):
            chosen = drums.groove_for(state, target)
            assert cost(chosen, target) == min(cost(g, target) for g in range(len(grooves)))
        # intensity decides: the sparsest target never gets a denser groove than the busiest
        low, high = drums.groove_for(state, 0.0), drums.groove_for(state, 1.0)
        assert grooves[low]["density_rank"] <= grooves[high]["density_rank"]
    hits = drums.generate_bar(np.random.default_rng(0), Conditions(0.5, 0.5, "combat", 0, 0))
    assert all(0 <= v < 6 and 0.0 <= pos < STEPS + 0.5 and 0.0 < vel <= 1.0 for v, pos, vel in hits)
