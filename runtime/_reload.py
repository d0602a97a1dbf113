"""Hot reload: a new bundle takes over the playing music at a bar line.

The handoff, and which thread does what:

- ``build_program`` (the caller of ``reload``: the game, the watcher thread, or
  the engine's worker process) reads nothing from the playing engine: it builds
  the new bundle's composer, stinger audio and gain table from scratch;
- the scheduler's worker (``plan_switch``) picks the bar the new bundle starts
  on, carries the old composer's context over where the new bundle can use it,
  composes that first bar and publishes a ``Handoff``;
- the mixer switches on that bar's first frame: swaps the tables it reads,
  crossfades the old bundle's bar out under the new one, and hands the old
  tables back to the worker to free.

What carries over: the state (or the new bundle's default state when it has no
state of that name), the parameters (by name, clamped to the new ranges), the
sample clock, and playing stingers. When the models are the same (a mix or rule
edit), the new composer continues the old one's phrase, so the edit changes the
sound, not the notes. New tempos or a new meter start a new tempo map at the
switch: the sample clock runs on, bars before the switch keep their old length,
and bars from it on play the new bundle's tempo for their state, including the
state changes already scheduled (``runtime._clock.clock_for_schedule``). The
same tempos and meter keep the playing map, so bar lines stay where they were.
"""

from __future__ import annotations

import os
import threading
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from adaptive._bundle import Bundle
from adaptive._schema import TransitionSpec

from ._bar import BarAudio
from ._clock import MusicalClock, clock_for_schedule
from ._composer import Composer
from ._control import BarPlan, Control, StateChange
from ._mixbus import MixSettings
from ._mixer import MASTER_GAIN, Mixer, StemMix
from ._stingers import StingerVoices, stinger_settings

__all__ = [
    "Program",
    "Handoff",
    "ProgramControl",
    "BundleWatcher",
    "build_program",
    "plan_switch",
    "make_mixer",
]


@dataclass
class Program:
    """Everything built from one bundle that the composer and the mixer read."""

    id: int
    bundle: Bundle
    clock: MusicalClock
    composer: Composer
    stems: StemMix
    states: tuple[str, ...]
    stingers: StingerVoices
    intensity_range: tuple[float, float]
    rules: Callable[[str, str], TransitionSpec]
    seeks: dict[str, float]
    master_gain: float
    ranges: dict[str, tuple[float, float, float]]  # parameter -> (min, max, default)
    valence: dict[str, float]
    default_state: str
    tempos: dict[str, float]  # bpm per state
    # the mixer's tables and scratch for this bundle's stems, made off the audio thread
    targets: np.ndarray = field(default_factory=lambda: np.zeros(0))
    gains: np.ndarray = field(default_factory=lambda: np.zeros(0))
    ramps: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    block: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    state_index: dict[str, int] = field(default_factory=dict)
    active_seeks: dict[str, float] = field(default_factory=dict)  # the seeks that are not 0

    def state_for(self, state: str) -> str:
        """``state`` if this bundle has it, else its default state."""
        return state if state in self.stems.state_gains else self.default_state

    def clamp(self, name: str, value: float) -> float:
        lo, hi, _ = self.ranges[name]
        return min(max(value, lo), hi)

    def map_parameters(
        self, values: Mapping[str, float], targets: dict[str, float]
    ) -> dict[str, float]:
        """The parameters under this bundle: kept by name and clamped, new ones at their default.

        ``targets`` (the values being sought towards) is updated in place the same way.
        """
        for name in [n for n in targets if n not in self.ranges]:
            del targets[name]
        for name in targets:
            targets[name] = self.clamp(name, targets[name])
        return {
            name: self.clamp(name, float(values.get(name, default)))
            for name, (_, _, default) in self.ranges.items()
        }

    def map_schedule(self, schedule: tuple[StateChange, ...]) -> tuple[StateChange, ...]:
        """The state schedule with the states this bundle lacks replaced by its default state."""
        return tuple(
            c if c.state in self.stems.state_gains else replace(c, state=self.default_state)
            for c in schedule
        )

    def allocate(self, max_frames: int) -> None:
        """The mixer's per-stem buffers for this bundle (called in the worker)."""
        count = len(self.stems.names)
        self.targets = self.stems.target_table(self.states)
        self.gains = np.zeros(count, dtype=np.float64)
        self.ramps = np.zeros((count, max_frames), dtype=np.float32)
        self.block = np.zeros((count, max_frames, 2), dtype=np.float32)
        self.state_index = {name: i for i, name in enumerate(self.states)}
        self.active_seeks = {name: rate for name, rate in self.seeks.items() if rate > 0}


