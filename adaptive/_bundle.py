"""Bundle format v1: one msgpack file holding a manifest and ONNX models.

Layout (a msgpack map)::

    {"format": "adaptive-bundle", "format_version": 1,
     "manifest": {...},                       # see MANIFEST_FIELDS
     "models": {name: {"role", "onnx": bytes, "sha256", "inputs", "outputs",
                       "conditioning", "meta"}}}

Nothing in a bundle is pickled, evaluated or imported. Reading is bounded:
the file size, every string, array, map and binary blob have limits, and any
problem raises ``BundleError`` naming the field.
"""

from __future__ import annotations

import hashlib
import math
import os
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgpack

from ._errors import BundleError
from ._music import Key, Meter

__all__ = [
    "Bundle",
    "ModelEntry",
    "TensorSpec",
    "read_bundle",
    "write_bundle",
    "encode_bundle",
    "decode_bundle",
    "default_bundle_path",
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "MAX_BUNDLE_BYTES",
    "MAX_MODEL_BYTES",
]

FORMAT_NAME = "adaptive-bundle"
FORMAT_VERSION = 1
MAX_BUNDLE_BYTES = 64 * 1024 * 1024
MAX_MODEL_BYTES = 32 * 1024 * 1024
MAX_MODELS = 16
MAX_STR = 64 * 1024
MAX_ARRAY = 100_000
MAX_MAP = 10_000
TENSOR_DTYPES = ("float32", "int64")


@dataclass(frozen=True)
class TensorSpec:
    name: str
    dtype: str  # "float32" | "int64"
    shape: tuple[int | str, ...]  # a str is a symbolic (dynamic) dimension

    def to_msgpack(self) -> dict[str, Any]:
        return {"name": self.name, "dtype": self.dtype, "shape": list(self.shape)}


@dataclass(frozen=True)
class ModelEntry:
    name: str
    role: str
    onnx: bytes
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    conditioning: tuple[str, ...] = ()
    meta: Mapping[str, Any] = field(default_factory=dict)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.onnx).hexdigest()


@dataclass(frozen=True)
class Bundle:
    manifest: Mapping[str, Any]
    models: Mapping[str, ModelEntry]
    sha256: str = ""
    path: Path | None = None

    @property
    def name(self) -> str:
        return str(self.manifest["name"])

    @property
    def tempo(self) -> float:
        return float(self.manifest["tempo"])

    @property
    def meter(self) -> Meter:
        return Meter.parse(self.manifest["meter"])

    @property
    def key(self) -> Key:
        return Key.parse(self.manifest["key"])

    @property
    def stems(self) -> Mapping[str, Mapping[str, Any]]:
        return self.manifest["stems"]

    @property
    def states(self) -> Mapping[str, Mapping[str, Any]]:
        return self.manifest["states"]

    @property
    def parameters(self) -> Mapping[str, Mapping[str, Any]]:
        return self.manifest["parameters"]

    @property
    def stingers(self) -> Mapping[str, Mapping[str, Any]]:
        return self.manifest["stingers"]

    @property
    def provenance(self) -> list[Mapping[str, Any]]:
        return list(self.manifest["provenance"])


def default_bundle_path() -> Path:
    """Where the installed default bundle lives."""
    return Path(__file__).resolve().parent / "data" / "default.adaptive"


# --- validation ---------------------------------------------------------------------------

Check = Callable[[Any], str | None]  # returns a complaint, or None when fine


def _is_str(v: Any) -> str | None:
    return None if isinstance(v, str) and v else f"must be a non-empty string, got {_show(v)}"


def _is_number(lo: float, hi: float) -> Check:
    def check(v: Any) -> str | None:
        ok = (
            isinstance(v, int | float)
            and not isinstance(v, bool)
            and math.isfinite(v)
            and lo <= v <= hi
        )
        return None if ok else f"must be a finite number in [{lo}, {hi}], got {_show(v)}"

    return check


def _is_map(v: Any) -> str | None:
    return None if isinstance(v, dict) and v else f"must be a non-empty map, got {_show(v)}"


def _is_list(v: Any) -> str | None:
    return None if isinstance(v, list) else f"must be a list, got {_show(v)}"


