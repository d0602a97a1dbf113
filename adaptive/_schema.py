"""The one schema of a style and of a bundle's manifest, declared once.

Every field a sound designer writes in ``style.toml`` and every field a bundle's
manifest carries is a field of one of the frozen dataclasses below. Each field
says, in its metadata (``Rule``), how a raw value is checked and converted, the
key it is stored under, whether a bundle must carry it, and whether it exists
in a style file. Three readers and one writer share this declaration:

- ``adaptive.load_style`` reads a style with ``load_fields(..., STYLE)``;
- ``authoring``'s bake builds a ``Manifest`` from the ``Style`` and writes it
  with ``dump_fields``;
- ``adaptive.read_bundle`` reads the manifest back with ``load_fields(..., BUNDLE)``
  and exposes it typed as ``Bundle.spec``;
- the runtime reads ``Bundle.spec`` (typed) or the raw ``Bundle.manifest`` dict.

A bundle manifest always carries the fields marked ``REQUIRED`` (the fields of
format v1); every other field is written only when it differs from its default,
so bundles written before a field existed still load, with the default.

Field table (style key / manifest key, range, default):

[style] (flat at the top of the manifest)
    name (text, required), version ("0.1.0"), author ("unknown"), license (required),
    description (""), tempo (30..300, 120), meter ("4/4"), key ("C major"),
    default_state (a state name; the first state)
[mix] (optional)
    loudness_lufs (-40..-6, -16), ceiling_db (-20..0, -1), reverb_seconds (0..10, 1.5),
    reverb_damping (0..1, 0.5), delay_beats (0..4, 0.75), delay_feedback (0..0.95, 0.35)
[stems.NAME] (1..64 stems)
    role (drums/bass/harmony/melody; the stem's name if it is a role), instrument (one of
    INSTRUMENTS; by role), gain (0..2, 0.8), intensity ([start, full] in 0..1, [0, 0]),
    pan (-1..1, 0), reverb (send 0..1, 0), delay (send 0..1, 0), polyphony (1..64, 16),
    program (General MIDI 0..127; by role), preset (0..127, none), bank (0..16383, none;
    needs preset), soundfont (style only: a path relative to the style file)
[states.NAME] (1..64 states)
    valence (0..1, 0.5), arousal (0..1, 0.5), stems ({stem = gain 0..2}), mood (text, ""),
    tempo (30..300, none: the style tempo), material (a state name, none: its own; the
    trained state whose learned material it plays: not itself, not a state that borrows;
    in a bundle, a state of ``conditioning``)
[parameters.NAME] (1..64; ``intensity`` always exists, within 0..1)
    min (0), max (1; above min), default (min; within [min, max]), seek (units per second
    0..1e6, 0 = immediate), valence / arousal (-1..1, 0: added to the state's valence /
    arousal at max, in proportion from min; the sum is clamped to 0..1)
[stingers.NAME] (0..64 stingers)
    instrument (INSTRUMENTS, "lead"), notes (1..64 of [step 0..63, semitones -36..48,
    steps 1..64, velocity 1..127]; required), gain (0..2, 0.8), sync (immediate/beat/bar,
    "beat"), cooldown (seconds 0..60, 0.1), max_voices (1..32, 4), key_aware (true);
    at the slowest tempo, one stinger lasts at most 16 s, all together 64 s, and all
    their notes together sound for at most 128 s (the runtime renders them ahead)
[[transitions]] (0..256 rules)
    from / to (a state or "*", "*"), sync (immediate/beat/bar/bars/cue, "bar"),
    bars (1..16, 1; only with sync = "bars"), fade (linear/equal_power/s_curve,
    "equal_power"), fade_beats (0..16, 1), transition_bar (false: true inserts one
    generated bar at the landing that leads into the destination, which starts on the
    bar after it), entry (start/same_position, "start": the destination's phrase
    position starts at 0, or runs on), tempo_ramp_bars (0..16, 0: N bars stepping from
    the old tempo to the destination's, which holds from the N+1-th bar)
manifest only
    created (ISO time), vocabulary (token names), conditioning (feature names),
    provenance ([{file, sha256, license, attribution, kind midi/soundfont}]),
    training ({config, losses, seconds, environment})

Names (of stems, states, parameters, stingers) are 1..64 printable characters
without surrounding spaces; ``*`` is reserved for transitions.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import MISSING, dataclass, field
from functools import cache
from typing import Any

from ._music import Key, Meter

__all__ = [
    "SchemaError",
    "ROLES",
    "INSTRUMENTS",
    "ROLE_INSTRUMENTS",
    "ROLE_PROGRAMS",
    "STINGER_SYNCS",
    "TRANSITION_SYNCS",
    "FADES",
    "ENTRIES",
    "MAX_NAME",
    "MAX_ITEMS",
    "Header",
    "MixSpec",
    "StemSpec",
    "StateSpec",
    "ParameterSpec",
    "StingerSpec",
    "TransitionSpec",
    "ProvenanceEntry",
    "TrainingRecord",
    "Music",
    "Manifest",
    "Rule",
    "REQUIRED",
    "OPTIONAL",
    "ABSENT",
    "STYLE",
    "BUNDLE",
    "load_fields",
    "dump_fields",
    "check_links",
    "load_manifest",
    "dump_manifest",
    "show",
]

# --- the tables other engineers extend ------------------------------------------------------

ROLES = ("drums", "bass", "harmony", "melody")
# Every instrument a stem or a stinger may name; the runtime has a voice for each.
INSTRUMENTS = (
    "drums",
    "lead",
    "pluck",
    "bass",
    "pad",
    "strings",
    "brass",
    "bell",
    "synth_bass",
    "keys",
)  # fmt: skip  (the runtime's voices: runtime/_instruments/_presets.py)
ROLE_INSTRUMENTS = {"drums": "drums", "bass": "bass", "harmony": "pad", "melody": "lead"}
# General MIDI programs (0-based) per role: standard kit, finger bass, warm pad, square lead.
ROLE_PROGRAMS = {"drums": 0, "bass": 33, "harmony": 89, "melody": 80}
STINGER_SYNCS = ("immediate", "beat", "bar")
TRANSITION_SYNCS = ("immediate", "beat", "bar", "bars", "cue")
FADES = ("linear", "equal_power", "s_curve")
ENTRIES = ("start", "same_position")
PROVENANCE_KINDS = ("midi", "soundfont")

MAX_NAME = 64  # characters in a stem, state, parameter or stinger name
MAX_ITEMS = 64  # stems, states, parameters, stingers, notes per stinger
MAX_TEXT = 4096  # characters in a free text (description, attribution)
MAX_PLAIN_DEPTH = 8  # nesting of free-form tables (training config, model meta extras)
MAX_PLAIN_ITEMS = 4096  # values in one free-form table, all levels together

# Where a field lives. In a bundle: REQUIRED fields are always written and must be
# present; OPTIONAL ones are written when not at their default; ABSENT ones never.
REQUIRED = "required"
OPTIONAL = "optional"
ABSENT = "absent"
STYLE = "style"
BUNDLE = "bundle"


# The mode (STYLE or BUNDLE) of the load or dump in progress; nested tables follow it.
_MODE: ContextVar[str] = ContextVar("adaptive_schema_mode", default=BUNDLE)


class SchemaError(Exception):
    """A field failed its check; ``where`` is its dotted path, ``message`` the complaint.

    Internal: ``load_style`` turns it into ``StyleError`` and ``read_bundle`` into
    ``BundleError``, each with the file.
    """

    def __init__(self, where: str, message: str) -> None:
        super().__init__(f"{where}: {message}")
        self.where = where
        self.message = message


def show(value: Any) -> str:
    """A short description of a bad value; never recurses into containers."""
    if isinstance(value, str | bytes):
        text = repr(value)
        return text if len(text) <= 60 else text[:57] + "..."
    if isinstance(value, dict):
        return f"a map of {len(value)} entries"
    if isinstance(value, list | tuple):
        return f"a list of {len(value)} items"
    if value is None or isinstance(value, bool | int | float):
        text = repr(value)
        return text if len(text) <= 40 else text[:37] + "..."
    return f"a {type(value).__name__}"


# --- checks: one small object per kind of value ---------------------------------------------


class Check:
    """Checks and converts one raw value; ``dump`` turns the typed value back into plain data."""

    def load(self, value: Any, where: str) -> Any:
        raise NotImplementedError

    def dump(self, value: Any) -> Any:
        return value


class Text(Check):
    def __init__(self, max_len: int = 256, empty: bool = False) -> None:
        self.max_len, self.empty = max_len, empty

    def load(self, value: Any, where: str) -> str:
        if not isinstance(value, str) or (not self.empty and not value.strip()):
            kind = "a string" if self.empty else "a non-empty string"
            raise SchemaError(where, f"must be {kind}, got {show(value)}")
        if len(value) > self.max_len:
            raise SchemaError(where, f"is {len(value)} characters; the limit is {self.max_len}")
        return value


class Name(Check):
    """A stem, state, parameter or stinger name."""

    def load(self, value: Any, where: str) -> str:
        ok = (
            isinstance(value, str)
            and 0 < len(value) <= MAX_NAME
            and value == value.strip()
            and value.isprintable()
            and value != "*"
        )
        if not ok:
            raise SchemaError(
                where,
                f"must be a name of 1..{MAX_NAME} printable characters without surrounding "
                f"spaces (not '*'), got {show(value)}",
            )
        return value


class Number(Check):
    def __init__(self, lo: float, hi: float) -> None:
        self.lo, self.hi = lo, hi

    def load(self, value: Any, where: str) -> float:
        ok = (
            isinstance(value, int | float)
            and not isinstance(value, bool)
            and (isinstance(value, float) or abs(value) < 2**63)
            and math.isfinite(value)
            and self.lo <= value <= self.hi
        )
        if not ok:
            raise SchemaError(
                where, f"must be a finite number in [{self.lo:g}, {self.hi:g}], got {show(value)}"
            )
        return float(value)


class Integer(Check):
    def __init__(self, lo: int, hi: int) -> None:
        self.lo, self.hi = lo, hi

    def load(self, value: Any, where: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not self.lo <= value <= self.hi:
            raise SchemaError(
                where, f"must be an integer in {self.lo}..{self.hi}, got {show(value)}"
            )
        return value


class Boolean(Check):
    def load(self, value: Any, where: str) -> bool:
        if not isinstance(value, bool):
            raise SchemaError(where, f"must be true or false, got {show(value)}")
        return value


class Choice(Check):
    def __init__(self, options: Sequence[str]) -> None:
        self.options = options

    def load(self, value: Any, where: str) -> str:
        if not isinstance(value, str) or value not in self.options:
            raise SchemaError(where, f"is {show(value)}; allowed: {', '.join(self.options)}")
        return value


class Parsed(Check):
    """A string parsed by ``parse`` (Meter.parse, Key.parse); dumped with ``str``."""

    def __init__(self, parse: Callable[[str], Any]) -> None:
        self.parse = parse

    def load(self, value: Any, where: str) -> Any:
        if not isinstance(value, str) or len(value) > 64:
            raise SchemaError(where, f"must be a short string, got {show(value)}")
        try:
            return self.parse(value)
        except ValueError as exc:
            raise SchemaError(where, str(exc)) from None

    def dump(self, value: Any) -> str:
        return str(value)


class Sha256(Check):
    def load(self, value: Any, where: str) -> str:
        if not (
            isinstance(value, str)
            and len(value) == 64
            and all(c in "0123456789abcdef" for c in value)
        ):
            raise SchemaError(where, f"must be a sha256 hex digest, got {show(value)}")
        return value


class Fade(Check):
    """[start, full] in 0..1 with full >= start."""

    def load(self, value: Any, where: str) -> tuple[float, float]:
        if not isinstance(value, list | tuple) or len(value) != 2:
            raise SchemaError(where, f"must be [start, full] in [0, 1], got {show(value)}")
        lo, hi = (Number(0.0, 1.0).load(v, where) for v in value)
        if hi < lo:
            raise SchemaError(where, f"the full value {hi:g} is below the start value {lo:g}")
        return (lo, hi)

    def dump(self, value: Any) -> list[float]:
        return list(value)


class Items(Check):
    """A list of values of one check; ``dump`` gives a list."""

    def __init__(self, item: Check, max_len: int, min_len: int = 0) -> None:
        self.item, self.max_len, self.min_len = item, max_len, min_len

    def load(self, value: Any, where: str) -> tuple[Any, ...]:
        if not isinstance(value, list | tuple):
            raise SchemaError(where, f"must be a list, got {show(value)}")
        if not self.min_len <= len(value) <= self.max_len:
            raise SchemaError(
                where, f"has {len(value)} items; allowed: {self.min_len}..{self.max_len}"
            )
        return tuple(self.item.load(v, f"{where}[{i}]") for i, v in enumerate(value))

    def dump(self, value: Any) -> list[Any]:
        return [self.item.dump(v) for v in value]


class Note(Check):
    """A stinger note: [step 0..63, semitones -36..48, steps 1..64, velocity 1..127]."""

    PARTS = (("step", 0, 63), ("semitones", -36, 48), ("steps", 1, 64), ("velocity", 1, 127))

    def load(self, value: Any, where: str) -> tuple[int, int, int, int]:
        ok = (
            isinstance(value, list | tuple)
            and len(value) == 4
            and all(
                isinstance(v, int) and not isinstance(v, bool) and lo <= v <= hi
                for v, (_, lo, hi) in zip(value, self.PARTS, strict=True)
            )
        )
        if not ok:
            raise SchemaError(
                where,
                "must be [step 0..63, semitones -36..48, steps 1..64, velocity 1..127], "
                f"got {_brief(value)}",
            )
        return tuple(value)  # type: ignore[return-value]

    def dump(self, value: Any) -> list[int]:
        return list(value)


def _brief(value: Any) -> str:
    if isinstance(value, list) and len(value) <= 8:
        if all(isinstance(v, bool | int | float) and abs(v) < 1e12 for v in value):
            return repr(value)
    return show(value)


class Table(Check):
    """A nested table of one schema dataclass; a map value's key becomes its ``name``."""

    def __init__(self, cls: type) -> None:
        self.cls = cls

    def load(self, value: Any, where: str, name: str | None = None) -> Any:
        values = load_fields(self.cls, value, where, _MODE.get(), name=name)
        try:
            obj = self.cls(**values)
        except TypeError as exc:  # a required field the mode skipped; a schema bug
            raise SchemaError(where, f"is incomplete: {exc}") from None
        check = getattr(obj, "check", None)
        if check is not None:
            check(where)
        return obj

    def dump(self, value: Any) -> dict[str, Any]:
        return dump_fields(value, _MODE.get())


