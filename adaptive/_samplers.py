"""Sampler data in a bundle: the SoundFont presets a bake copied in, one per stem.

A bundle's body may carry ``"samplers": {stem: preset}``, beside the manifest
(whose size stays small) and the models. A preset is plain data: its samples as
16-bit PCM and its zones (key and velocity ranges, root key, tuning, loop,
level, pan, envelope), as ``authoring``'s SoundFont import writes them. This
module checks one against every bound the runtime's sampler relies on, so a
hostile bundle fails at load with a ``BundleError`` naming the field.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from ._errors import BundleError

__all__ = ["SAMPLER_FORMAT", "check_sampler", "MAX_SAMPLES", "MAX_ZONES"]

SAMPLER_FORMAT = 1
MAX_SAMPLES = 512  # samples in one preset (a General MIDI piano uses about 30)
MAX_ZONES = 2048
MAX_SAMPLE_RATE = 192_000
MAX_TEXT = 1024

_PRESET_KEYS = {"format", "name", "bank", "program", "samples", "zones", "provenance"}
_SAMPLE_KEYS = {"name", "sample_rate", "pcm"}
_ZONE_KEYS = {
    "keys", "velocities", "fine_cents", "scale_tuning", "gain", "pan", "envelope",
    "sample", "start", "end", "loop", "root",
}  # fmt: skip
_PROVENANCE_KEYS = {"file", "sha256", "license", "attribution"}


def _fail(where: str, message: str) -> BundleError:
    return BundleError(f"bundle field '{where}' {message}")


def _show(value: Any) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text[:40]}{'...' if len(text) > 40 else ''}"


def _map(value: Any, where: str, keys: set[str], optional: frozenset[str] = frozenset()) -> dict:  # type: ignore[type-arg]
    if not isinstance(value, dict):
        raise _fail(where, f"must be a map, got {_show(value)}")
    missing = keys - optional - set(value)
    if missing:
        raise _fail(f"{where}.{sorted(missing)[0]}", "is missing")
    extra = set(value) - keys
    if extra:
        raise _fail(f"{where}.{sorted(map(str, extra))[0]}", "is not a field of sampler data")
    return value


def _int(value: Any, where: str, lo: int, hi: int) -> int:
    if type(value) is not int or not lo <= value <= hi:
        raise _fail(where, f"must be an integer in {lo}..{hi}, got {_show(value)}")
    return value


def _number(value: Any, where: str, lo: float, hi: float) -> float:
    if type(value) not in (int, float) or not math.isfinite(value) or not lo <= value <= hi:
        raise _fail(where, f"must be a finite number in {lo:g}..{hi:g}, got {_show(value)}")
    return float(value)


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str) or len(value) > MAX_TEXT:
        raise _fail(where, f"must be a string of at most {MAX_TEXT} characters, got {_show(value)}")
    return value


def _range(value: Any, where: str, lo: int, hi: int) -> None:
    if not isinstance(value, list) or len(value) != 2:
        raise _fail(where, f"must be a [low, high] pair, got {_show(value)}")
    a, b = (_int(v, f"{where}[{i}]", lo, hi) for i, v in enumerate(value))
    if a > b:
        raise _fail(where, f"must not run backwards, got {value}")


def check_sampler(stem: str, raw: Any) -> Mapping[str, Any]:
    """The preset ``raw`` for ``stem``, checked; raises BundleError naming the field."""
    where = f"samplers.{stem}"
    preset = _map(raw, where, _PRESET_KEYS)
    if preset["format"] != SAMPLER_FORMAT or type(preset["format"]) is not int:
        raise _fail(f"{where}.format", f"must be {SAMPLER_FORMAT}, got {_show(preset['format'])}")
    _text(preset["name"], f"{where}.name")
    _int(preset["bank"], f"{where}.bank", 0, 16383)
    _int(preset["program"], f"{where}.program", 0, 127)
    provenance = _map(preset["provenance"], f"{where}.provenance", _PROVENANCE_KEYS)
    for key in sorted(_PROVENANCE_KEYS):
        _text(provenance[key], f"{where}.provenance.{key}")

    samples = preset["samples"]
    if not isinstance(samples, list) or not 1 <= len(samples) <= MAX_SAMPLES:
        raise _fail(f"{where}.samples", f"must be a list of 1..{MAX_SAMPLES}, got {_show(samples)}")
    frames = []
    for i, raw_sample in enumerate(samples):
        at = f"{where}.samples[{i}]"
        sample = _map(raw_sample, at, _SAMPLE_KEYS)
        _text(sample["name"], f"{at}.name")
        _int(sample["sample_rate"], f"{at}.sample_rate", 1000, MAX_SAMPLE_RATE)
        pcm = sample["pcm"]
        if not isinstance(pcm, bytes) or not pcm or len(pcm) % 2:
            raise _fail(f"{at}.pcm", f"must be 16-bit PCM bytes, got {_show(pcm)}")
        frames.append(len(pcm) // 2)

    zones = preset["zones"]
    if not isinstance(zones, list) or not 1 <= len(zones) <= MAX_ZONES:
        raise _fail(f"{where}.zones", f"must be a list of 1..{MAX_ZONES}, got {_show(zones)}")
    for i, raw_zone in enumerate(zones):
        at = f"{where}.zones[{i}]"
        zone = _map(raw_zone, at, _ZONE_KEYS, optional=frozenset({"loop", "scale_tuning"}))
        _range(zone["keys"], f"{at}.keys", 0, 127)
        _range(zone["velocities"], f"{at}.velocities", 0, 127)
        _int(zone["root"], f"{at}.root", 0, 127)
        _number(zone["fine_cents"], f"{at}.fine_cents", -12800.0, 12800.0)
        if "scale_tuning" in zone:
            _number(zone["scale_tuning"], f"{at}.scale_tuning", 0.0, 1200.0)
        _number(zone["gain"], f"{at}.gain", 0.0, 4.0)
        _number(zone["pan"], f"{at}.pan", -1.0, 1.0)
        envelope = zone["envelope"]
        if not isinstance(envelope, list) or len(envelope) != 4:
            raise _fail(
                f"{at}.envelope",
                f"must be [attack, decay, sustain, release], got {_show(envelope)}",
            )
        for j, hi in enumerate((100.0, 100.0, 1.0, 100.0)):  # attack, decay, sustain, release
            _number(envelope[j], f"{at}.envelope[{j}]", 0.0, hi)
        index = _int(zone["sample"], f"{at}.sample", 0, len(frames) - 1)
        start = _int(zone["start"], f"{at}.start", 0, frames[index] - 1)
        end = _int(zone["end"], f"{at}.end", start + 1, frames[index])
        loop = zone.get("loop")
        if loop is not None:
            _range(loop, f"{at}.loop", 0, end - start)
            if loop[0] == loop[1]:
                raise _fail(f"{at}.loop", f"must not be empty, got {loop}")
    return preset
