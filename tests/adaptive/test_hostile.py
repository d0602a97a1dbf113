"""Regression tests for hostile bundles: each one is refused at load with a named field.

External data, a Loop of 2**62 trips, control flow, custom ops, wrong shapes found only by
running the model, non-finite output, -inf gains, giant stingers, unknown instruments.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pytest

from adaptive import BundleError
from adaptive._bundle import decode_bundle
from adaptive._onnx_check import ALLOWED_OPS, check_policy, inspect_onnx

from . import hostile
from .conftest import repack

COND = 22  # the default bundle's conditioning size


def _decode_with_harmony(body: dict[str, Any], model: bytes) -> None:
    hostile.swap_model(body, "harmony", model)
    decode_bundle(repack(body))


def test_a_valid_replacement_model_loads(body: dict[str, Any]) -> None:
    """The builders' frame is right: only the hostile part makes the others fail."""
    hostile.swap_model(body, "harmony", hostile.softmax_model(COND))
    bundle = decode_bundle(repack(body))
    probs = bundle.session("harmony").run(
        None, {"context": np.zeros((1, 2), np.int64), "cond": np.ones((1, COND), np.float32)}
    )[0]
    assert probs.shape == (1, 24) and abs(float(probs.sum()) - 1.0) < 1e-5


@pytest.mark.parametrize("build", ["external_data_model", "external_constant_model"])
def test_external_data_inside_the_working_directory_is_refused(
    body: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, build: str
) -> None:
    monkeypatch.chdir(tmp_path)
    secret = np.arange(COND * 24, dtype=np.float32)
    (tmp_path / "weights.bin").write_bytes(secret.tobytes())
    model = getattr(hostile, build)(COND, "weights.bin")
    if build == "external_data_model":
        # The threat is real: onnxruntime alone reads the game's file into the model.
        session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
        assert session.get_inputs()[1].name == "cond"
    with pytest.raises(BundleError, match="models.harmony.onnx.*external data"):
        _decode_with_harmony(body, model)


def test_loop_with_2_to_the_62_trips_is_refused_at_once(body: dict[str, Any]) -> None:
    started = time.perf_counter()
    with pytest.raises(BundleError, match="models.harmony.onnx.*'Loop' is not allowed"):
        _decode_with_harmony(body, hostile.loop_model(COND))
    assert time.perf_counter() - started < 30  # refused before anything runs (generous bound)


@pytest.mark.parametrize(
    ("name", "match"),
    [
        ("if with subgraphs", "'If' is not allowed"),
        ("custom domain", "domain 'com.example'"),
        ("operator not allowed", "'RandomUniformLike' is not allowed"),
        ("local function", "local functions"),
        ("dead branch", "feed no output"),
        (
            "wrong output shape (dry run)",
            r"models.harmony.outputs\[0\].shape.*dry run gave \[1, 23\]",
        ),
        ("wrong output shape (graph)", r"models.harmony.outputs\[0\].shape.*graph has \[1, 23\]"),
        ("infinite output", r"models.harmony.outputs\[0\].*not finite"),
    ],
)
def test_hostile_graphs_are_refused_by_name(body: dict[str, Any], name: str, match: str) -> None:
    with pytest.raises(BundleError, match=match):
        _decode_with_harmony(body, hostile.HOSTILE[name](COND))


def test_a_compute_bomb_is_cancelled_by_the_dry_run_deadline(body: dict[str, Any]) -> None:
    with pytest.raises(BundleError, match=r"models.harmony.onnx.*dry run took more than"):
        _decode_with_harmony(body, hostile.compute_bomb_model(COND))


def test_truncated_or_garbled_onnx_is_refused(body: dict[str, Any]) -> None:
    valid = hostile.softmax_model(COND)
    for cut in (1, 10, len(valid) // 2, len(valid) - 1):
        with pytest.raises(BundleError, match="models.harmony.onnx"):
            _decode_with_harmony(body, valid[:cut])


def test_allow_list_covers_the_default_bundle() -> None:
    """Every op the default bundle uses is allowed (a fresh bake is covered by test_bake,
    whose load_bundle runs the same policy on every model it bakes)."""
    from adaptive import load_bundle

    for entry in load_bundle().models.values():
        facts = inspect_onnx(entry.onnx)
        check_policy(facts)  # does not raise
        assert {op for _, op in facts.ops} <= ALLOWED_OPS
        assert not facts.external and not facts.subgraphs and facts.opsets == {"": 17}


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (
            lambda m: m["states"]["explore"]["stems"].update(bass=-math.inf),
            "manifest.states.explore.stems.bass",
        ),
        (lambda m: m["stems"]["melody"].update(gain=-math.inf), "manifest.stems.melody.gain"),
        (
            lambda m: m["stingers"]["hit"]["notes"].append([0, 0, 10**12, 100]),
            r"manifest.stingers.hit.notes\[3\]",
        ),
        (
            lambda m: m["stingers"]["hit"].update(notes=[[0, 0, 1, 100]] * 65),
            "manifest.stingers.hit.notes",
        ),
        (
            lambda m: m["stems"]["melody"].update(instrument="kazoo"),
            "manifest.stems.melody.instrument",
        ),
        (
            lambda m: m["stingers"]["hit"].update(instrument="kazoo"),
            "manifest.stingers.hit.instrument",
        ),
    ],
)
def test_issue_cases_fail_in_read_bundle(body: dict[str, Any], mutate: Any, field: str) -> None:
    mutate(body["manifest"])
    with pytest.raises(BundleError, match=field) as caught:
        decode_bundle(repack(body))
    if "kazoo" in str(caught.value):
        assert "allowed: drums, lead, pluck, bass, pad" in str(caught.value)
