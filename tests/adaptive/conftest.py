"""Helpers for bundle tests: the default bundle's body as plain data, and repacking it."""

from __future__ import annotations

from functools import cache
from typing import Any

import msgpack
import pytest

from adaptive._bundle import default_bundle_path, pack_body


@cache
def _default_body_bytes() -> bytes:
    return msgpack.unpackb(default_bundle_path().read_bytes(), raw=False)["body"]


def default_body() -> dict[str, Any]:
    """A fresh, mutable copy of the default bundle's {"manifest", "models"} body."""
    return msgpack.unpackb(_default_body_bytes(), raw=False)


def repack(body: dict[str, Any]) -> bytes:
    """File bytes for ``body`` with a correct digest (so only the mutation is wrong)."""
    return pack_body(body)


@pytest.fixture
def body() -> dict[str, Any]:
    return default_body()
