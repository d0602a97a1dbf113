"""ONNX export with embedded weights and a parity check against torch.

The legacy TorchScript exporter (``dynamo=False``) is used on purpose: it takes
~0.3 s per model where the dynamo exporter takes ~6 s, and our models are
plain MLP/GRU math that it handles exactly.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import torch
from torch import nn

from adaptive._bundle import ModelEntry, TensorSpec
from adaptive._errors import AdaptiveError

__all__ = ["export_model", "ExportError", "OPSET", "PARITY_TOLERANCE"]

OPSET = 17
PARITY_TOLERANCE = 1e-4
_DTYPES = {np.dtype(np.float32): "float32", np.dtype(np.int64): "int64"}


class ExportError(AdaptiveError, RuntimeError):
    """The exported ONNX model is invalid or disagrees with torch."""


def _to_onnx(
    module: nn.Module,
    example: Mapping[str, np.ndarray],
    output_names: Sequence[str],
    dynamic_batch: bool,
) -> bytes:
    names = list(example)
    args = tuple(torch.from_numpy(np.ascontiguousarray(v)) for v in example.values())
    dynamic_axes = {n: {0: "K"} for n in [*names, *output_names]} if dynamic_batch else None
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        # The legacy exporter announces its deprecation; it is still the right tool here.
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", UserWarning)
        torch.onnx.export(
            module,
            args,
            buffer,  # type: ignore[arg-type]  # the legacy exporter writes to file objects
            input_names=names,
            output_names=list(output_names),
            opset_version=OPSET,
            dynamic_axes=dynamic_axes,
            do_constant_folding=True,
            dynamo=False,
        )
    return buffer.getvalue()


def _check_embedded(name: str, data: bytes) -> onnx.ModelProto:
    proto = onnx.load_from_string(data)
    for tensor in proto.graph.initializer:
        if tensor.data_location == onnx.TensorProto.EXTERNAL or tensor.external_data:
            raise ExportError(
                f"model {name!r}: tensor {tensor.name!r} uses external data; "
                "bundles embed everything"
            )
    try:
        onnx.checker.check_model(proto)
    except onnx.checker.ValidationError as exc:
        raise ExportError(f"model {name!r}: exported ONNX is invalid: {exc}") from None
    return proto


def _specs(arrays: Mapping[str, np.ndarray], dynamic_batch: bool) -> tuple[TensorSpec, ...]:
    out = []
    for name, value in arrays.items():
        shape: list[int | str] = list(value.shape)
        if dynamic_batch:
            shape[0] = "K"
        out.append(TensorSpec(name, _DTYPES[np.asarray(value).dtype], tuple(shape)))
    return tuple(out)


def export_model(
    module: nn.Module,
    *,
    name: str,
    role: str,
    inputs: Sequence[Mapping[str, np.ndarray]],
    output_names: Sequence[str],
    conditioning: Sequence[str],
    meta: Mapping[str, Any],
    dynamic_batch: bool = False,
) -> tuple[ModelEntry, float]:
    """Export ``module`` and check it against torch on every input set in ``inputs``.

    ``inputs`` are several dicts of named numpy arrays in the model's input order;
    the first is also the tracing example. Returns the bundle entry and the largest
    absolute difference seen; raises ExportError above PARITY_TOLERANCE.
    """
    module.eval()
    data = _to_onnx(module, inputs[0], output_names, dynamic_batch)
    _check_embedded(name, data)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
    worst = 0.0
    reference: dict[str, np.ndarray] = {}
    for feed in inputs:
        with torch.no_grad():
            expected = module(*(torch.from_numpy(np.ascontiguousarray(v)) for v in feed.values()))
        if isinstance(expected, torch.Tensor):
            expected = (expected,)
        got = session.run(list(output_names), dict(feed))
        for out_name, want, have in zip(output_names, expected, got, strict=True):
            want_np = want.numpy()
            if want_np.shape != have.shape:
                raise ExportError(
                    f"model {name!r}: output {out_name!r} has shape {have.shape} in ONNX, "
                    f"{want_np.shape} in torch"
                )
            worst = max(worst, float(np.max(np.abs(want_np - have))) if want_np.size else 0.0)
            reference.setdefault(out_name, have)
    if not worst < PARITY_TOLERANCE:
        raise ExportError(
            f"model {name!r}: ONNX output differs from torch by {worst:.3g} "
            f"(allowed < {PARITY_TOLERANCE:g}); "
            "the bake is stopped so the bundle is never written with a wrong model"
        )
    entry = ModelEntry(
        name=name,
        role=role,
        onnx=data,
        inputs=_specs(inputs[0], dynamic_batch),
        outputs=_specs(reference, dynamic_batch),
        conditioning=tuple(conditioning),
        meta=dict(meta),
    )
    return entry, worst
