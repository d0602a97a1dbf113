"""``adaptive play``: a live audition console for a bundle, and the plain line printer.

``Audition`` is the console's logic with no terminal in it: it turns keys into
engine calls (states, parameter nudges, stingers, reload) and the engine's
events and stats into a status text. ``run_console`` shows it with ``textual``
(the authoring extra); ``run_printer`` prints one line per musical event, for a
pipe, a log, or a machine without ``textual``.
"""

from __future__ import annotations

import sys
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from ._engine import MusicEngine

__all__ = ["Audition", "run_console", "run_printer", "console_available", "CONSOLE_HINT"]

CONSOLE_HINT = (
    "(pip install 'adaptive[authoring]' for the live console: keys for states, "
    "intensity and stingers)"
)
NUDGE_STEPS = 20  # up/down moves a parameter by 1/20 of its range
LOG_LINES = 8
METER_WIDTH = 24
REFRESH_SECONDS = 1 / 15
RESERVED_KEYS = set("qr+-=")


def console_available() -> bool:
    """Whether ``textual`` is installed and both ends are a terminal."""
    try:
        import textual  # noqa: F401
    except ImportError:
        return False
    return sys.stdin.isatty() and sys.stdout.isatty()


@dataclass
class Parameter:
    name: str
    lo: float
    hi: float
    value: float


class Audition:
    """Keys in, engine calls out; events and stats in, a status text out."""

    def __init__(self, engine: MusicEngine, cycle: int = 0) -> None:
        self.engine = engine
        self.cycle = cycle
        self.bar = -1
        self.beat = 0
        self.state = engine.state
        self.asked: str | None = None  # a state asked for, not landed yet
        self.log: deque[str] = deque(maxlen=LOG_LINES)
        self.selected = 0
        self.reloads = 0
        self._retable()

    def _retable(self) -> None:
        """Key tables for the engine's bundle (again after a reload: it may have others)."""
        engine = self.engine
        self.state_keys = {str(i + 1): s for i, s in enumerate(engine.states[:9])}
        values = engine.parameters
        self.parameters = [
            Parameter(
                name, float(spec["min"]), float(spec["max"]), values.get(name, spec["default"])
            )
            for name, spec in engine.bundle.parameters.items()
        ]
        self.selected = min(self.selected, len(self.parameters) - 1)
        taken = set(RESERVED_KEYS)
        self.stinger_keys: dict[str, str] = {}
        for name in engine.stingers:
            letter = next(
                (
                    c
                    for c in name.lower() + "abcdefghijklmnopstuvwxyz"
                    if c.isalpha() and c not in taken
                ),
                None,
            )
            if letter is not None:
                taken.add(letter)
                self.stinger_keys[letter] = name

    # --- keys -----------------------------------------------------------------------------

    def key(self, key: str) -> str | None:
        """Apply one key (a character, or up/down/left/right/tab/shift+tab).

        Returns "quit" for q, "handled" for a key with a meaning, None otherwise.
        """
        if key in ("q", "Q", "escape"):
            return "quit"
        if key in self.state_keys:
            state = self.state_keys[key]
            self.engine.set_state(state)
            self.asked = None if state == self.state else state
        elif key in ("up", "+", "=", "plus"):
            self._nudge(+1)
        elif key in ("down", "-", "minus"):
            self._nudge(-1)
        elif key in ("right", "tab"):
            self.selected = (self.selected + 1) % max(1, len(self.parameters))
        elif key in ("left", "shift+tab"):
            self.selected = (self.selected - 1) % max(1, len(self.parameters))
        elif key in self.stinger_keys:
            self.engine.trigger(self.stinger_keys[key])
        elif key == "r":
            where = self.engine.bundle.path
            if where is None:
                self.log.append("this bundle was not read from a file: nothing to reload")
            elif self.engine.reload(where):
                self.log.append(f"reading {where} again: heard from a coming bar line")
        else:
            return None
        return "handled"

    def _nudge(self, direction: int) -> None:
        if not self.parameters:
            return
        p = self.parameters[self.selected]
        step = (p.hi - p.lo) / NUDGE_STEPS
        p.value = min(
            p.hi, max(p.lo, round((p.value + direction * step - p.lo) / step) * step + p.lo)
        )
        self.engine.set_parameter(p.name, p.value)

    # --- events ---------------------------------------------------------------------------

    def poll(self, line: Callable[[str], None] | None = None) -> None:
        """Take the engine's events; ``line`` hears one text line per musical event."""
        for event in self.engine.update():
            text = None
            if event.kind == "beat":
                self.beat = event.beat
                continue
            if event.kind == "transition":
                if event.name != self.state:  # the state the music plays from here
                    text = f"transition to {event.name}"
                self.state = event.name or self.state
            elif event.kind == "bar":
                self.bar, self.beat = event.bar, 0
                if event.name is not None and event.name != self.state:
                    self.state = event.name  # landed without its own transition line
                text = str(event.name) if line is not None else None
                if self.cycle and event.bar % self.cycle == self.cycle - 1:
                    states = self.engine.states
                    following = states[(states.index(self.state) + 1) % len(states)]
                    self.engine.set_state(following)
            elif event.kind == "stinger":
                text = f"stinger {event.name}"
            elif event.kind == "reload":
                self.reloads += 1
                self._retable()
                text = f"reloaded {event.name}"
            elif event.kind == "error":
                text = f"error: {event.name}"
            if self.asked == self.state:
                self.asked = None
            if text is None:
                continue
            stamped = f"{event.time:7.2f}s  bar {event.bar:3d}  {text}" if event.bar >= 0 else text
            if line is not None:
                line(stamped)
            if event.kind != "bar":
                self.log.append(stamped)

    # --- the status -----------------------------------------------------------------------

    def status(self) -> str:
        engine, stats = self.engine, self.engine.stats()
        bundle = engine.bundle
        beats = engine.timing.meter.numerator
        head = (
            f"adaptive play · {bundle.name} {bundle.manifest.get('version', '')} · "
            f"{engine.timing.tempo_at(max(self.bar, 0)):g} bpm {engine.timing.meter} · {bundle.key} · output {engine.output}"
        )
        if engine.watching:
            head += f" · watching {engine.watching}"
        position = f"bar {max(self.bar, 0):4d}   beat {self.beat + 1}/{beats}   state {self.state}"
        if self.asked is not None:
            position += f"   (next: {self.asked})"
        lines = [head, "", position, ""]
        for i, p in enumerate(self.parameters):
            marker = ">" if i == self.selected else " "
            fraction = (p.value - p.lo) / (p.hi - p.lo) if p.hi > p.lo else 0.0
            lines.append(f"{marker} {p.name:12} {_meter(fraction)} {p.value:6.2f}")
        lines.append("")
        for name, gain in stats.stem_gains.items():
            lines.append(f"  {name:12} {_meter(gain)} {gain:6.2f}")
        lines += [
            "",
            f"  underruns {stats.underruns} · fallback bars {stats.fallback_bars} · "
            f"callback p99 {stats.callback_ms.p99:.2f} ms · look-ahead {stats.lookahead_ms:.0f} ms · "
            f"bars composed {stats.bars_generated}",
            "",
            "  "
            + "  ".join(f"{k} {s}" for k, s in self.state_keys.items())
            + "  |  up/down +/- nudge  left/right tab: parameter",
            "  "
            + "  ".join(f"{k} {s}" for k, s in self.stinger_keys.items())
            + "  |  r reload  q quit",
            "",
            *self.log,
        ]
        return "\n".join(lines)


