"""The style file: what a sound designer writes to describe a bakeable style.

A style is one TOML file next to its MIDI sources. Its fields are declared once,
in ``adaptive._schema`` (the same declaration the bundle's manifest uses); this
module adds the style-only parts: the ``[[sources]]`` list and the free
``[training]`` table (checked by authoring's ``TrainingConfig``). ``load_style``
checks every field and raises ``StyleError`` naming the file and the field. See
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
from ._music import Key
from ._schema import (
    INSTRUMENTS,
    ROLES,
    STYLE,
    Music,
    ParameterSpec,
    SchemaError,
    StateSpec,
    StemSpec,
    StingerSpec,
    check_links,
    load_fields,
)

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

# The top-level tables of a style file; those of the schema plus sources and training.
_MUSIC_TABLES = ("stems", "states", "parameters", "stingers", "transitions", "mix")
_TOP = ("style", *_MUSIC_TABLES, "sources", "training")


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


@dataclass(frozen=True, kw_only=True)
class Style(Music):
    """A loaded style: the shared schema's fields plus where it lives and what it learns from."""

    path: Path = Path()
    sources: tuple[SourceSpec, ...] = ()
    training: Mapping[str, Any] = field(default_factory=dict)

    def soundfont_path(self, stem: str) -> Path | None:
        """The stem's SoundFont file, resolved against the style's folder (authoring only)."""
        spec = self.stems[stem]
        return None if spec.soundfont is None else (self.path.parent / spec.soundfont).resolve()


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
    r.unknown(data, set(_TOP), "")
    head = r.table(data, "style", "style")
    try:
        values = load_fields(Style, head, "style", STYLE, section="style")
        values |= load_fields(
            Style, {k: data[k] for k in _MUSIC_TABLES if k in data}, "", STYLE, section=""
        )
        for table, what in (("stems", "stem"), ("states", "state")):
            if not values.get(table):
                raise SchemaError(table, f"needs at least one {what}")
        parameters = dict(values.get("parameters", {}))
        parameters.setdefault("intensity", ParameterSpec(name="intensity", default=0.5))
        values["parameters"] = parameters
        music = Music(**values)
        check_links(music)
    except SchemaError as exc:
        raise r.fail(exc.where, exc.message) from None
    raw_sources = data.get("sources", [])
    if not isinstance(raw_sources, list) or not raw_sources:
        raise r.fail("sources", "needs at least one [[sources]] entry")
    sources = tuple(
        _parse_source(r, i, raw, music.stems, music.states) for i, raw in enumerate(raw_sources)
    )
    training = r.table(data, "training", "training", required=False)
    return Style(path=path, sources=sources, training=training, **values)


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
    # a state that borrows another's material has no sources of its own
    trained = [name for name, spec in states.items() if spec.material is None]
    tagged = raw.get("states", trained)
    if not isinstance(tagged, list) or not tagged:
        raise r.fail(f"{where}.states", f"must be a non-empty list of state names, got {tagged!r}")
    for state in tagged:
        if state not in states:
            raise r.fail(
                f"{where}.states", f"{state!r} is not a state; states: {', '.join(states)}"
            )
        if state not in trained:
            raise r.fail(
                f"{where}.states",
                f"{state!r} plays the material of {states[state].material!r} "
                f"(states.{state}.material), so it learns from no source; "
                f"tag one of: {', '.join(trained)}",
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
