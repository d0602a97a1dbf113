"""Hostile ONNX models, built with the ``onnx`` package (authoring extra), for tests and fuzzing.

Each builder returns model bytes that fit the *harmony* slot of the default bundle
(inputs ``context`` int64 [1, 2] and ``cond`` float32 [1, C]; output ``probs`` float32
[1, 24]) so that everything but the hostile part is valid, and ``swap_model`` puts
them into a bundle body with a correct sha256.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

CHORDS = 24
OPSET = 17


def _io(cond: int, probs_shape: list[Any] | None = None) -> tuple[list[Any], list[Any]]:
    inputs = [
        helper.make_tensor_value_info("context", TensorProto.INT64, [1, 2]),
        helper.make_tensor_value_info("cond", TensorProto.FLOAT, [1, cond]),
    ]
    shape = probs_shape if probs_shape is not None else [1, CHORDS]
    outputs = [helper.make_tensor_value_info("probs", TensorProto.FLOAT, shape)]
    return inputs, outputs


def _model(nodes: list[Any], cond: int, initializers: list[Any] = (), **kw: Any) -> bytes:
    inputs, outputs = _io(cond, kw.pop("probs_shape", None))
    graph = helper.make_graph(nodes, "hostile", inputs, outputs, list(initializers))
    opsets = kw.pop("opsets", [helper.make_opsetid("", OPSET)])
    model = helper.make_model(graph, opset_imports=opsets, **kw)
    model.ir_version = 8
    return model.SerializeToString()


def softmax_model(cond: int) -> bytes:
    """A valid harmony-shaped model: probs = softmax(cond @ W + B)."""
    weights = numpy_helper.from_array(np.full((cond, CHORDS), 0.01, np.float32), "W")
    bias = numpy_helper.from_array(np.zeros((1, CHORDS), np.float32), "B")
    nodes = [
        helper.make_node("MatMul", ["cond", "W"], ["mm"]),
        helper.make_node("Add", ["mm", "B"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["probs"], axis=-1),
    ]
    return _model(nodes, cond, [weights, bias])


def _external_tensor(cond: int, location: str) -> TensorProto:
    """A [cond, 24] float tensor whose data lives in the file ``location``."""
    tensor = TensorProto()
    tensor.name = "W"
    tensor.data_type = TensorProto.FLOAT
    tensor.dims.extend([cond, CHORDS])
    tensor.data_location = TensorProto.EXTERNAL
    for key, value in (("location", location), ("offset", "0"), ("length", str(cond * CHORDS * 4))):
        entry = tensor.external_data.add()
        entry.key, entry.value = key, value
    return tensor


_MATMUL_SOFTMAX = [
    helper.make_node("MatMul", ["cond", "W"], ["logits"]),
    helper.make_node("Softmax", ["logits"], ["probs"], axis=-1),
]


def external_data_model(cond: int, location: str) -> bytes:
    """W lives in the file ``location`` (relative to wherever onnxruntime looks: the cwd)."""
    return _model(list(_MATMUL_SOFTMAX), cond, [_external_tensor(cond, location)])


def external_constant_model(cond: int, location: str) -> bytes:
    """The same, but the external tensor hides in a Constant node's attribute."""
    constant = helper.make_node("Constant", [], ["W"], value=_external_tensor(cond, location))
    return _model([constant, *_MATMUL_SOFTMAX], cond)


