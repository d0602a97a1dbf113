"""The exception tree of adaptive.

    AdaptiveError
    ├── BundleError       (also ValueError)   a bundle file is missing, malformed or unsafe
    ├── StyleError        (also ValueError)   a style.toml is malformed
    ├── MidiImportError   (also ValueError)   a MIDI source cannot be imported
    └── EngineError                           the runtime was used wrongly (unknown name, NaN, ...)
        └── UnknownNameError (also KeyError)

Every message names the file or field, the bad value and what is allowed.
"""

from __future__ import annotations

__all__ = [
    "AdaptiveError",
    "BundleError",
    "StyleError",
    "MidiImportError",
    "EngineError",
    "UnknownNameError",
]


class AdaptiveError(Exception):
    """Root of every error that adaptive raises on purpose."""


class BundleError(AdaptiveError, ValueError):
    """A bundle file is missing, truncated, malformed, too large or inconsistent."""


class StyleError(AdaptiveError, ValueError):
    """A style file is malformed; the message names the file and the field."""


class MidiImportError(AdaptiveError, ValueError):
    """A MIDI source could not be imported; the message names the file."""


class EngineError(AdaptiveError):
    """The runtime engine was asked for something it cannot do."""


class UnknownNameError(EngineError, KeyError):
    """A state, parameter, stinger or stem name is not in the bundle."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""
