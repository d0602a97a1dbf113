"""A multisample player: key and velocity zones, loop points, pitch interpolation.

A zone is one recorded sample with the keys and velocities it answers, the key
it sounds at unshifted (root), an optional sustain loop and its own envelope.
A note plays every zone whose key and velocity ranges contain it (SoundFont
presets layer zones), resampled by linear interpolation from a 32.32
fixed-point read position: exact over any note length, without float64 phase.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._voice import Envelope, PitchedInstrument, adsr, velocity_gain

__all__ = ["SampleZone", "Sampler", "sampler_from_data"]


@dataclass(frozen=True)
class SampleZone:
    audio: np.ndarray  # mono float32, the recorded sample
    sample_rate: int
    root: int  # the MIDI key the sample sounds at when played unshifted
    keys: tuple[int, int] = (0, 127)
    velocities: tuple[int, int] = (1, 127)
    loop: tuple[int, int] | None = None  # [start, end) in sample frames, played while held
    fine_cents: float = 0.0
    scale_tuning: float = 100.0  # cents per key (0: every key plays the root pitch, as drums do)
    gain: float = 1.0
    pan: float = 0.0  # -1..1
    envelope: Envelope = Envelope(0.001, 0.0, 1.0, 0.3)

    def plays(self, pitch: int, velocity: int) -> bool:
        return (
            self.keys[0] <= pitch <= self.keys[1]
            and self.velocities[0] <= velocity <= self.velocities[1]
        )


def _read_positions(
    zone: SampleZone, ratio: float, frames: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sample indices (this and next, int64) and fraction (float32) for ``frames`` output frames."""
    increment = np.uint64(int(round(ratio * 2.0**32)))
    position = np.arange(frames, dtype=np.uint64)
    position *= increment
    index = (position >> np.uint64(32)).astype(np.int64)
    frac = (position & np.uint64(0xFFFFFFFF)).astype(np.float32)
    frac *= np.float32(2.0**-32)
    after = index + 1
    length = zone.audio.shape[0]
    if zone.loop is not None:
        start, end = zone.loop
        span = end - start
        for ix in (index, after):
            past = ix >= end
            ix[past] = start + (ix[past] - start) % span
    else:
        np.minimum(index, length, out=index)  # index ``length`` reads the appended zero
        np.minimum(after, length, out=after)
    return index, after, frac


class Sampler(PitchedInstrument):
    """Plays notes from sample zones; the note cache and voice stealing come from the base."""

    def __init__(
        self,
        name: str,
        zones: Sequence[SampleZone],
        sample_rate: int,
        *,
        polyphony: int = 16,
        gain: float = 1.0,
        velocity_db: float = 24.0,
    ) -> None:
        super().__init__(name, sample_rate, gain, polyphony)
        if not zones:
            raise ValueError(f"sampler {name!r} needs at least one zone")
        for i, zone in enumerate(zones):
            n = zone.audio.shape[0]
            if zone.audio.ndim != 1 or n == 0:
                raise ValueError(f"sampler {name!r} zone {i}: audio must be a non-empty mono array")
            if zone.loop is not None and not 0 <= zone.loop[0] < zone.loop[1] <= n:
                raise ValueError(
                    f"sampler {name!r} zone {i}: loop {zone.loop} must lie inside 0..{n}"
                )
        self.zones = list(zones)
        # one zero past the end: reading beyond an unlooped sample gives silence
        self._audio = [np.append(z.audio.astype(np.float32), np.float32(0.0)) for z in self.zones]
        self.velocity_db = velocity_db

    def zones_for(self, pitch: int, velocity: int) -> list[int]:
        hits = [i for i, z in enumerate(self.zones) if z.plays(pitch, velocity)]
        if hits:
            return hits
        # outside every zone: the nearest zone by key (a sampler never goes silent on a note)
        nearest = min(
            range(len(self.zones)),
            key=lambda i: min(
                abs(pitch - self.zones[i].keys[0]), abs(pitch - self.zones[i].keys[1])
            ),
        )
        return [nearest]

    def _voice(self, pitch: int, frames: int, velocity: int) -> np.ndarray:
        chosen = self.zones_for(pitch, velocity)
        stereo = any(self.zones[i].pan != 0.0 for i in chosen) or len(chosen) > 1
        parts: list[np.ndarray] = []
        for i in chosen:
            zone = self.zones[i]
            env = adsr(zone.envelope, frames, self.sample_rate)
            semitones = (pitch - zone.root) * zone.scale_tuning / 100.0 + zone.fine_cents / 100.0
            ratio = 2.0 ** (semitones / 12.0) * zone.sample_rate / self.sample_rate
            index, after, frac = _read_positions(zone, ratio, env.shape[0])
            audio = self._audio[i]
            wave = np.take(audio, index)
            nxt = np.take(audio, after)
            nxt -= wave
            nxt *= frac
            wave += nxt
            wave *= env
            wave *= np.float32(zone.gain * velocity_gain(velocity, self.velocity_db))
            if stereo:
                angle = (zone.pan + 1.0) * np.pi / 4.0
                wave = np.stack(
                    [
                        wave * np.float32(np.cos(angle) * np.sqrt(2)),
                        wave * np.float32(np.sin(angle) * np.sqrt(2)),
                    ]
                )
            else:
                wave = wave[None, :]
            parts.append(wave)
        total = max(p.shape[1] for p in parts)
        out = np.zeros((parts[0].shape[0], total), dtype=np.float32)
        for p in parts:
            out[:, : p.shape[1]] += p
        return out


def sampler_from_data(
    name: str, data: Mapping[str, Any], sample_rate: int, polyphony: int = 16
) -> Sampler:
    """A sampler from baked SoundFont data (see authoring's SoundFont import): plain numbers and PCM."""
    try:
        pcm = [
            np.frombuffer(s["pcm"], dtype="<i2").astype(np.float32) * np.float32(1.0 / 32768.0)
            for s in data["samples"]
        ]
        zones = []
        for z in data["zones"]:
            audio = pcm[int(z["sample"])][int(z["start"]) : int(z["end"])]
            audio = audio - np.float32(audio.mean())  # a recorded sample may carry DC
            attack, decay, sustain, release = (float(v) for v in z["envelope"])
            loop = z.get("loop")
            zones.append(
                SampleZone(
                    audio=audio,
                    sample_rate=int(data["samples"][int(z["sample"])]["sample_rate"]),
                    root=int(z["root"]),
                    keys=(int(z["keys"][0]), int(z["keys"][1])),
                    velocities=(int(z["velocities"][0]), int(z["velocities"][1])),
                    loop=None if loop is None else (int(loop[0]), int(loop[1])),
                    fine_cents=float(z["fine_cents"]),
                    scale_tuning=float(z.get("scale_tuning", 100.0)),
                    gain=float(z["gain"]),
                    pan=float(z["pan"]),
                    envelope=Envelope(attack, decay, sustain, release),
                )
            )
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise ValueError(
            f"sampler {name!r}: bad sampler data: {type(exc).__name__}: {exc}"
        ) from None
    return Sampler(name, zones, sample_rate, polyphony=polyphony)
