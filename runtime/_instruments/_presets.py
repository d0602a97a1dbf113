"""The instrument presets: one table, one row per name a style may give a stem.

Each row says how the instrument sounds and how it sits in the mix by default
(General MIDI program for MIDI export, pan, reverb and delay sends, voice
limit); a style's stem may override each mix default.
"""

from __future__ import annotations

from dataclasses import dataclass

from ._synth import Partial, SynthPatch
from ._voice import Envelope

__all__ = ["Preset", "PRESETS", "INSTRUMENT_NAMES"]


@dataclass(frozen=True)
class Preset:
    patch: SynthPatch | None  # None: the drum kit
    program: int  # General MIDI program, 0-based (the drum kit plays on channel 10)
    pan: float
    reverb: float  # send level 0..1
    delay: float  # send level 0..1
    polyphony: int


PRESETS: dict[str, Preset] = {
    "drums": Preset(None, 0, 0.0, 0.12, 0.0, 16),
    "lead": Preset(
        SynthPatch(
            saw=0.8,
            square=0.35,
            amp=Envelope(0.012, 0.35, 0.7, 0.22),
            filter_env=Envelope(0.02, 0.4, 0.3, 0.25),
            cutoff=2.6,
            filter_amount=2.2,
            resonance=0.25,
            unison=2,
            detune_cents=7.0,
            spread=0.35,
            gain=0.42,
        ),
        81,
        0.12,
        0.28,
        0.16,
        4,
    ),
    "pluck": Preset(
        SynthPatch(
            saw=1.0,
            amp=Envelope(0.002, 0.45, 0.0, 0.15),
            filter_env=Envelope(0.001, 0.16, 0.0, 0.1),
            cutoff=1.2,
            filter_amount=4.2,
            key_velocity_cutoff=2.0,
            unison=2,
            detune_cents=4.0,
            spread=0.3,
            gain=0.5,
        ),
        45,
        -0.25,
        0.3,
        0.22,
        8,
    ),
    "bass": Preset(
        SynthPatch(
            saw=0.7,
            square=0.3,
            sub=0.45,
            amp=Envelope(0.004, 0.3, 0.8, 0.08),
            filter_env=Envelope(0.003, 0.22, 0.25, 0.1),
            cutoff=1.8,
            filter_amount=2.4,
            resonance=0.2,
            gain=0.62,
        ),
        38,
        0.0,
        0.0,
        0.0,
        2,
    ),
    "pad": Preset(
        SynthPatch(
            saw=1.0,
            triangle=0.5,
            amp=Envelope(0.35, 0.9, 0.85, 0.9),
            filter_env=Envelope(0.9, 1.5, 0.6, 0.9),
            cutoff=2.0,
            filter_amount=1.6,
            key_velocity_cutoff=1.0,
            unison=3,
            detune_cents=11.0,
            spread=0.85,
            gain=0.3,
        ),
        89,
        -0.05,
        0.42,
        0.0,
        12,
    ),
    "strings": Preset(
        SynthPatch(
            saw=1.0,
            amp=Envelope(0.16, 0.6, 0.9, 0.5),
            filter_env=Envelope(0.25, 0.8, 0.7, 0.5),
            cutoff=3.0,
            filter_amount=1.0,
            unison=3,
            detune_cents=8.0,
            spread=0.7,
            gain=0.3,
        ),
        48,
        -0.15,
        0.36,
        0.0,
        12,
    ),
    "brass": Preset(
        SynthPatch(
            saw=1.0,
            amp=Envelope(0.035, 0.4, 0.8, 0.2),
            filter_env=Envelope(0.06, 0.45, 0.45, 0.2),
            cutoff=1.6,
            filter_amount=3.2,
            key_velocity_cutoff=2.5,
            unison=2,
            detune_cents=5.0,
            spread=0.3,
            gain=0.4,
        ),
        61,
        0.2,
        0.22,
        0.0,
        6,
    ),
    "bell": Preset(
        SynthPatch(
            saw=0.0,
            amp=Envelope(0.001, 0.0, 1.0, 0.9),
            partials=(
                Partial(1.0, 1.0, 1.8),
                Partial(2.0, 0.35, 1.0),
                Partial(2.76, 0.5, 0.8),
                Partial(5.4, 0.25, 0.45),
                Partial(8.93, 0.12, 0.25),
            ),
            gain=0.4,
        ),
        14,
        0.3,
        0.4,
        0.15,
        8,
    ),
    "synth_bass": Preset(
        SynthPatch(
            saw=0.3,
            square=0.7,
            sub=0.3,
            amp=Envelope(0.003, 0.2, 0.9, 0.06),
            filter_env=Envelope(0.002, 0.18, 0.1, 0.08),
            cutoff=1.4,
            filter_amount=3.6,
            resonance=0.5,
            gain=0.55,
        ),
        39,
        0.0,
        0.0,
        0.0,
        2,
    ),
    "keys": Preset(
        SynthPatch(
            saw=0.0,
            triangle=1.0,
            sine=0.6,
            amp=Envelope(0.003, 1.2, 0.25, 0.3),
            filter_env=Envelope(0.002, 0.6, 0.2, 0.3),
            cutoff=2.5,
            filter_amount=2.0,
            key_velocity_cutoff=2.0,
            gain=0.5,
        ),
        4,
        0.1,
        0.25,
        0.0,
        12,
    ),
}

INSTRUMENT_NAMES: tuple[str, ...] = tuple(PRESETS)
