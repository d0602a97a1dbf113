"""Style files: every mistake names the file and the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from adaptive import StyleError, load_style

GOOD = """
[style]
name = "s"
license = "CC0-1.0"
tempo = 100
meter = "3/4"
key = "E minor"
[stems.drums]
role = "drums"
intensity = [0.2, 0.6]
[stems.lead]
role = "melody"
instrument = "pluck"
[states.calm]
valence = 0.7
stems = { drums = 0.5 }
[states.fight]
[parameters.danger]
min = 0
max = 10
default = 2
[stingers.ding]
notes = [[0, 12, 2, 100]]
[[sources]]
file = "a.mid"
license = "CC0-1.0"
attribution = "us"
states = ["calm"]
intensity = 0.3
tracks = { lead = 1 }
channels = { drums = 10 }
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "style.toml"
    path.write_text(text)
    return path


def test_good_style_loads_with_defaults(tmp_path: Path) -> None:
    style = load_style(write(tmp_path, GOOD))
    assert style.meter.steps_per_bar == 12 and str(style.key) == "E minor"
    assert style.stems["lead"].instrument == "pluck" and style.stems["drums"].instrument == "drums"
    assert style.parameters["intensity"].default == 0.5  # always there
    assert style.parameters["danger"].maximum == 10
    assert style.sources[0].path == (tmp_path / "a.mid").resolve()
    assert style.sources[0].channels == {"drums": (10,)} and style.sources[0].tracks == {
        "lead": (1,)
    }
    assert style.stingers["ding"].notes == ((0, 12, 2, 100),)
    # fields left out take the schema's defaults
    assert style.default_state == "calm" and style.mix.loudness_lufs == -16.0
    assert style.stems["drums"].program == 0 and style.stems["lead"].program == 80
    assert style.stingers["ding"].sync == "beat" and style.stingers["ding"].key_aware is True
    assert style.transition("calm", "fight").fade == "equal_power"


