"""rebake_manifest: a style's new manifest over an earlier bake's models, with no training."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import adaptive
from adaptive import StyleError
from authoring import rebake_manifest

# The tiny style (tests/conftest.py) gains a borrowed state, a mood parameter and a rule.
EXTRA = """
[states.victory]
material = "explore"
valence = 0.95
arousal = 0.5
stems = { drums = 0.2, melody = 1.3 }

[parameters.danger]
min = 0.0
max = 2.0
seek = 1.0
valence = -0.4

[[transitions]]
from = "*"
to = "victory"
sync = "beat"
fade = "s_curve"
fade_beats = 0.5
"""


def with_extra(style: Path) -> Path:
    style.write_text(style.read_text().replace("[training]", EXTRA + "\n[training]", 1))
    return style


def test_the_new_manifest_rides_on_the_old_models(
    tiny_style_path: Path, tiny_bundle_path: Path, tmp_path: Path
) -> None:
    out = tmp_path / "new.adaptive"
    digest = rebake_manifest(with_extra(tiny_style_path), tiny_bundle_path, out)
    old, new = adaptive.read_bundle(tiny_bundle_path), adaptive.read_bundle(out)
    assert new.sha256 == digest
    assert {n: m.onnx for n, m in new.models.items()} == {n: m.onnx for n, m in old.models.items()}
    # what the bake learned is kept: conditioning, credits, training record, bake time
    for kept in ("conditioning", "provenance", "training", "created", "vocabulary"):
        assert getattr(new.spec, kept) == getattr(old.spec, kept), kept
    assert list(new.states) == ["explore", "combat", "victory"]
    assert new.spec.states["victory"].trained_as == "explore"
    assert new.spec.parameters["danger"].valence == -0.4
    assert new.spec.transition("combat", "victory").sync == "beat"
    assert "state:victory" not in new.spec.conditioning


def test_the_command_line_rebakes_in_place_without_torch_training(
    tiny_style_path: Path, tiny_bundle_path: Path, tmp_path: Path
) -> None:
    bundle = tmp_path / "game.adaptive"
    bundle.write_bytes(tiny_bundle_path.read_bytes())
    style = with_extra(tiny_style_path)
    args = ["bake", str(style), "--reuse-models", str(bundle), "-o", str(bundle)]
    result = subprocess.run(
        [sys.executable, "-m", "authoring.cli", *args], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert "not retrained" in result.stdout
    assert "victory" in adaptive.read_bundle(bundle).states
    seeded = subprocess.run(
        [sys.executable, "-m", "authoring.cli", *args, "--seed", "3"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert seeded.returncode != 0 and "--reuse-models" in seeded.stderr


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        (
            'material = "explore"\n',
            "",
            r"'states\.victory\.material'.*not trained on state 'victory'",
        ),
        ('material = "explore"', 'material = "nap"', r"'states\.victory\.material'"),
        ('meter = "4/4"', 'meter = "3/4"', r"'style\.meter'"),
        ("sequence_steps = 25", "sequence_steps = 26", r"'training\.sequence_steps'"),
        ('file = "midi/both.mid"', 'file = "midi/other.mid"', r"'sources\[3\]\.file'"),
        ('file = "midi/both.mid"', 'file = "midi/combat_a.mid"', r"'sources'.*leaves out 1"),
    ],
    ids=[
        "new state borrowing nothing",
        "borrowing no state",
        "meter",
        "training",
        "new source",
        "lost source",
    ],
)
def test_a_style_the_models_cannot_play_is_refused_by_field(
    tiny_style_dir: Path, tiny_bundle_path: Path, old: str, new: str, field: str
) -> None:
    style = with_extra(tiny_style_dir / "style.toml")
    (tiny_style_dir / "midi" / "other.mid").write_bytes(b"not the same bytes")
    text = style.read_text()
    assert old in text
    style.write_text(text.replace(old, new, 1))
    out = tiny_style_dir / "game.adaptive"
    out.write_bytes(tiny_bundle_path.read_bytes())
    with pytest.raises(StyleError, match=field) as caught:
        rebake_manifest(style, out, out)
    assert str(style) in str(caught.value)
    assert out.read_bytes() == tiny_bundle_path.read_bytes()  # left as it was


def test_an_out_path_that_is_a_directory(tiny_style_path: Path, tiny_bundle_path: Path) -> None:
    with pytest.raises(adaptive.BundleError, match="is a directory"):
        rebake_manifest(tiny_style_path, tiny_bundle_path, tiny_style_path.parent)


def test_a_fresh_bake_trains_only_the_states_that_borrow_nothing(
    tiny_style_path: Path, tmp_path: Path
) -> None:
    from authoring import bake

    result = bake(with_extra(tiny_style_path), tmp_path / "fresh.adaptive", progress=False)
    bundle = adaptive.read_bundle(result.out_path)
    assert "victory" in bundle.states
    assert [f for f in bundle.spec.conditioning if f.startswith("state:")] == [
        "state:explore",
        "state:combat",
    ]
    for name, model in bundle.models.items():
        assert "state:victory" not in model.conditioning, name
    grooves = bundle.models["drums_generator"].meta["grooves"]
    assert all(set(g["states"]) == {"explore", "combat"} for g in grooves)
