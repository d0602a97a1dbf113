"""What a bundle's ONNX model may contain, checked before onnxruntime ever sees it.

The ``onnx`` package is authoring-only, so this module walks the protobuf wire
format itself: bounded in size, message depth and counts, and reading only the
fields it needs (ModelProto, GraphProto, NodeProto, AttributeProto, TensorProto,
SparseTensorProto field numbers from ``onnx/onnx.proto``). It lists every
node's op type and domain, the opsets imported, subgraphs, model-local
functions and training info, and which tensors refer to external data.

The policy (``check_policy``) then refuses:

- external data in any form (``data_location = EXTERNAL`` or ``external_data``
  entries) on initializers, sparse initializers and Constant/attribute tensors,
  in the main graph and in every subgraph: onnxruntime would read that file
  from the game's working directory;
- any operator outside ``ALLOWED_OPS`` (control flow such as ``Loop``, ``Scan``
  and ``If`` is not on it: a Loop with a trip count of 2**62 hangs a game);
- other operator domains, model-local functions, training info, and subgraphs;
- nodes that feed no output: a dry run never runs them, but onnxruntime could
  still spend unbounded time folding them when a session is created.

``open_session`` then builds a single-threaded session that loads only the ONNX
format (never the ORT flatbuffer format, which the walker cannot read) and never
folds constants at creation (uncancellable work), and ``dry_run`` runs the model
once on zeros under a deadline (``RunOptions.terminate``).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = [
    "ALLOWED_OPS",
    "OnnxFacts",
    "OnnxPolicyError",
    "inspect_onnx",
    "check_policy",
    "open_session",
    "dry_run",
]

# Every operator a bundle model may use (default ONNX domain, opsets OPSETS). These are
# the ops the bake's models export to (MLP, GRU cell math, Markov tables, drum GAN), plus
# those a small GRU/LSTM, MLP or attention Transformer exports to at opset 17 with torch's
# legacy exporter. No control flow (Loop, Scan, If), no random ops, no I/O.
ALLOWED_OPS = frozenset(
    {
        # the bake today
        "Add", "Cast", "Concat", "Constant", "Div", "Equal", "Flatten", "Gather", "Gemm",
        "LeakyRelu", "MatMul", "Mul", "ReduceSum", "Relu", "Reshape", "Shape", "Sigmoid",
        "Slice", "Squeeze", "Sub", "Tanh", "Unsqueeze",
        # recurrent cells and MLP activations
        "GRU", "LSTM", "Clip", "Elu", "Erf", "Softplus", "Identity", "Split",
        # attention, masks, positions, normalisation
        "Softmax", "LogSoftmax", "LayerNormalization", "Transpose", "Trilu", "Where",
        "Expand", "Mod", "Sqrt", "Pow", "ReduceMean", "Neg", "Exp", "Range",
        "ConstantOfShape", "Less", "Not", "Max", "Min",
    }
)  # fmt: skip
DEFAULT_DOMAINS = ("", "ai.onnx")
OPSETS = range(13, 22)  # the default domain's opset version (the bake uses 17)

MAX_GRAPH_DEPTH = 3  # the main graph and subgraphs nested two deep are walked
MAX_NODES = 10_000  # nodes over all graphs
MAX_TENSORS = 10_000  # initializers and attribute tensors over all graphs
DRY_RUN_SECONDS = 0.5  # one model's dry run (the bake's take < 5 ms); then it is cancelled
SYMBOLIC_DIM = 2  # the size a symbolic dimension gets in the dry run


class OnnxPolicyError(Exception):
    """The bytes are not an ONNX model this runtime will load; the message says why."""


@dataclass
class OnnxFacts:
    ir_version: int = 0
    opsets: dict[str, int] = field(default_factory=dict)
    ops: dict[tuple[str, str], int] = field(default_factory=dict)  # (domain, op) -> count
    nodes: int = 0
    tensors: int = 0
    subgraphs: int = 0
    functions: int = 0
    training_info: int = 0
    external: list[str] = field(default_factory=list)  # names of tensors with external data
    dead: list[str] = field(default_factory=list)  # main-graph nodes whose outputs nobody uses


# --- protobuf wire format ---------------------------------------------------------------


def _varint(buf: bytes, pos: int, end: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= end or shift > 63:
            raise OnnxPolicyError("truncated or overlong varint")
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7


def _fields(buf: bytes, start: int, end: int) -> Any:
    """Yield (field number, wire type, value) where a length-delimited value is (start, end)."""
    pos = start
    while pos < end:
        tag, pos = _varint(buf, pos, end)
        number, wire = tag >> 3, tag & 7
        if number == 0:
            raise OnnxPolicyError("field number 0")
        if wire == 0:
            value, pos = _varint(buf, pos, end)
            yield number, wire, value
        elif wire == 1 or wire == 5:
            size = 8 if wire == 1 else 4
            if pos + size > end:
                raise OnnxPolicyError("truncated fixed-size field")
            pos += size
            yield number, wire, None
        elif wire == 2:
            length, pos = _varint(buf, pos, end)
            if pos + length > end:
                raise OnnxPolicyError("a length-delimited field runs past its message")
            yield number, wire, (pos, pos + length)
            pos += length
        else:  # groups (3, 4) are not in ONNX; 6 and 7 do not exist
            raise OnnxPolicyError(f"unsupported wire type {wire}")


def _text(buf: bytes, span: tuple[int, int], limit: int = 256) -> str:
    s, e = span
    if e - s > limit:
        raise OnnxPolicyError(f"a name is {e - s} bytes; the limit is {limit}")
    try:
        return buf[s:e].decode("utf-8")
    except UnicodeDecodeError:
        raise OnnxPolicyError("a name is not UTF-8") from None


def _span(wire: int, value: Any, what: str) -> tuple[int, int]:
    if wire != 2:
        raise OnnxPolicyError(f"{what} has the wrong wire type")
    return value


class _Walker:
    def __init__(self, buf: bytes) -> None:
        self.buf = buf
        self.facts = OnnxFacts()

    def model(self) -> OnnxFacts:
        buf, facts = self.buf, self.facts
        graphs = 0
        for number, wire, value in _fields(buf, 0, len(buf)):
            if number == 1 and wire == 0:  # ir_version
                facts.ir_version = value
            elif number == 7:  # graph
                graphs += 1
                self.graph(_span(wire, value, "graph"), depth=1)
            elif number == 8:  # opset_import
                self.opset(_span(wire, value, "opset_import"))
            elif number == 20:  # training_info: holds graphs of its own
                facts.training_info += 1
            elif number == 25:  # functions: model-local operators
                facts.functions += 1
        if graphs != 1:
            raise OnnxPolicyError(f"a model has exactly one graph, this has {graphs}")
        return facts

    def opset(self, span: tuple[int, int]) -> None:
        domain, version = "", 0
        for number, wire, value in _fields(self.buf, *span):
            if number == 1:
                domain = _text(self.buf, _span(wire, value, "opset domain"))
            elif number == 2 and wire == 0:
                version = value
        self.facts.opsets[domain] = version

    def graph(self, span: tuple[int, int], depth: int) -> None:
        if depth > MAX_GRAPH_DEPTH:
            raise OnnxPolicyError(f"subgraphs nest deeper than {MAX_GRAPH_DEPTH} levels")
        if depth > 1:
            self.facts.subgraphs += 1
        nodes: list[tuple[str, list[bytes], list[bytes]]] = []  # (op, inputs, outputs)
        returned: set[bytes] = set()
        for number, wire, value in _fields(self.buf, *span):
            if number == 1:  # node
                nodes.append(self.node(_span(wire, value, "node"), depth))
            elif number == 5:  # initializer
                self.tensor(_span(wire, value, "initializer"))
            elif number == 15:  # sparse_initializer
                self.sparse(_span(wire, value, "sparse initializer"))
            elif number == 12:  # output (ValueInfoProto; its name is field 1)
                for n, w, v in _fields(self.buf, *_span(wire, value, "graph output")):
                    if n == 1:
                        returned.add(self.buf[slice(*_span(w, v, "output name"))])
        if depth == 1:
            # A node that feeds nothing is never run by a dry run, yet onnxruntime may
            # still fold it at session creation: the bake emits none, so refuse them.
            used = returned | {name for _, inputs, _ in nodes for name in inputs}
            for op, _, outputs in nodes:
                if not any(name in used for name in outputs if name):
                    self.facts.dead.append(op)

    def node(self, span: tuple[int, int], depth: int) -> tuple[str, list[bytes], list[bytes]]:
        facts = self.facts
        facts.nodes += 1
        if facts.nodes > MAX_NODES:
            raise OnnxPolicyError(f"the model has more than {MAX_NODES} nodes")
        op, domain = "", ""
        inputs: list[bytes] = []
        outputs: list[bytes] = []
        for number, wire, value in _fields(self.buf, *span):
            if number == 1:  # names compared as bytes: no decoding on the hot path
                inputs.append(self.buf[slice(*_span(wire, value, "node input"))])
            elif number == 2:
                outputs.append(self.buf[slice(*_span(wire, value, "node output"))])
            elif number == 4:
                op = _text(self.buf, _span(wire, value, "op_type"))
            elif number == 7:
                domain = _text(self.buf, _span(wire, value, "domain"))
            elif number == 5:
                self.attribute(_span(wire, value, "attribute"), depth)
        key = (domain, op)
        facts.ops[key] = facts.ops.get(key, 0) + 1
        return op, inputs, outputs

    def attribute(self, span: tuple[int, int], depth: int) -> None:
        for number, wire, value in _fields(self.buf, *span):
            if number in (5, 10):  # t, tensors
                self.tensor(_span(wire, value, "attribute tensor"))
            elif number in (6, 11):  # g, graphs
                self.graph(_span(wire, value, "attribute graph"), depth + 1)
            elif number in (22, 23):  # sparse_tensor, sparse_tensors
                self.sparse(_span(wire, value, "attribute sparse tensor"))

    def sparse(self, span: tuple[int, int]) -> None:
        for number, wire, value in _fields(self.buf, *span):
            if number in (1, 2):  # values, indices
                self.tensor(_span(wire, value, "sparse tensor part"))

    def tensor(self, span: tuple[int, int]) -> None:
        facts = self.facts
        facts.tensors += 1
        if facts.tensors > MAX_TENSORS:
            raise OnnxPolicyError(f"the model has more than {MAX_TENSORS} tensors")
        name, external = "", False
        for number, wire, value in _fields(self.buf, *span):
            if number == 8 and wire == 2:
                name = _text(self.buf, value, 1024)
            elif number == 13:  # external_data entries
                external = True
            elif number == 14 and (wire != 0 or value != 0):  # data_location != DEFAULT
                external = True
        if external:
            facts.external.append(name or "(unnamed)")


def inspect_onnx(data: bytes) -> OnnxFacts:
    """The structural facts of an ONNX model; raises OnnxPolicyError if it cannot be walked."""
    return _Walker(data).model()


def check_policy(facts: OnnxFacts) -> None:
    """Refuse what a bundle model may not contain (see the module docstring)."""
    if facts.external:
        raise OnnxPolicyError(
            f"tensor {facts.external[0]!r} refers to external data; a bundle embeds every tensor"
        )
    if facts.training_info:
        raise OnnxPolicyError("the model carries training info; the bake emits none")
    if facts.functions:
        raise OnnxPolicyError("the model defines local functions; the bake emits none")
    for domain, version in facts.opsets.items():
        if domain not in DEFAULT_DOMAINS:
            raise OnnxPolicyError(f"the model imports operator domain {domain!r}; allowed: ai.onnx")
        if version not in OPSETS:
            raise OnnxPolicyError(
                f"the model uses opset {version}; allowed: {OPSETS.start}..{OPSETS.stop - 1}"
            )
    if not any(d in facts.opsets for d in DEFAULT_DOMAINS):
        raise OnnxPolicyError("the model imports no ai.onnx opset")
    for (domain, op), _ in sorted(facts.ops.items()):
        if domain not in DEFAULT_DOMAINS:
            raise OnnxPolicyError(f"operator {domain}.{op} is not allowed; allowed domain: ai.onnx")
        if op not in ALLOWED_OPS:
            raise OnnxPolicyError(
                f"operator {op!r} is not allowed in a bundle model"
                + (" (control flow can run forever)" if op in ("Loop", "Scan", "If") else "")
            )
    if facts.subgraphs:
        raise OnnxPolicyError("the model has subgraphs; the bake emits none")
    if facts.dead:
        raise OnnxPolicyError(
            f"{len(facts.dead)} node(s) (first: {facts.dead[0]}) feed no output; the bake emits none"
        )
    if not facts.nodes:
        raise OnnxPolicyError("the graph has no nodes")


# --- onnxruntime ------------------------------------------------------------------------


def open_session(data: bytes) -> Any:
    """A single-threaded CPU session (onnxruntime is imported here, never at import time)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    # Only the ONNX protobuf format, which inspect_onnx has walked; never ORT flatbuffers.
    options.add_session_config_entry("session.load_model_format", "ONNX")
    # Constant folding runs the graph's constant parts while the session is created, where
    # nothing can cancel it: 60 MatMuls of one 4 MB weight take 4.6 s there (0.4 s without).
    # The bake folds constants at export already, so inference is as fast without it.
    options.add_session_config_entry("optimization.disable_specified_optimizers", "ConstantFolding")
    return ort.InferenceSession(data, sess_options=options, providers=["CPUExecutionProvider"])


