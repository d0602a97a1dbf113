"""Every manifest field, bad in every way its check knows: read_bundle names the field.

The table is generated from the schema itself (``adaptive._schema``), so a field added
there is covered here without editing this file; ``test_the_table_covers_every_field``
fails if a schema class is ever left out.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from adaptive import BundleError
from adaptive._bundle import decode_bundle
from adaptive._schema import ABSENT, REQUIRED, Items, Manifest, Named, _rules

from .conftest import repack
from .fuzz import SITES, bad_values, base_body, deep

Body = dict[str, Any]


def cases() -> Iterator[tuple[str, Callable[[Body], None], str]]:
    """(id, mutation, field path that the error must name) for every field and bad value."""
    for cls, (where, table_of) in SITES.items():
        for _, rule, _ in _rules(cls):
            path = f"{where}.{rule.key}"
            if rule.bundle == ABSENT:  # style-only: a bundle must not carry it
                yield path, _setter(table_of, rule.key, "x"), path
                continue
            for i, value in enumerate(bad_values(rule.check)):
                yield f"{path}#{i}", _setter(table_of, rule.key, value), path
            if rule.bundle == REQUIRED:
                yield f"{path}#missing", _deleter(table_of, rule.key), path
        yield f"{where}.unknown", _setter(table_of, "colour", 1), f"{where}.colour"


def _setter(table_of: Callable[[Body], dict[str, Any]], key: str, value: Any) -> Callable:
    return lambda body: table_of(body).__setitem__(key, value)


def _deleter(table_of: Callable[[Body], dict[str, Any]], key: str) -> Callable:
    return lambda body: table_of(body).pop(key)


CASES = list(cases())

# Checks across fields: each names the field that is wrong.
LINKS: list[tuple[str, Callable[[Body], None], str]] = [
    (
        "state gain of a stem that does not exist",
        lambda b: b["manifest"]["states"]["boss"]["stems"].update(kazoo=1.0),
        "manifest.states.boss.stems.kazoo",
    ),
    (
        "transition from a state that does not exist",
        lambda b: b["manifest"]["transitions"][0].update({"from": "nap"}),
        "manifest.transitions[0].from",
    ),
    (
        "transition to a state that does not exist",
        lambda b: b["manifest"]["transitions"][0].update(to="nap"),
        "manifest.transitions[0].to",
    ),
    (
        "bars without sync bars",
        lambda b: b["manifest"]["transitions"][0].update(sync="bar"),
        "manifest.transitions[0].bars",
    ),
    (
        "a repeated transition rule",
        lambda b: b["manifest"]["transitions"].append(dict(b["manifest"]["transitions"][0])),
        "manifest.transitions[1]",
    ),
    (
        "a state borrowing its own material",
        lambda b: b["manifest"]["states"]["boss"].update(material="boss"),
        "manifest.states.boss.material",
    ),
    (
        "a state borrowing the material of a state that does not exist",
        lambda b: b["manifest"]["states"]["boss"].update(material="nap"),
        "manifest.states.boss.material",
    ),
    (
        "a state borrowing from a state that borrows",
        lambda b: (
            b["manifest"]["states"]["combat"].update(material="explore"),
            b["manifest"]["states"]["boss"].update(material="combat"),
        ),
        "manifest.states.boss.material",
    ),
    (
        "a state the models were not trained on, borrowing nothing",
        lambda b: b["manifest"]["states"].update(
            victory={"valence": 0.9, "arousal": 0.3, "stems": {}}
        ),
        "manifest.states.victory.material",
    ),
    (
        "a state borrowing the material of a state the models were not trained on",
        lambda b: b["manifest"]["states"].update(
            victory={"valence": 0.9, "arousal": 0.3, "stems": {}, "material": "rest"},
            rest={"valence": 0.5, "arousal": 0.5, "stems": {}},
        ),
        "manifest.states.victory.material",
    ),
    (
        "default state that does not exist",
        lambda b: b["manifest"].update(default_state="nap"),
        "manifest.default_state",
    ),
    (
        "max below min",
        lambda b: b["manifest"]["parameters"]["intensity"].update(max=-1.0),
        "manifest.parameters.intensity.max",
    ),
    (
        "default outside [min, max]",
        lambda b: b["manifest"]["parameters"]["intensity"].update(default=2.0),
        "manifest.parameters.intensity.default",
    ),
    (
        "no intensity parameter",
        lambda b: b["manifest"]["parameters"].update(
            danger=b["manifest"]["parameters"].pop("intensity")
        ),
        "manifest.parameters.intensity",
    ),
    (
        "intensity beyond 0..1",
        lambda b: b["manifest"]["parameters"]["intensity"].update(max=2.0),
        "manifest.parameters.intensity.max",
    ),
    (
        "bank without a preset",
        lambda b: b["manifest"]["stems"]["bass"].update(bank=1),
        "manifest.stems.bass.bank",
    ),
    (
        "a stem named with a non-string key",
        lambda b: b["manifest"]["stems"].update({"": b["manifest"]["stems"]["bass"]}),
        "manifest.stems",
    ),
    (
        "a stinger lasting too long at the slowest state tempo",
        lambda b: (
            b["manifest"]["states"]["boss"].update(tempo=30.0),
            b["manifest"]["stingers"]["hit"]["notes"].append([63, 0, 64, 100]),
        ),
        "manifest.stingers.hit.notes",
    ),
    (
        "stinger notes sounding too long together",
        lambda b: b["manifest"]["stingers"]["hit"].update(
            notes=[[step, 0, 64, 90] for step in range(0, 64, 4)]
        ),
        "manifest.stingers.hit.notes",
    ),
    (
        "stingers lasting too long together",
        lambda b: b["manifest"]["stingers"].update(
            {
                f"s{i}": {"instrument": "lead", "gain": 0.5, "notes": [[63, 0, 64, 90]]}
                for i in range(8)
            }
        ),
        "manifest.stingers.s",
    ),
    (
        "another vocabulary",
        lambda b: b["manifest"].update(vocabulary=["bar", "pos:0"]),
        "manifest.vocabulary",
    ),
    (
        "a conditioning feature no state has",
        lambda b: b["manifest"]["conditioning"].append("state:nap"),
        "manifest.conditioning[22]",
    ),
    (
        "a training loss that is not a number",
        lambda b: b["manifest"]["training"]["losses"].update(melody="low"),
        "manifest.training.losses.melody",
    ),
]

# Model entries: every field of every model role.
MODELS: list[tuple[str, Callable[[Body], None], str]] = [
    ("role", lambda b: b["models"]["melody"].update(role="kazoo"), "models.melody.role"),
    (
        "role of a known name",
        lambda b: b["models"]["melody"].update(role="harmony"),
        "models.melody.role",
    ),
    ("sha256", lambda b: b["models"]["bass"].update(sha256="0" * 64), "models.bass.sha256"),
    ("empty onnx", lambda b: b["models"]["bass"].update(onnx=b""), "models.bass.onnx"),
    ("onnx as text", lambda b: b["models"]["bass"].update(onnx="model"), "models.bass.onnx"),
    ("unknown key", lambda b: b["models"]["bass"].update(weights=1), "models.bass.weights"),
    ("model missing", lambda b: b["models"].pop("bass"), "models.bass"),
    ("no models", lambda b: b.update(models={}), "models"),
    ("inputs not a list", lambda b: b["models"]["bass"].update(inputs=3), "models.bass.inputs"),
    (
        "input dtype",
        lambda b: b["models"]["bass"]["inputs"][0].update(dtype="float64"),
        "models.bass.inputs[0].dtype",
    ),
    (
        "input name",
        lambda b: b["models"]["bass"]["inputs"][0].update(name="x" * 65),
        "models.bass.inputs[0].name",
    ),
    (
        "input shape huge",
        lambda b: b["models"]["bass"]["inputs"][1].update(shape=[1, 2**40]),
        "models.bass.inputs[1].shape",
    ),
    (
        "input shape against the conditioning",
        lambda b: b["models"]["bass"]["inputs"][1].update(shape=[1, 21]),
        "models.bass.inputs[1].shape",
    ),
    (
        "output shape against the vocabulary",
        lambda b: b["models"]["melody"]["outputs"][0].update(shape=[1, 202]),
        "models.melody.outputs[0].shape",
    ),
    (
        "an input renamed",
        lambda b: b["models"]["harmony"]["inputs"][0].update(name="ctx"),
        "models.harmony.inputs",
    ),
    (
        "conditioning feature",
        lambda b: b["models"]["harmony"]["conditioning"].append("state:nap"),
        "models.harmony.conditioning[22]",
    ),
    ("meta not a map", lambda b: b["models"]["bass"].update(meta=[1]), "models.bass.meta"),
    (
        "meta hidden_size missing",
        lambda b: b["models"]["bass"]["meta"].pop("hidden_size"),
        "models.bass.meta.hidden_size",
    ),
    (
        "meta hidden_size a string",
        lambda b: b["models"]["bass"]["meta"].update(hidden_size="128"),
        "models.bass.meta.hidden_size",
    ),
    (
        "meta pitch_range reversed",
        lambda b: b["models"]["melody"]["meta"].update(pitch_range=[90, 50]),
        "models.melody.meta.pitch_range",
    ),
    (
        "meta steps_per_bar against the meter",
        lambda b: b["models"]["melody"]["meta"].update(steps_per_bar=12),
        "models.melody.meta.steps_per_bar",
    ),
    (
        "meta latent_size huge",
        lambda b: b["models"]["drums_generator"]["meta"].update(latent_size=2**40),
        "models.drums_generator.meta.latent_size",
    ),
    (
        "meta steps against the meter",
        lambda b: b["models"]["drums_critic"]["meta"].update(steps=12),
        "models.drums_critic.meta.steps",
    ),
    (
        "meta orders",
        lambda b: b["models"]["harmony"]["meta"].update(orders=[0, 99]),
        "models.harmony.meta.orders[1]",
    ),
    (
        "meta extra value nested too deep",
        lambda b: b["models"]["harmony"]["meta"].update(extra=deep(12)),
        "models.harmony.meta.extra",
    ),
]


def _assert_names(mutate: Callable[[Body], None], field: str, light: bool = True) -> None:
    body = base_body(light)
    mutate(body)
    with pytest.raises(BundleError, match=re.escape(f"'{field}")):
        decode_bundle(repack(body))


@pytest.mark.parametrize(("mutate", "field"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_every_field_refuses_bad_values_by_name(mutate: Callable, field: str) -> None:
    _assert_names(mutate, field)


@pytest.mark.parametrize(("mutate", "field"), [c[1:] for c in LINKS], ids=[c[0] for c in LINKS])
def test_cross_field_checks_name_the_field(mutate: Callable, field: str) -> None:
    _assert_names(mutate, field)


@pytest.mark.parametrize(("mutate", "field"), [c[1:] for c in MODELS], ids=[c[0] for c in MODELS])
def test_model_entry_fields_are_named(mutate: Callable, field: str) -> None:
    _assert_names(mutate, field, light=False)


def test_the_base_body_itself_loads() -> None:
    bundle = decode_bundle(repack(base_body()))
    assert bundle.spec.transitions[0].bars == 2 and bundle.spec.mix.loudness_lufs == -14.0
    assert bundle.spec.transition("explore", "combat").sync == "bars"


def test_a_state_may_borrow_the_material_of_a_trained_state() -> None:
    body = base_body()
    body["manifest"]["states"]["victory"] = {
        "valence": 0.9,
        "arousal": 0.3,
        "stems": {},
        "material": "explore",
    }
    spec = decode_bundle(repack(body)).spec
    assert spec.states["victory"].trained_as == "explore"
    assert spec.states["explore"].trained_as == "explore"
    assert spec.trained_states() == ["explore", "combat", "boss"]


def test_the_table_covers_every_field() -> None:
    """Every dataclass reachable from Manifest has a site, so every field gets cases."""
    reachable, todo = set(), [Manifest]
    while todo:
        cls = todo.pop()
        reachable.add(cls)
        for _, rule, _ in _rules(cls):
            check = rule.check
            while isinstance(check, Items):
                check = check.item
            inner = check.table.cls if isinstance(check, Named) else getattr(check, "cls", None)
            if inner is not None and inner not in reachable:
                todo.append(inner)
    assert reachable == set(SITES)
    covered = {c[2] for c in CASES}
    for cls, (where, _) in SITES.items():
        for field in dataclasses.fields(cls):
            rule = field.metadata.get("rule")
            if rule is not None:
                assert f"{where}.{rule.key or field.name}" in covered


def test_every_instrument_the_schema_allows_has_a_runtime_voice() -> None:
    """The schema's INSTRUMENTS table and the runtime's voices agree (one table to extend)."""
    from adaptive._schema import INSTRUMENTS, ROLE_INSTRUMENTS
    from runtime._instruments import make_instrument

    for name in INSTRUMENTS:
        assert make_instrument(name, 48000) is not None
    assert set(ROLE_INSTRUMENTS.values()) <= set(INSTRUMENTS)