class ProgramControl:
    """The shared ``Control`` as a new bundle sees it before it takes over.

    States the new bundle does not have read as its default state; parameters
    read clamped to its ranges. After the switch the mixer has mapped the
    schedule and the parameters, and this view changes nothing.
    """

    def __init__(self, control: Control, program: Program) -> None:
        self.control = control
        self.program = program

    @property
    def parameters(self) -> dict[str, float]:
        values = self.control.parameters
        return {
            name: self.program.clamp(name, float(values.get(name, default)))
            for name, (_, _, default) in self.program.ranges.items()
        }

    def state_for_bar(self, index: int) -> str:
        return self.program.state_for(self.control.state_for_bar(index))

    def plan_for_bar(self, index: int) -> BarPlan:
        plan = self.control.plan_for_bar(index)
        state_for = self.program.state_for
        return plan._replace(state=state_for(plan.state), from_state=state_for(plan.from_state))

    @property
    def clock(self) -> MusicalClock:
        """The program's own map until the mixer plays it, then the mixer's."""
        if self.control.program == self.program.id and self.control.clock is not None:
            return self.control.clock
        return self.program.clock

    def change_for_bar(self, index: int) -> StateChange | None:
        return self.control.change_for_bar(index)

    def valence_for(self, state: str) -> float:
        if "valence" in self.program.ranges:
            return self.parameters["valence"]
        return self.program.valence.get(state, 0.5)


def fit_stingers_to_chords(
    program: Program, chores: deque[Callable[[], None]] | None = None
) -> None:
    """Fit the program's stingers to the chords and tempos: live, every stinger to each new
    chord and bar length the composer writes, as a chore for the worker once the bars due are composed; offline
    (``chores`` None), only a stinger that starts, when it starts (offline renders wait
    for their audio anyway, and most chords never carry a stinger)."""
    voices = program.stingers
    if program.composer.harmony is None:  # no chords: stingers play as written, only retimed
        for name, settings in voices.stingers.items():
            voices.stingers[name] = replace(settings, key_aware=False)
    if chores is None:
        voices.fit_on_demand = True
    else:
        program.composer.on_chord = lambda chord, fps: chores.append(
            lambda: voices.prepare(chord, fps)
        )


def build_program(
    bundle: Bundle,
    sample_rate: int,
    seed: int,
    control: Control,
    program_id: int = 0,
) -> Program:
    """The composer, stingers and mix tables for ``bundle``. Raises BundleError if it cannot play."""
    tempos = {name: bundle.spec.tempo_for(name) for name in bundle.spec.states}
    # the map starts at the tempo of the state the music starts in
    clock = MusicalClock(sample_rate, tempos[bundle.spec.default_state], bundle.meter)
    names = tuple(bundle.stems)
    stems = StemMix(
        names=names,
        gains=tuple(float(bundle.stems[n]["gain"]) for n in names),
        fades=tuple(
            (float(bundle.stems[n]["intensity"][0]), float(bundle.stems[n]["intensity"][1]))
            for n in names
        ),
        state_gains={
            s: tuple(float(spec["stems"].get(n, 1.0)) for n in names)
            for s, spec in bundle.states.items()
        },
    )
    intensity = bundle.parameters["intensity"]
    program = Program(
        id=program_id,
        bundle=bundle,
        clock=clock,
        composer=None,  # type: ignore[arg-type]  # needs the program for its view of control
        stems=stems,
        states=tuple(bundle.states),
        stingers=StingerVoices(stinger_settings(bundle, clock)),
        intensity_range=(float(intensity["min"]), float(intensity["max"])),
        rules=bundle.spec.transition,
        seeks={name: spec.seek for name, spec in bundle.spec.parameters.items()},
        master_gain=MASTER_GAIN * 10.0 ** (bundle.spec.mix.master_gain_db / 20.0),
        ranges={
            name: (float(spec["min"]), float(spec["max"]), float(spec["default"]))
            for name, spec in bundle.parameters.items()
        },
        valence={name: float(spec["valence"]) for name, spec in bundle.states.items()},
        default_state=bundle.spec.default_state,
        tempos=tempos,
    )
    view: Any = control if program_id == 0 else ProgramControl(control, program)
    program.composer = Composer(bundle, clock, view, seed)
    return program


def make_mixer(
    program: Program, control: Control, source: Any, max_frames: int, margin_frames: int
) -> Mixer:
    """The mixer for ``program``'s bundle, pulling bars from ``source`` (the engine's, a replay's)."""
    mixer = Mixer(
        program.clock,
        control,
        source,
        program.stems,
        program.states,
        program.stingers,
        program.intensity_range,
        max_frames=max_frames,
        ready_margin_frames=margin_frames,
        rules=program.rules,
        seeks=program.seeks,
        master_gain=program.master_gain,
        tempos=program.tempos,
    )
    mixer.program_bundle = program.bundle
    return mixer


