"""The runtime's commands work without the authoring extra: torch and mido blocked."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

BLOCKED_CLI = textwrap.dedent(
    """
    import sys

    class NotInstalled:
        # stands for a plain `pip install .`: the authoring extra's packages are absent
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("torch", "mido", "watchdog", "onnx", "textual"):
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None

    sys.meta_path.insert(0, NotInstalled())
    from authoring.cli import main
    code = main(sys.argv[1:])
    assert not [m for m in ("torch", "mido") if m in sys.modules], "an authoring import leaked"
    sys.exit(code)
    """
)


def adaptive(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", BLOCKED_CLI, *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=cwd,
        env={"SDL_AUDIODRIVER": "dummy", "PATH": "/usr/bin:/bin"},
    )


def test_render_needs_no_authoring_extra(tiny_bundle_path: Path, tmp_path: Path) -> None:
    timeline = tmp_path / "t.json"
    timeline.write_text(json.dumps({"duration": 4.0, "events": [{"time": 1.0, "state": "combat"}]}))
    out, report = tmp_path / "o.wav", tmp_path / "r.json"
    done = adaptive(
        "render", str(tiny_bundle_path), "--timeline", str(timeline), "--out", str(out),
        "--report", str(report),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert out.stat().st_size > 4 * 48000 * 4 and json.loads(report.read_text())["transitions"]


def test_inspect_and_play_need_no_authoring_extra(tiny_bundle_path: Path) -> None:
    done = adaptive("inspect", str(tiny_bundle_path))
    assert done.returncode == 0, done.stderr
    assert "provenance" in done.stdout
    done = adaptive("play", str(tiny_bundle_path), "--seconds", "2", "--cycle", "1")
    assert done.returncode == 0, done.stderr
    assert "bar" in done.stdout and "underruns" in done.stdout


@pytest.mark.parametrize("command", [["bake", "style.toml", "-o", "x.adaptive"]])
def test_authoring_commands_name_the_extra_to_install(command: list[str], tmp_path: Path) -> None:
    done = adaptive(*command, cwd=tmp_path)
    assert done.returncode == 2
    assert "pip install 'adaptive[authoring]'" in done.stderr and "Traceback" not in done.stderr
