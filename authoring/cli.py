"""The ``adaptive`` command line: bake, render, play and inspect styles.

Every subcommand that reads a bundle takes it as an optional first argument;
without it the default style shipped in the package is used.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

import adaptive
from adaptive import AdaptiveError

__all__ = ["main"]


def _bundle(path: str | None) -> adaptive.Bundle:
    return adaptive.load_bundle(path)


def cmd_bake(args: argparse.Namespace) -> int:
    from authoring import bake  # torch is imported only for baking

    result = bake(args.style, args.out, progress=not args.quiet, seed=args.seed)
    print(
        f"baked {result.out_path} ({result.out_path.stat().st_size / 1024:.0f} KiB, sha256 {result.sha256[:12]}) in {result.seconds:.1f} s"
    )
    return 0


def _summary(audio: np.ndarray) -> str:
    peak = float(np.abs(audio).max()) if audio.size else 0.0
    rms = float(np.sqrt(np.mean(np.square(audio, dtype=np.float64)))) if audio.size else 0.0
    return f"peak {peak:.3f}, rms {rms:.3f}"


def cmd_render(args: argparse.Namespace) -> int:
    from runtime import MusicEngine, load_timeline, render_timeline, write_wav

    bundle = _bundle(args.bundle)
    timeline = load_timeline(args.timeline)
    engine = MusicEngine(bundle, output="offline", sample_rate=args.sample_rate, seed=args.seed)
    started_cpu, started = time.process_time(), time.perf_counter()
    want_stems = args.stems is not None
    result = render_timeline(engine, timeline, stems=want_stems)
    cpu = time.process_time() - started_cpu
    wall = time.perf_counter() - started
    mix, stems = result if want_stems else (result, {})
    write_wav(args.out, mix, engine.sample_rate)
    for name, audio in stems.items():
        write_wav(Path(args.stems) / f"{name}.wav", audio, engine.sample_rate)
    if args.midi:
        _write_midi(engine, Path(args.midi))
    report = engine.report()
    seconds = mix.shape[0] / engine.sample_rate
    report["render"] = {
        "seconds_of_music": seconds,
        "cpu_seconds": cpu,
        "wall_seconds": wall,
        "realtime_factor_cpu": seconds / cpu if cpu > 0 else None,
    }
    if args.report:
        Path(args.report).parent.mkdir(parents=True, exist_ok=True)
        Path(args.report).write_text(json.dumps(report, indent=2))
    print(
        f"rendered {seconds:.1f} s of '{bundle.name}' to {args.out} ({_summary(mix)}); "
        f"{len(report['bars'])} bars, {len(report['transitions'])} transitions, underruns {report['underruns']}, "
        f"{seconds / cpu if cpu > 0 else float('inf'):.1f}x real time (CPU)"
    )
    return 0


def _write_midi(engine: Any, path: Path) -> None:
    try:
        import mido
    except ImportError:
        raise AdaptiveError("--midi needs mido: pip install 'adaptive[authoring]'") from None
    ticks_per_beat = 480
    ticks_per_frame = ticks_per_beat / engine.clock.frames_per_beat
    tracks: dict[str, list[tuple[int, mido.Message]]] = {}
    for channel_index, stem in enumerate(engine.mixer.stem_names):
        tracks[stem] = []
        role = engine.bundle.stems[stem]["role"]
        channel = 9 if role == "drums" else min(channel_index, 8)
        for name, pitch, start, frames, velocity in engine.played_notes():
            if name != stem:
                continue
            on = int(round(start * ticks_per_frame))
            off = on + max(1, int(round(frames * ticks_per_frame)))
            tracks[stem].append(
                (
                    on,
                    mido.Message(
                        "note_on", note=pitch, velocity=max(1, min(127, velocity)), channel=channel
                    ),
                )
            )
            tracks[stem].append(
                (off, mido.Message("note_off", note=pitch, velocity=0, channel=channel))
            )
    midi = mido.MidiFile(ticks_per_beat=ticks_per_beat)
    meta = mido.MidiTrack()
    meta.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(engine.clock.tempo)))
    meter = engine.clock.meter
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


def cmd_play(args: argparse.Namespace) -> int:
    from runtime import MusicEngine

    bundle = _bundle(args.bundle)
    states = list(bundle.states)
    print(f"playing '{bundle.name}' ({', '.join(states)}); Ctrl-C to stop")
    with MusicEngine(bundle, output="pygame", seed=args.seed) as engine:
        started = time.monotonic()
        state_index = 0
        try:
            while args.seconds is None or time.monotonic() - started < args.seconds:
                for event in engine.update():
                    if event.kind in ("bar", "transition", "stinger"):
                        print(
                            f"{event.time:7.2f}s {event.kind:10} bar {event.bar:3d} {event.name or ''}"
                        )
                        if (
                            event.kind == "bar"
                            and args.cycle
                            and event.bar % args.cycle == args.cycle - 1
                        ):
                            state_index = (state_index + 1) % len(states)
                            engine.set_state(states[state_index])
                time.sleep(1 / 60)
        except KeyboardInterrupt:
            pass
        stats = engine.stats()
    print(
        f"underruns {stats['underruns']}, fallback bars {stats['fallback_bars']}, generate p99 {stats['generate_ms_p99']:.1f} ms"
    )
    return 0


def cmd_inspect(args: argparse.Namespace) -> int:
    bundle = _bundle(args.bundle)
    manifest = dict(bundle.manifest)
    models: dict[str, dict[str, Any]] = {
        name: {
            "role": m.role,
            "bytes": len(m.onnx),
            "sha256": m.sha256,
            "inputs": [t.to_msgpack() for t in m.inputs],
            "outputs": [t.to_msgpack() for t in m.outputs],
            "meta": dict(m.meta),
        }
        for name, m in bundle.models.items()
    }
    size = bundle.path.stat().st_size if bundle.path else None
    if args.json:
        manifest.pop("vocabulary", None)
        print(
            json.dumps(
                {
                    "path": str(bundle.path),
                    "bytes": size,
                    "sha256": bundle.sha256,
                    "manifest": manifest,
                    "models": models,
                },
                indent=2,
                default=str,
            )
        )
        return 0
    print(
        f"{bundle.name} {manifest['version']}  by {manifest['author']}  licence {manifest['license']}"
    )
    print(f"  file      {bundle.path} ({size} bytes, sha256 {bundle.sha256[:16]}...)")
    print(f"  created   {manifest['created']}")
    print(f"  music     {manifest['tempo']} bpm, {manifest['meter']}, {manifest['key']}")
    stems = ", ".join(f"{n} ({s['role']}/{s['instrument']})" for n, s in bundle.stems.items())
    print(f"  stems     {stems}")
    print(f"  states    {', '.join(bundle.states)}")
    params = ", ".join(f"{n} [{p['min']}, {p['max']}]" for n, p in bundle.parameters.items())
    print(f"  params    {params}")
    print(f"  stingers  {', '.join(bundle.stingers) or '-'}")
    print("  models")
    for name, m in models.items():
        sig = (
            ", ".join(f"{t['name']}{t['shape']}" for t in m["inputs"])
            + " -> "
            + ", ".join(f"{t['name']}{t['shape']}" for t in m["outputs"])
        )
        print(f"    {name:16} {m['role']:9} {m['bytes']:>9} bytes  {sig}")
    print(f"  provenance ({len(bundle.provenance)} sources)")
    for source in bundle.provenance:
        print(
            f"    {source['file']}  {source['license']}  {source['sha256'][:12]}  {source['attribution']}"
        )
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from ._evaluate import evaluate, format_report, write_json

    report = evaluate(
        args.bundle,
        args.reference,
        training=args.training,
        bars=args.bars,
        seeds=tuple(range(args.seeds)),
        plots=args.plots,
    )
    if args.json:
        print(json.dumps(report, indent=2, default=float))
    else:
        print(format_report(report))
    if args.out:
        write_json(report, args.out)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="adaptive", description="Bake, render, play and inspect adaptive music styles."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    bake = sub.add_parser("bake", help="train a style's models and write one .adaptive bundle")
    bake.add_argument("style", help="style.toml")
    bake.add_argument("-o", "--out", required=True, help="output bundle path (written atomically)")
    bake.add_argument("--seed", type=int, default=None)
    bake.add_argument("--quiet", action="store_true", help="no progress bar")
    bake.set_defaults(run=cmd_bake)

    render = sub.add_parser(
        "render", help="render a timeline offline to WAV (and stems, MIDI, a report)"
    )
    render.add_argument(
        "bundle", nargs="?", default=None, help="bundle file (default: the built-in style)"
    )
    render.add_argument("--timeline", required=True, help="timeline JSON")
    render.add_argument("--out", required=True, help="output WAV")
    render.add_argument("--stems", default=None, help="directory for one WAV per stem")
    render.add_argument("--midi", default=None, help="write the played notes as a MIDI file")
    render.add_argument("--report", default=None, help="write a JSON report")
    render.add_argument("--seed", type=int, default=0)
    render.add_argument("--sample-rate", type=int, default=48000)
    render.set_defaults(run=cmd_render)

    play = sub.add_parser("play", help="play live through the audio device")
    play.add_argument("bundle", nargs="?", default=None)
    play.add_argument("--seconds", type=float, default=None, help="stop after this long")
    play.add_argument(
        "--cycle", type=int, default=8, help="move to the next state every N bars (0: never)"
    )
    play.add_argument("--seed", type=int, default=None)
    play.set_defaults(run=cmd_play)

    inspect = sub.add_parser(
        "inspect", help="show a bundle's manifest, models, sizes and provenance"
    )
    inspect.add_argument("bundle", nargs="?", default=None)
    inspect.add_argument("--json", action="store_true")
    inspect.set_defaults(run=cmd_inspect)

    evaluate = sub.add_parser(
        "evaluate",
        help="measure control, quality and copying of a bundle against reference MIDI",
    )
    evaluate.add_argument("bundle", nargs="?", default=None)
    evaluate.add_argument(
        "--reference",
        required=True,
        help="a style.toml (or its folder) whose [[sources]] are the reference MIDI",
    )
    evaluate.add_argument(
        "--training",
        default=None,
        help="the style the bundle was trained on, for the copy rate (default: the reference)",
    )
    evaluate.add_argument("--bars", type=int, default=16, help="bars per render")
    evaluate.add_argument("--seeds", type=int, default=3, help="renders per state and intensity")
    evaluate.add_argument("--json", action="store_true", help="print the report as JSON")
    evaluate.add_argument("--out", default=None, help="also write the JSON report here")
    evaluate.add_argument("--plots", default=None, help="directory for piano-roll and distribution PNGs")
    evaluate.set_defaults(run=cmd_evaluate)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args))
    except AdaptiveError as exc:
        print(f"adaptive {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
    sys.exit(main())
