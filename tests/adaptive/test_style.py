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
        ("[states.fight]", '[states.fight]\nmood = "grim"', r"states.fight.mood"),
        ('name = "s"', 'name = "s"\ncolour = "red"', r"style.colour"),
    ],
)
def test_mistakes_name_the_file_and_field(tmp_path: Path, old: str, new: str, field: str) -> None:
    assert old in GOOD
    path = write(tmp_path, GOOD.replace(old, new, 1))
    with pytest.raises(StyleError, match=field) as caught:
        load_style(path)
    assert str(path) in str(caught.value)


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(StyleError, match="not found"):
        load_style(tmp_path / "missing.toml")
    with pytest.raises(StyleError, match="not valid TOML"):
        load_style(write(tmp_path, "[style\nname="))
    with pytest.raises(StyleError, match="sources"):
        load_style(write(tmp_path, GOOD.split("[[sources]]")[0]))
