"""A small playable pygame game that shows off the adaptive runtime.

Run it with ``python -m demo_game`` (``--help`` for the headless bot mode). It
uses only the public API of ``adaptive`` and ``runtime``.
"""

from __future__ import annotations

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    from .__main__ import main as _main

    return _main(argv)
