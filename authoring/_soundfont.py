"""SoundFont import at bake time: one preset out of an SF2 file, as sampler data for the bundle.

The SF2 file is parsed with sf2utils; only the samples the preset's zones use
are copied (16-bit PCM), with each zone's key and velocity range, root key and
tuning, loop, attenuation, pan and volume envelope, after the SoundFont rules
(instrument values, global zones as defaults, preset values added on top,
ranges intersected). The result is plain data (msgpack-ready): the runtime
plays it with its own sampler and needs no SoundFont library.

Not carried over (documented, not silently faked): modulation envelopes and
LFOs, the initial low-pass filter, and modulators other than velocity to
volume (the sampler's own velocity curve plays that part).
"""

from __future__ import annotations

import hashlib
import io
import logging
import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from adaptive import AdaptiveError

__all__ = ["extract_preset", "extract_presets", "SOUNDFONT_FORMAT"]

SOUNDFONT_FORMAT = 1
_TIMECENTS_DEFAULT = -12000  # about 1 ms

# generator numbers (SoundFont 2.04, section 8.1.2)
_START, _END, _LOOP_START, _LOOP_END = 0, 1, 2, 3
_START_COARSE, _END_COARSE, _LOOP_START_COARSE, _LOOP_END_COARSE = 4, 12, 45, 50
_PAN, _ATTACK, _DECAY, _SUSTAIN, _RELEASE = 17, 34, 36, 37, 38
_INSTRUMENT, _KEYS, _VELOCITIES, _ATTENUATION = 41, 43, 44, 48
_COARSE_TUNE, _FINE_TUNE, _SAMPLE, _MODES, _SCALE_TUNING, _ROOT = 51, 52, 53, 54, 56, 58
_RANGES = (_KEYS, _VELOCITIES)


def _short(amount: int) -> int:
    return amount - 65536 if amount >= 32768 else amount


def _range(amount: int) -> tuple[int, int]:
    lo, hi = amount & 0xFF, (amount >> 8) & 0xFF
    return (min(lo, hi), max(lo, hi))


def _gens(bag: Any) -> dict[int, int]:
    return {oper: gen.amount for oper, gen in bag.gens.items()}


def _seconds(timecents: int) -> float:
    return 2.0 ** (max(-12000, min(8000, timecents)) / 1200.0)


def _open(path: Path) -> Any:
    try:
        from sf2utils.sf2parse import Sf2File
    except ImportError:
        raise AdaptiveError(
            "SoundFont import needs sf2utils: pip install 'adaptive[authoring]'"
        ) from None
    data = path.read_bytes()
    try:
        return Sf2File(io.BytesIO(data)), hashlib.sha256(data).hexdigest()
    except Exception as exc:
        raise AdaptiveError(
            f"{path}: not a readable SoundFont: {type(exc).__name__}: {exc}"
        ) from None


def extract_preset(path: str | Path, program: int, bank: int = 0) -> dict[str, Any]:
    """The preset ``bank:program`` of an SF2 file as sampler data (see the module docstring)."""
    return extract_presets(path, [(bank, program)])[(bank, program)]


def extract_presets(
    path: str | Path, wanted: Iterable[tuple[int, int]]
) -> dict[tuple[int, int], dict[str, Any]]:
    """Several presets, (bank, program) each, reading the SoundFont once."""
    path = Path(path)
    if not path.is_file():
        raise AdaptiveError(f"{path}: SoundFont file not found")
    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)  # sf2utils warns about every odd sample; zones are checked
    try:
        sf2, sha256 = _open(path)
        return {(b, p): _extract(path, sf2, sha256, p, b) for b, p in dict.fromkeys(wanted)}
    finally:
        logging.disable(previous)


