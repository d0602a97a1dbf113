"""The style file: what a sound designer writes to describe a bakeable style.

A style is one TOML file next to its MIDI sources. ``load_style`` checks every
field and raises ``StyleError`` naming the file and the field. See
``examples/default/style.toml`` for a complete, commented example.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._errors import StyleError
from ._music import Key, Meter

__all__ = [
    "Style",
    "StemSpec",
    "StateSpec",
    "ParameterSpec",
    "StingerSpec",
    "SourceSpec",
    "load_style",
    "ROLES",
    "INSTRUMENTS",
]

ROLES = ("drums", "bass", "harmony", "melody")
INSTRUMENTS = ("drums", "bass", "pad", "lead", "pluck")


@dataclass(frozen=True)
class StemSpec:
    name: str
    role: str
    instrument: str
    gain: float = 0.8
    intensity: tuple[float, float] = (0.0, 0.0)  # fades in from the first value to the second


@dataclass(frozen=True)
class StateSpec:
    name: str
    valence: float = 0.5
    arousal: float = 0.5
    stems: Mapping[str, float] = field(default_factory=dict)  # per-stem gain multipliers


@dataclass(frozen=True)
class ParameterSpec:
    name: str
    minimum: float = 0.0
    maximum: float = 1.0
    default: float = 0.5


@dataclass(frozen=True)
class StingerSpec:
    name: str
    instrument: str
    notes: tuple[tuple[int, int, int, int], ...]  # (step, semitones above tonic, steps, velocity)
    gain: float = 0.8


@dataclass(frozen=True)
class SourceSpec:
    path: Path
    license: str
    attribution: str
    states: tuple[str, ...]
    intensity: float
    tracks: Mapping[str, tuple[int, ...]]  # stem -> 0-based track indices
    channels: Mapping[str, tuple[int, ...]]  # stem -> 1-based MIDI channels
    key: Key | None = None


@dataclass(frozen=True)
class Style:
    path: Path
    name: str
    version: str
    author: str
    license: str
    description: str
    tempo: float
    meter: Meter
    key: Key
    stems: Mapping[str, StemSpec]
    states: Mapping[str, StateSpec]
    parameters: Mapping[str, ParameterSpec]
    stingers: Mapping[str, StingerSpec]
    sources: tuple[SourceSpec, ...]
    training: Mapping[str, Any]

    def stems_with_role(self, role: str) -> list[str]:
        return [s.name for s in self.stems.values() if s.role == role]


class _Reader:
    """Typed field access that raises StyleError naming file and field."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, where: str, message: str) -> StyleError:
        return StyleError(f"{self.path}: field '{where}': {message}")

    def table(self, data: Mapping[str, Any], key: str, where: str, required: bool = True) -> dict:
        value = data.get(key)
        if value is None:
            if required:
                raise self.fail(where, "is missing")
            return {}
        if not isinstance(value, dict):
            raise self.fail(where, f"must be a table, got {type(value).__name__}")
        return value

    def string(
        self, data: Mapping[str, Any], key: str, where: str, default: str | None = None
    ) -> str:
        value = data.get(key, default)
        if value is None:
            raise self.fail(where, "is missing")
        if not isinstance(value, str) or not value.strip():
            raise self.fail(where, f"must be a non-empty string, got {value!r}")
        return value

    def number(
        self,
        data: Mapping[str, Any],
        key: str,
        where: str,
        default: float | None = None,
        lo: float = -math.inf,
        hi: float = math.inf,
    ) -> float:
        value = data.get(key, default)
        if value is None:
            raise self.fail(where, "is missing")
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(where, f"must be a number, got {value!r}")
        if not math.isfinite(value) or not lo <= value <= hi:
            raise self.fail(where, f"must be a finite number in [{lo}, {hi}], got {value!r}")
        return float(value)

    def choice(
        self,
        data: Mapping[str, Any],
        key: str,
        where: str,
        allowed: tuple[str, ...],
        default: str | None = None,
    ) -> str:
        value = self.string(data, key, where, default)
        if value not in allowed:
            raise self.fail(where, f"is {value!r}; allowed: {', '.join(allowed)}")
        return value

    def unknown(self, data: Mapping[str, Any], allowed: set[str], where: str) -> None:
        extra = sorted(set(data) - allowed)
        if extra:
            raise self.fail(
                f"{where}.{extra[0]}" if where else extra[0],
                f"is not a known field; known: {', '.join(sorted(allowed))}",
            )

    def int_list(self, value: Any, where: str, lo: int, hi: int) -> tuple[int, ...]:
        items = value if isinstance(value, list) else [value]
        out = []
        for item in items:
            if isinstance(item, bool) or not isinstance(item, int) or not lo <= item <= hi:
                raise self.fail(
                    where, f"must be an integer in {lo}..{hi} or a list of them, got {value!r}"
                )
            out.append(item)
        if not out:
            raise self.fail(where, "must not be empty")
        return tuple(out)


