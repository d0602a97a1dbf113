"""Bundle format v2: one msgpack file holding a manifest and ONNX models.

Layout (a msgpack map)::

    {"format": "adaptive-bundle", "format_version": 2,
     "body_sha256": hex digest of body,         # integrity of everything below
     "body": bytes}                             # msgpack of:
         {"manifest": {...},                    # adaptive._schema.Manifest
          "models": {name: {"role", "onnx": bytes, "sha256", "inputs", "outputs",
                            "conditioning", "meta"}},   # adaptive._models contract
          "samplers": {stem: preset}}           # optional: adaptive._samplers

Format v1 (no digest; manifest and models at the top level) is still read and
upgraded in memory. Nothing in a bundle is pickled, evaluated or imported.

``read_bundle`` validates everything once, at load, so that nothing fails later
in the engine; every failure is a ``BundleError`` naming the field:

1. the file: only a regular file (never a FIFO, device or directory), at most
   ``MAX_BUNDLE_BYTES``, read without blocking;
2. the msgpack structure: scanned before it is unpacked, bounded in objects
   (``MAX_OBJECTS``) and nesting (``MAX_DEPTH``); strings, arrays, maps and
   binary blobs have limits;
3. the digest over the body (bit flips anywhere in the manifest or the models);
4. every manifest field, against the one schema in ``adaptive._schema``;
5. every model: its sha256, role, declared IO against the role's contract
   (``adaptive._models``) and the manifest (vocabulary, conditioning, meter),
   its meta; then its ONNX graph (``adaptive._onnx_check``: no external data,
   only allowed operators), its actual IO against the declared IO, and a dry
   run on zeros that must give the declared shapes and finite values.

The validated onnxruntime sessions stay on the bundle (``Bundle.session(name)``)
so the runtime need not load the models again. ``Bundle.sha256`` is the sha256
of the file: the bundle's name for itself.
"""

from __future__ import annotations

import functools
import hashlib
import os
import stat
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgpack
import numpy as np

from ._conditioning import ATTRIBUTES, PHRASE_BARS, condition_features
from ._errors import BundleError
from ._models import MODEL_ROLES, MODEL_SHAPES, STEM_MODELS, known_meta
from ._music import CHORDS, DRUM_VOICES, Key, Meter
from ._samplers import check_sampler
from ._schema import (
    BUNDLE,
    Manifest,
    Plain,
    SchemaError,
    dump_manifest,
    load_fields,
    load_manifest,
    show,
)
from ._tokens import Vocabulary

__all__ = [
    "Bundle",
    "ModelEntry",
    "TensorSpec",
    "read_bundle",
    "write_bundle",
    "encode_bundle",
    "decode_bundle",
    "repack_bundle",
    "default_bundle_path",
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "MAX_BUNDLE_BYTES",
    "MAX_MODEL_BYTES",
]

FORMAT_NAME = "adaptive-bundle"
FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)
_BODY_KEYS = {"manifest", "models", "samplers"}
MAX_BUNDLE_BYTES = 64 * 1024 * 1024
MAX_MODEL_BYTES = 32 * 1024 * 1024
MAX_GROOVES = 64  # drum groove labels a model may be conditioned on
MAX_MODELS = 16
MAX_STR = 64 * 1024
MAX_ARRAY = 100_000
MAX_MAP = 10_000
MAX_OBJECTS = 200_000  # msgpack objects in one bundle (the default has about 3,000)
MAX_DEPTH = 32  # msgpack nesting (the default nests 6 deep; free-form tables stop at 8)
MAX_TENSORS = 16  # declared inputs or outputs of one model
MAX_RANK = 8
MAX_DIM = 1 << 20
TENSOR_DTYPES = ("float32", "int64")
_MODEL_KEYS = {"role", "onnx", "sha256", "inputs", "outputs", "conditioning", "meta"}


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
    onnx: bytes = field(repr=False)  # megabytes: kept out of reprs and error messages
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    conditioning: tuple[str, ...] = ()
    meta: Mapping[str, Any] = field(default_factory=dict)

    @functools.cached_property
    def sha256(self) -> str:
        """The bytes' digest, made once: the bytes never change, and it keys the session cache."""
        return hashlib.sha256(self.onnx).hexdigest()


