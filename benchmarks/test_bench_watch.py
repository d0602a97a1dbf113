"""Edit-to-rebuilt time of ``adaptive watch``: a mix edit and a one-file MIDI edit.

    PYTHONPATH=$PWD python -m pytest benchmarks/test_bench_watch.py -q -s
    # more edits per kind (default 2):
    ADAPTIVE_BENCH_WATCH_EDITS=5 PYTHONPATH=$PWD python -m pytest benchmarks/test_bench_watch.py -q -s
    # on the default style too (a full default bake first, to fill the cache: minutes):
    ADAPTIVE_BENCH_WATCH_DEFAULT=1 PYTHONPATH=$PWD python -m pytest \
        benchmarks/test_bench_watch.py -q -s -k default

The clock runs from the moment the edited file is closed to the watcher's
``on_rebuilt`` call, with a real watchdog observer; it includes the 0.3 s
debounce. Each figure is also given as a ratio to the full build of the same
style in the same run (``extra_info``), because these machines are shared.
Issue 10's targets: a mix edit <= 2 s (plus the time to the next bar, which
the engine's reload adds), a one-file MIDI edit on the default style <= 30 s.
"""

from __future__ import annotations

import os
import queue
import shutil
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import mido
import pytest

from authoring import Rebuild, watch_style
from authoring._watch import StyleWatcher

ROOT = Path(__file__).resolve().parents[1]
EDITS = int(os.environ.get("ADAPTIVE_BENCH_WATCH_EDITS", "2"))


def _shift_track(path: Path, track: int, semitones: int) -> None:
    midi = mido.MidiFile(str(path))
    for i, msg in enumerate(midi.tracks[track]):
        if msg.type in ("note_on", "note_off"):
            midi.tracks[track][i] = msg.copy(note=msg.note + semitones)
    midi.save(str(path))


def _mix_edit(style: Path, original: str, k: int) -> None:
    """A change the models do not learn from: a stinger's notes."""
    stinger = f'\n[stingers.bench]\ninstrument = "lead"\nnotes = [[0, {k % 12}, 2, 100]]\n'
    style.write_text(original + stinger, encoding="utf-8")


def _time_edits(
    style: Path, out: Path, edits: list[Callable[[], None]]
) -> tuple[list[float], list[Rebuild]]:
    reports: queue.Queue[Rebuild] = queue.Queue()
    stop = threading.Event()
    thread = threading.Thread(
        target=watch_style,
        args=(style, out),
        kwargs={"on_rebuilt": reports.put, "stop_event": stop},
        daemon=True,
    )
    thread.start()
    try:
        assert reports.get(timeout=600).ok
        seconds, results = [], []
        for edit in edits:
            edit()
            t0 = time.perf_counter()
            result = reports.get(timeout=1800)
            seconds.append(time.perf_counter() - t0)
            assert result.ok, result.error
            results.append(result)
        return seconds, results
    finally:
        stop.set()
        thread.join(timeout=60)


def _bench(
    benchmark: pytest.FixtureRequest, root: Path, midi: Path, track: int, expect_trained: str
) -> dict[str, float]:
    style, out = root / "style.toml", root / "watched.adaptive"
    t0 = time.perf_counter()
    first = StyleWatcher(style, out).rebuild()  # a full build, and the cache the watch starts from
    full = time.perf_counter() - t0
    assert first.ok, first.error
    original = style.read_text(encoding="utf-8")
    edits: list[Callable[[], None]] = [
        lambda k=k: _mix_edit(style, original, k) for k in range(EDITS)
    ]
    edits += [lambda k=k: _shift_track(midi, track, 1 if k % 2 == 0 else -1) for k in range(EDITS)]
    figures: dict[str, float] = {}

    def run() -> None:
        seconds, results = _time_edits(style, out, edits)
        mix, midi_edit = seconds[:EDITS], seconds[EDITS:]
        assert all(r.trained == {} for r in results[:EDITS])
        assert all(expect_trained in r.trained for r in results[EDITS:])
        figures.update(
            full_build_s=full,
            mix_edit_s=min(mix),
            midi_edit_s=min(midi_edit),
            mix_edit_over_full_build=min(mix) / full,
            midi_edit_over_full_build=min(midi_edit) / full,
        )

    benchmark.pedantic(run, rounds=1, iterations=1)
    benchmark.extra_info.update(figures)
    print(
        f"\n{root.name}: full build {full:.1f} s; edit to rebuilt: mix {figures['mix_edit_s']:.2f} s, "
        f"one MIDI file {figures['midi_edit_s']:.2f} s (best of {EDITS}; load {os.getloadavg()[0]:.1f})"
    )
    return figures


def test_watch_tiny_style(benchmark: pytest.FixtureRequest, tmp_path: Path) -> None:
    sys.path.insert(0, str(ROOT / "tests"))
    from conftest import write_tiny_style  # the tests' tiny style: four small MIDI files

    root = tmp_path / "tiny"
    write_tiny_style(root)
    _bench(benchmark, root, root / "midi" / "explore_a.mid", 1, "melody")


@pytest.mark.skipif(
    not os.environ.get("ADAPTIVE_BENCH_WATCH_DEFAULT"),
    reason="minutes long: set ADAPTIVE_BENCH_WATCH_DEFAULT=1 to watch the default style",
)
def test_watch_default_style(benchmark: pytest.FixtureRequest, tmp_path: Path) -> None:
    root = tmp_path / "default"
    shutil.copytree(ROOT / "examples" / "default", root, ignore=shutil.ignore_patterns("*.py"))
    # a fiddle reel: it feeds only the melody (track 0)
    _bench(benchmark, root, root / "midi" / "ryan_TullochReel.mid", 0, "melody")