def _parses(parser: Callable[[str], Any]) -> Check:
    def check(v: Any) -> str | None:
        if not isinstance(v, str):
            return f"must be a string, got {_show(v)}"
        try:
            parser(v)
        except ValueError as exc:
            return str(exc)
        return None

    return check


MANIFEST_FIELDS: dict[str, Check] = {
    "name": _is_str,
    "version": _is_str,
    "author": _is_str,
    "license": _is_str,
    "created": _is_str,
    "tempo": _is_number(30.0, 300.0),
    "meter": _parses(Meter.parse),
    "key": _parses(Key.parse),
    "stems": _is_map,
    "states": _is_map,
    "parameters": _is_map,
    "stingers": lambda v: None if isinstance(v, dict) else f"must be a map, got {_show(v)}",
    "vocabulary": _is_list,
    "conditioning": _is_list,
    "provenance": _is_list,
}

STEM_FIELDS: dict[str, Check] = {
    "role": lambda v: (
        None
        if v in ("drums", "bass", "harmony", "melody")
        else f"must be drums/bass/harmony/melody, got {_show(v)}"
    ),
    "instrument": _is_str,
    "gain": _is_number(0.0, 2.0),
    "intensity": lambda v: (
        None
        if isinstance(v, list) and len(v) == 2 and all(_is_number(0, 1)(x) is None for x in v)
        else f"must be [start, full] in [0, 1], got {_show(v)}"
    ),
}
STATE_FIELDS: dict[str, Check] = {
    "valence": _is_number(0.0, 1.0),
    "arousal": _is_number(0.0, 1.0),
    "stems": lambda v: None if isinstance(v, dict) else f"must be a map, got {_show(v)}",
}
PARAMETER_FIELDS: dict[str, Check] = {
    "min": _is_number(-1e9, 1e9),
    "max": _is_number(-1e9, 1e9),
    "default": _is_number(-1e9, 1e9),
}
PROVENANCE_FIELDS: dict[str, Check] = {
    "file": _is_str,
    "sha256": lambda v: (
        None
        if isinstance(v, str) and len(v) == 64
        else f"must be a sha256 hex digest, got {_show(v)}"
    ),
    "license": _is_str,
    "attribution": _is_str,
}
STINGER_FIELDS: dict[str, Check] = {
    "instrument": _is_str,
    "gain": _is_number(0.0, 2.0),
    "notes": lambda v: (
        None
        if isinstance(v, list)
        and v
        and all(
            isinstance(n, list) and len(n) == 4 and all(isinstance(x, int) for x in n) for n in v
        )
        else f"must be a non-empty list of [step, semitones, steps, velocity], got {_show(v)}"
    ),
}


def _show(v: Any) -> str:
    text = repr(v)
    return text if len(text) <= 60 else text[:57] + "..."


def _check_table(where: str, data: Any, fields: Mapping[str, Check]) -> None:
    if not isinstance(data, dict):
        raise BundleError(f"bundle field '{where}' must be a map, got {_show(data)}")
    for name, check in fields.items():
        if name not in data:
            raise BundleError(f"bundle field '{where}.{name}' is missing")
        complaint = check(data[name])
        if complaint:
            raise BundleError(f"bundle field '{where}.{name}' {complaint}")


def _check_tensors(where: str, value: Any) -> tuple[TensorSpec, ...]:
    if not isinstance(value, list) or not value:
        raise BundleError(f"bundle field '{where}' must be a non-empty list of tensor specs")
    specs = []
    for i, raw in enumerate(value):
        w = f"{where}[{i}]"
        if not isinstance(raw, dict):
            raise BundleError(f"bundle field '{w}' must be a map")
        name, dtype, shape = raw.get("name"), raw.get("dtype"), raw.get("shape")
        if not isinstance(name, str) or not name:
            raise BundleError(
                f"bundle field '{w}.name' must be a non-empty string, got {_show(name)}"
            )
        if dtype not in TENSOR_DTYPES:
            raise BundleError(
                f"bundle field '{w}.dtype' must be one of {TENSOR_DTYPES}, got {_show(dtype)}"
            )
        if not isinstance(shape, list) or not all(
            (isinstance(d, int) and not isinstance(d, bool) and d >= 0) or isinstance(d, str)
            for d in shape
        ):
            raise BundleError(
                f"bundle field '{w}.shape' must be a list of sizes or names, got {_show(shape)}"
            )
        specs.append(TensorSpec(name, dtype, tuple(shape)))
    return tuple(specs)


