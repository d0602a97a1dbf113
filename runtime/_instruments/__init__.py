"""Instruments: turn a bar's notes into stereo audio, in the composer's worker.

- ``SynthInstrument``: band-limited wavetable synth voices (ADSR on amplitude
  and filter, velocity, detune, unison), see ``_synth``;
- ``Sampler``: multisampled voices with key and velocity zones, loops and
  pitch interpolation (SoundFont presets baked into a bundle play through it);
- ``DrumKit``: a synthesised kit, one voice per drum, with choke groups.

Every pitched instrument has a voice limit with click-free stealing and a note
cache bounded in bytes. ``PRESETS`` is the one table of instrument names.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from adaptive._music import Note

from ._drums import CHOKE_GROUPS, DrumHit, DrumKit
from ._presets import INSTRUMENT_NAMES, PRESETS, Preset
from ._sampler import Sampler, SampleZone, sampler_from_data
from ._synth import Partial, SynthInstrument, SynthPatch
from ._voice import Envelope, Instrument, PitchedInstrument

__all__ = [
    "CHOKE_GROUPS",
    "DrumHit",
    "DrumKit",
    "Envelope",
    "INSTRUMENT_NAMES",
    "Instrument",
    "PRESETS",
    "Partial",
    "PitchedInstrument",
    "Preset",
    "SampleZone",
    "Sampler",
    "SynthInstrument",
    "SynthPatch",
    "TAIL_SECONDS",
    "make_instrument",
    "notes_to_frames",
    "sampler_from_data",
]

TAIL_SECONDS = 1.5  # the longest ring-out past a bar line (crash cymbal, pad release)


def make_instrument(
    name: str,
    sample_rate: int,
    *,
    polyphony: int | None = None,
    sampler: Mapping[str, Any] | None = None,
) -> Instrument:
    """The instrument for a preset name; ``polyphony`` overrides the preset's voice limit.

    With ``sampler`` (a SoundFont preset baked into the bundle) the stem plays
    that multisample instead of the synth preset.
    """
    if sampler is not None:
        return sampler_from_data(name, sampler, sample_rate, polyphony or 16)
    preset = PRESETS.get(name)
    if preset is None:
        raise ValueError(f"unknown instrument {name!r}; known: {', '.join(PRESETS)}")
    if preset.patch is None:
        return DrumKit(sample_rate)
    return SynthInstrument(name, preset.patch, sample_rate, polyphony or preset.polyphony)


def notes_to_frames(
    notes: Iterable[Note], frames_per_step: float, transpose: int
) -> list[tuple[int, int, int, int]]:
    """Grid notes → (pitch, start_frame, frames, velocity), transposed into the playing key."""
    out = []
    for n in notes:
        pitch = min(127, max(0, n.pitch + transpose))
        out.append(
            (
                pitch,
                int(round(n.start * frames_per_step)),
                int(round(n.duration * frames_per_step)),
                n.velocity,
            )
        )
    return out