def loop_model(cond: int, trips: int = 2**62) -> bytes:
    """A Loop that would run ``trips`` times before probs exist: a hang if it were ever run."""
    body = helper.make_graph(
        [
            helper.make_node("Identity", ["c_in"], ["c_out"]),
            helper.make_node("Add", ["x_in", "one"], ["x_out"]),
        ],
        "body",
        [
            helper.make_tensor_value_info("i", TensorProto.INT64, []),
            helper.make_tensor_value_info("c_in", TensorProto.BOOL, []),
            helper.make_tensor_value_info("x_in", TensorProto.FLOAT, [1, CHORDS]),
        ],
        [
            helper.make_tensor_value_info("c_out", TensorProto.BOOL, []),
            helper.make_tensor_value_info("x_out", TensorProto.FLOAT, [1, CHORDS]),
        ],
        [numpy_helper.from_array(np.ones((1, CHORDS), np.float32), "one")],
    )
    inits = [
        numpy_helper.from_array(np.array(trips, np.int64), "trips"),
        numpy_helper.from_array(np.array(True), "keep_going"),
        numpy_helper.from_array(np.zeros((1, CHORDS), np.float32), "start"),
    ]
    nodes = [
        helper.make_node("Loop", ["trips", "keep_going", "start"], ["counted"], body=body),
        helper.make_node("Softmax", ["counted"], ["probs"], axis=-1),
    ]
    return _model(nodes, cond, inits)


def if_model(cond: int) -> bytes:
    """An If with two branches: a subgraph and control flow."""
    branch = helper.make_graph(
        [
            helper.make_node(
                "Constant",
                [],
                ["v"],
                value=numpy_helper.from_array(np.zeros((1, CHORDS), np.float32)),
            )
        ],
        "branch",
        [],
        [helper.make_tensor_value_info("v", TensorProto.FLOAT, [1, CHORDS])],
    )
    inits = [numpy_helper.from_array(np.array(True), "flag")]
    nodes = [
        helper.make_node("If", ["flag"], ["picked"], then_branch=branch, else_branch=branch),
        helper.make_node("Softmax", ["picked"], ["probs"], axis=-1),
    ]
    return _model(nodes, cond, inits)


def custom_domain_model(cond: int) -> bytes:
    """An operator from a domain the runtime does not allow (a custom op library)."""
    nodes = [
        helper.make_node("MatMul", ["cond", "W"], ["logits"]),
        helper.make_node("Evil", ["logits"], ["probs"], domain="com.example"),
    ]
    weights = numpy_helper.from_array(np.zeros((cond, CHORDS), np.float32), "W")
    opsets = [helper.make_opsetid("", OPSET), helper.make_opsetid("com.example", 1)]
    return _model(nodes, cond, [weights], opsets=opsets)


def unlisted_op_model(cond: int) -> bytes:
    """A default-domain operator that is not on the allow-list (RandomUniformLike)."""
    nodes = [
        helper.make_node("MatMul", ["cond", "W"], ["logits"]),
        helper.make_node("RandomUniformLike", ["logits"], ["noise"]),
        helper.make_node("Add", ["logits", "noise"], ["mixed"]),
        helper.make_node("Softmax", ["mixed"], ["probs"], axis=-1),
    ]
    weights = numpy_helper.from_array(np.zeros((cond, CHORDS), np.float32), "W")
    return _model(nodes, cond, [weights])


def wrong_shape_model(cond: int) -> bytes:
    """Declares [1, n] in the graph, then slices probs to context[0, 0] + 23 columns.

    The width depends on an input's value, so only running the model shows that it gives
    23 chords where the bundle says 24.
    """
    weights = numpy_helper.from_array(np.full((cond, CHORDS), 0.01, np.float32), "W")
    consts = [
        numpy_helper.from_array(np.array([2], np.int64), "flat"),
        numpy_helper.from_array(np.array([0], np.int64), "first"),
        numpy_helper.from_array(np.array([CHORDS - 1], np.int64), "width"),
        numpy_helper.from_array(np.array([1], np.int64), "axis"),
    ]
    nodes = [
        helper.make_node("MatMul", ["cond", "W"], ["logits"]),
        helper.make_node("Reshape", ["context", "flat"], ["context_flat"]),
        helper.make_node("Gather", ["context_flat", "first"], ["offset"]),
        helper.make_node("Add", ["offset", "width"], ["end"]),
        helper.make_node("Slice", ["logits", "first", "end", "axis"], ["cut"]),
        helper.make_node("Softmax", ["cut"], ["probs"], axis=-1),
    ]
    return _model(nodes, cond, [weights, *consts], probs_shape=[1, "n"])


