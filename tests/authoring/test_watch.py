"""adaptive watch: a real watchdog observer on a tiny style, edited on disk.

One tiny bake is shared: its folder (style, MIDI, bundle and model cache) is
copied for each test, so each watcher starts by reusing every model.
"""

from __future__ import annotations

import queue
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import mido
import numpy as np
import pytest

import adaptive
from authoring import Rebuild, watch_style
from authoring._watch import StyleWatcher, cache_dir
from runtime import MusicEngine

from ..conftest import write_tiny_style

ROLES = ("harmony", "melody", "bass", "drums")
WAIT = 60.0  # seconds; a rebuild of the tiny style takes about one
DEBOUNCE = 0.5  # the two writes of one step always land in one rebuild, even on a busy machine


@pytest.fixture(scope="module")
def built_style(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("watched")
    style = write_tiny_style(root)
    # the loudness reference is not rendered: the tests listen to nothing
    first = StyleWatcher(style, root / "tiny.adaptive", calibrate_loudness=False).rebuild()
    assert first.ok, first.error
    assert first.trained == {"harmony": "recounted"} | {r: "from scratch" for r in ROLES[1:]}
    return root


class Watch:
    """A running ``watch_style`` thread and the rebuilds it reported."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.style = root / "style.toml"
        self.out = root / "tiny.adaptive"
        self.reports: queue.Queue[Rebuild] = queue.Queue()
        self.stop = threading.Event()
        self.thread = threading.Thread(
            target=watch_style,
            args=(self.style, self.out),
            kwargs={
                "on_rebuilt": self.reports.put,
                "stop_event": self.stop,
                "debounce": DEBOUNCE,
                "calibrate_loudness": False,
            },
            daemon=True,
        )

    def next(self) -> Rebuild:
        return self.reports.get(timeout=WAIT)

    def models(self) -> dict[str, bytes]:
        return {n: m.onnx for n, m in adaptive.load_bundle(self.out).models.items()}


@pytest.fixture
def watch(built_style: Path, tmp_path: Path) -> Iterator[Watch]:
    root = tmp_path / "style"
    shutil.copytree(built_style, root)
    running = Watch(root)
    running.thread.start()
    start = running.next()  # the start-up build: every model comes from the cache
    assert start.ok and start.trained == {} and set(start.reused) == set(ROLES), start.summary()
    yield running
    running.stop.set()
    running.thread.join(timeout=WAIT)
    assert not running.thread.is_alive()


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new), encoding="utf-8")


def _shift_track(path: Path, track: int, semitones: int) -> None:
    """Move every note of one MIDI track; the file's other tracks stay as they were."""
    midi = mido.MidiFile(str(path))
    for i, msg in enumerate(midi.tracks[track]):
        if msg.type in ("note_on", "note_off"):
            midi.tracks[track][i] = msg.copy(note=msg.note + semitones)
    midi.save(str(path))


def test_a_mix_edit_rebuilds_without_training(watch: Watch) -> None:
    before = watch.models()
    gain = adaptive.load_bundle(watch.out).manifest.get("mix", {}).get("master_gain_db", 0.0)
    text = watch.style.read_text(encoding="utf-8")
    text = text.replace(
        '[stems.bass]\nrole = "bass"\n', '[stems.bass]\nrole = "bass"\ngain = 0.5\n'
    )
    watch.style.write_text(text + "\n[mix]\nreverb_seconds = 3.0\n", encoding="utf-8")
    rebuild = watch.next()
    assert rebuild.ok, rebuild.error
    assert rebuild.changed == ("style.toml",)
    assert set(rebuild.sections) == {"stems", "mix"}
    assert rebuild.trained == {} and set(rebuild.reused) == set(ROLES)
    assert "retrained nothing" in rebuild.summary() and str(watch.out) in rebuild.summary()
    assert watch.models() == before  # byte for byte
    manifest = adaptive.load_bundle(watch.out).manifest
    assert manifest["stems"]["bass"]["gain"] == 0.5
    assert manifest["mix"]["reverb_seconds"] == 3.0
    # no model changed and the loudness target is the same: the master gain is kept
    assert manifest["mix"].get("master_gain_db", 0.0) == gain
    assert set(manifest["training"]["environment"]["models"].values()) == {"reused"}


def test_a_midi_edit_fine_tunes_only_the_role_it_feeds(watch: Watch) -> None:
    before = watch.models()
    _shift_track(watch.root / "midi" / "explore_a.mid", 1, 2)  # track 1 is its melody
    rebuild = watch.next()
    assert rebuild.ok, rebuild.error
    assert rebuild.changed == ("midi/explore_a.mid",)
    assert list(rebuild.trained) == ["melody"]
    assert rebuild.trained["melody"].startswith("fine-tuned")
    assert set(rebuild.reused) == {"harmony", "bass", "drums"}
    after = watch.models()
    assert after["melody"] != before["melody"]
    for name in ("harmony", "bass", "drums_generator", "drums_critic"):
        assert after[name] == before[name], name
    environment = adaptive.load_bundle(watch.out).manifest["training"]["environment"]
    assert environment["models"]["melody"] == "fine-tuned"
    assert "retrained melody (fine-tuned, 5 steps); kept harmony, bass, drums" in rebuild.summary()


def test_bad_edits_keep_the_bundle_and_the_watch_goes_on(watch: Watch) -> None:
    good_bundle = watch.out.read_bytes()
    good_style = watch.style.read_text(encoding="utf-8")
    _edit(watch.style, '[stems.bass]\nrole = "bass"\n', '[stems.bass]\nrole = "bass"\ngain = 7.0\n')
    broken = watch.next()
    assert not broken.ok
    assert "style.toml" in broken.error and "stems.bass.gain" in broken.error
    assert "kept" in broken.summary() and watch.out.read_bytes() == good_bundle

    midi = watch.root / "midi" / "explore_b.mid"
    good_midi = midi.read_bytes()
    watch.style.write_text(good_style, encoding="utf-8")
    midi.write_bytes(b"MThd\x00\x00\x00\x06\x00\x01" + b"\xff" * 7)  # cut off mid-header
    corrupt = watch.next()
    assert not corrupt.ok
    assert "explore_b.mid" in corrupt.error and "sources[1].file" in corrupt.error
    assert watch.out.read_bytes() == good_bundle
    assert list(watch.root.glob(".tiny.adaptive.*")) == []  # no temporary file left

    midi.write_bytes(good_midi)
    _edit(watch.style, "default = 0.4", "default = 0.7")
    fixed = watch.next()
    assert fixed.ok, fixed.error
    assert fixed.trained == {}  # the MIDI is back as it was: its models are reused
    assert adaptive.load_bundle(watch.out).manifest["parameters"]["intensity"]["default"] == 0.7
    assert (cache_dir(watch.out) / "index.json").is_file()


def _render_bars(engine: MusicEngine, bars: int) -> np.ndarray:
    start = engine.frame
    end = engine.timing.bar_start(engine.timing.bar_at(start) + bars)
    return engine.render(end - start, stems=True)[1]["bass"]


def test_an_edit_is_heard_by_a_playing_engine_and_a_broken_one_changes_nothing(
    watch: Watch,
) -> None:
    """The whole loop: a designer's edit, the watcher's rebuild, the engine's reload.

    The engine renders offline, so music time stands still while the rebuild runs;
    the game-side figure (wall seconds from the write to the new sound) is the
    benchmark's. Here: the new mix is heard from a bar line, at the second boundary
    after the write at the latest, and a broken edit leaves the music untouched."""
    engine = MusicEngine(watch.out, output="offline", seed=5)
    engine.set_parameter("intensity", 0.9)
    engine.watch(watch.out, poll=0.05)
    reference = MusicEngine(watch.out, output="offline", seed=5)
    reference.set_parameter("intensity", 0.9)
    before = _render_bars(engine, 2)
    np.testing.assert_array_equal(before, _render_bars(reference, 2))

    # a broken edit: the watcher reports it, the bundle and the music stay as they were
    good = watch.out.read_bytes()
    _edit(watch.style, 'role = "bass"\n', 'role = "bass"\ngain = "loud"\n')
    broken = watch.next()
    assert not broken.ok and "stems.bass.gain" in str(broken.error)
    assert watch.out.read_bytes() == good
    time.sleep(0.3)  # several of the engine's polls
    np.testing.assert_array_equal(_render_bars(engine, 1), _render_bars(reference, 1))
    assert not [e for e in engine.update() if e.kind in ("reload", "error")]

    # a good edit: the bass at a quarter of its gain, from a bar line on
    _edit(watch.style, 'gain = "loud"\n', "gain = 0.2\n")
    written_at = engine.frame  # music time stands still until the next render
    playing = engine.bundle.sha256
    assert watch.next().ok
    deadline = time.monotonic() + WAIT
    while engine.bundle.sha256 == playing:  # the engine's watch thread takes the new file
        if time.monotonic() > deadline:
            pytest.fail("the engine never reloaded the rebuilt bundle")
        time.sleep(0.05)
    after = _render_bars(engine, 3)
    reloads = [e for e in engine.update() if e.kind == "reload"]
    assert len(reloads) == 1
    boundary = reloads[0].frame
    assert boundary == engine.timing.bar_start(reloads[0].bar)  # on a bar line
    assert boundary <= engine.timing.bar_start(engine.timing.bar_at(written_at) + 2)
    old = _render_bars(reference, 3)
    offset = boundary - written_at
    assert np.abs(after[offset:]).max() < 0.5 * np.abs(old[offset:]).max()  # quieter bass
    engine.unwatch()
