"""A mutation corpus built from the default bundle: every mutant must be a BundleError.

``mutant(index, seed)`` returns ``(kind, bytes)``, deterministic for (index, seed); the
kind cycles through ``KINDS`` so any run of ``len(KINDS)`` consecutive indices covers
every class. Every mutator makes a bundle that is invalid *by construction* (a bad value
for the field's own check, a required field deleted, a digest that no longer matches, a
refused ONNX construct), so a mutant that loads is a validator bug, never noise.

Classes: truncations; bit flips in the header, the manifest and the models (digest);
random byte writes; msgpack field deletions, bad-typed or out-of-range values, swaps of
fields of different kinds, huge sizes, deep nesting (v2 with a fresh digest, and v1,
which has none); format fields; hostile ONNX graphs (external data, Loop 2**62, If,
custom domains and ops, wrong shapes, inf outputs, local functions); ONNX surgery on the
real models (op types, domains, external initializers, opsets, training info) and ONNX
truncations, each with a matching sha256.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Callable
from functools import cache
from typing import Any

import msgpack

from adaptive._bundle import default_bundle_path, pack_body
from adaptive._schema import (
    ABSENT,
    REQUIRED,
    Boolean,
    Check,
    Choice,
    Fade,
    Gains,
    Integer,
    Items,
    Manifest,
    MixSpec,
    Name,
    Named,
    Note,
    Number,
    ParameterSpec,
    Parsed,
    Plain,
    ProvenanceEntry,
    Sha256,
    StateSpec,
    StemSpec,
    StingerSpec,
    Table,
    Text,
    TrainingRecord,
    TransitionSpec,
    _rules,
)

Body = dict[str, Any]

# --- the base: the default bundle plus the optional tables, so they exist to break -------


@cache
def _default_bytes() -> bytes:
    return default_bundle_path().read_bytes()


@cache
def _base_body_bytes() -> bytes:
    body = msgpack.unpackb(msgpack.unpackb(_default_bytes(), raw=False)["body"], raw=False)
    manifest = body["manifest"]
    manifest["transitions"] = [{"from": "explore", "to": "combat", "sync": "bars", "bars": 2}]
    manifest["mix"] = {"loudness_lufs": -14.0}
    manifest["stems"]["melody"]["preset"] = 3
    return msgpack.packb(body, use_bin_type=True)


def base_body(light: bool = False) -> Body:
    """A fresh copy of the base body (the default bundle plus a transition, a mix, a preset).

    ``light`` swaps the model bytes for a stub (keeping their sha256 fields): manifest
    errors are raised before any model is read, so a mutation that wrongly passed the
    manifest fails on the stub with another message.
    """
    body = msgpack.unpackb(_base_body_bytes(), raw=False)
    if light:
        for model in body["models"].values():
            model["onnx"] = b"stub"
    return body


# Where each schema class sits in the base body: (field path, getter of its table).
SITES: dict[type, tuple[str, Callable[[Body], dict[str, Any]]]] = {
    Manifest: ("manifest", lambda b: b["manifest"]),
    StemSpec: ("manifest.stems.melody", lambda b: b["manifest"]["stems"]["melody"]),
    StateSpec: ("manifest.states.combat", lambda b: b["manifest"]["states"]["combat"]),
    ParameterSpec: (
        "manifest.parameters.intensity",
        lambda b: b["manifest"]["parameters"]["intensity"],
    ),
    StingerSpec: ("manifest.stingers.hit", lambda b: b["manifest"]["stingers"]["hit"]),
    TransitionSpec: ("manifest.transitions[0]", lambda b: b["manifest"]["transitions"][0]),
    MixSpec: ("manifest.mix", lambda b: b["manifest"]["mix"]),
    ProvenanceEntry: ("manifest.provenance[0]", lambda b: b["manifest"]["provenance"][0]),
    TrainingRecord: ("manifest.training", lambda b: b["manifest"]["training"]),
}

# Every table of each class in the base body, for the fuzzer to pick from.
_ALL_TABLES: dict[type, Callable[[Body], list[dict[str, Any]]]] = {
    Manifest: lambda b: [b["manifest"]],
    StemSpec: lambda b: list(b["manifest"]["stems"].values()),
    StateSpec: lambda b: list(b["manifest"]["states"].values()),
    ParameterSpec: lambda b: list(b["manifest"]["parameters"].values()),
    StingerSpec: lambda b: list(b["manifest"]["stingers"].values()),
    TransitionSpec: lambda b: b["manifest"]["transitions"],
    MixSpec: lambda b: [b["manifest"]["mix"]],
    ProvenanceEntry: lambda b: b["manifest"]["provenance"],
    TrainingRecord: lambda b: [b["manifest"]["training"]],
}


def deep(levels: int) -> Any:
    value: Any = 1
    for _ in range(levels):
        value = [value]
    return value


def bad_values(check: Check) -> list[Any]:
    """Values the check must refuse, chosen by the kind of check."""
    if isinstance(check, Number):
        return [math.inf, -math.inf, math.nan, check.hi + 1, "1", True]
    if isinstance(check, Integer):
        return [check.hi + 1, check.lo - 1, 1.5, True, 2**64 - 1, "3"]
    if isinstance(check, Name):
        return ["", " padded", "*", "x" * 65, 3]
    if isinstance(check, Text):
        return [3, ["list"], "x" * (check.max_len + 1)] + ([] if check.empty else ["", "  "])
    if isinstance(check, Choice):
        return ["kazoo", 3, ""]
    if isinstance(check, Boolean):
        return [1, "yes", None]
    if isinstance(check, Parsed):
        return ["H major", 3]
    if isinstance(check, Sha256):
        return ["G" * 64, 3]
    if isinstance(check, Fade):
        return [[0.6, 0.2], [0.0, 2.0], [0.0], 0.5, [0.0, math.inf]]
    if isinstance(check, Note):
        return [[0, 0, 10**12, 100], [0, 0, 1], [64, 0, 1, 100], [0, 0, 1, 0], "n"]
    if isinstance(check, Items):
        item = bad_values(check.item)[:2]
        too_many = [None] * (check.max_len + 1)
        empty = [[]] if check.min_len else []
        return [3, {"a": 1}, too_many, *empty, *[[v] for v in item]]
    if isinstance(check, Named):
        return [3, [], {"": {}}, {f"n{i}": {} for i in range(check.max_len + 1)}]
    if isinstance(check, Gains):
        return [3, {"melody": -math.inf}, {"melody": 3.0}, {"melody": "loud"}]
    if isinstance(check, Plain):
        return [3, {"deep": deep(12)}, {"x": math.inf}, {"t": "x" * 5000}, {"b": b"raw"}]
    if isinstance(check, Table):
        return [3, [], {"unknown_field": 1}]
    raise AssertionError(f"no bad values for {type(check).__name__}; add them here")


def _kind(check: Check) -> str:
    """What a value of this check looks like: swapping values of two kinds breaks both."""
    if isinstance(check, Number | Integer):
        return "number"
    if isinstance(check, Boolean):
        return "bool"
    if isinstance(check, Items | Fade | Note):
        return "list"
    if isinstance(check, Named | Gains | Plain | Table):
        return "map"
    return "text"


# Model entry fields and values each of them refuses (for any model).
MODEL_BAD: dict[str, list[Any]] = {
    "role": ["kazoo", 3, None, "critic"],
    "onnx": [b"", "text", 3, None],
    "sha256": ["0" * 64, 3, None],
    "inputs": [3, [], [{"name": "x"}], [{"name": "x", "dtype": "float64", "shape": [1]}] * 2],
    "outputs": [3, [], [{"name": "y", "dtype": "int64", "shape": [2**62]}]],
    "conditioning": [3, ["state:nap"], [None], ["intensity"] * 2000],
    "meta": [3, [1], {"x": deep(12)}, {"x": math.nan}],
}

# --- byte-level helpers ------------------------------------------------------------------


def with_raw(body: Body, table: dict[str, Any], key: str, raw: bytes, v1: bool = False) -> bytes:
    """Pack ``body`` with ``table[key]`` replaced by raw msgpack bytes (any nesting)."""
    marker = f"@@RAW-{id(table)}@@"
    table[key] = marker
    packed = msgpack.packb(body, use_bin_type=True).replace(msgpack.packb(marker), raw, 1)
    if v1:
        return _v1(packed)
    return msgpack.packb(
        {
            "format": "adaptive-bundle",
            "format_version": 2,
            "body_sha256": hashlib.sha256(packed).hexdigest(),
            "body": packed,
        },
        use_bin_type=True,
    )


def _v1(packed_body: bytes) -> bytes:
    """A v1 file (no digest) around a packed body map of manifest and models."""
    header = msgpack.packb({"format": "adaptive-bundle", "format_version": 1})
    # merge two maps: a fixmap of 2 entries + the body's 2 entries -> a fixmap of 4
    assert header[0] == 0x82 and packed_body[0] == 0x82
    return bytes([0x84]) + header[1:] + packed_body[1:]


def _pack(body: Body, rng: random.Random, v1_share: float = 0.25) -> bytes:
    packed = msgpack.packb(body, use_bin_type=True)
    return _v1(packed) if rng.random() < v1_share else pack_body(body)


@cache
def _regions() -> dict[str, tuple[int, int]]:
    data = _default_bytes()
    body = msgpack.unpackb(data, raw=False)["body"]
    start = data.index(body)
    manifest_end = start + body.index(msgpack.packb("models"))
    return {
        "header": (0, start),
        "manifest": (start, manifest_end),
        "models": (manifest_end, len(data)),
    }


def _flip(rng: random.Random, region: str) -> bytes:
    data = bytearray(_default_bytes())
    lo, hi = _regions()[region]
    for pos in rng.sample(range(lo, hi), rng.randint(1, 8)):  # distinct: flips never cancel
        data[pos] ^= 1 << rng.randrange(8)
    return bytes(data)


# --- mutators ----------------------------------------------------------------------------


def _truncate(rng: random.Random) -> bytes:
    data = _default_bytes()
    return data[: rng.choice([rng.randrange(64), rng.randrange(len(data))])]


def _bytes_random(rng: random.Random) -> bytes:
    data = bytearray(_default_bytes())
    for pos in rng.sample(range(len(data)), rng.randint(1, 16)):
        data[pos] = (data[pos] + rng.randint(1, 255)) % 256  # always a different byte
    return bytes(data)


def _pick_rule(rng: random.Random, body: Body, want: Callable[[Any], bool]) -> tuple[Any, ...]:
    while True:
        cls = rng.choice(list(_ALL_TABLES))
        rules = [r for _, r, _ in _rules(cls) if want(r)]
        tables = _ALL_TABLES[cls](body)
        if rules and tables:
            return rng.choice(tables), rng.choice(rules)


def _bad_value(rng: random.Random) -> bytes:
    body = base_body()
    table, rule = _pick_rule(rng, body, lambda r: True)
    value = "x" if rule.bundle == ABSENT else rng.choice(bad_values(rule.check))
    table[rule.key] = value
    return _pack(body, rng)


def _delete_field(rng: random.Random) -> bytes:
    body = base_body()
    if rng.random() < 0.25:
        entry = body["models"][rng.choice(list(body["models"]))]
        del entry[rng.choice(["role", "onnx", "sha256", "inputs", "outputs"])]
    else:
        table, rule = _pick_rule(rng, body, lambda r: r.bundle == REQUIRED)
        del table[rule.key]
    return _pack(body, rng)


def _swap_fields(rng: random.Random) -> bytes:
    body = base_body()
    if rng.random() < 0.2:  # two models of different roles trade their bytes (and sha256)
        models = body["models"]
        a, b = rng.sample(["harmony", "melody", "drums_generator", "drums_critic"], 2)
        for key in ("onnx", "sha256"):
            models[a][key], models[b][key] = models[b][key], models[a][key]
        return _pack(body, rng)
    while True:
        cls = rng.choice(list(_ALL_TABLES))
        table = rng.choice(_ALL_TABLES[cls](body) or [{}])
        present = [r for _, r, _ in _rules(cls) if r.key in table]
        pairs = [(x, y) for x in present for y in present if _kind(x.check) != _kind(y.check)]
        if pairs:
            x, y = rng.choice(pairs)
            table[x.key], table[y.key] = table[y.key], table[x.key]
            return _pack(body, rng)


def _model_bad_value(rng: random.Random) -> bytes:
    body = base_body()
    entry = body["models"][rng.choice(list(body["models"]))]
    key = rng.choice(list(MODEL_BAD))
    entry[key] = rng.choice(MODEL_BAD[key])
    if key == "role" and entry[key] == "critic" and entry is body["models"]["drums_critic"]:
        entry[key] = "sequence"  # its own role would be valid
    return _pack(body, rng)


def _huge_size(rng: random.Random) -> bytes:
    body = base_body()
    m = body["manifest"]
    choice = rng.randrange(10)
    if choice == 0:
        m["vocabulary"] = m["vocabulary"] * 30
    elif choice == 1:
        m["name"] = "x" * rng.choice([65, 5000, 70_000])
    elif choice == 2:
        m["stems"] = {f"s{i}": m["stems"]["bass"] for i in range(rng.choice([65, 11_000]))}
    elif choice == 3:
        m["stingers"]["hit"]["notes"] = [[0, 0, 1, 100]] * rng.choice([65, 100_001])
    elif choice == 4:
        m["stingers"]["hit"]["notes"][0] = [0, 0, rng.choice([10**12, 2**63 - 1]), 100]
    elif choice == 5:
        m["provenance"] = m["provenance"] * 50
    elif choice == 6:
        body["models"]["melody"]["inputs"] = body["models"]["melody"]["inputs"] * 400
    elif choice == 7:
        body["models"]["drums_generator"]["outputs"][0]["shape"] = ["K", 6, 2**40]
    elif choice == 8:
        body["models"]["harmony"]["meta"]["orders"] = list(range(120_000))
    else:  # a bin header claiming 4 GiB, raw
        return with_raw(body, m, "description", b"\xc6\xff\xff\xff\xf0" + b"x" * 64)
    return _pack(body, rng)


def _deep_nesting(rng: random.Random) -> bytes:
    body = base_body()
    table, rule = _pick_rule(rng, body, lambda r: _kind(r.check) in ("text", "number"))
    levels = rng.choice([9, 20, 40, 998, 5000, 100_000])
    opener = rng.choice([b"\x91", b"\x81\xa1k"])  # [x] or {"k": x}
    raw = opener * levels + b"\xc0"
    return with_raw(body, table, rule.key, raw, v1=rng.random() < 0.25)


def _format_field(rng: random.Random) -> bytes:
    payload = msgpack.unpackb(_default_bytes(), raw=False)
    choice = rng.randrange(7)
    if choice == 0:
        payload["format_version"] = rng.choice([0, 1, 3, 99, -1, "2", True, 2.0, None])
    elif choice == 1:
        payload["format"] = rng.choice(["zip", "", 3, None, "adaptive-bundle "])
    elif choice == 2:
        del payload[rng.choice(list(payload))]
    elif choice == 3:
        payload["body_sha256"] = rng.choice(["0" * 64, "", 3, None])
    elif choice == 4:
        payload["body"] = rng.choice(["text", 3, None, b"", b"\x80"])
    elif choice == 5:
        payload["extra"] = 1
    else:
        return msgpack.packb([payload])  # not a map at the top
    return msgpack.packb(payload, use_bin_type=True)


def _hostile_onnx(rng: random.Random) -> bytes:
    from . import hostile

    body = base_body()
    name = rng.choice(list(hostile.HOSTILE))
    slot = "harmony" if rng.random() < 0.8 else rng.choice(["melody", "drums_critic"])
    cond = len(body["manifest"]["conditioning"])
    hostile.swap_model(body, slot, hostile.HOSTILE[name](cond))
    return _pack(body, rng)


_BAD_OPS = [
    "Loop",
    "Scan",
    "If",
    "RandomNormal",
    "Multinomial",
    "Evil",
    "Upsample",
    "StringNormalizer",
]


def _onnx_surgery(rng: random.Random) -> bytes:
    import onnx
    from onnx import TensorProto

    from . import hostile

    body = base_body()
    slot = rng.choice(list(body["models"]))
    model = onnx.load_from_string(body["models"][slot]["onnx"])
    graph = model.graph
    choice = rng.randrange(6)
    if choice == 0:
        rng.choice(graph.node).op_type = rng.choice(_BAD_OPS)
    elif choice == 1:
        rng.choice(graph.node).domain = rng.choice(["com.microsoft", "ai.onnx.ml", "evil"])
    elif choice == 2:
        constants = [n.attribute[0].t for n in graph.node if n.op_type == "Constant"]
        tensor = rng.choice(list(graph.initializer) or constants)
        tensor.data_location = TensorProto.EXTERNAL
        entry = tensor.external_data.add()
        entry.key, entry.value = "location", rng.choice(["w.bin", "../w.bin", "/etc/passwd"])
    elif choice == 3:
        model.opset_import[0].version = rng.choice([1, 7, 99, 10**6])
    elif choice == 4:
        model.training_info.add()
    else:
        del model.opset_import[:]
    hostile.swap_model(body, slot, model.SerializeToString())
    return _pack(body, rng)


def _onnx_truncate(rng: random.Random) -> bytes:
    from . import hostile

    body = base_body()
    slot = rng.choice(list(body["models"]))
    data = body["models"][slot]["onnx"]
    hostile.swap_model(body, slot, data[: rng.randrange(1, len(data))])
    return _pack(body, rng)


MUTATORS: dict[str, Callable[[random.Random], bytes]] = {
    "truncate": _truncate,
    "flip_header": lambda rng: _flip(rng, "header"),
    "flip_manifest": lambda rng: _flip(rng, "manifest"),
    "flip_models": lambda rng: _flip(rng, "models"),
    "bytes_random": _bytes_random,
    "bad_value": _bad_value,
    "delete_field": _delete_field,
    "swap_fields": _swap_fields,
    "model_bad_value": _model_bad_value,
    "huge_size": _huge_size,
    "deep_nesting": _deep_nesting,
    "format_field": _format_field,
    "hostile_onnx": _hostile_onnx,
    "onnx_surgery": _onnx_surgery,
    "onnx_truncate": _onnx_truncate,
}
KINDS = tuple(MUTATORS)


def mutant(index: int, seed: int = 0) -> tuple[str, bytes]:
    """The ``index``-th mutant of the corpus for ``seed``: (its class, its bytes)."""
    kind = KINDS[index % len(KINDS)]
    return kind, MUTATORS[kind](random.Random(f"{seed}:{index}"))


# --- the long run: every case in a capped subprocess ------------------------------------

MEMORY_CAP_BYTES = 1 << 30  # RLIMIT_AS of every worker process
CASE_TIMEOUT_SECONDS = 1.0


def _worker(conn: Any, seed: int) -> None:
    """Decode the mutants the parent names; report (index, kind, outcome, cpu s, wall s, text)."""
    import resource
    import time

    from adaptive import BundleError
    from adaptive._bundle import decode_bundle

    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP_BYTES, MEMORY_CAP_BYTES))
    decode_bundle(_default_bytes())  # warm: imports and the default models' sessions
    while True:
        index = conn.recv()
        if index is None:
            return
        kind, data = mutant(index, seed)
        conn.send(("start", index))
        cpu, wall = time.thread_time(), time.perf_counter()
        try:
            decode_bundle(data)
            outcome, text = "loaded", ""
        except BundleError as exc:
            outcome, text = "BundleError", str(exc)[:200]
        except BaseException as exc:  # noqa: BLE001 - every other exception is an escape
            outcome, text = type(exc).__name__, str(exc)[:200]
        conn.send(
            (index, kind, outcome, time.thread_time() - cpu, time.perf_counter() - wall, text)
        )


def run_corpus(count: int, seed: int = 1, workers: int = 2) -> dict[str, Any]:
    """Decode ``count`` mutants in ``workers`` capped subprocesses; return the tally.

    A case that runs longer than CASE_TIMEOUT_SECONDS (wall clock, from the moment its
    bytes are ready) is killed and counted as a timeout; a worker that dies (for example
    at the memory cap) is counted as a crash; both are escapes. Workers are restarted.
    """
    import multiprocessing
    import time
    from collections import Counter

    context = multiprocessing.get_context("spawn")
    tally: dict[str, Any] = {
        "mutants": 0,
        "BundleError": 0,
        "escapes": 0,
        "timeouts": 0,
        "crashes": 0,
        "max_cpu_seconds": 0.0,
        "max_wall_seconds": 0.0,
        "by_kind": Counter(),
        "escaped": [],
    }
    todo = list(range(count))[::-1]
    slots: list[dict[str, Any]] = []

    def spawn() -> dict[str, Any]:
        parent, child = context.Pipe()
        process = context.Process(target=_worker, args=(child, seed), daemon=True)
        process.start()
        return {"process": process, "conn": parent, "index": None, "started": None}

    def escape(index: int, what: str) -> None:
        tally["escapes"] += 1
        tally["escaped"].append(f"#{index} {KINDS[index % len(KINDS)]}: {what}")

    def feed(slot: dict[str, Any]) -> None:
        slot["index"], slot["started"] = None, None
        if todo:
            slot["index"] = todo.pop()
            slot["conn"].send(slot["index"])

    slots = [spawn() for _ in range(workers)]
    for slot in slots:
        feed(slot)
    while any(slot["index"] is not None for slot in slots):
        for i, slot in enumerate(slots):
            index = slot["index"]
            if index is None:
                continue
            conn = slot["conn"]
            try:
                ready = conn.poll(0.005)
                message = conn.recv() if ready else None
            except (EOFError, OSError):
                message, ready = "died", True
            if message == "died" or not slot["process"].is_alive() and not ready:
                tally["mutants"] += 1
                tally["crashes"] += 1
                escape(index, f"worker died (exit code {slot['process'].exitcode})")
                slots[i] = spawn()
                feed(slots[i])
                continue
            if message is None:
                started = slot["started"]
                if started is not None and time.perf_counter() - started > CASE_TIMEOUT_SECONDS:
                    slot["process"].kill()
                    slot["process"].join()
                    tally["mutants"] += 1
                    tally["timeouts"] += 1
                    escape(index, f"no answer within {CASE_TIMEOUT_SECONDS:g} s")
                    slots[i] = spawn()
                    feed(slots[i])
                continue
            if message[0] == "start":
                slot["started"] = time.perf_counter()
                continue
            _, kind, outcome, cpu, wall, text = message
            tally["mutants"] += 1
            tally["by_kind"][kind] += 1
            tally["max_cpu_seconds"] = max(tally["max_cpu_seconds"], cpu)
            tally["max_wall_seconds"] = max(tally["max_wall_seconds"], wall)
            if outcome == "BundleError":
                tally["BundleError"] += 1
            else:
                escape(index, f"{outcome} {text}")
            feed(slot)
    for slot in slots:
        slot["conn"].send(None)
        slot["process"].join(timeout=5)
    tally["by_kind"] = dict(tally["by_kind"])
    return tally