def test_new_fields_load_typed(tmp_path: Path) -> None:
    extra = GOOD.replace(
        'instrument = "pluck"',
        'instrument = "pluck"\npan = -0.5\nreverb = 0.3\npreset = 5\nbank = 128\nsoundfont = "sf/a.sf2"',
    ).replace("[states.fight]", '[states.fight]\nmood = "tense, dark"\ntempo = 140')
    extra = extra.replace(
        "[[sources]]",
        '[mix]\nloudness_lufs = -14\n[[transitions]]\nfrom = "calm"\nto = "fight"\n'
        'sync = "bars"\nbars = 2\nfade = "s_curve"\ntransition_bar = true\n[[sources]]',
        1,
    )
    style = load_style(write(tmp_path, extra))
    lead = style.stems["lead"]
    assert (lead.pan, lead.reverb, lead.preset, lead.bank) == (-0.5, 0.3, 5, 128)
    assert style.soundfont_path("lead") == (tmp_path / "sf" / "a.sf2").resolve()
    assert style.states["fight"].mood == "tense, dark" and style.tempo_for("fight") == 140
    assert style.tempo_for("calm") == 100 and style.mix.loudness_lufs == -14
    rule = style.transition("calm", "fight")
    assert (rule.sync, rule.bars, rule.fade, rule.transition_bar) == ("bars", 2, "s_curve", True)
    assert style.transition("fight", "calm").sync == "bar"  # no rule: the default


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        ("tempo = 100", "tempo = 1000", "style.tempo"),
        ("tempo = 100", 'tempo = "fast"', "style.tempo"),
        ('meter = "3/4"', 'meter = "3/5"', "style.meter"),
        ('key = "E minor"', 'key = "E dorian"', "style.key"),
        ('role = "drums"', 'role = "cowbell"', "stems.drums.role"),
        ("intensity = [0.2, 0.6]", "intensity = [0.6, 0.2]", "stems.drums.intensity"),
        ('instrument = "pluck"', 'instrument = "kazoo"', "stems.lead.instrument"),
        ("stems = { drums = 0.5 }", "stems = { bass = 0.5 }", "states.calm.stems.bass"),
        ("valence = 0.7", "valence = nan", "states.calm.valence"),
        ("max = 10", "max = -1", "parameters.danger.max"),
        ("notes = [[0, 12, 2, 100]]", "notes = [[0, 12, 2]]", r"stingers.ding.notes\[0\]"),
        ('states = ["calm"]', 'states = ["party"]', r"sources\[0\].states"),
        ("tracks = { lead = 1 }", "tracks = { lead = -1 }", r"sources\[0\].tracks.lead"),
        ("channels = { drums = 10 }", "channels = { drums = 17 }", r"sources\[0\].channels.drums"),
        ('license = "CC0-1.0"\nattribution', "attribution", r"sources\[0\].license"),
        ("[states.fight]", "[states.fight]\nmood = 3", r"states.fight.mood"),
        ("[states.fight]", "[states.fight]\ntempo = 400", r"states.fight.tempo"),
        ("[states.fight]", "[states.fight]\nsleepy = true", r"states.fight.sleepy"),
        ('name = "s"', 'name = "s"\ndefault_state = "nap"', r"style.default_state"),
        ('instrument = "pluck"', 'instrument = "pluck"\npan = 2', r"stems.lead.pan"),
        ('instrument = "pluck"', 'instrument = "pluck"\nprogram = 128', r"stems.lead.program"),
        ('instrument = "pluck"', 'instrument = "pluck"\npolyphony = 0', r"stems.lead.polyphony"),
        ('instrument = "pluck"', 'instrument = "pluck"\nreverb = -0.1', r"stems.lead.reverb"),
        ('instrument = "pluck"', 'instrument = "pluck"\nbank = 1', r"stems.lead.bank"),
        ('instrument = "pluck"', 'instrument = "pluck"\nsoundfont = 3', r"stems.lead.soundfont"),
        (
            "notes = [[0, 12, 2, 100]]",
            'notes = [[0, 12, 2, 100]]\nsync = "bars"',
            r"stingers.ding.sync",
        ),
        (
            "notes = [[0, 12, 2, 100]]",
            "notes = [[0, 12, 2, 100]]\ncooldown = 61",
            r"stingers.ding.cooldown",
        ),
        (
            "notes = [[0, 12, 2, 100]]",
            "notes = [[0, 12, 2, 100]]\nmax_voices = 33",
            r"stingers.ding.max_voices",
        ),
        (
            "notes = [[0, 12, 2, 100]]",
            "notes = [[0, 12, 2, 100]]\nkey_aware = 1",
            r"stingers.ding.key_aware",
        ),
        ("notes = [[0, 12, 2, 100]]", "notes = [[0, 12, 2, 1000000000]]", r"stingers.ding.notes"),
        ("default = 2", "default = 2\nseek = -1", r"parameters.danger.seek"),
        ("default = 2", "default = 20", r"parameters.danger.default"),
        ("[[sources]]", "[mix]\nloudness_lufs = 0\n[[sources]]", r"mix.loudness_lufs"),
        ("[[sources]]", "[mix]\nroom = 1\n[[sources]]", r"mix.room"),
        ("[[sources]]", '[[transitions]]\nfrom = "nap"\n[[sources]]', r"transitions\[0\].from"),
        (
            "[[sources]]",
            '[[transitions]]\nsync = "bar"\nbars = 4\n[[sources]]',
            r"transitions\[0\].bars",
        ),
        ("[[sources]]", '[[transitions]]\nfade = "cut"\n[[sources]]', r"transitions\[0\].fade"),
        (
            "[[sources]]",
            "[[transitions]]\nfade_beats = 17\n[[sources]]",
            r"transitions\[0\].fade_beats",
        ),
        ("[[sources]]", '[[transitions]]\nentry = "end"\n[[sources]]', r"transitions\[0\].entry"),
        (
            "[[sources]]",
            '[[transitions]]\ntransition_bar = "yes"\n[[sources]]',
            r"transitions\[0\].transition_bar",
        ),
        ("[[sources]]", "[[transitions]]\n[[transitions]]\n[[sources]]", r"transitions\[1\]"),
        ('name = "s"', 'name = "s"\ncolour = "red"', r"style.colour"),
        ("[states.fight]", '[states.fight]\nmaterial = "fight"', r"states.fight.material"),
        ("[states.fight]", '[states.fight]\nmaterial = "nap"', r"states.fight.material"),
        ("[states.fight]", "[states.fight]\nmaterial = 3", r"states.fight.material"),
        (
            "valence = 0.7",
            'valence = 0.7\nmaterial = "fight"\n[states.won]\nmaterial = "calm"',
            r"states.won.material",
        ),
        (
            "[states.fight]",
            '[states.fight]\nmaterial = "calm"\n[states.won]\nmaterial = "fight"',
            r"states.won.material",
        ),
        ("default = 2", "default = 2\nvalence = -1.5", r"parameters.danger.valence"),
        ("default = 2", 'default = 2\narousal = "up"', r"parameters.danger.arousal"),
    ],
)
def test_mistakes_name_the_file_and_field(tmp_path: Path, old: str, new: str, field: str) -> None:
    assert old in GOOD
    path = write(tmp_path, GOOD.replace(old, new, 1))
    with pytest.raises(StyleError, match=field) as caught:
        load_style(path)
    assert str(path) in str(caught.value)


