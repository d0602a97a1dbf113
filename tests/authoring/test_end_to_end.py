"""The walking skeleton end to end: bake a tiny style, render 8 bars with a state change, check the WAV."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

import adaptive
from authoring import bake
from runtime import read_wav


def test_bake_then_render_eight_bars(tiny_style_path: Path, tmp_path: Path) -> None:
    bundle_path = tmp_path / "tiny.adaptive"
    result = bake(tiny_style_path, bundle_path, progress=False, seed=1)
    assert result.seconds < 30.0, f"the tiny bake took {result.seconds:.1f} s"

    bundle = adaptive.load_bundle(bundle_path)
    bar_seconds = 60.0 / bundle.tempo * bundle.meter.numerator * 4 / bundle.meter.denominator
    timeline = tmp_path / "timeline.json"
    timeline.write_text(
        json.dumps(
            {
                "duration": 8 * bar_seconds,
                "events": [
                    {"time": 0.0, "state": "explore"},
                    {"time": 0.0, "parameter": "intensity", "value": 0.7},
                    {"time": 3.4 * bar_seconds, "state": "combat", "sync": "bar"},
                ],
            }
        )
    )
    digests = []
    for run in range(2):
        out, report_path = tmp_path / f"out{run}.wav", tmp_path / f"report{run}.json"
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "authoring.cli",
                "render",
                str(bundle_path),
                "--timeline",
                str(timeline),
                "--out",
                str(out),
                "--report",
                str(report_path),
                "--seed",
                "42",
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        digests.append(hashlib.sha256(out.read_bytes()).hexdigest())

        audio, rate = read_wav(out)
        report = json.loads(report_path.read_text())
        assert rate == 48000
        assert float(np.sqrt(np.mean(audio.astype(np.float64) ** 2))) > 0.02, "silent"
        assert np.abs(audio).max() < 0.999, "clipping"
        assert len(report["bars"]) == 8
        starts = [bar["start_frame"] for bar in report["bars"]]
        (transition,) = report["transitions"]
        assert transition["landed_frame"] in starts
        assert transition["landed_frame"] == starts[4]  # the first bar line after 3.4 bars
    assert digests[0] == digests[1], "the same seed must give identical bytes"
