"""Command line: ``python -m demo_game [--headless --seconds N --out session.wav ...]``."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from .app import Options, run


def _positive(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def _has_display() -> bool:
    if not sys.platform.startswith("linux"):
        return True  # Windows and macOS always have a window server
    if os.environ.get("SDL_VIDEODRIVER") in ("dummy", "offscreen"):
        return False
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def parse_args(argv: list[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(
        prog="python -m demo_game",
        description="Shardfall: a short arena game whose soundtrack adaptive composes live "
        "and which follows the danger.",
    )
    parser.add_argument(
        "--headless",
        action="store_true",
        help="no window, no sound card: a scripted bot plays, SDL's disk driver records the audio",
    )
    parser.add_argument(
        "--seconds",
        type=_positive,
        default=None,
        help="stop after this many seconds (headless default: 20)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="headless: write the recorded session to this WAV file",
    )
    parser.add_argument(
        "--report",
        type=Path,
        default=None,
        help="write a JSON report (engine report + game numbers)",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=None,
        help="seed for the world, the bot and the engine (default: random)",
    )
    parser.add_argument(
        "--bundle",
        type=Path,
        default=None,
        help="music bundle (.adaptive); default: the style shipped with adaptive",
    )
    parser.add_argument(
        "--watch",
        action="store_true",
        help="with --bundle: hot-reload the bundle whenever its file changes (re-bake it "
        "while playing and hear the edit at the next bar line)",
    )
    parser.add_argument(
        "--raw",
        type=Path,
        default=None,
        help="headless: keep SDL's raw float32 disk-audio file at this path",
    )
    parser.add_argument(
        "--screenshot", type=Path, default=None, help="save the last frame as an image (PNG)"
    )
    parser.add_argument(
        "--mute",
        "--no-music",
        dest="mute",
        action="store_true",
        help="music off: the engine still conducts (beats, bars, spawns) into its silent output",
    )
    parser.add_argument(
        "--volume",
        type=float,
        default=None,
        help="music volume 0..1, then -/+ in game (default: 1)",
    )
    display = parser.add_mutually_exclusive_group()
    display.add_argument(
        "--fullscreen", action="store_true", help="start fullscreen (F11 toggles in game)"
    )
    display.add_argument("--windowed", action="store_true", help="start in a window (default)")
    parser.add_argument(
        "--gallery",
        type=Path,
        default=None,
        metavar="DIR",
        help="save a screenshot of every scene into DIR (simulated time, no audio) and exit",
    )
    parser.add_argument(
        "--bot", action="store_true", help="watch the scripted bot play (headless always uses it)"
    )
    parser.add_argument(
        "--overlay", action="store_true", help="start with the developer overlay (F3) shown"
    )
    parser.add_argument(
        "--fps",
        type=int,
        default=60,
        help="render frame-rate cap (default 60); the simulation always steps at 60 Hz",
    )
    args = parser.parse_args(argv)
    if args.out is not None and not args.headless:
        parser.error("--out needs --headless (it records SDL's disk audio)")
    if args.out is not None and args.mute:
        parser.error("--out and --mute exclude each other: a muted session has no audio")
    if args.raw is not None and (args.mute or not args.headless):
        parser.error("--raw needs --headless without --mute")
    if args.seed is not None and args.seed < 0:
        parser.error(f"--seed must be >= 0, got {args.seed}")
    if args.bundle is not None and not args.bundle.is_file():
        parser.error(f"--bundle {args.bundle}: no such file")
    if args.watch and args.bundle is None:
        parser.error("--watch needs --bundle PATH (the file to reload when it changes)")
    if args.volume is not None and not 0.0 <= args.volume <= 1.0:
        parser.error(f"--volume must be in 0..1, got {args.volume}")
    if not 10 <= args.fps <= 240:
        parser.error(f"--fps must be in 10..240, got {args.fps}")
    if not args.headless and args.gallery is None and not _has_display():
        # The quickstart's promise: on a machine without a screen, still play something.
        args.headless = True
        if not args.mute:
            args.out = args.out or Path("session.wav")
        args.report = args.report or Path("report.json")
        print(
            "demo_game: no display found, so a scripted bot plays a headless session "
            f"({args.seconds or 20:g} s) into {args.out or 'no audio file'} and {args.report}",
            file=sys.stderr,
        )
    seconds = args.seconds if args.seconds is not None else (20.0 if args.headless else None)
    return Options(
        headless=args.headless,
        seconds=seconds,
        out=args.out,
        report=args.report,
        seed=args.seed,
        bundle=args.bundle,
        raw=args.raw,
        mute=args.mute,
        fps=args.fps,
        screenshot=args.screenshot,
        fullscreen=args.fullscreen,
        volume=args.volume,
        watch=args.watch,
        overlay=args.overlay,
        gallery=args.gallery,
        bot=args.bot,
    )


def main(argv: list[str] | None = None) -> int:
    opts = parse_args(argv)
    if opts.gallery is not None:
        from .app import DemoError
        from .gallery import run_gallery

        try:
            return run_gallery(opts.gallery, opts.bundle, opts.seed or 1)
        except DemoError as exc:
            print(f"demo_game: error: {exc}", file=sys.stderr)
            return 1
    return run(opts)


if __name__ == "__main__":
    sys.exit(main())