BORROWING = GOOD.replace(
    "[states.fight]", '[states.won]\nvalence = 0.9\nmaterial = "calm"\n[states.fight]'
)


def test_a_state_borrows_material_and_learns_from_no_source(tmp_path: Path) -> None:
    style = load_style(write(tmp_path, BORROWING.replace('states = ["calm"]\n', "")))
    assert style.states["won"].trained_as == "calm" and style.states["won"].valence == 0.9
    assert style.trained_states() == ["calm", "fight"]
    assert style.sources[0].states == ("calm", "fight")  # untagged: every trained state
    path = write(tmp_path, BORROWING.replace('states = ["calm"]', 'states = ["won"]'))
    with pytest.raises(StyleError, match=r"sources\[0\].states.*states.won.material") as caught:
        load_style(path)
    assert str(path) in str(caught.value)


def test_mood_parameters_move_valence_and_arousal_in_proportion_and_clamp(tmp_path: Path) -> None:
    text = GOOD.replace("default = 2", "default = 2\nvalence = -0.5\narousal = 0.4")
    style = load_style(write(tmp_path, text))
    calm = style.states["calm"]
    assert style.mood("calm", {"danger": 0.0}) == (calm.valence, calm.arousal)
    valence, arousal = style.mood("calm", {"danger": 5.0})  # halfway through 0..10
    assert valence == pytest.approx(0.7 - 0.25) and arousal == pytest.approx(0.5 + 0.2)
    assert style.mood("calm", {"danger": 10.0}) == pytest.approx((0.2, 0.9))
    assert style.mood("calm", {"danger": 50.0}) == pytest.approx((0.2, 0.9))  # past max: max
    assert style.mood("calm", {}) == (calm.valence, calm.arousal)  # not set yet
    strong = load_style(write(tmp_path, text.replace("valence = -0.5", "valence = -1.0")))
    assert strong.mood("calm", {"danger": 10.0})[0] == 0.0  # clamped, never below 0


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(StyleError, match="not found"):
        load_style(tmp_path / "missing.toml")
    with pytest.raises(StyleError, match="not valid TOML"):
        load_style(write(tmp_path, "[style\nname="))
    with pytest.raises(StyleError, match="sources"):
        load_style(write(tmp_path, GOOD.split("[[sources]]")[0]))
