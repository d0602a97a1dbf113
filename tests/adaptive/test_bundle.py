"""Bundle format v1: round trip, validation, limits, atomic writes, hostile input."""

from __future__ import annotations

import copy
import hashlib
from pathlib import Path
from typing import Any

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adaptive import BundleError, ModelEntry, TensorSpec, load_bundle, write_bundle
from adaptive._bundle import MAX_BUNDLE_BYTES, decode_bundle, encode_bundle
from adaptive._tokens import Vocabulary


def manifest() -> dict[str, Any]:
    return {
        "name": "t",
        "version": "1",
        "author": "a",
        "license": "Apache-2.0",
        "created": "2026-01-01T00:00:00Z",
        "tempo": 120.0,
        "meter": "4/4",
        "key": "C major",
        "stems": {
            "melody": {"role": "melody", "instrument": "lead", "gain": 0.8, "intensity": [0.0, 0.0]}
        },
        "states": {"explore": {"valence": 0.5, "arousal": 0.5, "stems": {}}},
        "parameters": {"intensity": {"min": 0.0, "max": 1.0, "default": 0.5}},
        "stingers": {},
        "vocabulary": list(Vocabulary.default().tokens),
        "conditioning": ["intensity"],
        "provenance": [
            {"file": "a.mid", "sha256": "0" * 64, "license": "CC0-1.0", "attribution": "us"}
        ],
    }


def models() -> dict[str, ModelEntry]:
    spec = (TensorSpec("x", "float32", (1, "n")),)
    return {
        "m": ModelEntry(
            "m", "sequence", b"not-really-onnx-but-bytes", spec, spec, ("intensity",), {"k": 1}
        )
    }


@pytest.fixture
def bundle_path(tmp_path: Path) -> Path:
    path = tmp_path / "b.adaptive"
    write_bundle(path, manifest(), models())
    return path


def test_round_trip_keeps_manifest_models_and_hashes(bundle_path: Path) -> None:
    bundle = load_bundle(bundle_path)
    assert bundle.name == "t"
    assert bundle.models["m"].onnx == b"not-really-onnx-but-bytes"
    assert bundle.models["m"].inputs[0].shape == (1, "n")
    assert bundle.sha256 == hashlib.sha256(bundle_path.read_bytes()).hexdigest()
    assert bundle.provenance[0]["file"] == "a.mid"


def test_truncated_bundle_raises_bundle_error_at_every_length(
    bundle_path: Path, tmp_path: Path
) -> None:
    data = bundle_path.read_bytes()
    for cut in range(0, len(data), max(1, len(data) // 97)):
        path = tmp_path / "cut.adaptive"
        path.write_bytes(data[:cut])
        with pytest.raises(BundleError):
            load_bundle(path)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=512))
def test_garbage_raises_only_bundle_error(data: bytes) -> None:
    with pytest.raises(BundleError):
        decode_bundle(data)


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_flipped_bytes_raise_only_bundle_error_or_load(data: st.DataObject) -> None:
    raw = bytearray(encode_bundle(manifest(), models()))
    for _ in range(data.draw(st.integers(1, 8))):
        raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    try:
        decode_bundle(bytes(raw))
    except BundleError:
        pass  # the only exception type allowed


def _payload() -> dict[str, Any]:
    return msgpack.unpackb(encode_bundle(manifest(), models()), raw=False)


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda p: p.update(format="zip"), "format"),
        (lambda p: p.update(format_version=99), "format_version"),
        (lambda p: p["manifest"].pop("tempo"), "manifest.tempo"),
        (lambda p: p["manifest"].update(tempo=float("nan")), "manifest.tempo"),
        (lambda p: p["manifest"].update(key="H major"), "manifest.key"),
        (
            lambda p: p["manifest"]["stems"]["melody"].update(role="kazoo"),
            "manifest.stems.melody.role",
        ),
        (lambda p: p["manifest"]["provenance"][0].pop("license"), "manifest.provenance[0].license"),
        (lambda p: p["models"]["m"].update(sha256="f" * 64), "models.m.sha256"),
        (lambda p: p["models"]["m"].update(onnx=b""), "models.m.onnx"),
        (
            lambda p: p["models"]["m"]["inputs"][0].update(dtype="float64"),
            "models.m.inputs[0].dtype",
        ),
        (
            lambda p: p["manifest"]["parameters"].update(
                danger=p["manifest"]["parameters"].pop("intensity")
            ),
            "manifest.parameters.intensity",
        ),
    ],
)
def test_bad_fields_are_named(mutate: Any, field: str) -> None:
    payload = copy.deepcopy(_payload())
    mutate(payload)
    with pytest.raises(
        BundleError, match=field.replace("[", r"\[").replace("]", r"\]").replace(".", r"\.")
    ):
        decode_bundle(msgpack.packb(payload, use_bin_type=True))


def test_oversized_bundle_is_refused_before_reading(tmp_path: Path) -> None:
    path = tmp_path / "huge.adaptive"
    with path.open("wb") as handle:
        handle.truncate(MAX_BUNDLE_BYTES + 1)  # sparse: costs no disk
    with pytest.raises(BundleError, match="limit"):
        load_bundle(path)


def test_missing_file_and_directory_raise_bundle_error(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="not found"):
        load_bundle(tmp_path / "nope.adaptive")
    with pytest.raises(BundleError, match="directory"):
        load_bundle(tmp_path)


def test_failed_write_leaves_old_bundle_in_place(bundle_path: Path) -> None:
    before = bundle_path.read_bytes()
    bad = manifest()
    bad["tempo"] = -5
    with pytest.raises(BundleError, match="tempo"):
        write_bundle(bundle_path, bad, models())
    assert bundle_path.read_bytes() == before
    assert [p.name for p in bundle_path.parent.iterdir()] == [
        bundle_path.name
    ]  # no temp files left


def test_bundle_error_is_also_value_error() -> None:
    assert issubclass(BundleError, ValueError)
