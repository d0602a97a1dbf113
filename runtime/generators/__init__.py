"""Generators: ONNX models that compose one bar at a time, sampled in numpy."""

from ._conditions import Conditions
from ._drums import DrumGenerator
from ._harmony import HarmonyGenerator
from ._onnx import OnnxModel
from ._sequence import SequenceGenerator

__all__ = ["Conditions", "OnnxModel", "SequenceGenerator", "HarmonyGenerator", "DrumGenerator"]