@dataclass(frozen=True)
class Bundle:
    """A validated bundle. ``spec`` is the typed manifest; ``manifest`` the same as plain data."""

    manifest: Mapping[str, Any]
    models: Mapping[str, ModelEntry]
    sha256: str = ""
    path: Path | None = None
    spec: Manifest = field(default=None, compare=False)  # type: ignore[assignment]
    _sessions: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    # stem -> the SoundFont preset the bake copied in (adaptive._samplers), checked
    samplers: Mapping[str, Mapping[str, Any]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if self.spec is None:  # built by hand: check the manifest here too
            try:
                object.__setattr__(self, "spec", load_manifest(dict(self.manifest)))
            except SchemaError as exc:
                raise BundleError(_field_error(exc)) from None

    def session(self, name: str) -> Any:
        """The single-threaded onnxruntime session that validated model ``name``."""
        if name not in self.models:
            raise BundleError(f"bundle field 'models.{name}' is missing")
        session = self._sessions.get(name)
        if session is None:
            session = _validated_session(self.models[name], self.spec)
            self._sessions[name] = session
        return session

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def tempo(self) -> float:
        return self.spec.tempo

    @property
    def meter(self) -> Meter:
        return self.spec.meter

    @property
    def key(self) -> Key:
        return self.spec.key

    # The manifest as plain dicts, for code that reads it untyped (same keys as the file).
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

    def credits(self) -> list[str]:
        """One line per work the music learned from, for a game's credits screen.

        Sources that share an attribution and a licence are listed once, with a count.
        """
        groups: dict[tuple[str, str], int] = {}
        for source in self.spec.provenance:
            key = (source.attribution, source.license)
            groups[key] = groups.get(key, 0) + 1
        lines = [f"Music: {self.spec.name} by {self.spec.author} ({self.spec.license})"]
        for (attribution, license), count in groups.items():
            works = f", {count} works" if count > 1 else ""
            lines.append(f"{attribution} ({license}{works})")
        return lines


def default_bundle_path() -> Path:
    """Where the installed default bundle lives."""
    return Path(__file__).resolve().parent / "data" / "default.adaptive"


# --- errors -----------------------------------------------------------------------------


def _fail(where: str, message: str) -> BundleError:
    return BundleError(f"bundle field '{where}' {message}")


def _field_error(exc: SchemaError) -> str:
    return f"bundle field '{exc.where}' {exc.message}"


# --- msgpack, bounded ---------------------------------------------------------------------

# Bytes after the type byte that hold a length (str/bin/array/map) or a fixed value.
_SIZED = {0xC4: 1, 0xC5: 2, 0xC6: 4, 0xD9: 1, 0xDA: 2, 0xDB: 4}  # bin8..32, str8..32
_FIXED = {0xCA: 4, 0xCB: 8, 0xCC: 1, 0xCD: 2, 0xCE: 4, 0xCF: 8, 0xD0: 1, 0xD1: 2, 0xD2: 4, 0xD3: 8}
_CONTAINERS = {0xDC: (2, 1), 0xDD: (4, 1), 0xDE: (2, 2), 0xDF: (4, 2)}  # bytes, items per entry


def _scan(data: bytes, where: str) -> None:
    """Walk msgpack bytes without building objects: one object, bounded in count and depth.

    Runs before ``msgpack.unpackb`` so that deep nesting, huge declared lengths, ext types
    and trailing bytes are a BundleError, never a RecursionError or a huge allocation.
    """
    pos, end, objects = 0, len(data), 0
    pending = [1]  # objects still to read at each open level
    while pending:
        if pending[-1] == 0:
            pending.pop()
            continue
        pending[-1] -= 1
        if pos >= end:
            raise _fail(where, "is truncated")
        objects += 1
        if objects > MAX_OBJECTS:
            raise _fail(where, f"holds more than {MAX_OBJECTS} values")
        byte = data[pos]
        pos += 1
        items = 0
        if byte <= 0x7F or byte >= 0xE0 or byte in (0xC0, 0xC2, 0xC3):
            continue
        if 0xA0 <= byte <= 0xBF:
            pos += byte & 0x1F
        elif 0x90 <= byte <= 0x9F:
            items = byte & 0x0F
        elif 0x80 <= byte <= 0x8F:
            items = 2 * (byte & 0x0F)
        elif byte in _FIXED:
            pos += _FIXED[byte]
        elif byte in _SIZED:
            width = _SIZED[byte]
            pos += width + int.from_bytes(data[pos : pos + width], "big")
        elif byte in _CONTAINERS:
            width, per = _CONTAINERS[byte]
            if pos + width > end:
                raise _fail(where, "is truncated")
            items = per * int.from_bytes(data[pos : pos + width], "big")
            pos += width
        else:  # 0xC1 (never used) and the ext types: a bundle holds none
            raise _fail(where, f"holds a msgpack type it may not (0x{byte:02x})")
        if pos > end:
            raise _fail(where, "is truncated")
        if items:
            if items > MAX_OBJECTS:
                raise _fail(where, f"declares {items} values; the limit is {MAX_OBJECTS}")
            if len(pending) > MAX_DEPTH:
                raise _fail(where, f"nests deeper than {MAX_DEPTH} levels")
            pending.append(items)
    if pos != end:
        raise _fail(where, f"has {end - pos} bytes after its end")


def _unpack(
    data: bytes, where: str, *, max_bin: int, max_str: int, max_array: int, max_map: int
) -> Any:
    _scan(data, where)
    try:
        return msgpack.unpackb(
            data,
            raw=False,
            strict_map_key=True,
            max_str_len=max_str,
            max_bin_len=max_bin,
            max_array_len=max_array,
            max_map_len=max_map,
            max_ext_len=0,
        )
    except Exception as exc:  # msgpack raises many types on garbage; all mean the same here
        raise _fail(where, f"is not readable msgpack ({type(exc).__name__})") from None


# --- models -------------------------------------------------------------------------------


def _check_tensors(where: str, value: Any) -> tuple[TensorSpec, ...]:
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_TENSORS:
        raise _fail(where, f"must be a list of 1..{MAX_TENSORS} tensor specs, got {show(value)}")
    specs = []
    for i, raw in enumerate(value):
        w = f"{where}[{i}]"
        if not isinstance(raw, dict) or set(raw) != {"name", "dtype", "shape"}:
            raise _fail(w, "must be a map of name, dtype and shape")
        name, dtype, shape = raw["name"], raw["dtype"], raw["shape"]
        if not isinstance(name, str) or not 0 < len(name) <= 64:
            raise _fail(f"{w}.name", f"must be a name of 1..64 characters, got {show(name)}")
        if dtype not in TENSOR_DTYPES:
            raise _fail(f"{w}.dtype", f"is {show(dtype)}; allowed: {', '.join(TENSOR_DTYPES)}")
        if not isinstance(shape, list) or len(shape) > MAX_RANK:
            raise _fail(
                f"{w}.shape", f"must be a list of at most {MAX_RANK} sizes, got {show(shape)}"
            )
        for d in shape:
            int_ok = isinstance(d, int) and not isinstance(d, bool) and 1 <= d <= MAX_DIM
            if not int_ok and not (isinstance(d, str) and 0 < len(d) <= 64):
                raise _fail(
                    f"{w}.shape", f"must hold sizes 1..{MAX_DIM} or dimension names, got {show(d)}"
                )
        specs.append(TensorSpec(name, dtype, tuple(shape)))
    if len({s.name for s in specs}) != len(specs):
        raise _fail(where, "names one tensor twice")
    return tuple(specs)


def _check_model(name: Any, raw: Any, spec: Manifest) -> ModelEntry:
    where = f"models.{name}"
    if not isinstance(name, str) or not 0 < len(name) <= 64:
        raise _fail("models", f"has a model with a bad name {show(name)}")
    if not isinstance(raw, dict):
        raise _fail(where, f"must be a map, got {show(raw)}")
    unknown = sorted(set(raw) - _MODEL_KEYS)
    if unknown:
        raise _fail(
            f"{where}.{unknown[0]}",
            f"is not a known field; known: {', '.join(sorted(_MODEL_KEYS))}",
        )
    onnx = raw.get("onnx")
    if not isinstance(onnx, bytes) or not onnx:
        raise _fail(f"{where}.onnx", f"must be non-empty bytes, got {show(onnx)}")
    if len(onnx) > MAX_MODEL_BYTES:
        raise _fail(f"{where}.onnx", f"is {len(onnx)} bytes; the limit is {MAX_MODEL_BYTES}")
    digest = hashlib.sha256(onnx).hexdigest()
    if raw.get("sha256") != digest:
        raise _fail(
            f"{where}.sha256",
            f"does not match the model bytes (stored {show(raw.get('sha256'))}, computed {digest[:12]}...)",
        )
    role = raw.get("role")
    if role not in MODEL_SHAPES:
        raise _fail(f"{where}.role", f"is {show(role)}; allowed: {', '.join(MODEL_SHAPES)}")
    if name in MODEL_ROLES and MODEL_ROLES[name][0] != role:
        raise _fail(
            f"{where}.role", f"is {role!r}; model {name!r} has role {MODEL_ROLES[name][0]!r}"
        )
    # every feature a model may be conditioned on: the plain layout, attributes, grooves
    features = set(condition_features(list(spec.states))) | set(
        condition_features(list(spec.states), ATTRIBUTES, MAX_GROOVES)
    )
    conditioning = raw.get("conditioning", [])
    if not isinstance(conditioning, list) or len(conditioning) > 1024:
        raise _fail(
            f"{where}.conditioning", f"must be a list of feature names, got {show(conditioning)}"
        )
    for i, feature in enumerate(conditioning):
        if not isinstance(feature, str) or feature not in features:
            raise _fail(
                f"{where}.conditioning[{i}]",
                f"is {show(feature)}; allowed: intensity, attr:<{'|'.join(ATTRIBUTES)}>, "
                f"valence, state:<state>, chord_root:0..11, chord_minor, "
                f"phrase_bar:0..{PHRASE_BARS - 1}, groove:0..{MAX_GROOVES - 1}",
            )
    meta = raw.get("meta", {})
    _check_meta(f"{where}.meta", role, meta)
    entry = ModelEntry(
        name=name,
        role=role,
        onnx=onnx,
        inputs=_check_tensors(f"{where}.inputs", raw.get("inputs")),
        outputs=_check_tensors(f"{where}.outputs", raw.get("outputs")),
        conditioning=tuple(conditioning),
        meta=meta,
    )
    vars(entry)["sha256"] = digest  # the cached property, from the digest just checked
    _check_contract(entry, spec)
    return entry


def _check_meta(where: str, role: str, meta: Any) -> None:
    try:
        Plain().load(meta, where)
        cls, known = known_meta(role, meta)
        if cls is not None:
            typed = cls(**load_fields(cls, known, where, BUNDLE))
            check = getattr(typed, "check", None)
            if check is not None:
                check(where)
    except SchemaError as exc:
        raise BundleError(_field_error(exc)) from None


def _sizes(entry: ModelEntry, spec: Manifest) -> dict[str, int]:
    meta = entry.meta
    return {
        "C": len(entry.conditioning),
        "V": len(spec.vocabulary),
        "N": len(CHORDS),
        "D": len(DRUM_VOICES),
        "H": meta.get("hidden_size", 0),
        "Z": meta.get("latent_size", 0),
        "S": meta.get("steps", 0),
    }


def _check_contract(entry: ModelEntry, spec: Manifest) -> None:
    """Declared IO against the role's contract, with sizes from the manifest and meta."""
    where = f"models.{entry.name}"
    want_in, want_out = MODEL_SHAPES[entry.role]
    steps = spec.meter.steps_per_bar
    for key in ("steps", "steps_per_bar"):
        if key in entry.meta and entry.meta[key] != steps:
            raise _fail(
                f"{where}.meta.{key}",
                f"is {show(entry.meta[key])}; the meter {spec.meter} has {steps} steps per bar",
            )
    sizes = _sizes(entry, spec)
    for label, declared, wanted in (
        ("inputs", entry.inputs, want_in),
        ("outputs", entry.outputs, want_out),
    ):
        names = [t.name for t in declared]
        if set(names) != set(wanted):
            raise _fail(
                f"{where}.{label}", f"are {names}; role {entry.role!r} needs {list(wanted)}"
            )
        for i, tensor in enumerate(declared):
            dtype, shape = wanted[tensor.name]
            at = f"{where}.{label}[{i}]"
            if tensor.dtype != dtype:
                raise _fail(f"{at}.dtype", f"is {tensor.dtype!r}; {tensor.name!r} is {dtype}")
            expected = [d if isinstance(d, int) or d == "K" else sizes[d] for d in shape]
            ok = len(tensor.shape) == len(expected) and all(
                (e == "K" and (isinstance(d, str) or d >= 1)) or d == e
                for d, e in zip(tensor.shape, expected, strict=True)
            )
            if not ok:
                raise _fail(
                    f"{at}.shape", f"is {list(tensor.shape)}; {tensor.name!r} must be {expected}"
                )


# --- ONNX: the graph, the session and a dry run --------------------------------------------

_ORT_TYPES = {"float32": "tensor(float)", "int64": "tensor(int64)"}
_SESSION_CACHE: OrderedDict[tuple[Any, ...], Any] = OrderedDict()
_CACHE_SIZE = 16
_CACHE_LOCK = threading.Lock()


def _validated_session(entry: ModelEntry, spec: Manifest) -> Any:
    """Check the graph, open the session, compare IO and dry-run; cached by bytes and IO."""
    from ._onnx_check import OnnxPolicyError, check_policy, dry_run, inspect_onnx, open_session

    key = (entry.sha256, entry.inputs, entry.outputs)
    with _CACHE_LOCK:
        if key in _SESSION_CACHE:
            _SESSION_CACHE.move_to_end(key)
            return _SESSION_CACHE[key]
    where = f"models.{entry.name}"
    try:
        check_policy(inspect_onnx(entry.onnx))
    except OnnxPolicyError as exc:
        raise _fail(f"{where}.onnx", f"is refused: {exc}") from None
    try:
        session = open_session(entry.onnx)
    except Exception as exc:  # onnxruntime raises its own hierarchy for bad graphs
        raise _fail(f"{where}.onnx", f"is not a loadable ONNX model: {_first_line(exc)}") from None
    _check_actual_io(where, entry, session)
    try:
        results = dry_run(
            session,
            [(t.name, t.dtype, t.shape) for t in entry.inputs],
            [t.name for t in entry.outputs],
        )
    except OnnxPolicyError as exc:
        raise _fail(f"{where}.onnx", str(exc)) from None
    _check_dry_run(where, entry, results)
    with _CACHE_LOCK:
        _SESSION_CACHE[key] = session
        while len(_SESSION_CACHE) > _CACHE_SIZE:
            _SESSION_CACHE.popitem(last=False)
    return session


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    line = lines[0] if lines else type(exc).__name__
    return line if len(line) <= 300 else line[:297] + "..."


def _check_actual_io(where: str, entry: ModelEntry, session: Any) -> None:
    for label, declared, actual in (
        ("inputs", entry.inputs, session.get_inputs()),
        ("outputs", entry.outputs, session.get_outputs()),
    ):
        graph = {a.name: a for a in actual}
        if sorted(graph) != sorted(t.name for t in declared):
            raise _fail(
                f"{where}.{label}",
                f"declares {sorted(t.name for t in declared)} but the ONNX graph has {sorted(graph)}",
            )
        for i, tensor in enumerate(declared):
            node = graph[tensor.name]
            if node.type != _ORT_TYPES[tensor.dtype]:
                raise _fail(
                    f"{where}.{label}[{i}].dtype",
                    f"is {tensor.dtype} but the graph has {node.type}",
                )
            shape = list(node.shape) if node.shape is not None else []
            ok = len(shape) == len(tensor.shape) and all(
                not isinstance(g, int) or not isinstance(d, int) or g == d
                for g, d in zip(shape, tensor.shape, strict=True)
            )
            if not ok:
                raise _fail(
                    f"{where}.{label}[{i}].shape",
                    f"is {list(tensor.shape)} but the graph has {shape}",
                )


def _check_dry_run(where: str, entry: ModelEntry, results: Mapping[str, np.ndarray]) -> None:
    from ._onnx_check import SYMBOLIC_DIM

    symbols = {d for t in entry.inputs for d in t.shape if isinstance(d, str)}
    for i, tensor in enumerate(entry.outputs):
        value = results[tensor.name]
        at = f"{where}.outputs[{i}]"
        if not isinstance(value, np.ndarray) or value.dtype != np.dtype(tensor.dtype):
            raise _fail(
                f"{at}.dtype",
                f"is {tensor.dtype} but the dry run gave {getattr(value, 'dtype', type(value).__name__)}",
            )
        expected = [
            d if isinstance(d, int) else (SYMBOLIC_DIM if d in symbols else None)
            for d in tensor.shape
        ]
        ok = value.ndim == len(expected) and all(
            e is None or e == s for e, s in zip(expected, value.shape, strict=True)
        )
        if not ok:
            raise _fail(
                f"{at}.shape", f"is {list(tensor.shape)} but the dry run gave {list(value.shape)}"
            )
        if value.dtype == np.float32 and not np.isfinite(value).all():
            raise _fail(f"{at}", f"{tensor.name!r} is not finite in the dry run on zeros")


# --- encode / decode ----------------------------------------------------------------------


def _check_body(
    body: Any,
) -> tuple[Manifest, dict[str, ModelEntry], dict[str, Mapping[str, Any]]]:
    if not isinstance(body, dict) or not {"manifest", "models"} <= set(body) <= _BODY_KEYS:
        raise _fail("body", "must be a map of 'manifest', 'models' and optionally 'samplers'")
    try:
        spec = load_manifest(body["manifest"])
    except SchemaError as exc:
        raise BundleError(_field_error(exc)) from None
    if spec.vocabulary != Vocabulary.default().tokens:
        raise _fail(
            "manifest.vocabulary",
            f"is not the vocabulary this adaptive speaks ({len(spec.vocabulary)} tokens)",
        )
    features = set(condition_features(list(spec.states)))
    for i, feature in enumerate(spec.conditioning):
        if feature not in features:
            raise _fail(
                f"manifest.conditioning[{i}]",
                f"is {feature!r}, not a feature of this bundle's states",
            )
    raw_models = body["models"]
    if not isinstance(raw_models, dict) or not 1 <= len(raw_models) <= MAX_MODELS:
        raise _fail("models", f"must be a map of 1..{MAX_MODELS} models, got {show(raw_models)}")
    models = {name: _check_model(name, raw, spec) for name, raw in raw_models.items()}
    for stem in spec.stems.values():
        for needed in STEM_MODELS[stem.role]:
            if needed not in models:
                raise _fail(
                    f"models.{needed}",
                    f"is missing; stem {stem.name!r} (role {stem.role}) needs it",
                )
    raw_samplers = body.get("samplers", {})
    if not isinstance(raw_samplers, dict) or len(raw_samplers) > len(spec.stems):
        raise _fail("samplers", f"must be a map of stem names, got {show(raw_samplers)}")
    for stem_name in raw_samplers:
        if stem_name not in spec.stems:
            raise _fail(f"samplers.{show(stem_name)}", "is not a stem of this bundle")
    samplers = {stem: check_sampler(stem, raw) for stem, raw in raw_samplers.items()}
    return spec, models, samplers


def encode_bundle(
    manifest: Mapping[str, Any] | Manifest,
    models: Mapping[str, ModelEntry],
    samplers: Mapping[str, Mapping[str, Any]] | None = None,
) -> bytes:
    """Validate and serialize; raises BundleError for anything read_bundle would refuse.

    ``samplers``: stem -> SoundFont preset data (see ``adaptive._samplers``).

    ``manifest`` is a ``Manifest`` or its plain-data form; it is stored normalized
    (``dump_manifest``): required fields always, others only when not at their default.
    """
    try:
        spec = manifest if isinstance(manifest, Manifest) else load_manifest(dict(manifest))
    except SchemaError as exc:
        raise BundleError(_field_error(exc)) from None
    body = {
        "manifest": dump_manifest(spec),
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
    if samplers:
        body["samplers"] = {stem: dict(preset) for stem, preset in samplers.items()}
    data = pack_body(body)
    decode_bundle(data)  # the writer never produces what the reader refuses
    return data


def pack_body(body: Mapping[str, Any]) -> bytes:
    """The v2 file bytes for a body map (``{"manifest", "models"}``), with its digest; unchecked."""
    try:
        packed = msgpack.packb(dict(body), use_bin_type=True)
        return msgpack.packb(
            {
                "format": FORMAT_NAME,
                "format_version": FORMAT_VERSION,
                "body_sha256": hashlib.sha256(packed).hexdigest(),
                "body": packed,
            },
            use_bin_type=True,
        )
    except (TypeError, ValueError, OverflowError) as exc:
        raise BundleError(f"bundle cannot be encoded: {exc}") from None


def decode_bundle(data: bytes, path: Path | None = None) -> Bundle:
    """Parse and validate bundle bytes. Every failure is a BundleError naming the field."""
    prefix = f"{path}: " if path else ""
    try:
        return _decode(data, path)
    except BundleError as exc:
        raise BundleError(f"{prefix}{exc}") from None
    except RecursionError:  # defence in depth: _scan bounds nesting before anything recurses
        raise BundleError(f"{prefix}bundle nests too deeply") from None


def _decode(data: bytes, path: Path | None) -> Bundle:
    if not isinstance(data, bytes | bytearray | memoryview):
        raise BundleError(f"bundle data must be bytes, got {show(data)}")
    data = bytes(data)
    if len(data) > MAX_BUNDLE_BYTES:
        raise BundleError(f"bundle is {len(data)} bytes; the limit is {MAX_BUNDLE_BYTES}")
    if not data:
        raise BundleError("bundle is empty")
    if data[0] & 0xF0 != 0x80 and data[0] not in (0xDE, 0xDF):
        raise BundleError("not a bundle: the file does not start with a msgpack map")
    version = _peek_version(data)
    if type(version) is int and version == 1:
        body = _unpack(
            data,
            "(file)",
            max_bin=MAX_MODEL_BYTES,
            max_str=MAX_STR,
            max_array=MAX_ARRAY,
            max_map=MAX_MAP,
        )
        _check_header(body, 1, {"format", "format_version", "manifest", "models"})
        body = {"manifest": body.get("manifest"), "models": body.get("models")}
    else:
        outer = _unpack(
            data, "(file)", max_bin=MAX_BUNDLE_BYTES, max_str=256, max_array=16, max_map=16
        )
        _check_header(outer, 2, {"format", "format_version", "body_sha256", "body"})
        raw = outer.get("body")
        if not isinstance(raw, bytes):
            raise _fail("body", f"must be bytes, got {show(raw)}")
        if outer.get("body_sha256") != hashlib.sha256(raw).hexdigest():
            raise _fail("body_sha256", "does not match the body: the file is corrupt")
        body = _unpack(
            raw,
            "body",
            max_bin=MAX_MODEL_BYTES,
            max_str=MAX_STR,
            max_array=MAX_ARRAY,
            max_map=MAX_MAP,
        )
    spec, models, samplers = _check_body(body)
    sessions = {name: _validated_session(entry, spec) for name, entry in models.items()}
    return Bundle(
        manifest=body["manifest"],
        models=models,
        sha256=hashlib.sha256(data).hexdigest(),
        path=path,
        spec=spec,
        _sessions=sessions,
        samplers=samplers,
    )


def _peek_version(data: bytes) -> Any:
    """The format version, read with tight limits before the whole file is unpacked."""
    unpacker = msgpack.Unpacker(
        raw=False,
        max_buffer_size=len(data),
        max_str_len=256,
        max_bin_len=0,
        max_array_len=0,
        max_map_len=16,
        max_ext_len=0,
    )
    unpacker.feed(data[:4096])
    try:
        pairs = unpacker.read_map_header()
        for _ in range(min(pairs, 16)):
            key = unpacker.unpack()
            if key == "format_version":
                return unpacker.unpack()
            unpacker.skip()
    except Exception:
        pass
    return FORMAT_VERSION  # the full read names the problem


def _check_header(payload: Any, version: int, keys: set[str]) -> None:
    if not isinstance(payload, dict):
        raise BundleError("bundle must be a msgpack map at the top level")
    if payload.get("format") != FORMAT_NAME:
        raise _fail("format", f"must be {FORMAT_NAME!r}, got {show(payload.get('format'))}")
    found = payload.get("format_version")
    if type(found) is not int or found not in READABLE_VERSIONS or found != version:
        raise _fail(
            "format_version",
            f"is {show(found)}; this adaptive reads {', '.join(map(str, READABLE_VERSIONS))}",
        )
    unknown = sorted(str(k) for k in set(payload) - keys)
    missing = sorted(keys - set(payload))
    if unknown:
        raise _fail(unknown[0], f"is not a known field of format {version}")
    if missing:
        raise _fail(missing[0], "is missing")


def read_bundle(path: str | os.PathLike[str]) -> Bundle:
    """Read and validate the bundle at ``path`` (see the module docstring for every check)."""
    if not isinstance(path, str | os.PathLike):
        raise BundleError(f"a bundle path must be a str or a path, got {show(path)}")
    try:
        path = Path(path)
    except Exception as exc:  # noqa: BLE001 - a PathLike whose __fspath__ fails or lies
        raise BundleError(
            f"a bundle path must be a str or a path: {type(exc).__name__}: {exc}"
        ) from None
    return decode_bundle(_read_regular_file(path), path)


def _read_regular_file(path: Path) -> bytes:
    flags = (
        os.O_RDONLY
        | getattr(os, "O_NONBLOCK", 0)
        | getattr(os, "O_CLOEXEC", 0)
        | getattr(os, "O_BINARY", 0)
    )
    try:
        fd = os.open(path, flags)  # O_NONBLOCK: a FIFO without a writer must not block here
    except FileNotFoundError:
        raise BundleError(f"{path}: bundle file not found") from None
    except IsADirectoryError:
        raise BundleError(f"{path}: is a directory, not a bundle file") from None
    except (OSError, ValueError) as exc:
        raise BundleError(
            f"{path}: cannot open bundle: {getattr(exc, 'strerror', None) or exc}"
        ) from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise BundleError(f"{path}: is a directory, not a bundle file")
        if not stat.S_ISREG(info.st_mode):
            raise BundleError(f"{path}: is not a regular file (a device, FIFO or socket)")
        if info.st_size > MAX_BUNDLE_BYTES:
            raise BundleError(
                f"{path}: bundle is {info.st_size} bytes; the limit is {MAX_BUNDLE_BYTES}"
            )
        chunks, total = [], 0
        while True:  # the size can change under us: never read past the limit
            chunk = os.read(fd, min(1 << 20, MAX_BUNDLE_BYTES + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if total > MAX_BUNDLE_BYTES:
                raise BundleError(
                    f"{path}: bundle is larger than the limit of {MAX_BUNDLE_BYTES} bytes"
                )
        return b"".join(chunks)
    except OSError as exc:
        raise BundleError(f"{path}: cannot read bundle: {exc.strerror}") from None
    finally:
        os.close(fd)


def _fsync_directory(folder: Path) -> None:
    if os.name != "posix":
        return
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems cannot sync a directory; the rename is still atomic
    finally:
        os.close(fd)


def repack_bundle(src: str | os.PathLike[str], dst: str | os.PathLike[str] | None = None) -> str:
    """Re-encode a bundle in the current format (e.g. v1 -> v2) without retraining.

    The models' bytes stay as they are; the manifest is normalized. Returns the new sha256.
    The default bundle was repacked with::

        python -c "import adaptive; adaptive.repack_bundle('adaptive/data/default.adaptive')"
    """
    bundle = read_bundle(src)
    return write_bundle(
        dst if dst is not None else src, bundle.spec, bundle.models, bundle.samplers
    )


def write_bundle(
    path: str | os.PathLike[str],
    manifest: Mapping[str, Any] | Manifest,
    models: Mapping[str, ModelEntry],
    samplers: Mapping[str, Mapping[str, Any]] | None = None,
) -> str:
    """Write atomically (temporary file, then rename); returns the file's sha256.

    On any failure the file that was at ``path`` before stays as it was.
    """
    path = Path(path)
    data = encode_bundle(manifest, models, samplers)
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
    _fsync_directory(path.parent)  # the rename itself survives a power cut
    return hashlib.sha256(data).hexdigest()