_NUMPY = {"float32": np.float32, "int64": np.int64}


def dry_run(
    session: Any, inputs: Sequence[tuple[str, str, tuple[int | str, ...]]], outputs: Sequence[str]
) -> Mapping[str, np.ndarray]:
    """Run once on zeros of the declared input shapes (symbolic dims become SYMBOLIC_DIM).

    A run longer than DRY_RUN_SECONDS is cancelled and raises OnnxPolicyError.
    """
    import onnxruntime as ort

    feeds = {
        name: np.zeros(
            tuple(d if isinstance(d, int) else SYMBOLIC_DIM for d in shape), dtype=_NUMPY[dtype]
        )
        for name, dtype, shape in inputs
    }
    run_options = ort.RunOptions()
    cancel = threading.Timer(DRY_RUN_SECONDS, lambda: setattr(run_options, "terminate", True))
    cancel.daemon = True
    cancel.start()
    try:
        results = session.run(list(outputs), feeds, run_options)
    except Exception as exc:
        if run_options.terminate:
            raise OnnxPolicyError(
                f"the dry run took more than {DRY_RUN_SECONDS:g} s and was cancelled"
            ) from None
        raise OnnxPolicyError(f"the dry run failed: {_first_line(exc)}") from None
    finally:
        cancel.cancel()
    return dict(zip(outputs, results, strict=True))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    line = text[0] if text else type(exc).__name__
    return line if len(line) <= 300 else line[:297] + "..."
