"""``adaptive play``: the audition console's keys and status, and the console under tmux."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

import adaptive
import runtime
from runtime._console import Audition

ROOT = Path(__file__).resolve().parents[2]
SR = 48000


@pytest.fixture
def audition(default_bundle: adaptive.Bundle) -> Audition:
    return Audition(runtime.MusicEngine(default_bundle, output="offline", seed=2))


def test_keys_pick_states_nudge_parameters_and_fire_stingers(audition: Audition) -> None:
    engine = audition.engine
    assert audition.state_keys == dict(zip("12345", engine.states, strict=True))
    assert audition.state_keys["3"] == "boss"
    assert set(audition.stinger_keys.values()) == set(engine.stingers)
    assert not set(audition.stinger_keys) & set("qr12345")
    before = engine.parameters["intensity"]
    assert audition.key("up") == "handled" and audition.key("+") == "handled"
    assert audition.key("2") == "handled"
    letter = next(k for k, name in audition.stinger_keys.items() if name == "pickup")
    assert audition.key(letter) == "handled"
    assert audition.key("tab") == "handled"  # to the next parameter, danger
    assert audition.key("tab") == "handled"  # and round to intensity
    assert audition.key("F5") is None and audition.key("q") == "quit"
    engine.render(3 * SR)
    audition.poll()
    assert engine.parameters["intensity"] == pytest.approx(before + 0.1)
    assert audition.state == "combat" and audition.asked is None
    status = audition.status()
    assert "state combat" in status and "intensity" in status and "underruns 0" in status
    assert any("stinger pickup" in line for line in audition.log)
    for stem in engine.stems:
        assert stem in status


def test_the_line_printer_puts_the_transition_before_its_bar(audition: Audition) -> None:
    audition.engine.set_state("combat")
    audition.engine.render(3 * SR)
    lines: list[str] = []
    audition.poll(lines.append)
    landed = next(i for i, line in enumerate(lines) if "transition to combat" in line)
    assert lines[landed + 1].endswith("combat") and "bar   0" in lines[landed]
    assert sum("transition" in line for line in lines) == 1


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
def test_the_console_under_tmux_changes_state_on_a_key(tmp_path: Path) -> None:
    pytest.importorskip("textual")
    name = f"adaptive-play-{os.getpid()}"
    command = (
        f"cd {ROOT} && PYTHONPATH={ROOT} {sys.executable} -m runtime.cli play "
        f"--output silent --seconds 40; echo exited $? > {tmp_path / 'done'}"
    )
    tmux = ["tmux", "-L", name]  # its own server: nothing shared with a user's tmux
    subprocess.run(
        [*tmux, "new-session", "-d", "-s", name, "-x", "130", "-y", "40", command], check=True
    )

    def screen() -> str:
        done = subprocess.run(
            [*tmux, "capture-pane", "-p", "-t", name], capture_output=True, text=True
        )
        return done.stdout

    def wait_for(text: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            shown = screen()
            if text in shown:
                return shown
            time.sleep(0.2)
        raise AssertionError(f"{text!r} not shown within {timeout} s:\n{screen()}")

    try:
        wait_for("state explore", 20.0)
        subprocess.run([*tmux, "send-keys", "-t", name, "2"], check=True)
        shown = wait_for("state combat", 8.0)  # the next bar line, or the one after
        assert "2 combat" in shown and "underruns" in shown
        subprocess.run([*tmux, "send-keys", "-t", name, "q"], check=True)
        deadline = time.monotonic() + 10.0
        while not (tmp_path / "done").exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert (tmp_path / "done").read_text().strip() == "exited 0"
    finally:
        subprocess.run([*tmux, "kill-server"], capture_output=True)