def load_style(path: str | Path) -> Style:
    """Read and check a style file. Raises StyleError naming the file and the field."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise StyleError(f"{path}: style file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise StyleError(f"{path}: cannot read style file: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise StyleError(f"{path}: not valid TOML: {exc}") from None
    return _parse(path, data)


def _parse(path: Path, data: dict[str, Any]) -> Style:
    r = _Reader(path)
    r.unknown(
        data, {"style", "stems", "states", "parameters", "stingers", "sources", "training"}, ""
    )
    head = r.table(data, "style", "style")
    r.unknown(
        head,
        {"name", "version", "author", "license", "description", "tempo", "meter", "key"},
        "style",
    )
    try:
        meter = Meter.parse(r.string(head, "meter", "style.meter", "4/4"))
    except ValueError as exc:
        raise r.fail("style.meter", str(exc)) from None
    try:
        key = Key.parse(r.string(head, "key", "style.key", "C major"))
    except ValueError as exc:
        raise r.fail("style.key", str(exc)) from None

    stems: dict[str, StemSpec] = {}
    for name, raw in r.table(data, "stems", "stems").items():
        where = f"stems.{name}"
        if not isinstance(raw, dict):
            raise r.fail(where, "must be a table")
        r.unknown(raw, {"role", "instrument", "gain", "intensity"}, where)
        role = r.choice(raw, "role", f"{where}.role", ROLES, name if name in ROLES else None)
        default_instrument = {"drums": "drums", "bass": "bass", "harmony": "pad", "melody": "lead"}[
            role
        ]
        fade = raw.get("intensity", [0.0, 0.0])
        if not (isinstance(fade, list) and len(fade) == 2):
            raise r.fail(
                f"{where}.intensity", f"must be [start, full] with values in [0, 1], got {fade!r}"
            )
        lo = r.number({"v": fade[0]}, "v", f"{where}.intensity", lo=0.0, hi=1.0)
        hi = r.number({"v": fade[1]}, "v", f"{where}.intensity", lo=0.0, hi=1.0)
        if hi < lo:
            raise r.fail(f"{where}.intensity", f"the full value {hi} is below the start value {lo}")
        stems[name] = StemSpec(
            name=name,
            role=role,
            instrument=r.choice(
                raw, "instrument", f"{where}.instrument", INSTRUMENTS, default_instrument
            ),
            gain=r.number(raw, "gain", f"{where}.gain", 0.8, 0.0, 2.0),
            intensity=(lo, hi),
        )
    if not stems:
        raise r.fail("stems", "needs at least one stem")

    states: dict[str, StateSpec] = {}
    for name, raw in r.table(data, "states", "states").items():
        where = f"states.{name}"
        if not isinstance(raw, dict):
            raise r.fail(where, "must be a table")
        r.unknown(raw, {"valence", "arousal", "stems"}, where)
        gains = r.table(raw, "stems", f"{where}.stems", required=False)
        for stem in gains:
            if stem not in stems:
                raise r.fail(f"{where}.stems.{stem}", f"is not a stem; stems: {', '.join(stems)}")
        states[name] = StateSpec(
            name=name,
            valence=r.number(raw, "valence", f"{where}.valence", 0.5, 0.0, 1.0),
            arousal=r.number(raw, "arousal", f"{where}.arousal", 0.5, 0.0, 1.0),
            stems={s: r.number(gains, s, f"{where}.stems.{s}", lo=0.0, hi=2.0) for s in gains},
        )
    if not states:
        raise r.fail("states", "needs at least one state")

    parameters: dict[str, ParameterSpec] = {}
    for name, raw in r.table(data, "parameters", "parameters", required=False).items():
        where = f"parameters.{name}"
        if not isinstance(raw, dict):
            raise r.fail(where, "must be a table")
        r.unknown(raw, {"min", "max", "default"}, where)
        lo = r.number(raw, "min", f"{where}.min", 0.0)
        hi = r.number(raw, "max", f"{where}.max", 1.0)
        if hi <= lo:
            raise r.fail(f"{where}.max", f"must be above min {lo}, got {hi}")
        parameters[name] = ParameterSpec(
            name, lo, hi, r.number(raw, "default", f"{where}.default", lo, lo, hi)
        )
    if "intensity" not in parameters:
        parameters["intensity"] = ParameterSpec("intensity", 0.0, 1.0, 0.5)

    stingers: dict[str, StingerSpec] = {}
    for name, raw in r.table(data, "stingers", "stingers", required=False).items():
        where = f"stingers.{name}"
        if not isinstance(raw, dict):
            raise r.fail(where, "must be a table")
        r.unknown(raw, {"instrument", "notes", "gain"}, where)
        notes = raw.get("notes")
        if not isinstance(notes, list) or not notes:
            raise r.fail(
                f"{where}.notes", "must be a non-empty list of [step, semitones, steps, velocity]"
            )
        parsed = []
        for i, note in enumerate(notes):
            ok = (
                isinstance(note, list)
                and len(note) == 4
                and all(isinstance(v, int) and not isinstance(v, bool) for v in note)
                and 0 <= note[0] < 64
                and -36 <= note[1] <= 48
                and 1 <= note[2] <= 64
                and 1 <= note[3] <= 127
            )
            if not ok:
                raise r.fail(
                    f"{where}.notes[{i}]",
                    f"must be [step 0..63, semitones -36..48, steps 1..64, velocity 1..127], got {note!r}",
                )
            parsed.append(tuple(note))
        stingers[name] = StingerSpec(
            name=name,
            instrument=r.choice(raw, "instrument", f"{where}.instrument", INSTRUMENTS, "lead"),
            notes=tuple(parsed),  # type: ignore[arg-type]
            gain=r.number(raw, "gain", f"{where}.gain", 0.8, 0.0, 2.0),
        )

    raw_sources = data.get("sources", [])
    if not isinstance(raw_sources, list) or not raw_sources:
        raise r.fail("sources", "needs at least one [[sources]] entry")
    sources = tuple(_parse_source(r, i, raw, stems, states) for i, raw in enumerate(raw_sources))

    training = r.table(data, "training", "training", required=False)
    return Style(
        path=path,
        name=r.string(head, "name", "style.name"),
        version=r.string(head, "version", "style.version", "0.1.0"),
        author=r.string(head, "author", "style.author", "unknown"),
        license=r.string(head, "license", "style.license"),
        description=head.get("description", "")
        if isinstance(head.get("description", ""), str)
        else "",
        tempo=r.number(head, "tempo", "style.tempo", 120.0, 30.0, 300.0),
        meter=meter,
        key=key,
        stems=stems,
        states=states,
        parameters=parameters,
        stingers=stingers,
        sources=sources,
        training=training,
    )


def _parse_source(
    r: _Reader, i: int, raw: Any, stems: Mapping[str, StemSpec], states: Mapping[str, StateSpec]
) -> SourceSpec:
    where = f"sources[{i}]"
    if not isinstance(raw, dict):
        raise r.fail(where, "must be a table")
    r.unknown(
        raw,
        {"file", "license", "attribution", "states", "intensity", "tracks", "channels", "key"},
        where,
    )
    file = r.string(raw, "file", f"{where}.file")
    tagged = raw.get("states", list(states))
    if not isinstance(tagged, list) or not tagged:
        raise r.fail(f"{where}.states", f"must be a non-empty list of state names, got {tagged!r}")
    for state in tagged:
        if state not in states:
            raise r.fail(
                f"{where}.states", f"{state!r} is not a state; states: {', '.join(states)}"
            )
    mappings: dict[str, dict[str, tuple[int, ...]]] = {}
    for field_name, lo, hi in (("tracks", 0, 255), ("channels", 1, 16)):
        table = r.table(raw, field_name, f"{where}.{field_name}", required=False)
        for stem in table:
            if stem not in stems:
                raise r.fail(
                    f"{where}.{field_name}.{stem}", f"is not a stem; stems: {', '.join(stems)}"
                )
        mappings[field_name] = {
            s: r.int_list(v, f"{where}.{field_name}.{s}", lo, hi) for s, v in table.items()
        }
    if not mappings["tracks"] and not mappings["channels"]:
        raise r.fail(
            where, "maps no stem: give 'tracks = {stem = index}' or 'channels = {stem = channel}'"
        )
    key = None
    if "key" in raw:
        try:
            key = Key.parse(r.string(raw, "key", f"{where}.key"))
        except ValueError as exc:
            raise r.fail(f"{where}.key", str(exc)) from None
    return SourceSpec(
        path=(r.path.parent / file).resolve(),
        license=r.string(raw, "license", f"{where}.license"),
        attribution=r.string(raw, "attribution", f"{where}.attribution"),
        states=tuple(tagged),
        intensity=r.number(raw, "intensity", f"{where}.intensity", 0.5, 0.0, 1.0),
        tracks=mappings["tracks"],
        channels=mappings["channels"],
        key=key,
    )
