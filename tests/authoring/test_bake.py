"""bake end to end: the tiny style in, a bundle that adaptive.load_bundle accepts out."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

import adaptive
from adaptive import BundleError, MidiImportError, StyleError
from adaptive._conditioning import ATTRIBUTES, condition_features, encode_condition
from adaptive._models import MODEL_ROLES
from adaptive._music import CHORDS, DRUM_VOICES, START_CHORD
from adaptive._tokens import Vocabulary
from authoring import BakeResult, bake


def session(bundle: adaptive.Bundle, name: str) -> ort.InferenceSession:
    return ort.InferenceSession(bundle.models[name].onnx, providers=["CPUExecutionProvider"])


def _features(bundle: adaptive.Bundle, name: str) -> list[str]:
    """Harmony keeps the plain layout; the attribute-controlled models add attr:* (and grooves)."""
    states = ["explore", "combat"]
    if name == "harmony":
        return condition_features(states)
    grooves = len(bundle.models["drums_generator"].meta["grooves"]) if "drums" in name else 0
    return condition_features(states, ATTRIBUTES, grooves=grooves)


def _cond(bundle: adaptive.Bundle, name: str) -> np.ndarray:
    return encode_condition(
        _features(bundle, name), intensity=0.7, valence=0.3, state="combat", chord=0, bar_index=1
    )[None]


def test_bundle_loads_and_matches_the_contract(tiny_bundle_path: Path) -> None:
    bundle = adaptive.load_bundle(tiny_bundle_path)
    assert set(bundle.models) == set(MODEL_ROLES)
    for name, (role, (inputs, outputs)) in MODEL_ROLES.items():
        entry = bundle.models[name]
        assert entry.role == role
        assert tuple(t.name for t in entry.inputs) == inputs
        assert tuple(t.name for t in entry.outputs) == outputs
        assert list(entry.conditioning) == _features(bundle, name)
        onnx_session = session(bundle, name)
        assert [i.name for i in onnx_session.get_inputs()] == list(inputs)
        assert [o.name for o in onnx_session.get_outputs()] == list(outputs)
    manifest = bundle.manifest
    assert (
        manifest["name"] == "tiny" and manifest["meter"] == "4/4" and manifest["key"] == "C major"
    )
    assert (
        list(manifest["states"]) == ["explore", "combat"] and manifest["default_state"] == "explore"
    )
    assert set(manifest["stems"]) == {"drums", "bass", "harmony", "melody"}
    assert manifest["stems"]["melody"]["intensity"] == [0.2, 0.6]
    assert manifest["states"]["explore"]["stems"] == {"drums": 0.6}
    assert manifest["parameters"]["intensity"] == {"min": 0.0, "max": 1.0, "default": 0.4}
    assert manifest["stingers"]["pickup"]["notes"] == [[0, 7, 2, 100], [2, 12, 4, 110]]
    assert manifest["vocabulary"] == list(Vocabulary.default().tokens)
    assert manifest["created"].endswith("Z")
    assert set(manifest["training"]["losses"]) == set(MODEL_ROLES)
    assert manifest["training"]["config"]["sequence_hidden"] == 16


def test_provenance_names_every_source_with_its_sha256(tiny_bundle_path: Path) -> None:
    bundle = adaptive.load_bundle(tiny_bundle_path)
    style_dir = tiny_bundle_path.parent
    files = [p["file"] for p in bundle.provenance]
    assert files == [
        "midi/explore_a.mid",
        "midi/explore_b.mid",
        "midi/combat_a.mid",
        "midi/both.mid",
    ]
    for entry in bundle.provenance:
        digest = hashlib.sha256((style_dir / entry["file"]).read_bytes()).hexdigest()
        assert entry["sha256"] == digest
    assert bundle.provenance[2]["license"] == "CC-BY-4.0"
    assert bundle.provenance[2]["attribution"] == "adaptive tests (combat)"


def test_baked_models_run_in_onnxruntime(tiny_bundle_path: Path) -> None:
    bundle = adaptive.load_bundle(tiny_bundle_path)
    cond = _cond(bundle, "harmony")

    (probs,) = session(bundle, "harmony").run(
        None, {"context": np.array([[START_CHORD, START_CHORD]], dtype=np.int64), "cond": cond}
    )
    assert probs.shape == (1, len(CHORDS)) and probs.sum() == pytest.approx(1.0, abs=1e-5)

    vocab = Vocabulary.default()
    for name in ("melody", "bass"):
        meta = bundle.models[name].meta
        hidden = np.zeros((1, meta["hidden_size"]), dtype=np.float32)
        cond = _cond(bundle, name)
        logits, hidden_out = session(bundle, name).run(
            None, {"token": np.array([vocab.bar], dtype=np.int64), "cond": cond, "hidden": hidden}
        )
        assert logits.shape == (1, len(vocab)) and hidden_out.shape == hidden.shape
        assert np.isfinite(logits).all()
        lo, hi = meta["pitch_range"]
        assert 0 <= lo <= hi <= 127 and meta["steps_per_bar"] == 16
    assert (
        bundle.models["bass"].meta["pitch_range"][1]
        < bundle.models["melody"].meta["pitch_range"][0]
    )

    meta = bundle.models["drums_generator"].meta
    cond = _cond(bundle, "drums_generator")
    k = 6
    onset, velocity, timing = session(bundle, "drums_generator").run(
        None,
        {
            "z": np.random.default_rng(0).normal(size=(k, meta["latent_size"])).astype(np.float32),
            "cond": np.repeat(cond, k, axis=0),
        },
    )
    assert onset.shape == velocity.shape == timing.shape == (k, len(DRUM_VOICES), meta["steps"])
    assert 0 <= onset.min() and onset.max() <= 1 and -0.5 <= timing.min() and timing.max() <= 0.5
    hits = (onset > 0.5).astype(np.float32)
    (score,) = session(bundle, "drums_critic").run(
        None, {"onset": hits, "velocity": velocity * hits, "cond": np.repeat(cond, k, axis=0)}
    )
    assert score.shape == (k, 1) and np.isfinite(score).all()


def test_bake_result_and_silence(
    tiny_style_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out" / "tiny.adaptive"
    result = bake(tiny_style_path, out, progress=False, seed=0)
    assert capsys.readouterr() == ("", "")
    assert isinstance(result, BakeResult)
    assert result.out_path == out and out.exists()
    assert result.sha256 == hashlib.sha256(out.read_bytes()).hexdigest()
    assert result.sources == 4 and result.bars == 32 and result.seconds > 0
    assert set(result.models) == set(MODEL_ROLES)
    for stats in result.models.values():
        assert stats.parity_max_abs_diff < 1e-4
        assert stats.onnx_bytes > 0 and np.isfinite(stats.final_loss)
    assert list(out.parent.iterdir()) == [out]  # no temporary files left behind


def test_progress_shows_the_phases(
    tiny_style_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bake(
        tiny_style_path, tmp_path / "p.adaptive", overrides={"sequence_steps": 3, "drums_steps": 3}
    )
    shown = capsys.readouterr().out
    for phase in ("import MIDI", "train harmony", "train melody", "train bass", "train drums"):
        assert phase in shown
    assert "write bundle" in shown
    # One row per model with its epoch, loss and ETA; no separate export row whose
    # timer would run for the whole bake.
    assert "took" in shown and "loss" in shown and "parity" in shown
    assert "export ONNX" not in shown


def test_same_seed_gives_identical_models(
    tiny_style_path: Path, tiny_bundle_path: Path, tmp_path: Path
) -> None:
    # The session bundle was baked from an identical style with the default seed (0).
    again = adaptive.load_bundle(
        bake(tiny_style_path, tmp_path / "again.adaptive", progress=False, seed=0).out_path
    )
    first = adaptive.load_bundle(tiny_bundle_path)
    for name, entry in first.models.items():
        assert again.models[name].onnx == entry.onnx, name


def test_failed_bake_leaves_the_old_bundle_untouched(
    tiny_style_dir: Path, tiny_bundle_path: Path
) -> None:
    out = tiny_style_dir / "game.adaptive"
    out.write_bytes(tiny_bundle_path.read_bytes())
    before = out.read_bytes()
    (tiny_style_dir / "midi" / "combat_a.mid").write_bytes(b"MThd\x00\x00\x00\x06garbage")
    with pytest.raises(MidiImportError, match=r"combat_a\.mid.*sources\[2\]\.file"):
        bake(tiny_style_dir / "style.toml", out, progress=False)
    assert out.read_bytes() == before
    assert not [p for p in tiny_style_dir.iterdir() if p.name.startswith(".game.adaptive")]


def test_failed_bake_with_no_bundle_creates_nothing(tiny_style_dir: Path) -> None:
    (tiny_style_dir / "midi" / "both.mid").unlink()
    out = tiny_style_dir / "new.adaptive"
    with pytest.raises(
        MidiImportError, match=r"both\.mid: MIDI file not found \(sources\[3\]\.file\)"
    ):
        bake(tiny_style_dir / "style.toml", out, progress=False)
    assert not out.exists()


def test_out_path_that_is_a_directory(tiny_style_path: Path, tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="is a directory"):
        bake(tiny_style_path, tmp_path, progress=False)


def test_training_config_is_validated(tiny_style_dir: Path) -> None:
    style = tiny_style_dir / "style.toml"
    out = tiny_style_dir / "x.adaptive"
    with pytest.raises(StyleError, match=r"training\.bogus' is not a known field"):
        bake(style, out, progress=False, overrides={"bogus": 1})
    with pytest.raises(StyleError, match=r"training\.sequence_steps' must be an integer"):
        bake(style, out, progress=False, overrides={"sequence_steps": "many"})
    with pytest.raises(StyleError, match=r"training\.drums_lr' must be in"):
        bake(style, out, progress=False, overrides={"drums_lr": 5.0})
    text = style.read_text(encoding="utf-8")
    style.write_text(text + "epochs = 3\n", encoding="utf-8")
    with pytest.raises(
        StyleError, match=r"style\.toml: field 'training\.epochs' is not a known field"
    ):
        bake(style, out, progress=False)
    assert not out.exists()


def test_unmapped_stem_is_a_style_error(tiny_style_dir: Path) -> None:
    style = tiny_style_dir / "style.toml"
    text = style.read_text(encoding="utf-8").replace(
        "[stems.bass]", '[stems.lead2]\nrole = "melody"\n\n[stems.bass]'
    )
    style.write_text(text, encoding="utf-8")
    with pytest.raises(StyleError, match=r"stems\.lead2': no \[\[sources\]\] entry maps this stem"):
        bake(style, tiny_style_dir / "x.adaptive", progress=False)


def test_import_of_authoring_does_not_load_torch() -> None:
    import subprocess
    import sys

    code = "import sys, authoring, adaptive; assert 'torch' not in sys.modules, 'torch loaded'"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[2])


def test_sampling_priors_learn_the_sources_leaps_and_chords() -> None:
    from adaptive._music import Note
    from authoring._bake import MAX_INTERVAL, _interval_prior, _notes_per_onset

    def note(pitch: int, start: int) -> Note:
        return Note(pitch, start, 1, 90)

    stepwise = [[note(60 + (s % 3), s) for s in range(16)]] * 4  # steps of 1 and 2
    dyads = [[note(60, s) for s in range(0, 16, 2)] + [note(64, s) for s in range(0, 16, 2)]]
    assert _notes_per_onset(stepwise) == 1
    assert _notes_per_onset(dyads) == 2
    prior = _interval_prior([stepwise])
    assert len(prior) == MAX_INTERVAL + 1 and max(prior) == 0.0
    assert prior[1] > prior[7] and prior[2] > prior[12]  # steps, not leaps
    assert all(np.isfinite(prior))  # a leap the sources lack stays possible
    # within an onset the models write low to high: the dyad's third is a leap of 4
    assert np.argmax(_interval_prior([dyads])) == 4


def test_presence_learns_when_a_line_sits_out(tiny_style_path: Path) -> None:
    """The melody of these sources rests exactly where the drums are sparse: its
    presence rises from about never (sparse fifths) to about always (busy ones)."""
    from adaptive._music import Bar, Key, Note
    from adaptive._style import load_style
    from authoring._bake import PRESENCE_BINS, _presence, _rising
    from authoring._midi import ImportedSource

    style = load_style(tiny_style_path)
    bars = []
    for b in range(100):
        busy = b % 2 == 0
        drums = [Note(36, s, 1, 100) for s in range(0, 16, 1 if busy else 8)]
        melody = [Note(72, s, 2, 90) for s in range(0, 16, 4)] if busy else []
        bars.append(Bar(b, 0, {"drums": drums, "melody": melody, "bass": [], "harmony": []}))
    source = ImportedSource(style.sources[0], Key(0, "major"), False, 0, 480, bars)
    presence = _presence(style, [source], ["melody"], 16, keep=1.0)
    assert len(presence) == PRESENCE_BINS
    assert presence == sorted(presence)  # a busier arrangement never rests more
    assert presence[0] < 0.1 and presence[-1] > 0.9
    assert _presence(style, [source], ["melody"], 16, keep=0.0) == [1.0] * PRESENCE_BINS
    assert _rising([0.2, 0.6, 0.4, 0.9]) == pytest.approx([0.2, 0.5, 0.5, 0.9])