def declared_wrong_shape_model(cond: int) -> bytes:
    """The graph itself declares probs as [1, 23]."""
    weights = numpy_helper.from_array(np.zeros((cond, CHORDS - 1), np.float32), "W")
    nodes = [
        helper.make_node("MatMul", ["cond", "W"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["probs"], axis=-1),
    ]
    return _model(nodes, cond, [weights], probs_shape=[1, CHORDS - 1])


def infinite_output_model(cond: int) -> bytes:
    """Finite weights, but probs = cond @ W + inf."""
    weights = numpy_helper.from_array(np.zeros((cond, CHORDS), np.float32), "W")
    bias = numpy_helper.from_array(np.full((1, CHORDS), np.inf, np.float32), "B")
    nodes = [
        helper.make_node("MatMul", ["cond", "W"], ["mm"]),
        helper.make_node("Add", ["mm", "B"], ["probs"]),
    ]
    return _model(nodes, cond, [weights, bias])


def local_function_model(cond: int) -> bytes:
    """A model-local function: an operator defined inside the file."""
    function = helper.make_function(
        "local.fn", "Twice", ["x"], ["y"], [helper.make_node("Add", ["x", "x"], ["y"])],
        [helper.make_opsetid("", OPSET)],
    )  # fmt: skip
    data = onnx.load_from_string(softmax_model(cond))
    data.functions.append(function)
    return data.SerializeToString()


def compute_bomb_model(cond: int, layers: int = 60) -> bytes:
    """Allowed ops only, but 60 MatMuls of a 1024x1024 weight: seconds of work per run.

    Folded at session creation this would block uncancellably; at run time the dry run's
    deadline cancels it.
    """
    weights = numpy_helper.from_array(np.full((1024, 1024), 1e-3, np.float32), "big")
    nodes, previous = [], "big"
    for i in range(layers):
        nodes.append(helper.make_node("MatMul", [previous, "big"], [f"m{i}"]))
        previous = f"m{i}"
    picked = numpy_helper.from_array(np.zeros((1024, CHORDS), np.float32), "pick")
    nodes += [
        helper.make_node("MatMul", [previous, "pick"], ["wide"]),
        helper.make_node("ReduceSum", ["wide", "axis0"], ["summed"], keepdims=1),
        helper.make_node("MatMul", ["cond", "W"], ["logits"]),
        helper.make_node("Add", ["logits", "summed"], ["mixed"]),
        helper.make_node("Softmax", ["mixed"], ["probs"], axis=-1),
    ]
    inits = [
        weights,
        picked,
        numpy_helper.from_array(np.array([0], np.int64), "axis0"),
        numpy_helper.from_array(np.zeros((cond, CHORDS), np.float32), "W"),
    ]
    return _model(nodes, cond, inits)


def dead_branch_model(cond: int) -> bytes:
    """A valid model plus constant work that feeds no output (folded, never run)."""
    data = onnx.load_from_string(softmax_model(cond))
    data.graph.node.append(helper.make_node("MatMul", ["W", "B"], ["unused"]))
    return data.SerializeToString()


HOSTILE: dict[str, Callable[[int], bytes]] = {
    "external data (initializer)": lambda c: external_data_model(c, "weights.bin"),
    "external data (constant)": lambda c: external_constant_model(c, "weights.bin"),
    "loop 2**62": loop_model,
    "if with subgraphs": if_model,
    "custom domain": custom_domain_model,
    "operator not allowed": unlisted_op_model,
    "wrong output shape (dry run)": wrong_shape_model,
    "wrong output shape (graph)": declared_wrong_shape_model,
    "infinite output": infinite_output_model,
    "local function": local_function_model,
    "dead branch": dead_branch_model,
}


def swap_model(body: dict[str, Any], name: str, onnx_bytes: bytes) -> None:
    """Put ``onnx_bytes`` into model ``name`` of a bundle body, with a matching sha256."""
    body["models"][name]["onnx"] = onnx_bytes
    body["models"][name]["sha256"] = hashlib.sha256(onnx_bytes).hexdigest()
