"""Bundle format v2: round trip, v1 upgrade, digest, limits, atomic writes, special files."""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path
from typing import Any

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import adaptive
from adaptive import BundleError, Manifest, load_bundle, read_bundle, write_bundle
from adaptive._bundle import (
    FORMAT_VERSION,
    MAX_BUNDLE_BYTES,
    decode_bundle,
    default_bundle_path,
    encode_bundle,
    repack_bundle,
)

from .conftest import default_body
from .fuzz import with_raw


@pytest.fixture(scope="module")
def default() -> adaptive.Bundle:
    return load_bundle()


def test_default_bundle_is_v2_and_names_itself_by_its_sha256(default: adaptive.Bundle) -> None:
    data = default_bundle_path().read_bytes()
    assert msgpack.unpackb(data, raw=False)["format_version"] == FORMAT_VERSION == 2
    assert default.sha256 == hashlib.sha256(data).hexdigest()


def test_spec_is_typed_and_agrees_with_the_plain_manifest(default: adaptive.Bundle) -> None:
    spec = default.spec
    assert isinstance(spec, Manifest)
    assert spec.stems["melody"].instrument == default.stems["melody"]["instrument"] == "lead"
    assert spec.stems["melody"].intensity == tuple(default.stems["melody"]["intensity"])
    assert spec.states["boss"].stems["bass"] == default.states["boss"]["stems"]["bass"]
    assert spec.parameters["intensity"].default == default.parameters["intensity"]["default"]
    assert spec.stingers["hit"].notes[0] == tuple(default.stingers["hit"]["notes"][0])
    assert str(spec.meter) == default.manifest["meter"] and spec.key == default.key
    assert spec.default_state == "explore"
    # fields the file leaves out come from the schema's defaults
    assert spec.stems["melody"].polyphony == 16 and spec.stems["bass"].program == 33
    assert spec.stingers["hit"].sync == "beat" and spec.stingers["hit"].max_voices == 4
    assert spec.mix.loudness_lufs == -16.0 and spec.transition("victory", "boss").sync == "bar"
    assert spec.transition("explore", "victory").fade == "s_curve"  # the style's "*" rule
    assert spec.transition("victory", "combat").sync == "bar"  # no rule: the default
    assert spec.states["victory"].material == "explore" and spec.states["explore"].material is None
    assert spec.provenance[0].file == default.provenance[0]["file"]


def test_round_trip_keeps_manifest_models_and_sessions(
    default: adaptive.Bundle, tmp_path: Path
) -> None:
    path = tmp_path / "b.adaptive"
    digest = write_bundle(path, default.spec, default.models)
    again = read_bundle(path)
    assert again.sha256 == digest == hashlib.sha256(path.read_bytes()).hexdigest()
    assert again.manifest == default.manifest
    assert again.models["melody"].onnx == default.models["melody"].onnx
    assert again.spec == default.spec
    session = again.session("melody")
    assert [i.name for i in session.get_inputs()] == ["token", "cond", "hidden"]
    with pytest.raises(BundleError, match="models.nope"):
        again.session("nope")


def test_v1_bundles_are_read_and_upgraded_in_memory(tmp_path: Path) -> None:
    body = default_body()
    v1 = msgpack.packb(
        {"format": "adaptive-bundle", "format_version": 1, **body}, use_bin_type=True
    )
    path = tmp_path / "old.adaptive"
    path.write_bytes(v1)
    bundle = read_bundle(path)
    assert bundle.spec.name == "default" and set(bundle.models) == set(body["models"])
    out = tmp_path / "new.adaptive"
    repack_bundle(path, out)
    assert msgpack.unpackb(out.read_bytes(), raw=False)["format_version"] == 2
    assert read_bundle(out).manifest == bundle.manifest


def test_manifest_bit_flips_fail_the_digest() -> None:
    data = bytearray(default_bundle_path().read_bytes())
    start = data.index(b"attribution")  # inside the manifest's provenance
    for offset in range(0, 4000, 397):
        flipped = bytearray(data)
        flipped[start + offset] ^= 0x04
        with pytest.raises(BundleError, match="body_sha256|corrupt"):
            decode_bundle(bytes(flipped))


def test_truncated_bundle_raises_bundle_error_at_every_length(tmp_path: Path) -> None:
    data = default_bundle_path().read_bytes()
    path = tmp_path / "cut.adaptive"
    for cut in [*range(0, 200, 7), *range(200, len(data), len(data) // 37)]:
        path.write_bytes(data[:cut])
        with pytest.raises(BundleError):
            read_bundle(path)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=512))
def test_garbage_raises_only_bundle_error(data: bytes) -> None:
    with pytest.raises(BundleError):
        decode_bundle(data)


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_flipped_bytes_anywhere_raise_bundle_error(data: st.DataObject) -> None:
    raw = bytearray(default_bundle_path().read_bytes())
    for i in data.draw(st.sets(st.integers(0, len(raw) - 1), min_size=1, max_size=4)):
        raw[i] ^= data.draw(st.integers(1, 255))  # distinct bytes: flips never cancel out
    with pytest.raises(BundleError):
        decode_bundle(bytes(raw))


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda p: p.update(format="zip"), "format"),
        (lambda p: p.update(format_version=99), "format_version"),
        (lambda p: p.update(format_version=True), "format_version"),
        (lambda p: p.update(extra=1), "extra"),
        (lambda p: p.pop("body_sha256"), "body_sha256"),
        (lambda p: p.update(body_sha256="0" * 64), "body_sha256"),
        (lambda p: p.update(body="text"), "body"),
    ],
)
def test_bad_header_fields_are_named(mutate: Any, field: str) -> None:
    payload = msgpack.unpackb(default_bundle_path().read_bytes(), raw=False)
    mutate(payload)
    with pytest.raises(BundleError, match=f"'{field}'"):
        decode_bundle(msgpack.packb(payload, use_bin_type=True))