class Named(Check):
    """A map from names to tables (stems, states, ...), in file order."""

    def __init__(self, cls: type, min_len: int = 0, max_len: int = MAX_ITEMS) -> None:
        self.table = Table(cls)
        self.min_len, self.max_len = min_len, max_len

    def load(self, value: Any, where: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise SchemaError(where, f"must be a table, got {show(value)}")
        if not self.min_len <= len(value) <= self.max_len:
            raise SchemaError(
                where, f"has {len(value)} entries; allowed: {self.min_len}..{self.max_len}"
            )
        out = {}
        for key, raw in value.items():
            name = Name().load(key, where)
            out[name] = self.table.load(raw, f"{where}.{name}", name=name)
        return out

    def dump(self, value: Any) -> dict[str, Any]:
        return {name: self.table.dump(v) for name, v in value.items()}


class Gains(Check):
    """{stem = gain 0..2}; the stems are checked against the stems by ``check_links``."""

    def load(self, value: Any, where: str) -> dict[str, float]:
        if not isinstance(value, dict) or len(value) > MAX_ITEMS:
            raise SchemaError(
                where, f"must be a table of at most {MAX_ITEMS} gains, got {show(value)}"
            )
        out = {}
        for key, gain in value.items():
            stem = Name().load(key, where)
            out[stem] = Number(0.0, 2.0).load(gain, f"{where}.{stem}")
        return out

    def dump(self, value: Any) -> dict[str, float]:
        return dict(value)


class Plain(Check):
    """Free-form data (str, number, bool, lists, string-keyed maps), bounded in depth and size."""

    def __init__(self, map_only: bool = True) -> None:
        self.map_only = map_only

    def load(self, value: Any, where: str) -> Any:
        if self.map_only and not isinstance(value, dict):
            raise SchemaError(where, f"must be a table, got {show(value)}")
        count = 0
        stack: list[tuple[Any, str, int]] = [(value, where, 0)]
        while stack:  # iterative: deep nesting is an error, never a RecursionError
            item, at, depth = stack.pop()
            count += 1
            if count > MAX_PLAIN_ITEMS:
                raise SchemaError(where, f"holds more than {MAX_PLAIN_ITEMS} values")
            if isinstance(item, dict | list):
                if depth >= MAX_PLAIN_DEPTH:
                    raise SchemaError(at, f"nests deeper than {MAX_PLAIN_DEPTH} levels")
                if isinstance(item, dict):
                    for k, v in item.items():
                        if not isinstance(k, str) or len(k) > MAX_NAME:
                            raise SchemaError(at, f"has a bad key {show(k)}")
                        stack.append((v, f"{at}.{k}", depth + 1))
                else:
                    stack.extend((v, f"{at}[{i}]", depth + 1) for i, v in enumerate(item))
            elif isinstance(item, str):
                if len(item) > MAX_TEXT:
                    raise SchemaError(at, f"is {len(item)} characters; the limit is {MAX_TEXT}")
            elif isinstance(item, float):
                if not math.isfinite(item):
                    raise SchemaError(at, f"must be finite, got {show(item)}")
            elif isinstance(item, int) and not isinstance(item, bool):
                if abs(item) >= 2**63:
                    raise SchemaError(at, f"is out of the 64-bit range, got {show(item)}")
            elif not isinstance(item, bool):
                raise SchemaError(
                    at, f"must be text, a number, true/false, a list or a table, got {show(item)}"
                )
        return value


# --- field declarations -----------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    check: Check
    key: str  # the key in the style file and the manifest
    bundle: str = OPTIONAL  # REQUIRED / OPTIONAL / ABSENT in a bundle manifest
    style: str = OPTIONAL  # REQUIRED / OPTIONAL / ABSENT in a style file
    section: str = ""  # "style": the [style] table of a style file (flat in the manifest)
    doc: str = ""


def _field(
    check: Check,
    default: Any = MISSING,
    *,
    factory: Any = MISSING,
    key: str = "",
    bundle: str = OPTIONAL,
    style: str = OPTIONAL,
    section: str = "",
    doc: str = "",
) -> Any:
    rule = Rule(check, key, bundle, style, section, doc)
    if factory is not MISSING:
        return field(default_factory=factory, metadata={"rule": rule})
    return field(default=default, metadata={"rule": rule})


@cache
def _rules(cls: type) -> tuple[tuple[str, Rule, dataclasses.Field[Any]], ...]:
    out = []
    for f in dataclasses.fields(cls):
        rule = f.metadata.get("rule")
        if rule is not None:
            out.append((f.name, dataclasses.replace(rule, key=rule.key or f.name), f))
    return tuple(out)


def _default(f: dataclasses.Field[Any]) -> Any:
    if f.default is not MISSING:
        return f.default
    if f.default_factory is not MISSING:
        return f.default_factory()
    return MISSING


def load_fields(
    cls: type,
    raw: Any,
    where: str,
    mode: str,
    section: str | None = None,
    name: str | None = None,
) -> dict[str, Any]:
    """Check ``raw`` against ``cls``'s rules (those of ``section`` if given); returns typed values.

    Unknown keys, missing required keys and bad values raise ``SchemaError`` naming the
    field. Fields left out get their default, or the class's ``context_defaults``.
    """
    if not isinstance(raw, dict):
        raise SchemaError(where or "(top level)", f"must be a table, got {show(raw)}")
    rules = [
        (attr, rule, f)
        for attr, rule, f in _rules(cls)
        if (section is None or rule.section == section) and getattr(rule, mode) != ABSENT
    ]
    prefix = f"{where}." if where else ""
    known = {rule.key for _, rule, _ in rules}
    for key in raw:
        if key not in known:
            raise SchemaError(
                f"{prefix}{key}" if isinstance(key, str) else where,
                f"is not a known field; known: {', '.join(sorted(known))}",
            )
    values: dict[str, Any] = {} if name is None else {"name": name}
    missing = []
    token = _MODE.set(mode)
    try:
        for attr, rule, f in rules:
            if rule.key in raw:
                values[attr] = rule.check.load(raw[rule.key], f"{prefix}{rule.key}")
            elif getattr(rule, mode) == REQUIRED or _default(f) is MISSING:
                missing.append((attr, rule))
    finally:
        _MODE.reset(token)
    context = getattr(cls, "context_defaults", None)
    filled = context(values) if context is not None else {}
    for attr, rule in missing:
        if attr in filled and getattr(rule, mode) != REQUIRED:
            values[attr] = filled[attr]
        else:
            raise SchemaError(f"{prefix}{rule.key}", "is missing")
    for attr, _, _ in rules:
        if attr in filled:
            values.setdefault(attr, filled[attr])
    return values


def dump_fields(obj: Any, mode: str = BUNDLE, section: str | None = None) -> dict[str, Any]:
    """Plain data for ``obj``: REQUIRED fields always, others only when not at their default."""
    cls = type(obj)
    context = getattr(cls, "context_defaults", None)
    values = {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}
    filled = context(values) if context is not None else {}
    out: dict[str, Any] = {}
    token = _MODE.set(mode)
    try:
        for attr, rule, f in _rules(cls):
            presence = getattr(rule, mode)
            if presence == ABSENT or (section is not None and rule.section != section):
                continue
            value = values[attr]
            default = filled.get(attr, _default(f))
            if presence == REQUIRED or value != default:
                out[rule.key] = rule.check.dump(value)
    finally:
        _MODE.reset(token)
    return out


# --- the schema ---------------------------------------------------------------------------


def _opt(check: Check, default: Any, doc: str = "", **kw: Any) -> Any:
    return _field(check, default, doc=doc, **kw)


def _core(check: Check, default: Any = MISSING, doc: str = "", **kw: Any) -> Any:
    """A field of format v1: every bundle manifest carries it."""
    return _field(check, default, bundle=REQUIRED, doc=doc, **kw)


@dataclass(frozen=True, kw_only=True)
class Header:
    """The [style] table; flat at the top of a manifest."""

    name: str = _core(Text(MAX_NAME), section="style", doc="the style's name")
    version: str = _core(Text(64), "0.1.0", section="style")
    author: str = _core(Text(256), "unknown", section="style")
    license: str = _core(Text(256), section="style", doc="the bundle's licence (SPDX id)")
    description: str = _opt(Text(MAX_TEXT, empty=True), "", section="style")
    tempo: float = _core(
        Number(30.0, 300.0), 120.0, section="style", doc="quarter notes per minute"
    )
    meter: Meter = _core(Parsed(Meter.parse), Meter(4, 4), section="style")
    key: Key = _core(Parsed(Key.parse), Key(0, "major"), section="style")
    default_state: str = _core(Name(), "", section="style", doc="the first state if left out")


@dataclass(frozen=True, kw_only=True)
class MixSpec:
    """The master bus: loudness target, limiter ceiling and the shared reverb and delay."""

    loudness_lufs: float = _opt(Number(-40.0, -6.0), -16.0)
    ceiling_db: float = _opt(Number(-20.0, 0.0), -1.0)
    reverb_seconds: float = _opt(Number(0.0, 10.0), 1.5)
    reverb_damping: float = _opt(Number(0.0, 1.0), 0.5)
    delay_beats: float = _opt(Number(0.0, 4.0), 0.75)
    delay_feedback: float = _opt(Number(0.0, 0.95), 0.35)
    master_gain_db: float = _opt(
        Number(-24.0, 24.0), 0.0, doc="set by the bake so a render meets loudness_lufs"
    )


@dataclass(frozen=True, kw_only=True)
class StemSpec:
    """One layer the mixer plays: the model that writes it and the voice that plays it."""

    name: str = ""
    role: str = _core(Choice(ROLES), doc="the model that writes the notes")
    instrument: str = _core(Choice(INSTRUMENTS), doc="the voice; by role if left out")
    gain: float = _core(Number(0.0, 2.0), 0.8)
    intensity: tuple[float, float] = _core(Fade(), (0.0, 0.0), doc="fades in from start to full")
    pan: float = _opt(Number(-1.0, 1.0), 0.0)
    reverb: float = _opt(Number(0.0, 1.0), 0.0, doc="send to the mix reverb")
    delay: float = _opt(Number(0.0, 1.0), 0.0, doc="send to the mix delay")
    polyphony: int = _opt(Integer(1, 64), 16, doc="voices sounding at once")
    program: int = _opt(Integer(0, 127), 0, doc="General MIDI program; by role if left out")
    preset: int | None = _opt(Integer(0, 127), None, doc="SoundFont preset")
    bank: int | None = _opt(Integer(0, 16383), None, doc="SoundFont bank; needs preset")
    soundfont: str | None = _field(
        Text(1024), None, bundle=ABSENT, doc="style only: a .sf2 path relative to the style"
    )

    @staticmethod
    def context_defaults(values: Mapping[str, Any]) -> dict[str, Any]:
        role = values.get("role")
        if role is None and values.get("name") in ROLES:  # a stem named after its role
            role = values["name"]
        if role not in ROLES:
            return {}
        return {
            "role": role,
            "instrument": ROLE_INSTRUMENTS[role],
            "program": ROLE_PROGRAMS[role],
        }

    def check(self, where: str) -> None:
        if self.bank is not None and self.preset is None:
            raise SchemaError(f"{where}.bank", "needs a preset")


@dataclass(frozen=True, kw_only=True)
class StateSpec:
    """What the game says is happening; conditions the models and scales the stems."""

    name: str = ""
    valence: float = _core(Number(0.0, 1.0), 0.5, doc="0 dark .. 1 bright")
    arousal: float = _core(Number(0.0, 1.0), 0.5, doc="0 calm .. 1 agitated")
    stems: Mapping[str, float] = _core(Gains(), factory=dict, doc="per-stem gain multipliers")
    mood: str = _opt(Text(256, empty=True), "", doc='words, e.g. "tense, dark, driving"')
    tempo: float | None = _opt(Number(30.0, 300.0), None, doc="overrides the style tempo")
    material: str | None = _opt(
        Name(),
        None,
        doc="a trained state whose learned material this state plays (the models are "
        "conditioned on that state); its own if left out",
    )

    @property
    def trained_as(self) -> str:
        """The state the models are conditioned on while this state plays."""
        return self.material or self.name


@dataclass(frozen=True, kw_only=True)
class ParameterSpec:
    """A continuous value the game sets."""

    name: str = ""
    minimum: float = _core(Number(-1e9, 1e9), 0.0, key="min")
    maximum: float = _core(Number(-1e9, 1e9), 1.0, key="max")
    default: float = _core(Number(-1e9, 1e9), doc="min if left out")
    seek: float = _opt(Number(0.0, 1e6), 0.0, doc="units per second toward a new value; 0 jumps")
    valence: float = _opt(
        Number(-1.0, 1.0), 0.0, doc="added to the state's valence at max, in proportion from min"
    )
    arousal: float = _opt(
        Number(-1.0, 1.0), 0.0, doc="added to the state's arousal at max, in proportion from min"
    )

    def share(self, value: float) -> float:
        """Where ``value`` sits in [min, max], as 0..1."""
        span = self.maximum - self.minimum
        return min(1.0, max(0.0, (value - self.minimum) / span))

    @staticmethod
    def context_defaults(values: Mapping[str, Any]) -> dict[str, Any]:
        return {"default": values.get("minimum", 0.0)}

    def check(self, where: str) -> None:
        if self.maximum <= self.minimum:
            raise SchemaError(
                f"{where}.max", f"must be above min {self.minimum:g}, got {self.maximum:g}"
            )
        if not self.minimum <= self.default <= self.maximum:
            raise SchemaError(
                f"{where}.default",
                f"must be within [{self.minimum:g}, {self.maximum:g}], got {self.default:g}",
            )


@dataclass(frozen=True, kw_only=True)
class StingerSpec:
    """A short motif the game triggers over the music."""

    name: str = ""
    instrument: str = _core(Choice(INSTRUMENTS), "lead")
    notes: tuple[tuple[int, int, int, int], ...] = _core(
        Items(Note(), MAX_ITEMS, min_len=1),
        doc="[step, semitones above the tonic, steps, velocity]",
    )
    gain: float = _core(Number(0.0, 2.0), 0.8)
    sync: str = _opt(Choice(STINGER_SYNCS), "beat", doc="where a trigger lands")
    cooldown: float = _opt(Number(0.0, 60.0), 0.1, doc="seconds before it can sound again")
    max_voices: int = _opt(Integer(1, 32), 4, doc="copies sounding at once; the oldest is stolen")
    key_aware: bool = _opt(Boolean(), True, doc="follows the playing key")


@dataclass(frozen=True, kw_only=True)
class TransitionSpec:
    """How the music moves from one state to another ("*" matches any state)."""

    from_state: str = _opt(Text(MAX_NAME), "*", key="from")
    to_state: str = _opt(Text(MAX_NAME), "*", key="to")
    sync: str = _opt(Choice(TRANSITION_SYNCS), "bar")
    bars: int = _opt(Integer(1, 16), 1, doc='with sync = "bars": every N bars')
    fade: str = _opt(Choice(FADES), "equal_power")
    fade_beats: float = _opt(Number(0.0, 16.0), 1.0)
    transition_bar: bool = _opt(Boolean(), False, doc="a generated lead-in bar")
    entry: str = _opt(Choice(ENTRIES), "start", doc="where the new state's music enters")
    tempo_ramp_bars: int = _opt(
        Integer(0, 16), 0, doc="bars stepping from the old tempo to the new; 0 jumps"
    )

    def check(self, where: str) -> None:
        if self.bars != 1 and self.sync != "bars":
            raise SchemaError(f"{where}.bars", f'needs sync = "bars", got sync = {self.sync!r}')


@dataclass(frozen=True, kw_only=True)
class ProvenanceEntry:
    """One training source: shown in the game's credits."""

    file: str = _core(Text(1024))
    sha256: str = _core(Sha256())
    license: str = _core(Text(256))
    attribution: str = _core(Text(MAX_TEXT))
    kind: str = _opt(Choice(PROVENANCE_KINDS), "midi")


@dataclass(frozen=True, kw_only=True)
class TrainingRecord:
    """How the bake trained the models (written by the bake, shown by ``inspect``)."""

    config: Mapping[str, Any] = _opt(Plain(), None)
    losses: Mapping[str, Any] = _opt(Plain(), None)
    seconds: float = _opt(Number(0.0, 1e9), 0.0)
    environment: Mapping[str, Any] = _opt(Plain(), None, doc="e.g. torch version, cpu")
    state_tempo: Mapping[str, Any] = _opt(Plain(), None, doc="bpm per state, from the sources")
    moods: Mapping[str, Any] = _opt(Plain(), None, doc="each state's mood words as read")
    skipped_sources: tuple[str, ...] = _opt(
        Items(Text(1024), 4096), (), doc="sources the bake left out (e.g. an unsupported meter)"
    )
    loss_curves: Mapping[str, Any] = _opt(
        Plain(), None, doc="per model: [step, loss] pairs through training, thinned for the report"
    )
    parity: Mapping[str, Any] = _opt(Plain(), None, doc="per model: largest |torch - ONNX|")
    distributed: Mapping[str, Any] = _opt(
        Plain(), None, doc="the job that trained: world_size, backend"
    )

    def check(self, where: str) -> None:
        for model, loss in (self.losses or {}).items():
            Number(-1e12, 1e12).load(loss, f"{where}.losses.{model}")


_MAX_STYLE_TRANSITIONS = 256


@dataclass(frozen=True, kw_only=True)
class Music(Header):
    """What a style and a bundle share: the header plus stems, states, ... and the mix."""

    stems: Mapping[str, StemSpec] = _core(Named(StemSpec, min_len=1), factory=dict)
    states: Mapping[str, StateSpec] = _core(Named(StateSpec, min_len=1), factory=dict)
    parameters: Mapping[str, ParameterSpec] = _core(Named(ParameterSpec), factory=dict)
    stingers: Mapping[str, StingerSpec] = _core(Named(StingerSpec), factory=dict)
    transitions: tuple[TransitionSpec, ...] = _opt(
        Items(Table(TransitionSpec), _MAX_STYLE_TRANSITIONS), ()
    )
    mix: MixSpec = _opt(Table(MixSpec), MixSpec())

    def __post_init__(self) -> None:
        if not self.default_state:  # left out: the first state
            object.__setattr__(self, "default_state", next(iter(self.states), ""))

    def stems_with_role(self, role: str) -> list[str]:
        return [s.name for s in self.stems.values() if s.role == role]

    def tempo_for(self, state: str) -> float:
        """The state's tempo override, or the style tempo."""
        spec = self.states.get(state)
        return spec.tempo if spec is not None and spec.tempo is not None else self.tempo

    def mood(self, state: str, parameters: Mapping[str, float]) -> tuple[float, float]:
        """The valence and arousal the models are conditioned on: the state's own, moved by
        every parameter that declares a shift (in proportion to where it sits in its range),
        each clamped to 0..1. A parameter named ``valence`` sets the valence outright."""
        spec = self.states.get(state)
        valence = spec.valence if spec is not None else 0.5
        arousal = spec.arousal if spec is not None else 0.5
        if "valence" in self.parameters and "valence" in parameters:
            valence = parameters["valence"]
        for name, parameter in self.parameters.items():
            if (parameter.valence or parameter.arousal) and name in parameters:
                share = parameter.share(parameters[name])
                valence += parameter.valence * share
                arousal += parameter.arousal * share
        return min(1.0, max(0.0, valence)), min(1.0, max(0.0, arousal))

    def trained_states(self) -> list[str]:
        """The states the models learn from: those that borrow no other state's material."""
        return [name for name, spec in self.states.items() if spec.material is None]

    def transition(self, from_state: str, to_state: str) -> TransitionSpec:
        """The most specific rule for a move (exact > from > to > any), or the default rule."""
        best: tuple[int, TransitionSpec] | None = None
        for rule in self.transitions:
            if rule.from_state not in ("*", from_state) or rule.to_state not in ("*", to_state):
                continue
            score = 2 * (rule.from_state != "*") + (rule.to_state != "*")
            if best is None or score > best[0]:
                best = (score, rule)
        return best[1] if best is not None else TransitionSpec()


@dataclass(frozen=True, kw_only=True)
class Manifest(Music):
    """A bundle's manifest, typed: ``Bundle.spec``."""

    created: str = _core(Text(64), "", style=ABSENT, doc="ISO 8601 UTC time of the bake")
    vocabulary: tuple[str, ...] = _core(Items(Text(MAX_NAME), 4096, 1), (), style=ABSENT)
    conditioning: tuple[str, ...] = _core(Items(Text(MAX_NAME), 1024), (), style=ABSENT)
    provenance: tuple[ProvenanceEntry, ...] = _core(
        Items(Table(ProvenanceEntry), 4096), (), style=ABSENT
    )
    training: TrainingRecord = _opt(Table(TrainingRecord), TrainingRecord(), style=ABSENT)


def check_links(music: Music, where: str = "", header: str = "style") -> None:
    """Cross-field checks shared by style and manifest: every name points at something.

    ``where`` prefixes the tables (stems, states, ...), ``header`` the [style] fields.
    """
    prefix = f"{where}." if where else ""
    stems, states = music.stems, music.states
    for state in states.values():
        for stem in state.stems:
            if stem not in stems:
                raise SchemaError(
                    f"{prefix}states.{state.name}.stems.{stem}",
                    f"is not a stem; stems: {', '.join(stems)}",
                )
    _check_materials(music, prefix)
    seen: dict[tuple[str, str], int] = {}
    for i, rule in enumerate(music.transitions):
        for attr, key in (("from_state", "from"), ("to_state", "to")):
            value = getattr(rule, attr)
            if value != "*" and value not in states:
                raise SchemaError(
                    f"{prefix}transitions[{i}].{key}",
                    f"is {value!r}; allowed: *, {', '.join(states)}",
                )
        pair = (rule.from_state, rule.to_state)
        if pair in seen:
            raise SchemaError(
                f"{prefix}transitions[{i}]",
                f"repeats the rule from {pair[0]!r} to {pair[1]!r} of transitions[{seen[pair]}]",
            )
        seen[pair] = i
    if music.default_state not in states:
        raise SchemaError(
            f"{header}.default_state",
            f"is {music.default_state!r}; allowed: {', '.join(states)}",
        )
    _check_stinger_lengths(music, prefix)
    intensity = music.parameters.get("intensity")
    if intensity is None:
        raise SchemaError(f"{prefix}parameters.intensity", "is missing; every bundle has it")
    # The stems' fades and the models' conditioning read intensity as 0..1.
    for key, value in (("min", intensity.minimum), ("max", intensity.maximum)):
        if not 0.0 <= value <= 1.0:
            raise SchemaError(
                f"{prefix}parameters.intensity.{key}", f"must be within [0, 1], got {value:g}"
            )


def _check_materials(music: Music, prefix: str) -> None:
    """A borrowed material is a state's own; in a bundle, one the models were trained on."""
    trained = music.trained_states()
    learned = None
    if isinstance(music, Manifest):
        learned = [s for s in music.states if f"state:{s}" in music.conditioning]
    for state in music.states.values():
        material = state.material
        where = f"{prefix}states.{state.name}.material"
        if material is None:
            if learned and state.name not in learned:  # models that know states, not this one
                raise SchemaError(
                    where,
                    f"is missing; the models were not trained on state {state.name!r}, so it "
                    f"must borrow the material of one that was: {', '.join(learned)}",
                )
            continue
        if material == state.name:
            raise SchemaError(where, "names the state itself; leave it out")
        if material not in music.states:
            raise SchemaError(
                where, f"is {material!r}, not a state; states: {', '.join(music.states)}"
            )
        if material not in trained:
            raise SchemaError(
                where,
                f"is {material!r}, which borrows {music.states[material].material!r} itself; "
                f"borrow one of: {', '.join(trained)}",
            )
        if learned is not None and material not in learned:
            raise SchemaError(
                where,
                f"is {material!r}, a state the models were not trained on; trained: "
                f"{', '.join(learned) or 'none'}",
            )


MAX_STINGER_SECONDS = 16.0  # one stinger, at the slowest tempo the style plays
MAX_STINGERS_SECONDS = 64.0  # all stingers together (the runtime renders them ahead)
MAX_STINGER_NOTE_SECONDS = 128.0  # the sum of every stinger note's length (render work)


def _check_stinger_lengths(music: Music, prefix: str) -> None:
    """Stingers are rendered ahead of time: bound their audio in seconds, not only in steps."""
    slowest = min([music.tempo, *(s.tempo for s in music.states.values() if s.tempo)])
    seconds_per_step = 15.0 / slowest  # a step is a sixteenth note
    total = note_seconds = 0.0
    for stinger in music.stingers.values():
        seconds = max(step + steps for step, _, steps, _ in stinger.notes) * seconds_per_step
        total += seconds
        note_seconds += sum(steps for _, _, steps, _ in stinger.notes) * seconds_per_step
        if note_seconds > MAX_STINGER_NOTE_SECONDS:
            raise SchemaError(
                f"{prefix}stingers.{stinger.name}.notes",
                f"bring the stingers' notes to {note_seconds:.0f} s of sound at {slowest:g} bpm; "
                f"the limit is {MAX_STINGER_NOTE_SECONDS:g} s (they are rendered ahead of time)",
            )
        if seconds > MAX_STINGER_SECONDS:
            raise SchemaError(
                f"{prefix}stingers.{stinger.name}.notes",
                f"last {seconds:.1f} s at {slowest:g} bpm; the limit is {MAX_STINGER_SECONDS:g} s",
            )
        if total > MAX_STINGERS_SECONDS:
            raise SchemaError(
                f"{prefix}stingers.{stinger.name}",
                f"brings the stingers to {total:.1f} s of audio; the limit is {MAX_STINGERS_SECONDS:g} s",
            )


def load_manifest(raw: Any) -> Manifest:
    """The typed manifest of a bundle; raises SchemaError naming 'manifest.<field>'."""
    manifest = Manifest(**load_fields(Manifest, raw, "manifest", BUNDLE))
    check_links(manifest, "manifest", header="manifest")
    return manifest


def dump_manifest(manifest: Manifest) -> dict[str, Any]:
    """The manifest as plain data, as a bundle stores it (``load_manifest`` reads it back)."""
    return dump_fields(manifest, BUNDLE)