def _check_model(name: Any, raw: Any) -> ModelEntry:
    where = f"models.{name}"
    if not isinstance(name, str) or not name:
        raise BundleError(f"bundle field 'models' has a model with a bad name {_show(name)}")
    if not isinstance(raw, dict):
        raise BundleError(f"bundle field '{where}' must be a map")
    onnx = raw.get("onnx")
    if not isinstance(onnx, bytes) or not onnx:
        raise BundleError(f"bundle field '{where}.onnx' must be non-empty bytes")
    if len(onnx) > MAX_MODEL_BYTES:
        raise BundleError(
            f"bundle field '{where}.onnx' is {len(onnx)} bytes; the limit is {MAX_MODEL_BYTES}"
        )
    digest = hashlib.sha256(onnx).hexdigest()
    if raw.get("sha256") != digest:
        raise BundleError(
            f"bundle field '{where}.sha256' does not match the model bytes "
            f"(stored {_show(raw.get('sha256'))}, computed {digest[:12]}...)"
        )
    role = raw.get("role")
    if not isinstance(role, str) or not role:
        raise BundleError(
            f"bundle field '{where}.role' must be a non-empty string, got {_show(role)}"
        )
    conditioning = raw.get("conditioning", [])
    if not isinstance(conditioning, list) or not all(isinstance(c, str) for c in conditioning):
        raise BundleError(f"bundle field '{where}.conditioning' must be a list of feature names")
    meta = raw.get("meta", {})
    if not isinstance(meta, dict):
        raise BundleError(f"bundle field '{where}.meta' must be a map")
    return ModelEntry(
        name=name,
        role=role,
        onnx=onnx,
        inputs=_check_tensors(f"{where}.inputs", raw.get("inputs")),
        outputs=_check_tensors(f"{where}.outputs", raw.get("outputs")),
        conditioning=tuple(conditioning),
        meta=meta,
    )


def _check_manifest(manifest: Any) -> None:
    _check_table("manifest", manifest, MANIFEST_FIELDS)
    for stem, spec in manifest["stems"].items():
        _check_table(f"manifest.stems.{stem}", spec, STEM_FIELDS)
    for state, spec in manifest["states"].items():
        _check_table(f"manifest.states.{state}", spec, STATE_FIELDS)
        for stem in spec["stems"]:
            if stem not in manifest["stems"]:
                raise BundleError(
                    f"bundle field 'manifest.states.{state}.stems.{stem}' names no stem"
                )
    for parameter, spec in manifest["parameters"].items():
        _check_table(f"manifest.parameters.{parameter}", spec, PARAMETER_FIELDS)
        if not spec["min"] <= spec["default"] <= spec["max"] or spec["min"] >= spec["max"]:
            raise BundleError(
                f"bundle field 'manifest.parameters.{parameter}' needs min < max and min <= default <= max"
            )
    if "intensity" not in manifest["parameters"]:
        raise BundleError("bundle field 'manifest.parameters.intensity' is missing")
    for stinger, spec in manifest["stingers"].items():
        _check_table(f"manifest.stingers.{stinger}", spec, STINGER_FIELDS)
    for i, source in enumerate(manifest["provenance"]):
        _check_table(f"manifest.provenance[{i}]", source, PROVENANCE_FIELDS)
    if not all(isinstance(t, str) for t in manifest["vocabulary"]):
        raise BundleError("bundle field 'manifest.vocabulary' must be a list of token strings")
    if not all(isinstance(t, str) for t in manifest["conditioning"]):
        raise BundleError("bundle field 'manifest.conditioning' must be a list of feature names")


# --- encode / decode ----------------------------------------------------------------------


