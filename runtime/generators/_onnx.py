"""Load a bundle's ONNX model into onnxruntime and check it matches its declared IO."""

from __future__ import annotations

import numpy as np

from adaptive._bundle import ModelEntry
from adaptive._errors import BundleError
from adaptive._models import MODEL_ROLES

_ORT_TYPES = {"float32": "tensor(float)", "int64": "tensor(int64)"}


class OnnxModel:
    """One inference session; single-threaded so the game keeps its cores.

    It is not the session that validated the model when the bundle was read
    (``Bundle.session``): that one skips constant folding, for safety at load, and
    runs the sequence models a quarter slower, which the real-time factor pays
    every token; opening this one costs about 2 ms per model, once.
    """

    def __init__(self, entry: ModelEntry) -> None:
        import onnxruntime as ort  # here, not at import: the mixer's modules must not load it

        self.entry = entry
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(
                entry.onnx, sess_options=options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own hierarchy for bad graphs
            raise BundleError(
                f"bundle field 'models.{entry.name}.onnx' is not a loadable ONNX model: {exc}"
            ) from None
        self._check_signature()
        self.output_names = [o.name for o in entry.outputs]

    def _check_signature(self) -> None:
        name = self.entry.name
        declared_in = {t.name: t for t in self.entry.inputs}
        declared_out = {t.name: t for t in self.entry.outputs}
        actual_in = {i.name: i for i in self.session.get_inputs()}
        actual_out = {o.name: o for o in self.session.get_outputs()}
        if set(declared_in) != set(actual_in) or set(declared_out) != set(actual_out):
            raise BundleError(
                f"bundle field 'models.{name}.inputs/outputs' declares {sorted(declared_in)} -> {sorted(declared_out)} "
                f"but the ONNX graph has {sorted(actual_in)} -> {sorted(actual_out)}"
            )
        for spec_map, actual_map, label in (
            (declared_in, actual_in, "inputs"),
            (declared_out, actual_out, "outputs"),
        ):
            for tensor_name, spec in spec_map.items():
                if actual_map[tensor_name].type != _ORT_TYPES[spec.dtype]:
                    raise BundleError(
                        f"bundle field 'models.{name}.{label}.{tensor_name}' is declared {spec.dtype} "
                        f"but the graph has {actual_map[tensor_name].type}"
                    )
        if name in MODEL_ROLES:
            wanted_in, wanted_out = MODEL_ROLES[name][1]
            if set(wanted_in) != set(declared_in) or set(wanted_out) != set(declared_out):
                raise BundleError(
                    f"bundle field 'models.{name}' must take {list(wanted_in)} and give {list(wanted_out)}, "
                    f"got {sorted(declared_in)} -> {sorted(declared_out)}"
                )

    def run(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        return self.session.run(self.output_names, feeds)
