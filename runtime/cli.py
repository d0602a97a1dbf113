"""The runtime's commands: render, play and inspect a bundle. They need no authoring extra.

``adaptive`` (the CLI that ``pip install .`` puts on the PATH) offers these
commands and adds the authoring ones (bake, ...) when that extra is installed;
``python -m runtime.cli`` offers these alone. Without a bundle argument every
command uses the default style shipped in the package.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from adaptive import AdaptiveError, Bundle, EngineError, load_bundle

from ._engine import MusicEngine
from ._record import read_log, replay_into
from ._timeline import fastest_tempo, load_timeline, render_timeline, timeline_bars
from .outputs import WavWriter, write_wav, write_wav_float

__all__ = ["main", "build_parser", "run", "RenderResult"]


class RenderResult:
    """What ``render`` made, for commands that add to it (MIDI export)."""

    def __init__(self, engine: MusicEngine, report: dict[str, Any]) -> None:
        self.engine = engine
        self.report = report


def _summary(audio: np.ndarray) -> str:
    peak = float(np.abs(audio).max()) if audio.size else 0.0
    rms = float(np.sqrt(np.mean(np.square(audio, dtype=np.float64)))) if audio.size else 0.0
    return f"peak {peak:.3f}, rms {rms:.3f}"


def render(args: argparse.Namespace) -> RenderResult | None:
    if args.replay is not None:
        replay_log(args)
        return None
    if args.timeline is None:
        raise EngineError("render needs --timeline (a scripted session) or --replay (a log)")
    bundle = load_bundle(args.bundle)
    timeline = load_timeline(args.timeline)
    bars = timeline_bars(timeline, fastest_tempo(bundle), bundle.meter)
    engine = MusicEngine(
        bundle, output="offline", sample_rate=args.sample_rate, seed=args.seed,
        report_bars=int(bars) + 8,  # the report lists every bar of the timeline
    )  # fmt: skip
    started_cpu, started = time.process_time(), time.perf_counter()
    want_stems = args.stems is not None
    result = render_timeline(engine, timeline, stems=want_stems)
    cpu = time.process_time() - started_cpu
    wall = time.perf_counter() - started
    mix, stems = result if want_stems else (result, {})
    (write_wav_float if args.format == "float32" else write_wav)(args.out, mix, engine.sample_rate)
    for name, audio in stems.items():
        write_wav(Path(args.stems) / f"{name}.wav", audio, engine.sample_rate)
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
        f"{len(report['bars'])} bars, {len(report['transitions'])} transitions, "
        f"{seconds / cpu if cpu > 0 else float('inf'):.1f}x real time (CPU)"
    )
    return RenderResult(engine, report)


def replay_log(args: argparse.Namespace) -> None:
    """Render a replay log (``MusicEngine.record``) again, bit for bit, as float32 WAV by default."""
    if args.stems is not None or args.timeline is not None:
        raise EngineError(
            "render --replay takes neither --timeline nor --stems: the log is the session"
        )
    fmt = args.format or "float32"
    started = time.process_time()
    log = read_log(args.replay)  # a bad log fails before anything is written
    writer = WavWriter(args.out, int(log.header["sample_rate"]), 2, pcm16=fmt == "pcm16")
    peak, squares, skip = 0.0, 0.0, log.from_frame

    def emit(audio: np.ndarray) -> None:  # the span recorded: from the record() call on
        nonlocal peak, squares, skip
        audio, skip = audio[skip:], max(0, skip - audio.shape[0])
        if audio.size:
            writer.write(audio)
            peak = max(peak, float(np.abs(audio).max()))
            squares += float(np.square(audio, dtype=np.float64).sum())

    try:
        log, bundle = replay_into(log, emit, args.bundle)
    except BaseException:
        writer.discard()  # whatever was at --out stays as it was
        raise
    writer.close()
    cpu = time.process_time() - started
    sample_rate = int(log.header["sample_rate"])
    frames = writer.frames
    seconds = frames / sample_rate
    if args.report:
        Path(args.report).parent.mkdir(parents=True, exist_ok=True)
        report = {"replay": str(log.path), "frames": frames, "from_frame": log.from_frame,
                  "sample_rate": sample_rate, "bundle": {"name": bundle.name, "sha256": bundle.sha256},
                  "bars": len(log.takes), "compose_calls": sum(e[0] == "p" for e in log.composes),
                  "repeated_bars": sum(t[2] == 0 for t in log.takes), "commands": len(log.commands)}  # fmt: skip
        Path(args.report).write_text(json.dumps(report, indent=2))
    rms = (squares / (2 * frames)) ** 0.5 if frames else 0.0
    print(
        f"replayed {seconds:.1f} s ({frames} frames from frame {log.from_frame}) of "
        f"'{bundle.name}' from {log.path} to {args.out} ({fmt}, peak {peak:.3f}, rms {rms:.3f}); "
        f"{len(log.takes)} bars, {log.end / sample_rate / cpu if cpu > 0 else float('inf'):.1f}x "
        "real time (CPU)"
    )


def play(args: argparse.Namespace) -> None:
    """Play live: the audition console in a terminal with textual, else one line per event."""
    from ._console import CONSOLE_HINT, Audition, console_available, run_console, run_printer

    bundle = load_bundle(args.bundle)
    console = not args.plain and console_available()
    engine = MusicEngine(bundle, output=args.output, seed=args.seed)
    with engine:
        if args.watch:
            engine.watch()
        if engine.output != args.output:
            print(f"no audio device: playing on the {engine.output} output", file=sys.stderr)
        if console:
            run_console(Audition(engine, cycle=args.cycle or 0), args.seconds)
        else:
            states = ", ".join(bundle.states)
            print(f"playing '{bundle.name}' ({states}); Ctrl-C to stop")
            if not args.plain and sys.stdout.isatty():
                print(CONSOLE_HINT)
            cycle = 8 if args.cycle is None else args.cycle
            run_printer(Audition(engine, cycle=cycle), args.seconds)
        stats = engine.stats()
    print(
        f"underruns {stats.underruns}, fallback bars {stats.fallback_bars}, "
        f"generate p99 {stats.generate_ms.p99:.1f} ms"
    )


def _models(bundle: Bundle) -> dict[str, dict[str, Any]]:
    return {
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


def inspect(args: argparse.Namespace) -> None:
    bundle = load_bundle(args.bundle)
    manifest = dict(bundle.manifest)
    models = _models(bundle)
    size = bundle.path.stat().st_size if bundle.path else None
    if args.json:
        manifest.pop("vocabulary", None)
        data = {"path": str(bundle.path), "bytes": size, "sha256": bundle.sha256}
        print(json.dumps({**data, "manifest": manifest, "models": models}, indent=2, default=str))
        return
    print(
        f"{bundle.name} {manifest['version']}  by {manifest['author']}  licence {manifest['license']}"
    )
    print(f"  file      {bundle.path} ({size} bytes, sha256 {bundle.sha256[:16]}...)")
    print(f"  created   {manifest['created']}")
    print(f"  music     {manifest['tempo']} bpm, {manifest['meter']}, {manifest['key']}")
    stems = ", ".join(f"{n} ({s['role']}/{s['instrument']})" for n, s in bundle.stems.items())
    print(f"  stems     {stems}")
    states = ", ".join(
        f"{n} (plays {s.material})" if s.material else n for n, s in bundle.spec.states.items()
    )
    print(f"  states    {states}")
    params = ", ".join(_parameter_line(p) for p in bundle.spec.parameters.values())
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
    print("  credits")
    for line in bundle.credits():
        print(f"    {line}")
    print(f"  provenance ({len(bundle.provenance)} sources)")
    for source in bundle.provenance:
        print(
            f"    {source['file']}  {source['license']}  {source['sha256'][:12]}  {source['attribution']}"
        )


def _parameter_line(parameter: Any) -> str:
    """``danger [0, 1] (valence -0.35, arousal +0.25)``: the range and any mood it drives."""
    shifts = [
        f"{label} {value:+g}"
        for label, value in (("valence", parameter.valence), ("arousal", parameter.arousal))
        if value
    ]
    mood = f" ({', '.join(shifts)})" if shifts else ""
    return f"{parameter.name} [{parameter.minimum:g}, {parameter.maximum:g}]{mood}"


Command = Callable[[argparse.Namespace], Any]


def build_parser() -> tuple[argparse.ArgumentParser, Any]:
    """The parser with the runtime's commands; returns it and its subparsers to add to."""
    parser = argparse.ArgumentParser(
        prog="adaptive", description="Render, play and inspect adaptive music bundles."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    bundle_help = "bundle file (default: the built-in style)"

    r = sub.add_parser(
        "render",
        help="render a timeline offline to WAV (and stems, a report), or replay a recorded session",
        description="Render a scripted timeline offline, or (--replay) a session recorded with "
        "MusicEngine.record, live or offline, again, bit for bit. The bundle argument overrides "
        "the bundle a replay log names (its digest must match).",
    )
    r.add_argument("bundle", nargs="?", default=None, help=bundle_help)
    r.add_argument("--timeline", default=None, help="timeline JSON")
    r.add_argument(
        "--replay", default=None, metavar="LOG", help="a replay log written by MusicEngine.record"
    )
    r.add_argument("-o", "--out", required=True, help="output WAV")
    r.add_argument(
        "--format",
        choices=("pcm16", "float32"),
        default=None,
        help="WAV samples: pcm16 (timelines' default) or float32 (replays' default: bit for bit)",
    )
    r.add_argument("--stems", default=None, help="directory for one WAV per stem")
    r.add_argument("--report", default=None, help="write a JSON report")
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--sample-rate", type=int, default=48000)
    r.set_defaults(run=render)

    p = sub.add_parser(
        "play",
        help="audition live: keys change the state, nudge parameters, fire stingers",
        description="Play a bundle live. In a terminal with textual (the authoring extra) a "
        "console shows bar, beat, state, stem gains and the engine's stats; keys 1-9 pick a "
        "state, up/down (+/-) nudge the selected parameter, left/right (tab) select another, "
        "the letters shown fire stingers, r reloads the bundle from disk, q quits. Elsewhere "
        "it prints one line per bar, transition and stinger.",
    )
    p.add_argument("bundle", nargs="?", default=None, help=bundle_help)
    p.add_argument("--seconds", type=float, default=None, help="stop after this long")
    p.add_argument(
        "--cycle",
        type=int,
        default=None,
        help="next state every N bars (0: never; default 8 for the line printer, 0 in the console)",
    )
    p.add_argument("--seed", type=int, default=None)
    p.add_argument(
        "--output",
        choices=("sdl", "silent"),
        default="sdl",
        help="sdl: the audio device (default); silent: real time without sound",
    )
    p.add_argument(
        "--watch", action="store_true", help="hot-reload the bundle file whenever it changes"
    )
    p.add_argument(
        "--plain", action="store_true", help="print one line per event, even in a terminal"
    )
    p.set_defaults(run=play)

    i = sub.add_parser("inspect", help="show a bundle's manifest, models, sizes and provenance")
    i.add_argument("bundle", nargs="?", default=None, help=bundle_help)
    i.add_argument("--json", action="store_true")
    i.set_defaults(run=inspect)
    return parser, sub


def run(parser: argparse.ArgumentParser, argv: Sequence[str] | None = None) -> int:
    """Parse and run one command; errors become one line on stderr and exit code 2."""
    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
    args = parser.parse_args(argv)
    try:
        args.run(args)
        return 0
    except AdaptiveError as exc:
        print(f"adaptive {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # the reader went away (``adaptive inspect | head``)
        sys.stderr.close()
        return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser, _ = build_parser()
    return run(parser, argv)


if __name__ == "__main__":
    sys.exit(main())
