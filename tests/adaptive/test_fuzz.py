"""The bundle fuzz suite, capped for CI: a mutation corpus plus hypothesis properties.

Every mutant of the default bundle (see ``fuzz.py``) must end in ``BundleError`` from
``decode_bundle``. CI runs as many mutants as fit in ``BUDGET_SECONDS`` (at least two of
every class); ``benchmarks/test_bench_bundle_fuzz.py`` runs 10,000+ in capped subprocesses.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from typing import Any

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adaptive import Bundle, BundleError
from adaptive._bundle import decode_bundle, default_bundle_path, pack_body

from .fuzz import KINDS, base_body, mutant

BUDGET_SECONDS = 8.0
MAX_MUTANTS = 450


def test_mutation_corpus_ends_in_bundle_error_for_every_mutant() -> None:
    started = time.perf_counter()
    seen: Counter[str] = Counter()
    escapes = []
    index = 0
    while index < MAX_MUTANTS:
        if index >= 2 * len(KINDS) and time.perf_counter() - started > BUDGET_SECONDS:
            break
        kind, data = mutant(index, seed=20261201)
        try:
            decode_bundle(data)
            escapes.append(f"#{index} {kind}: loaded")
        except BundleError:
            seen[kind] += 1
        except Exception as exc:  # noqa: BLE001 - any other type is exactly what we look for
            escapes.append(f"#{index} {kind}: {type(exc).__name__}: {exc}")
        index += 1
    assert not escapes, "\n".join(escapes[:20])
    assert set(seen) == set(KINDS) and min(seen.values()) >= 2


_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**64 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=80),
    st.binary(max_size=16),
)
_plain = st.recursive(
    _leaf,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
_PATHS = [
    ("name",), ("tempo",), ("meter",), ("key",), ("default_state",), ("stems",),
    ("stems", "melody"), ("stems", "melody", "gain"), ("stems", "melody", "intensity"),
    ("stems", "melody", "instrument"), ("states", "boss", "stems"), ("states", "boss", "valence"),
    ("parameters", "intensity", "default"), ("stingers", "hit", "notes"),
    ("stingers", "hit", "cooldown"), ("transitions",), ("transitions", 0, "fade_beats"),
    ("mix",), ("mix", "ceiling_db"), ("provenance", 0, "sha256"), ("training",),
    ("vocabulary",), ("conditioning",),
]  # fmt: skip


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(path=st.sampled_from(_PATHS), value=_plain)
def test_any_value_in_any_field_is_a_bundle_error_or_loads(
    path: tuple[Any, ...], value: Any
) -> None:
    """Random data in a field never escapes as another exception; if it loads, it is valid."""
    body = base_body(light=True)
    table = body["manifest"]
    for key in path[:-1]:
        table = table[key]
    table[path[-1]] = value
    try:
        data = pack_body(body)
    except BundleError:
        return  # msgpack itself cannot hold the value (ints beyond 64 bits)
    try:
        bundle = decode_bundle(data)
    except BundleError as exc:
        assert "bundle field" in str(exc)
        return
    assert isinstance(bundle, Bundle)  # reached only if the stub models were accepted: never


@settings(max_examples=80, deadline=None)
@given(st.data())
def test_inserted_or_deleted_bytes_are_a_bundle_error(data: st.DataObject) -> None:
    raw = bytearray(default_bundle_path().read_bytes())
    at = data.draw(st.integers(0, len(raw) - 1))
    if data.draw(st.booleans()):
        raw[at:at] = data.draw(st.binary(min_size=1, max_size=8))
    else:
        del raw[at : at + data.draw(st.integers(1, 8))]
    with pytest.raises(BundleError):
        decode_bundle(bytes(raw))


@settings(max_examples=150, deadline=None)
@given(_plain)
def test_any_msgpack_document_is_a_bundle_error(value: Any) -> None:
    try:
        data = msgpack.packb(value, use_bin_type=True)
    except (OverflowError, ValueError):
        return
    with pytest.raises(BundleError):
        decode_bundle(data)


def test_the_fuzz_base_is_valid_with_real_models() -> None:
    bundle = decode_bundle(pack_body(base_body()))
    assert math.isclose(bundle.spec.mix.loudness_lufs, -14.0)