@dataclass
class Handoff:
    """A new program and its first bar, published by the worker for the mixer."""

    program: Program
    bar: int  # the bar index it starts on
    first: BarAudio
    # the crossfade: the same notes on both sides (a mix edit) add up in phase, so linear;
    # other music is uncorrelated, so equal power keeps the loudness through the fade
    fade: str = "equal_power"
    taken: bool = False  # the mixer switched (or found it too late); written by the mixer
    retired: tuple[Any, ...] = ()  # the old program's tables, for the worker to free


def plan_switch(
    program: Program,
    current: Composer,
    playing: int,
    frames_left: int,
    margin_frames: int,
) -> Handoff:
    """Pick the switch bar, carry the old composer's context over, compose the first bar.

    ``playing``: the bar the mixer plays; ``frames_left``: frames until it ends.
    The switch is on the next bar line, or the one after when the next is closer
    than ``margin_frames`` (too close to compose a bar in time).
    """
    bar = max(playing + 1, 0)
    if playing >= 0 and frames_left < margin_frames:
        bar += 1
    old_clock = current.clock
    clock = program.clock
    composer = program.composer
    if clock.meter == old_clock.meter and composer.tempos == current.tempos:
        clock = old_clock  # the same grid: bar lines stay exactly where they were
    else:
        state = composer.control.state_for_bar(bar)
        clock = MusicalClock(
            clock.sample_rate, program.tempos[state], clock.meter, bar, old_clock.bar_start(bar)
        )
        shared = getattr(current.control, "control", current.control)  # under a reload's view
        schedule = [c for c in getattr(shared, "schedule", ()) if c.tempo_bar > bar]
        clock = clock_for_schedule(clock, schedule, lambda s: program.tempos[program.state_for(s)])
    program.clock = clock
    composer.clock = clock
    continuous = carry_over(current, composer, bar)
    first = composer.compose(bar)
    first.program = program.id
    return Handoff(program, bar, first, fade="linear" if continuous else "equal_power")


def carry_over(old: Composer, new: Composer, first_bar: int) -> bool:
    """Let ``new`` continue where ``old`` left off before ``first_bar``, as far as it can.

    The same models continue the phrase (chords, melodic memory); the same stems
    and instruments carry the notes ringing across the bar line; the same effects
    carry the reverb and delay tails. True when the notes go on unchanged.
    """
    new._contexts.clear()
    new._overflow.clear()
    new.mixbus._after.clear()
    same_models = _model_digests(old.bundle) == _model_digests(new.bundle)
    if same_models:
        new._contexts.update({i: c for i, c in old._contexts.items() if i < first_bar})
    same_voices = old.stem_names == new.stem_names and all(
        old.bundle.stems[n].get("instrument") == new.bundle.stems[n].get("instrument")
        for n in new.stem_names
    )
    if not same_voices:
        return False
    new._overflow.update({i: a for i, a in old._overflow.items() if i < first_bar})
    if (
        _effects(old.mix) == _effects(new.mix)
        and old.clock.frames_per_beat == new.clock.frames_per_beat
    ):
        new.mixbus._after.update({i: s for i, s in old.mixbus._after.items() if i < first_bar})
    return same_models and old.clock.frames_per_bar == new.clock.frames_per_bar


def _model_digests(bundle: Bundle) -> dict[str, str]:
    return {name: model.sha256 for name, model in bundle.models.items()}


def _effects(settings: MixSettings) -> MixSettings:
    """The mix settings that shape effect state: everything but each stem's gain bound."""
    stems = {name: replace(stem, max_gain=0.0) for name, stem in settings.stems.items()}
    return replace(settings, stems=stems)


Signature = tuple[int, int, int] | None


def _signature(path: str) -> Signature:
    try:
        info = os.stat(path)
    except OSError:
        return None
    return (info.st_mtime_ns, info.st_size, info.st_ino)


class BundleWatcher:
    """Polls a bundle file's stat and calls ``on_change(path)`` once a change has settled.

    A change counts once the file's (mtime, size, inode) has stayed the same for
    one poll, so a file still being written is not read half-way; an atomic
    replace (``os.replace``) changes the inode and is seen like any write. A file
    that disappears and stays gone is reported too (``on_change`` then fails to
    read it, which the engine reports).
    """

    def __init__(
        self, path: str | os.PathLike[str], on_change: Callable[[str], Any], poll: float
    ) -> None:
        self.path = os.fspath(path)
        self.poll = poll
        self.on_change = on_change
        self._stop = threading.Event()
        self._seen = _signature(self.path)
        self._thread = threading.Thread(target=self._run, name="adaptive-watch", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        candidate: Signature | str = "none"  # a change seen once, waiting to settle
        while not self._stop.wait(self.poll):
            now = _signature(self.path)
            if now == self._seen:
                candidate = "none"
                continue
            if now != candidate:
                candidate = now
                continue
            self._seen, candidate = now, "none"
            try:
                self.on_change(self.path)
            except Exception:  # the engine reports reload problems itself; keep watching
                continue

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=5.0)
