"""The default style in examples/default: it loads, its sources exist and parse,
every state has material for every role, and its provenance is complete.

The MIDI files are written by examples/default/prepare_sources.py (music21 is
needed only there, never here).
"""

from __future__ import annotations

import ast
import hashlib
import re
from pathlib import Path

import pytest

from adaptive import load_style

mido = pytest.importorskip("mido")

STYLE_PATH = Path(__file__).resolve().parents[2] / "examples" / "default" / "style.toml"
TICKS_PER_BAR = 4 * 480  # 4/4 at 480 ticks per quarter, as prepare_sources.py writes


@pytest.fixture(scope="module")
def style():
    return load_style(STYLE_PATH)


@pytest.fixture(scope="module")
def midi_files(style):
    return {src.path: mido.MidiFile(src.path) for src in style.sources}


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_the_style_is_its_generator_template(style):
    """style.toml is written by prepare_sources.py: its template and the file agree."""
    script = STYLE_PATH.parent / "prepare_sources.py"
    template = next(
        ast.literal_eval(node.value)
        for node in ast.parse(script.read_text()).body
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "TEMPLATE"
    )
    text = STYLE_PATH.read_text()
    version = re.search(r"music21 ([\d.]+)\)", text)
    assert version is not None
    assert text.startswith(template.format(music21=version.group(1), tempo=round(style.tempo)))


def test_victory_and_game_over_borrow_trained_material_and_have_their_rules(style):
    assert style.trained_states() == ["explore", "combat", "boss"]
    victory, game_over = style.states["victory"], style.states["game_over"]
    assert victory.trained_as == "explore" and game_over.trained_as == "boss"
    assert victory.valence > style.states["explore"].valence  # brighter than its material
    assert game_over.valence < style.states["boss"].valence
    assert victory.stems["melody"] > victory.stems["drums"]  # the tune forward, drums low
    assert game_over.stems["melody"] == game_over.stems["drums"] == 0.0  # harmony (and bass) only
    assert style.transition("boss", "victory").sync == "beat"
    for state in ("explore", "combat", "boss", "victory"):
        rule = style.transition(state, "game_over")
        assert (rule.sync, rule.fade) == ("beat", "equal_power")
    assert style.transition("explore", "combat").sync == style.transition("combat", "boss").sync
    assert style.transition("combat", "boss").sync == "bar"
    danger = style.parameters["danger"]
    assert danger.seek > 0 and danger.valence < 0  # danger darkens every state


def test_the_default_bundle_plays_this_style(style):
    """The bundle in adaptive/data was baked (or its manifest re-baked) from this file."""
    import dataclasses

    import adaptive
    from adaptive._schema import Music

    bundle = adaptive.load_bundle()
    for field in dataclasses.fields(Music):
        baked, written = getattr(bundle.spec, field.name), getattr(style, field.name)
        if field.name == "mix":  # the bake adds the master gain it calibrated
            baked = dataclasses.replace(baked, master_gain_db=written.master_gain_db)
        assert baked == written, field.name
    learned = {entry.sha256 for entry in bundle.spec.provenance}
    assert learned == {_sha256(src.path) for src in style.sources}


def test_style_header(style):
    assert style.name == "default"
    assert style.license == "Apache-2.0"
    assert str(style.meter) == "4/4"
    assert {"explore", "combat", "boss"} <= set(style.states)
    assert sorted(s.role for s in style.stems.values()) == ["bass", "drums", "harmony", "melody"]
    assert {"pickup", "hit", "victory"} <= set(style.stingers)


def test_every_source_exists_with_a_stable_hash(style):
    for src in style.sources:
        assert src.path.is_file(), src.path
        assert _sha256(src.path) == _sha256(src.path)


def test_provenance_is_complete_and_clean(style):
    files = [src.path for src in style.sources]
    assert len(files) == len(set(files)), "a source is listed twice"
    for src in style.sources:
        assert "essenfolksong" not in str(src.path).lower(), src.path
        assert "essenfolksong" not in src.attribution.lower(), src.path
        assert src.license.strip() and src.attribution.strip(), src.path


def test_every_trained_state_has_every_role(style):
    roles = {s.role for s in style.stems.values()}
    for state in style.trained_states():
        covered = {
            style.stems[stem].role
            for src in style.sources
            if state in src.states
            for stem in (*src.tracks, *src.channels)
        }
        assert covered == roles, f"state {state!r} lacks {sorted(roles - covered)}"


def test_midi_parses_with_the_mapped_layout(style, midi_files):
    tempo = mido.bpm2tempo(style.tempo)
    for src in style.sources:
        mid = midi_files[src.path]
        assert mid.ticks_per_beat == 480, src.path
        tempos = [m.tempo for t in mid.tracks for m in t if m.type == "set_tempo"]
        meters = [
            (m.numerator, m.denominator)
            for t in mid.tracks
            for m in t
            if m.type == "time_signature"
        ]
        assert tempos == [tempo] and meters == [(4, 4)], src.path
        for stem, indices in src.tracks.items():
            for index in indices:
                assert index < len(mid.tracks), (src.path, stem)
                assert any(m.type == "note_on" for m in mid.tracks[index]), (src.path, stem)
        for stem, channels in src.channels.items():
            used = {m.channel + 1 for t in mid.tracks for m in t if m.type == "note_on"}
            assert used == set(channels), (src.path, stem, used)


def test_midi_is_whole_bars_from_tick_zero(style, midi_files):
    for src in style.sources:
        lengths = {sum(m.time for m in track) for track in midi_files[src.path].tracks}
        assert len(lengths) == 1, src.path
        length = lengths.pop()
        assert length > 0 and length % TICKS_PER_BAR == 0, (src.path, length)


def test_midi_folder_stays_small(style):
    total = sum(src.path.stat().st_size for src in style.sources)
    assert total < 2_000_000