def test_deep_nesting_is_a_bundle_error_not_a_recursion_error(body: dict[str, Any]) -> None:
    deep = b"\x91" * 998 + b"\xc0"  # a list nested 998 deep, as the manifest's name
    with pytest.raises(BundleError, match="nests deeper"):
        decode_bundle(_with_name(body, deep))
    shallow = b"\x91" * 3 + b"\xc0"  # within the nesting limit: the schema names the field
    with pytest.raises(BundleError, match="'manifest.name' must be a non-empty string"):
        decode_bundle(_with_name(body, shallow))


def _with_name(body: dict[str, Any], raw_value: bytes) -> bytes:
    """Pack ``body`` with the manifest's name replaced by raw msgpack bytes (any nesting)."""
    return with_raw(body, body["manifest"], "name", raw_value)


@pytest.mark.parametrize(
    "raw",
    [
        b"\xdd\xff\xff\xff\xff",  # an array claiming 4 billion items
        b"\xdb\xff\xff\xff\xf0abc",  # a string claiming 4 GiB
        b"\xc7\x01\x05x",  # an ext type
        b"\xc1",  # the never-used byte
    ],
)
def test_huge_declared_sizes_and_odd_types_are_refused(body: dict[str, Any], raw: bytes) -> None:
    with pytest.raises(BundleError, match="body"):
        decode_bundle(_with_name(body, raw))


def test_oversized_bundle_is_refused_before_reading(tmp_path: Path) -> None:
    path = tmp_path / "huge.adaptive"
    with path.open("wb") as handle:
        handle.truncate(MAX_BUNDLE_BYTES + 1)  # sparse: costs no disk
    with pytest.raises(BundleError, match="limit"):
        read_bundle(path)


def test_missing_file_directory_and_bad_path_types(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="not found"):
        read_bundle(tmp_path / "nope.adaptive")
    with pytest.raises(BundleError, match="directory"):
        read_bundle(tmp_path)
    with pytest.raises(BundleError, match="path"):
        read_bundle(123)  # type: ignore[arg-type]
    with pytest.raises(BundleError, match="bytes"):
        decode_bundle("text")  # type: ignore[arg-type]


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
def test_dev_zero_is_refused_without_reading() -> None:
    with pytest.raises(BundleError, match="not a regular file"):
        read_bundle("/dev/zero")


@pytest.mark.skipif(sys.platform == "win32", reason="FIFOs are POSIX")
def test_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.adaptive"
    os.mkfifo(fifo)  # nobody writes: a blocking open() would hang forever
    with pytest.raises(BundleError, match="not a regular file"):
        read_bundle(fifo)


@pytest.mark.skipif(sys.platform == "win32", reason="symlinks need privileges on Windows")
def test_symlink_loop_is_a_bundle_error(tmp_path: Path) -> None:
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    with pytest.raises(BundleError, match="cannot open"):
        read_bundle(tmp_path / "a")


def test_failed_write_leaves_old_bundle_in_place(default: adaptive.Bundle, tmp_path: Path) -> None:
    path = tmp_path / "b.adaptive"
    write_bundle(path, default.manifest, default.models)
    before = path.read_bytes()
    bad = dict(default.manifest)
    bad["tempo"] = -5
    with pytest.raises(BundleError, match="manifest.tempo"):
        write_bundle(path, bad, default.models)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temp files left


def test_encode_refuses_what_decode_refuses(default: adaptive.Bundle) -> None:
    models = dict(default.models)
    broken = models["bass"]
    models["bass"] = adaptive.ModelEntry(
        broken.name, broken.role, b"\x08\x07", broken.inputs, broken.outputs,
        broken.conditioning, broken.meta,
    )  # fmt: skip
    with pytest.raises(BundleError, match="models.bass.onnx"):
        encode_bundle(default.manifest, models)
    with pytest.raises(BundleError, match="models.melody"):
        encode_bundle(default.manifest, {k: v for k, v in default.models.items() if k != "melody"})


def test_bundle_error_is_also_value_error() -> None:
    assert issubclass(BundleError, ValueError)


def test_adaptive_imports_no_onnxruntime() -> None:
    import subprocess

    code = "import sys, adaptive; sys.exit('onnxruntime' in sys.modules)"
    env = {**os.environ, "PYTHONPATH": str(Path(adaptive.__file__).parents[1])}
    assert subprocess.run([sys.executable, "-c", code], env=env).returncode == 0


def test_credits_name_every_attribution_once_with_its_licence() -> None:
    import adaptive

    bundle = adaptive.load_bundle()
    credits = bundle.credits()
    assert credits[0].startswith(f"Music: {bundle.name}")
    groups: dict[tuple[str, str], int] = {}
    for p in bundle.provenance:
        groups[(p["attribution"], p["license"])] = (
            groups.get((p["attribution"], p["license"]), 0) + 1
        )
    expected = [f"{a} ({lic}{f', {n} works' if n > 1 else ''})" for (a, lic), n in groups.items()]
    assert credits[1:] == expected