def encode_bundle(manifest: Mapping[str, Any], models: Mapping[str, ModelEntry]) -> bytes:
    """Validate and serialize; raises BundleError for anything read_bundle would refuse."""
    _check_manifest(dict(manifest))
    payload = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "manifest": dict(manifest),
        "models": {
            name: {
                "role": m.role,
                "onnx": m.onnx,
                "sha256": m.sha256,
                "inputs": [t.to_msgpack() for t in m.inputs],
                "outputs": [t.to_msgpack() for t in m.outputs],
                "conditioning": list(m.conditioning),
                "meta": dict(m.meta),
            }
            for name, m in models.items()
        },
    }
    try:
        data = msgpack.packb(payload, use_bin_type=True)
    except (TypeError, ValueError) as exc:
        raise BundleError(f"bundle cannot be encoded: {exc}") from None
    decode_bundle(data)  # the writer never produces what the reader refuses
    return data


def decode_bundle(data: bytes, path: Path | None = None) -> Bundle:
    """Parse and validate bundle bytes. Every failure is a BundleError."""
    where = f"{path}: " if path else ""
    if len(data) > MAX_BUNDLE_BYTES:
        raise BundleError(f"{where}bundle is {len(data)} bytes; the limit is {MAX_BUNDLE_BYTES}")
    try:
        payload = msgpack.unpackb(
            data,
            raw=False,
            strict_map_key=True,
            max_str_len=MAX_STR,
            max_bin_len=MAX_MODEL_BYTES,
            max_array_len=MAX_ARRAY,
            max_map_len=MAX_MAP,
            max_ext_len=0,
        )
    except Exception as exc:  # msgpack raises many types on garbage; all mean the same here
        raise BundleError(
            f"{where}not a readable bundle (truncated or corrupt msgpack: {type(exc).__name__})"
        ) from None
    try:
        if not isinstance(payload, dict):
            raise BundleError("bundle must be a msgpack map at the top level")
        if payload.get("format") != FORMAT_NAME:
            raise BundleError(
                f"bundle field 'format' must be {FORMAT_NAME!r}, got {_show(payload.get('format'))}"
            )
        version = payload.get("format_version")
        if version != FORMAT_VERSION:
            raise BundleError(
                f"bundle field 'format_version' is {_show(version)}; this adaptive reads {FORMAT_VERSION}"
            )
        manifest = payload.get("manifest")
        _check_manifest(manifest)
        raw_models = payload.get("models")
        if not isinstance(raw_models, dict) or not raw_models:
            raise BundleError("bundle field 'models' must be a non-empty map")
        if len(raw_models) > MAX_MODELS:
            raise BundleError(
                f"bundle field 'models' has {len(raw_models)} models; the limit is {MAX_MODELS}"
            )
        models = {name: _check_model(name, raw) for name, raw in raw_models.items()}
    except BundleError as exc:
        raise BundleError(f"{where}{exc}") from None
    assert isinstance(manifest, dict)  # _check_manifest proved it
    return Bundle(
        manifest=manifest, models=models, sha256=hashlib.sha256(data).hexdigest(), path=path
    )


def read_bundle(path: str | os.PathLike[str]) -> Bundle:
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_BUNDLE_BYTES:
            raise BundleError(f"{path}: bundle is {size} bytes; the limit is {MAX_BUNDLE_BYTES}")
        data = path.read_bytes()
    except FileNotFoundError:
        raise BundleError(f"{path}: bundle file not found") from None
    except IsADirectoryError:
        raise BundleError(f"{path}: is a directory, not a bundle file") from None
    except OSError as exc:
        raise BundleError(f"{path}: cannot read bundle: {exc.strerror}") from None
    return decode_bundle(data, path)


def write_bundle(
    path: str | os.PathLike[str], manifest: Mapping[str, Any], models: Mapping[str, ModelEntry]
) -> str:
    """Write atomically (temporary file, then rename); returns the file's sha256.

    On any failure the file that was at ``path`` before stays as it was.
    """
    path = Path(path)
    data = encode_bundle(manifest, models)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    umask = os.umask(0)
    os.umask(umask)
    try:
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; a bundle is an ordinary file
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return hashlib.sha256(data).hexdigest()
