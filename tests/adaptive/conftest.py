"""Helpers for bundle tests: the default bundle's body as plain data, and repacking it."""

from __future__ import annotations

import copy
from functools import cache
from typing import Any

import msgpack
import pytest

from adaptive._bundle import default_bundle_path, pack_body


@cache
def _default_body() -> dict[str, Any]:
    outer = msgpack.unpackb(default_bundle_path().read_bytes(), raw=False)
    return msgpack.unpackb(outer["body"], raw=False)


def default_body() -> dict[str, Any]:
    """A fresh, mutable copy of the default bundle's {"manifest", "models"} body."""
    return copy.deepcopy(_default_body())


def repack(body: dict[str, Any]) -> bytes:
    """File bytes for ``body`` with a correct digest (so only the mutation is wrong)."""
    return pack_body(body)


@pytest.fixture
def body() -> dict[str, Any]:
    return default_body()
