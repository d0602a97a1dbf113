from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adaptive import Key, Meter, Note
from adaptive._conditioning import condition_features, encode_condition
from adaptive._music import CHORDS
from adaptive._tokens import Vocabulary


@pytest.mark.parametrize(
    ("text", "tonic", "mode", "shift"),
    [
        ("C major", 0, "major", 0),
        ("A minor", 9, "minor", 0),
        ("D minor", 2, "minor", -5),
        ("Bb major", 10, "major", 2),
        ("F# minor", 6, "minor", 3),
    ],
)
def test_key_parse_and_normalization(text: str, tonic: int, mode: str, shift: int) -> None:
    key = Key.parse(text)
    assert (key.tonic, key.mode, key.normalization_shift) == (tonic, mode, shift)
    # the shift moves the key's scale onto the white keys
    assert {(pc + shift) % 12 for pc in key.scale} == {0, 2, 4, 5, 7, 9, 11}


@pytest.mark.parametrize("text", ["H major", "C lydian", "", "7"])
def test_bad_keys_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="key"):
        Key.parse(text)


def test_meter_steps() -> None:
    assert Meter.parse("4/4").steps_per_bar == 16
    assert Meter.parse("3/4").steps_per_bar == 12
    assert Meter.parse("6/8").steps_per_bar == 12
    with pytest.raises(ValueError):
        Meter.parse("4/3")


notes = st.lists(
    st.builds(
        Note,
        pitch=st.integers(0, 127),
        start=st.integers(0, 15),
        duration=st.integers(1, 16),
        velocity=st.integers(1, 127),
    ),
    max_size=12,
)


@given(notes)
def test_tokens_round_trip(bar: list[Note]) -> None:
    vocab = Vocabulary.default()
    decoded = vocab.decode_bar(vocab.encode_bar(bar, 16))
    expected = sorted(bar, key=lambda n: (n.start, n.pitch))
    assert [(n.pitch, n.start, n.duration) for n in decoded] == [
        (n.pitch, n.start, n.duration) for n in expected
    ]
    # velocity survives within its bin
    assert all(abs(a.velocity - b.velocity) <= 8 for a, b in zip(decoded, expected, strict=True))


def test_condition_vector_layout() -> None:
    features = condition_features(["explore", "combat"])
    chord = CHORDS.index(next(c for c in CHORDS if c.root == 9 and c.quality == "min"))
    vector = encode_condition(
        features, intensity=0.7, valence=0.2, state="combat", chord=chord, bar_index=5
    )
    values = dict(zip(features, vector.tolist(), strict=True))
    assert values["intensity"] == pytest.approx(0.7)
    assert values["state:combat"] == 1.0 and values["state:explore"] == 0.0
    assert values["chord_root:9"] == 1.0 and values["chord_minor"] == 1.0
    assert values["phrase_bar:1"] == 1.0
    assert sum(values.values()) == pytest.approx(0.7 + 0.2 + 4)
