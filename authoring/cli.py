"""The ``adaptive`` command line: the runtime's commands plus the sound designer's.

``render``, ``play`` and ``inspect`` come from ``runtime.cli`` and work after a
plain ``pip install .``. This module adds ``bake`` and MIDI export, which need
the ``authoring`` extra (torch, mido); without it they say which extra to install.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from adaptive import AdaptiveError
from runtime import cli as runtime_cli

__all__ = ["main", "build_parser"]

EXTRA_HINT = "pip install 'adaptive[authoring]'"


class MissingExtraError(AdaptiveError):
    """An authoring command ran without the authoring extra installed."""


def _need_extra(what: str, exc: ImportError) -> MissingExtraError:
    return MissingExtraError(
        f"{what} needs the authoring extra ({exc.name} is missing): {EXTRA_HINT}"
    )


def cmd_bake(args: argparse.Namespace) -> None:
    try:
        from ._bake import bake  # torch is imported only for baking
    except ImportError as exc:
        raise _need_extra("bake", exc) from None
    try:
        result = bake(args.style, args.out, progress=not args.quiet, seed=args.seed)
    except ImportError as exc:
        raise _need_extra("bake", exc) from None
    size = result.out_path.stat().st_size / 1024
    print(
        f"baked {result.out_path} ({size:.0f} KiB, sha256 {result.sha256[:12]}) in {result.seconds:.1f} s"
    )


def cmd_render(args: argparse.Namespace) -> None:
    if args.midi:
        try:
            import mido  # noqa: F401  (checked before minutes of rendering)
        except ImportError as exc:
            raise _need_extra("--midi", exc) from None
    result = runtime_cli.render(args)
    if args.midi:
        _write_midi(result.engine, Path(args.midi))


def _write_midi(engine: Any, path: Path) -> None:
    import mido

    ticks_per_beat = 480
    timing = engine.timing
    ticks_per_frame = ticks_per_beat / timing.frames_per_beat
    tracks: dict[str, list[tuple[int, mido.Message]]] = {}
    notes = engine.played_notes()
    for channel_index, stem in enumerate(engine.stems):
        tracks[stem] = []
        role = engine.bundle.stems[stem]["role"]
        channel = 9 if role == "drums" else min(channel_index, 8)
        for name, pitch, start, frames, velocity in notes:
            if name != stem:
                continue
            on = int(round(start * ticks_per_frame))
            off = on + max(1, int(round(frames * ticks_per_frame)))
            velocity = max(1, min(127, velocity))
            tracks[stem].append(
                (on, mido.Message("note_on", note=pitch, velocity=velocity, channel=channel))
            )
            tracks[stem].append(
                (off, mido.Message("note_off", note=pitch, velocity=0, channel=channel))
            )
    midi = mido.MidiFile(ticks_per_beat=ticks_per_beat)
    meta = mido.MidiTrack()
    meta.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(timing.tempo)))
    meter = timing.meter
    meta.append(
        mido.MetaMessage("time_signature", numerator=meter.numerator, denominator=meter.denominator)
    )
    midi.tracks.append(meta)
    for stem, events in tracks.items():
        track = mido.MidiTrack()
        track.append(mido.MetaMessage("track_name", name=stem))
        now = 0
        for tick, message in sorted(events, key=lambda e: (e[0], e[1].type == "note_on")):
            track.append(message.copy(time=tick - now))
            now = tick
        midi.tracks.append(track)
    path.parent.mkdir(parents=True, exist_ok=True)
    midi.save(str(path))


def build_parser() -> argparse.ArgumentParser:
    parser, sub = runtime_cli.build_parser()
    parser.description = "Bake, render, play and inspect adaptive music styles."
    render = sub.choices["render"]
    render.add_argument("--midi", default=None, help="write the played notes as a MIDI file")
    render.set_defaults(run=cmd_render)

    bake = sub.add_parser("bake", help="train a style's models and write one .adaptive bundle")
    bake.add_argument("style", help="style.toml")
    bake.add_argument("-o", "--out", required=True, help="output bundle path (written atomically)")
    bake.add_argument("--seed", type=int, default=None)
    bake.add_argument("--quiet", action="store_true", help="no progress bar")
    bake.set_defaults(run=cmd_bake)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    return runtime_cli.run(build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
