"""Sampler data in a bundle is checked field by field at load, like the manifest."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from adaptive import BundleError
from adaptive._bundle import decode_bundle

from .conftest import repack


def preset() -> dict[str, Any]:
    """A small valid preset: one looped sine sample over the whole keyboard."""
    pcm = (np.sin(np.arange(480) * 2 * np.pi / 48) * 12000).astype("<i2").tobytes()
    return {
        "format": 1,
        "name": "sine",
        "bank": 0,
        "program": 80,
        "samples": [{"name": "sine", "sample_rate": 48000, "pcm": pcm}],
        "zones": [
            {
                "keys": [0, 127],
                "velocities": [1, 127],
                "fine_cents": 0.0,
                "scale_tuning": 100.0,
                "gain": 1.0,
                "pan": 0.0,
                "envelope": [0.01, 0.1, 0.8, 0.2],
                "sample": 0,
                "start": 0,
                "end": 480,
                "loop": [0, 480],
                "root": 69,
            }
        ],
        "provenance": {
            "file": "sine.sf2",
            "sha256": "0" * 64,
            "license": "CC0-1.0",
            "attribution": "adaptive tests",
        },
    }


def load_with(body: dict[str, Any], samplers: Any) -> Any:
    body["samplers"] = samplers
    return decode_bundle(repack(body))


def test_a_valid_preset_loads_and_the_stem_plays_it(body: dict[str, Any]) -> None:
    from runtime import MusicEngine
    from runtime._instruments import Sampler

    bundle = load_with(body, {"melody": preset()})
    assert bundle.samplers["melody"]["name"] == "sine"
    engine = MusicEngine(bundle, output="offline", seed=1)
    assert isinstance(engine._core._composer.instruments["melody"], Sampler)


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(data: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target: Any = data
        for part in parents:
            target = target[int(part)] if part.isdigit() else target[part]
        if value is _DELETE:
            del target[last]
        else:
            target[int(last) if last.isdigit() else last] = value

    return mutate


_DELETE = object()

CASES = [
    ("format", 2, "samplers.melody.format"),
    ("name", 7, "samplers.melody.name"),
    ("program", 128, "samplers.melody.program"),
    ("bank", -1, "samplers.melody.bank"),
    ("samples", [], "samplers.melody.samples"),
    ("samples.0.pcm", b"\x00", "samplers.melody.samples[0].pcm"),
    ("samples.0.pcm", "pcm", "samplers.melody.samples[0].pcm"),
    ("samples.0.sample_rate", 10**9, "samplers.melody.samples[0].sample_rate"),
    ("samples.0.extra", 1, "samplers.melody.samples[0].extra"),
    ("zones", [], "samplers.melody.zones"),
    ("zones.0.keys", [100, 20], "samplers.melody.zones[0].keys"),
    ("zones.0.keys", [0, 200], "samplers.melody.zones[0].keys[1]"),
    ("zones.0.velocities", [0], "samplers.melody.zones[0].velocities"),
    ("zones.0.root", 128, "samplers.melody.zones[0].root"),
    ("zones.0.fine_cents", float("nan"), "samplers.melody.zones[0].fine_cents"),
    ("zones.0.gain", float("inf"), "samplers.melody.zones[0].gain"),
    ("zones.0.pan", 2.0, "samplers.melody.zones[0].pan"),
    ("zones.0.envelope", [0.0, 0.0, 0.5], "samplers.melody.zones[0].envelope"),
    ("zones.0.envelope", [0.0, 0.0, 1.5, 0.0], "samplers.melody.zones[0].envelope[2]"),
    ("zones.0.sample", 1, "samplers.melody.zones[0].sample"),
    ("zones.0.start", 480, "samplers.melody.zones[0].start"),
    ("zones.0.end", 481, "samplers.melody.zones[0].end"),
    ("zones.0.end", 0, "samplers.melody.zones[0].end"),
    ("zones.0.loop", [0, 600], "samplers.melody.zones[0].loop[1]"),
    ("zones.0.loop", [5, 5], "samplers.melody.zones[0].loop"),
    ("zones.0.root", _DELETE, "samplers.melody.zones[0].root"),
    ("provenance.license", None, "samplers.melody.provenance.license"),
    ("provenance", [], "samplers.melody.provenance"),
]


@pytest.mark.parametrize(
    ("path", "value", "field"), CASES, ids=[c[2] + "=" + repr(c[1])[:12] for c in CASES]
)
def test_every_bad_sampler_field_is_a_bundle_error_naming_it(
    body: dict[str, Any], path: str, value: Any, field: str
) -> None:
    data = copy.deepcopy(preset())
    _set(path, value)(data)
    with pytest.raises(BundleError) as caught:
        load_with(body, {"melody": data})
    assert f"'{field}'" in str(caught.value)


@pytest.mark.parametrize(
    ("samplers", "field"),
    [
        ({"nonexistent": preset()}, "samplers.'nonexistent'"),
        ([preset()], "samplers"),
        ({"melody": 3}, "samplers.melody"),
    ],
)
def test_samplers_must_name_stems(body: dict[str, Any], samplers: Any, field: str) -> None:
    with pytest.raises(BundleError, match=field.replace(".", r"\.")):
        load_with(body, samplers)


def test_unknown_body_fields_are_refused(body: dict[str, Any]) -> None:
    body["plugins"] = {}
    with pytest.raises(BundleError, match="'body'"):
        decode_bundle(repack(body))
