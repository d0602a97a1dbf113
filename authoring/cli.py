"""The ``adaptive`` command line: the runtime's commands plus the sound designer's.

``render``, ``play`` and ``inspect`` come from ``runtime.cli`` and work after a
plain ``pip install .``. This module adds ``bake`` (one process, or ``--workers``
under torchrun), ``watch``, ``report``, ``export-midi`` (and ``render --midi``) and
``evaluate``, which need the ``authoring`` extra (torch, mido); without it they
say which extra to install.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from adaptive import AdaptiveError, EngineError
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
    if args.reuse_models is not None:
        _rebake(args)
        return
    from . import _distributed

    if args.workers < 1:
        raise _distributed.DistributedBakeError(f"--workers must be 1 or more, got {args.workers}")
    launching = (args.workers > 1 or args.rdzv_endpoint) and not _distributed.workers().distributed
    if launching:  # this process starts the job; the workers run this same command
        from adaptive import load_style

        from ._bake import check_out_path
        from ._train.config import resolve_config

        # what can be wrong before training fails here, once, not in every worker
        style = load_style(args.style)
        resolve_config(style.training, seed=args.seed, style_path=style.path)
        check_out_path(args.out)
        code = _distributed.launch(
            args.argv,
            args.workers,
            nnodes=args.nnodes,
            rdzv_endpoint=args.rdzv_endpoint,
            rdzv_id=args.rdzv_id,
            node_rank=args.node_rank,
        )
        if code != 0:
            raise _distributed.DistributedBakeError(
                f"bake with {args.workers} workers failed (torchrun exit code {code}); "
                f"the workers' errors are above, and {args.out} is untouched"
            )
        return
    try:
        from ._bake import bake  # torch is imported only for baking
    except ImportError as exc:
        raise _need_extra("bake", exc) from None
    try:
        result = bake(args.style, args.out, progress=not args.quiet, seed=args.seed)
    except ImportError as exc:
        raise _need_extra("bake", exc) from None
    if result.rank != 0:
        return  # rank 0 writes, reports and says so
    size = result.out_path.stat().st_size / 1024
    print(
        f"baked {result.out_path} ({size:.0f} KiB, sha256 {result.sha256[:12]}) in {result.seconds:.1f} s"
    )
    if args.report:
        _write_report(result.out_path, args.report, reference=args.style, quiet=args.quiet)


def _write_report(bundle: Any, out: str, *, reference: str | None, quiet: bool = False) -> None:
    from ._report import write_report

    page = write_report(bundle, out, reference=reference, progress=not quiet)
    print(f"training report: {page}")


def cmd_report(args: argparse.Namespace) -> None:
    _write_report(args.bundle, args.out, reference=args.reference, quiet=args.quiet)


def _rebake(args: argparse.Namespace) -> None:
    """The style's manifest over an earlier bundle's models: seconds, no training."""
    if args.seed is not None:
        raise AdaptiveError("--seed trains models; --reuse-models keeps the old ones: give one")
    from ._bake import rebake_manifest

    digest = rebake_manifest(args.style, args.reuse_models, args.out)
    size = Path(args.out).stat().st_size / 1024
    print(
        f"baked {args.out} ({size:.0f} KiB, sha256 {digest[:12]}) with the models of "
        f"{args.reuse_models}, not retrained"
    )


def _fraction(text: str) -> float:
    value = float(text)
    if not 0.0 < value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be in (0, 1], got {text}")
    return value


def cmd_watch(args: argparse.Namespace) -> int:
    import threading

    try:
        from ._watch import StyleWatcher
    except ImportError as exc:
        raise _need_extra("watch", exc) from None

    def show(rebuild: Any) -> None:
        print(rebuild.summary(), flush=True)

    watcher = StyleWatcher(
        args.style,
        args.out,
        debounce=args.debounce,
        finetune_fraction=args.finetune,
        progress=not args.quiet,
        on_rebuilt=show,
    )
    print(f"watching {args.style} and its sources; Ctrl-C to stop", flush=True)
    stop = threading.Event()
    try:
        watcher.run(stop)
    except KeyboardInterrupt:
        stop.set()
        print("stopped watching")
    return 0


def cmd_render(args: argparse.Namespace) -> None:
    if args.midi and args.replay is not None:
        raise EngineError("render --midi writes a timeline's notes; a --replay has none to export")
    if args.midi:
        try:  # checked before minutes of rendering
            from ._midi_export import write_engine_midi
        except ImportError as exc:
            raise _need_extra("--midi", exc) from None
    result = runtime_cli.render(args)
    if args.midi:
        write_engine_midi(result.engine, Path(args.midi))


def cmd_export_midi(args: argparse.Namespace) -> None:
    try:
        from ._midi_export import export_timeline_midi
    except ImportError as exc:
        raise _need_extra("export-midi", exc) from None
    path, notes = export_timeline_midi(
        args.bundle, args.timeline, args.out, seed=args.seed, sample_rate=args.sample_rate
    )
    stems = sorted({stem for stem, *_ in notes})
    print(f"wrote {path}: {len(notes)} notes on {len(stems)} stems ({', '.join(stems)})")


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
    bake.add_argument(
        "--report", default=None, help="directory for a training report (index.html and PNGs)"
    )
    job = bake.add_argument_group(
        "distributed training (torch.distributed DDP over gloo, started with torchrun)"
    )
    job.add_argument(
        "--workers", type=int, default=1, help="training processes on this machine (default 1)"
    )
    job.add_argument(
        "--nnodes", default="1", help="machines in the job, e.g. 2 or 1:4 (needs --rdzv-endpoint)"
    )
    job.add_argument(
        "--rdzv-endpoint", default=None, help="HOST:PORT where the machines meet (one of them)"
    )
    job.add_argument("--rdzv-id", default="adaptive-bake", help="the job's name, alike everywhere")
    job.add_argument("--node-rank", type=int, default=None, help="this machine's rank (optional)")
    bake.add_argument(
        "--reuse-models",
        metavar="BUNDLE",
        default=None,
        help="keep this bundle's trained models and write only the style's manifest "
        "(mix, states, parameters, stingers, transitions); no training",
    )
    bake.set_defaults(run=cmd_bake)

    watch = sub.add_parser(
        "watch",
        help="rebuild the bundle whenever the style or one of its MIDI sources changes",
    )
    watch.add_argument("style", help="style.toml")
    watch.add_argument(
        "-o", "--out", default=None, help="output bundle (default: next to the style, .adaptive)"
    )
    watch.add_argument(
        "--debounce", type=float, default=0.3, help="seconds of quiet before a rebuild"
    )
    watch.add_argument(
        "--finetune",
        type=_fraction,
        default=0.2,
        help="fraction of a role's training steps it fine-tunes for after a MIDI edit",
    )
    watch.add_argument("--quiet", action="store_true", help="no progress bars while rebuilding")
    watch.set_defaults(run=cmd_watch)

    report = sub.add_parser(
        "report", help="write a bundle's training report: loss curves, piano rolls, metrics"
    )
    report.add_argument("bundle", nargs="?", default=None, help="bundle file (default: built-in)")
    report.add_argument("--out", required=True, help="directory for index.html and the PNGs")
    report.add_argument(
        "--reference",
        default=None,
        help="style.toml whose sources the metrics compare against (default: no metrics)",
    )
    report.add_argument("--quiet", action="store_true", help="no progress bar")
    report.set_defaults(run=cmd_report)

    export = sub.add_parser(
        "export-midi",
        help="play a timeline offline and write the generated notes as multi-track MIDI",
    )
    export.add_argument("bundle", nargs="?", default=None, help="bundle file (default: built-in)")
    export.add_argument("--timeline", required=True, help="timeline JSON")
    export.add_argument("-o", "--out", required=True, help="output .mid")
    export.add_argument("--seed", type=int, default=0)
    export.add_argument("--sample-rate", type=int, default=48000)
    export.set_defaults(run=cmd_export_midi)

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
        help="the style the bundle was trained on, for the copy rate and for what its own "
        "sources score against the reference (default: the reference)",
    )
    evaluate.add_argument("--bars", type=int, default=16, help="bars per render")
    evaluate.add_argument("--seeds", type=int, default=3, help="renders per state and intensity")
    evaluate.add_argument("--json", action="store_true", help="print the report as JSON")
    evaluate.add_argument("--out", default=None, help="also write the JSON report here")
    evaluate.add_argument(
        "--plots", default=None, help="directory for piano-roll and distribution PNGs"
    )
    evaluate.set_defaults(run=cmd_evaluate)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    # the command as given: a distributed bake runs it again in every worker
    parser.set_defaults(argv=list(sys.argv[1:] if argv is None else argv))
    return runtime_cli.run(parser, argv)


if __name__ == "__main__":
    sys.exit(main())
