"""bake --workers 2: two real torchrun processes train with DDP over gloo; rank 0 writes a
bundle that passes the checks a one-process bake passes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import adaptive
from authoring._evaluate import evaluate
from authoring._export import PARITY_TOLERANCE
from authoring.cli import main

pytest.importorskip("torch.distributed")


def _checks(bundle_path: Path, style: Path) -> dict[str, Any]:
    """What a one-process bake of the tiny style passes: the bundle loads (onnxruntime
    dry-runs every model), every model matched torch at export, its loss fell while it
    trained, and the engine's music stays in key with a drum critic that earns its keep."""
    bundle = adaptive.load_bundle(bundle_path)
    training = bundle.manifest["training"]
    assert set(training["parity"]) == set(bundle.models)
    assert all(diff < PARITY_TOLERANCE for diff in training["parity"].values())
    for model in ("melody", "bass"):
        curve = training["loss_curves"][model]
        assert curve[-1][1] < curve[0][1], f"{model} did not learn"
    report = evaluate(bundle_path, style, bars=4, seeds=(0,), levels=3, critic_trials=80)
    assert report["quality"]["scale_consistency"]["generated"] > 0.9
    assert report["drums_critic"]["pick_beats_random"]
    return training


def test_two_process_torchrun_bake_passes_the_one_process_checks(
    tiny_style_path: Path, tiny_bundle_path: Path, tmp_path: Path
) -> None:
    out = tmp_path / "ddp.adaptive"
    done = subprocess.run(
        [sys.executable, "-m", "authoring.cli", "bake", str(tiny_style_path), "-o", str(out)]
        + ["--quiet", "--workers", "2"],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("baked ") == 1  # rank 0 alone writes and says so
    single = _checks(tiny_bundle_path, tiny_style_path)
    ddp = _checks(out, tiny_style_path)
    assert ddp["distributed"] == {"world_size": 2, "backend": "gloo"}
    assert single["distributed"] == {}
    # The same data, steps and global batch: the losses land close to one process'
    # (cross entropy of melody and bass), though each worker saw its own shard.
    for model in ("melody", "bass"):
        assert ddp["losses"][model] == pytest.approx(single["losses"][model], rel=0.1)
    one, two = adaptive.load_bundle(tiny_bundle_path), adaptive.load_bundle(out)
    assert one.models["harmony"].sha256 == two.models["harmony"].sha256  # counted alike
    assert one.models["melody"].sha256 != two.models["melody"].sha256  # trained on shards


def test_multi_node_options_need_a_rendezvous_endpoint(
    tiny_style_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["bake", str(tiny_style_path), "-o", str(tmp_path / "x.adaptive"), "--workers", "2"]
    assert main([*args, "--nnodes", "2"]) == 2
    assert "--rdzv-endpoint" in capsys.readouterr().err
    assert main([*args[:-1], "0"]) == 2
    assert "--workers must be 1 or more" in capsys.readouterr().err
    assert not (tmp_path / "x.adaptive").exists()


def test_a_broken_style_fails_before_any_worker_starts(
    tiny_style_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tiny_style_path.write_text(tiny_style_path.read_text().replace("tempo =", "tempo = 'x' #"))
    out = tmp_path / "x.adaptive"
    assert main(["bake", str(tiny_style_path), "-o", str(out), "--workers", "2"]) == 2
    err = capsys.readouterr().err
    assert "style.toml" in err and "tempo" in err and not out.exists()
    assert "torchrun" not in err  # no worker was started

    tiny_style_path.write_text(tiny_style_path.read_text().replace("tempo = 'x' #", "tempo ="))
    assert main(["bake", str(tiny_style_path), "-o", str(tmp_path), "--workers", "2"]) == 2
    assert "is a directory" in capsys.readouterr().err