def _meter(fraction: float) -> str:
    filled = int(round(min(max(fraction, 0.0), 1.0) * METER_WIDTH))
    return "[" + "#" * filled + "." * (METER_WIDTH - filled) + "]"


def run_printer(audition: Audition, seconds: float | None) -> None:
    """One line per bar, transition, stinger, reload and error, until Ctrl-C or ``seconds``."""
    started = time.monotonic()
    try:
        while seconds is None or time.monotonic() - started < seconds:
            audition.poll(print)
            time.sleep(1 / 60)
    except KeyboardInterrupt:
        pass


def run_console(audition: Audition, seconds: float | None) -> None:
    """The live console in the terminal, until q (or ``seconds``)."""
    from rich.text import Text
    from textual.app import App, ComposeResult
    from textual.binding import Binding
    from textual.events import Key
    from textual.widgets import Static

    class Console(App[None]):
        CSS = "Screen { padding: 0 1; }"
        # tab would move the focus; here it picks the parameter to nudge
        BINDINGS = [
            Binding("tab", "key('tab')", show=False, priority=True),
            Binding("shift+tab", "key('shift+tab')", show=False, priority=True),
        ]

        def compose(self) -> ComposeResult:
            yield Static(id="status")

        def on_mount(self) -> None:
            self.started = time.monotonic()
            self.set_interval(REFRESH_SECONDS, self.refresh_status)
            self.refresh_status()

        def refresh_status(self) -> None:
            audition.poll()
            self.query_one("#status", Static).update(Text(audition.status()))
            if seconds is not None and time.monotonic() - self.started >= seconds:
                self.exit()

        def action_key(self, key: str) -> None:
            audition.key(key)
            self.refresh_status()

        def on_key(self, event: Key) -> None:
            name = event.character if event.is_printable and event.character else event.key
            if audition.key(name) == "quit":
                self.exit()
            event.stop()
            self.refresh_status()

    Console().run()
