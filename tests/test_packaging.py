"""A plain `pip install .` carries every package the code imports, subpackages included."""

from __future__ import annotations

import tomllib
from pathlib import Path

from setuptools import find_packages

ROOT = Path(__file__).resolve().parents[1]
TOP = ("adaptive", "runtime", "authoring", "demo_game")


def test_every_package_of_the_code_is_installed() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    include = config["tool"]["setuptools"]["packages"]["find"]["include"]
    installed = set(find_packages(where=str(ROOT), include=include))
    on_disk = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for top in TOP
        for init in (ROOT / top).rglob("__init__.py")
    }
    assert on_disk - installed == set(), "packages a wheel would leave out"
    assert installed <= on_disk, "packages from outside the product"
