"""MusicEngine: the one object a game talks to."""

from __future__ import annotations

import math
import os
import threading
from dataclasses import replace
from typing import Any, Literal

import numpy as np

import adaptive
from adaptive._bundle import Bundle
from adaptive._errors import EngineError, UnknownNameError

from ._clock import MusicalClock
from ._composer import BarAudio, Composer
from ._control import Command, Control
from ._instruments import PitchedInstrument, make_instrument
from ._mixer import Mixer, MusicEvent
from ._outputs import PygameOutput

__all__ = ["MusicEngine"]

SYNC_MODES = ("bar",)
OUTPUTS = ("pygame", "offline")


class MusicEngine:
    """Composes, renders and plays a bundle's music, steered by the game.

    Game thread: ``set_parameter``, ``set_state`` and ``trigger`` only enqueue
    and return at once; call ``update()`` once per frame to receive the musical
    events (beats, bars, transitions, stingers) since the last call.

    With ``output="pygame"`` a worker thread composes bars ahead of the
    playhead and SDL's audio thread pulls the mix. With ``output="offline"``
    nothing runs in the background: ``render(frames)`` composes just in time
    and returns the audio, identical for identical seeds and calls.
    """

    def __init__(
        self,
        bundle: Bundle | str | os.PathLike[str] | None = None,
        output: Literal["pygame", "offline"] = "pygame",
        sample_rate: int = 48000,
        buffer_frames: int = 512,
        seed: int | None = None,
        lookahead_bars: int = 1,
    ) -> None:
        if output not in OUTPUTS:
            raise EngineError(f"output {output!r} is not known; choose one of {', '.join(OUTPUTS)}")
        if not isinstance(sample_rate, int) or not 8000 <= sample_rate <= 192000:
            raise EngineError(f"sample_rate {sample_rate!r} must be an integer in 8000..192000")
        if not isinstance(buffer_frames, int) or not 32 <= buffer_frames <= 16384:
            raise EngineError(f"buffer_frames {buffer_frames!r} must be an integer in 32..16384")
        if not isinstance(lookahead_bars, int) or not 1 <= lookahead_bars <= 8:
            raise EngineError(f"lookahead_bars {lookahead_bars!r} must be an integer in 1..8")
        if seed is not None and (not isinstance(seed, int) or seed < 0):
            raise EngineError(f"seed {seed!r} must be a non-negative integer or None")
        self.bundle = bundle if isinstance(bundle, Bundle) else adaptive.load_bundle(bundle)
        self.output = output
        self.sample_rate = sample_rate
        self.buffer_frames = buffer_frames
        self.seed = seed if seed is not None else int.from_bytes(os.urandom(4), "little")
        self.lookahead_bars = lookahead_bars
        manifest = self.bundle.manifest
        self.clock = MusicalClock(sample_rate, self.bundle.tempo, self.bundle.meter)
        initial = str(manifest.get("default_state", ""))
        if initial not in self.bundle.states:
            initial = next(iter(self.bundle.states))
        self.control = Control(
            initial_state=initial,
            parameters={
                name: float(spec["default"]) for name, spec in self.bundle.parameters.items()
            },
            valence={name: float(spec["valence"]) for name, spec in self.bundle.states.items()},
        )
        self._requested_state = initial
        self.composer = Composer(self.bundle, self.clock, self.control, self.seed)
        self._ready: dict[int, BarAudio] = {}
        self.mixer = Mixer(
            self.bundle,
            self.clock,
            self.control,
            fetch_bar=self._fetch_offline if output == "offline" else self._fetch_live,
            stingers=self._render_stingers(),
            max_frames=max(buffer_frames, 8192),
        )
        self._output: PygameOutput | None = None
        self._last_output: PygameOutput | None = None
        self._worker: threading.Thread | None = None
        self._running = False
        self._wake = threading.Event()
        self._worker_error: BaseException | None = None
        self._regenerated = 0
        self._bars_generated = 0
        self._generate_ms: list[float] = []
        self._render_ms: list[float] = []
        self._block = np.zeros((max(buffer_frames, 8192), 2), dtype=np.float32)

    # --- lifecycle ------------------------------------------------------------------------

    def start(self) -> MusicEngine:
        """Start playing (pygame output) or prepare to render (offline). Idempotent."""
        if self._running:
            return self
        self._running = True
        if self.output == "pygame":
            # compose the first bars before the device asks for them
            for index in range(self.lookahead_bars + 1):
                self._ready[index] = self._compose(index)
            self._worker = threading.Thread(
                target=self._work, name="adaptive-composer", daemon=True
            )
            self._worker.start()
            self._output = PygameOutput(self.mixer.process, self.sample_rate, self.buffer_frames)
            self._last_output = self._output  # stats outlive stop()
            try:
                self._output.start()
            except BaseException:
                self.stop()
                raise
        return self

    def stop(self) -> None:
        """Stop the audio device and the worker. Safe to call twice."""
        self._running = False
        self._wake.set()
        if self._output is not None:
            self._output.stop()
            self._output = None
        if self._worker is not None:
            self._worker.join(timeout=5.0)
            self._worker = None

    def __enter__(self) -> MusicEngine:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    # --- the game thread's API ------------------------------------------------------------

    @property
    def states(self) -> tuple[str, ...]:
        return tuple(self.bundle.states)

    @property
    def stingers(self) -> tuple[str, ...]:
        return tuple(self.bundle.stingers)

    @property
    def parameters(self) -> dict[str, float]:
        return dict(self.control.parameters)

    @property
    def state(self) -> str:
        """The state the music is playing now."""
        bar = self.mixer.bar
        return bar.state if bar is not None else self.control.state_for_bar(0)

    @property
    def frame(self) -> int:
        return self.mixer.frame

    def set_parameter(self, name: str, value: float) -> None:
        """Set a parameter (clamped to its range). Gain changes are heard within a buffer."""
        spec = self.bundle.parameters.get(name)
        if spec is None:
            raise UnknownNameError(
                f"parameter {name!r} is not in bundle {self.bundle.name!r}; known: {', '.join(self.bundle.parameters)}"
            )
        if isinstance(value, bool) or not isinstance(value, int | float | np.floating | np.integer):
            raise EngineError(f"parameter {name!r} value must be a number, got {value!r}")
        if not math.isfinite(value):
            raise EngineError(f"parameter {name!r} value must be finite, got {value!r}")
        clamped = min(max(float(value), float(spec["min"])), float(spec["max"]))
        self.control.commands.append(Command("parameter", name, clamped))

    def set_state(self, name: str, sync: str = "bar") -> None:
        """Change state; the new music starts exactly on the next bar boundary."""
        if name not in self.bundle.states:
            raise UnknownNameError(
                f"state {name!r} is not in bundle {self.bundle.name!r}; known: {', '.join(self.bundle.states)}"
            )
        if sync not in SYNC_MODES:
            raise EngineError(
                f"sync {sync!r} is not supported; choose one of {', '.join(SYNC_MODES)}"
            )
        if name == self._requested_state:
            return  # already playing or on its way: games may call this every frame
        self._requested_state = name
        self.control.commands.append(Command("state", name, sync=sync))
        self._wake.set()

    def trigger(self, stinger: str) -> None:
        """Play a stinger; it lands on the next beat."""
        if stinger not in self.bundle.stingers:
            raise UnknownNameError(
                f"stinger {stinger!r} is not in bundle {self.bundle.name!r}; known: {', '.join(self.bundle.stingers) or 'none'}"
            )
        self.control.commands.append(Command("stinger", stinger))

    def update(self) -> list[MusicEvent]:
        """The musical events since the last call, oldest first. Never blocks."""
        if self._worker_error is not None:
            error, self._worker_error = self._worker_error, None
            raise EngineError(f"the composer thread failed: {error}") from error
        events = self.mixer.events
        out = []
        while events:
            out.append(events.popleft())
        return out

    # --- offline --------------------------------------------------------------------------

    def render(self, frames: int, stems: bool = False) -> Any:
        """Render the next ``frames`` frames offline: float32 (frames, 2).

        With ``stems=True`` returns ``(mix, {stem: (frames, 2)})``, each stem
        after its gain, before the master limiter.
        """
        if self.output != "offline":
            raise EngineError(
                "render() needs output='offline'; a 'pygame' engine plays in real time"
            )
        if not isinstance(frames, int) or frames < 0:
            raise EngineError(f"render frames {frames!r} must be a non-negative integer")
        mixer = self.mixer
        mixer.capture = [[] for _ in mixer.stem_names] if stems else None
        out = np.zeros((frames, 2), dtype=np.float32)
        pos = 0
        while pos < frames:
            m = min(self.buffer_frames, frames - pos)
            mixer.process(out[pos : pos + m])
            pos += m
        if not stems:
            return out
        captured = {
            name: (np.concatenate(parts) if parts else np.zeros((0, 2), np.float32))
            for name, parts in zip(mixer.stem_names, mixer.capture or [], strict=True)
        }
        mixer.capture = None
        return out, captured

    # --- composing ------------------------------------------------------------------------

    def _compose(self, index: int) -> BarAudio:
        bar = self.composer.compose(index)
        self._bars_generated += 1
        self._generate_ms.append(bar.generate_ms)
        self._render_ms.append(bar.render_ms)
        if len(self._generate_ms) > 4096:
            del self._generate_ms[:2048], self._render_ms[:2048]
        return bar

    def _fetch_offline(self, index: int) -> BarAudio:
        bar = self._compose(index)
        self.composer.forget_before(index - 2)
        return bar

    def _fetch_live(self, index: int) -> BarAudio:
        # runs on the audio thread: a dict lookup, or repeat the last bar
        bar = self._ready.get(index)
        self._wake.set()  # a new bar starts: the composer moves ahead
        if bar is not None:
            # if a state change's bar is still being composed, this one plays and the change lands a bar later
            return bar
        previous = self.mixer.bar
        if previous is None:
            raise EngineError("no bar is ready to play")
        frames = self.clock.bar_frames(index)
        return replace(
            previous,
            index=index,
            start_frame=self.clock.bar_start(index),
            frames=frames,
            fallback=True,
        )

    def _work(self) -> None:
        """The composer thread: keep bars ready ahead of the playhead."""
        try:
            while self._running:
                playing = self.mixer.bar.index if self.mixer.bar is not None else -1
                # A state change makes composed future bars stale: compose them again
                # and swap each in place, so the audio thread always finds a bar.
                stale = [
                    i
                    for i in sorted(self._ready)
                    if i > playing and self._ready[i].state != self.control.state_for_bar(i)
                ]
                if stale:
                    self._regenerated += 1
                    for index in range(stale[0], max(self._ready) + 1):
                        if self._running and index > self._playing_index():
                            self._ready[index] = self._compose(index)
                for index in range(playing + 1, playing + 1 + self.lookahead_bars):
                    if index not in self._ready and self._running:
                        self._ready[index] = self._compose(index)
                for old in [i for i in self._ready if i < playing - 1]:
                    del self._ready[old]
                self.composer.forget_before(playing - 2)
                self._trim_played()
                self._wake.wait(0.02)
                self._wake.clear()
        except BaseException as exc:  # surfaced to the game on its next update()
            self._worker_error = exc

    def _playing_index(self) -> int:
        return self.mixer.bar.index if self.mixer.bar is not None else -1

    def _trim_played(self) -> None:
        played = self.mixer.played
        while len(played) > 20000:
            played.popleft()

    def _render_stingers(self) -> dict[str, np.ndarray]:
        key = self.bundle.key
        tonic = 60 + key.tonic - (12 if key.tonic > 6 else 0)
        fps = self.clock.frames_per_step
        out = {}
        for name, spec in self.bundle.stingers.items():
            try:
                instrument = make_instrument(spec["instrument"], self.sample_rate)
            except ValueError as exc:
                raise adaptive.BundleError(
                    f"bundle field 'manifest.stingers.{name}.instrument': {exc}"
                ) from None
            if not isinstance(instrument, PitchedInstrument):
                instrument = make_instrument("lead", self.sample_rate)
            notes = [
                (
                    min(127, max(0, tonic + semis)),
                    int(round(step * fps)),
                    int(round(steps * fps)),
                    velocity,
                )
                for step, semis, steps, velocity in spec["notes"]
            ]
            length = max(start + frames for _, start, frames, _ in notes) + int(
                0.6 * self.sample_rate
            )
            audio = np.zeros((length, 2), dtype=np.float32)
            assert isinstance(instrument, PitchedInstrument)
            instrument.render(notes, audio)
            out[name] = audio
        return out

    # --- measuring ------------------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        def pct(values: list[float], q: float) -> float:
            return float(np.percentile(values, q)) if values else 0.0

        mixer = self.mixer
        return {
            "frames": mixer.frame,
            "seconds": mixer.frame / self.sample_rate,
            "bars_generated": self._bars_generated,
            "bars_regenerated": self._regenerated,
            "fallback_bars": mixer.fallback_bars,
            # callbacks that failed or came so late that the device starved
            "underruns": self._output_problems(),
            "callbacks": mixer.callbacks,
            "generate_ms_p50": pct(self._generate_ms, 50),
            "generate_ms_p99": pct(self._generate_ms, 99),
            "render_ms_p50": pct(self._render_ms, 50),
            "render_ms_p99": pct(self._render_ms, 99),
            "state": self.state,
        }

    def _output_problems(self) -> int:
        output = self._last_output
        return 0 if output is None else output.errors + output.late_callbacks

    def report(self) -> dict[str, Any]:
        """What was played, as the JSON report of ``adaptive render``."""
        stats = self.stats()
        bars = []
        for bar in list(self.mixer.played):
            bars.append(
                {
                    "index": bar.index,
                    "start_frame": bar.start_frame,
                    "frames": bar.frames,
                    "state": bar.state,
                    "tempo": self.clock.tempo,
                    "key": str(self.bundle.key),
                    "chords": [self.composer.chord_name(bar.chord)],
                    "intensity": bar.intensity,
                    "fallback": bar.fallback,
                    "stems": {
                        name: {
                            "notes": len(bar.notes.get(name, [])),
                            "gain": round(float(bar.gains[s]), 4) if bar.gains else None,
                        }
                        for s, name in enumerate(self.mixer.stem_names)
                    },
                }
            )
        return {
            "sample_rate": self.sample_rate,
            "frames": self.mixer.frame,
            "seed": self.seed,
            "bundle": {
                "name": self.bundle.name,
                "sha256": self.bundle.sha256,
                "path": str(self.bundle.path) if self.bundle.path else None,
            },
            "bars": bars,
            "transitions": list(self.mixer.transitions),
            "stingers": list(self.mixer.stingers_log),
            "underruns": stats["underruns"],
            "fallback_bars": stats["fallback_bars"],
            "timing": {
                "generate_ms": {"p50": stats["generate_ms_p50"], "p99": stats["generate_ms_p99"]},
                "render_ms": {"p50": stats["render_ms_p50"], "p99": stats["render_ms_p99"]},
            },
        }

    def played_notes(self) -> list[tuple[str, int, int, int, int]]:
        """Every note played so far: (stem, pitch, start_frame, frames, velocity), absolute frames."""
        out = []
        for bar in self.mixer.played:
            for stem, notes in bar.notes.items():
                out += [(stem, p, bar.start_frame + s, f, v) for p, s, f, v in notes]
        return out