def _extract(path: Path, sf2: Any, sha256: str, program: int, bank: int) -> dict[str, Any]:
    matches = [
        p
        for p in sf2.presets
        if getattr(p, "bank", None) == bank and getattr(p, "preset", None) == program
    ]
    if not matches:
        raise AdaptiveError(f"{path}: no preset {bank}:{program} in this SoundFont")
    preset = matches[0]
    samples: list[dict[str, Any]] = []
    sample_index: dict[int, int] = {}
    zones: list[dict[str, Any]] = []
    preset_global: dict[int, int] = {}
    for pbag in preset.bags:
        pgens = _gens(pbag)
        if _INSTRUMENT not in pgens:
            preset_global = pgens
            continue
        pz = {**preset_global, **pgens}
        instrument = pbag.instrument
        inst_global: dict[int, int] = {}
        for ibag in instrument.bags:
            igens = _gens(ibag)
            if _SAMPLE not in igens:
                inst_global = igens
                continue
            iz = {**inst_global, **igens}
            zone = _zone(pz, iz)
            if zone is None:
                continue
            sample = ibag.sample
            key = igens[_SAMPLE]
            if key not in sample_index:
                pcm = np.frombuffer(sample.raw_sample_data, dtype="<i2")
                sample_index[key] = len(samples)
                samples.append(
                    {
                        "name": sample.name,
                        "sample_rate": int(sample.sample_rate),
                        "pcm": pcm.tobytes(),
                    }
                )
            frames = len(samples[sample_index[key]]["pcm"]) // 2
            start = _short(iz.get(_START, 0)) + 32768 * _short(iz.get(_START_COARSE, 0))
            end = frames + _short(iz.get(_END, 0)) + 32768 * _short(iz.get(_END_COARSE, 0))
            loop_start = (
                sample.start_loop
                + _short(iz.get(_LOOP_START, 0))
                + 32768 * _short(iz.get(_LOOP_START_COARSE, 0))
            )
            loop_end = (
                sample.end_loop
                + _short(iz.get(_LOOP_END, 0))
                + 32768 * _short(iz.get(_LOOP_END_COARSE, 0))
            )
            start, end = max(0, start), min(frames, max(end, start + 1))
            looped = iz.get(_MODES, 0) & 1 and start <= loop_start < loop_end <= end
            override = _short(iz[_ROOT]) if _ROOT in iz else -1
            root = override if 0 <= override <= 127 else sample.original_pitch
            zone.update(
                sample=sample_index[key],
                start=start,
                end=end,
                loop=[loop_start - start, loop_end - start] if looped else None,
                root=int(root),
                fine_cents=zone["fine_cents"] - float(sample.pitch_correction),
            )
            zones.append(zone)
    if not zones:
        raise AdaptiveError(
            f"{path}: preset {bank}:{program} ({preset.name}) has no playable zones"
        )
    info = sf2.info
    return {
        "format": SOUNDFONT_FORMAT,
        "name": preset.name,
        "bank": bank,
        "program": program,
        "samples": samples,
        "zones": zones,
        "provenance": {
            "file": path.name,
            "sha256": sha256,
            "license": _licence(info),
            "attribution": f"{getattr(info, 'bank_name', '') or path.stem}: {getattr(info, 'copyright', '') or 'unknown'}",
        },
    }


def _licence(info: Any) -> str:
    comment = str(getattr(info, "comments", "") or "")
    if "MIT" in comment:
        return "MIT"
    return comment.strip() or "see the SoundFont's copyright"


def _zone(pz: dict[int, int], iz: dict[int, int]) -> dict[str, Any] | None:
    keys = [0, 127]
    velocities = [0, 127]
    for gens in (pz, iz):
        if _KEYS in gens:
            lo, hi = _range(gens[_KEYS])
            keys = [max(keys[0], lo), min(keys[1], hi)]
        if _VELOCITIES in gens:
            lo, hi = _range(gens[_VELOCITIES])
            velocities = [max(velocities[0], lo), min(velocities[1], hi)]
    if keys[0] > keys[1] or velocities[0] > velocities[1]:
        return None

    def total(oper: int, default: int = 0) -> int:  # instrument value plus the preset's offset
        return _short(iz.get(oper, default)) + _short(pz.get(oper, 0))

    attenuation_cb = max(0, total(_ATTENUATION))
    sustain_cb = min(1440, max(0, total(_SUSTAIN)))
    decay = _seconds(total(_DECAY, _TIMECENTS_DEFAULT))
    release = _seconds(total(_RELEASE, _TIMECENTS_DEFAULT))
    return {
        "keys": keys,
        "velocities": [max(1, velocities[0]), velocities[1]],
        "fine_cents": float(100 * total(_COARSE_TUNE) + total(_FINE_TUNE)),
        "scale_tuning": float(
            total(_SCALE_TUNING, 100) if _SCALE_TUNING in iz or _SCALE_TUNING in pz else 100
        ),
        "gain": float(10.0 ** (-attenuation_cb / 200.0)),
        "pan": float(max(-500, min(500, total(_PAN))) / 500.0),
        # SF2 decay and release run 100 dB in their time, linear in dB: as exponentials,
        # a time constant of T / (5 ln 10); the sampler's quadratic release fades in ~0.45 T
        "envelope": [
            _seconds(total(_ATTACK, _TIMECENTS_DEFAULT)),  # (the hold stage is not kept)
            decay / (5.0 * math.log(10.0)) if sustain_cb > 0 else 0.0,
            float(10.0 ** (-sustain_cb / 200.0)),
            min(4.0, 0.45 * release),
        ],
    }
