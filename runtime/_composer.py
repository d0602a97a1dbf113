"""The composer: plans one bar for every stem with the models, then renders it.

Each bar's randomness comes from its own generator seeded by (seed, bar index),
so a bar sounds the same however the threads were scheduled; and each bar's
model context (chord history, recurrent state) is kept, so a bar can be
composed again with a new state without disturbing the bars before it.

Each bar is composed for its ``BarPlan`` (``runtime._control``) on the tempo map
current when it is composed (``Control.clock``): its length and note timing come
from its own tempo, and the models are conditioned on its phrase position, which
a state change's entry decides (``start`` restarts the phrase on the destination's
first bar). A transition bar (a rule's ``transition_bar``) leads into its
destination: conditioned on the destination's state and valence with the
source's arousal (its energy), its chord the dominant of the key (V in major, the
harmonic minor's V in minor), so the destination's first bar resolves it, and a
drum fill over its last beat.

What a bar is composed from (its plan, the tempo map, the parameters, the CPU
budget's level) is read once, into ``BarInputs``, before anything is generated:
a replay (``runtime._record``) logs those inputs and composes from them again.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Protocol

import numpy as np
import numpy.random  # noqa: F401  (numpy loads it on first use: in the first bar, 6 ms)

from adaptive._bundle import Bundle
from adaptive._errors import BundleError
from adaptive._music import DRUM_VOICES, START_CHORD, Chord, Note
from adaptive._tokens import Vocabulary

from ._bar import BarAudio
from ._clock import MusicalClock
from ._control import BarPlan, Control, StateChange
from ._instruments import (
    TAIL_SECONDS,
    DrumHit,
    DrumKit,
    Instrument,
    PitchedInstrument,
    SynthInstrument,
    make_instrument,
    notes_to_frames,
)
from ._mixbus import MixBus, mix_settings
from .generators import Conditions, DrumGenerator, HarmonyGenerator, OnnxModel, SequenceGenerator
from .generators._harmony import spell_chord, voice_chord
from .generators._sequence import SequenceContext


@dataclass(frozen=True, slots=True)
class BarInputs:
    """What one compose call reads from the engine: taken once, so nothing moves under it."""

    index: int
    plan: BarPlan  # its state, phrase position, and whether it leads into a new state
    parameters: dict[str, float]
    change: StateChange | None
    level: int  # the CPU budget's level (runtime._budget)
    clock: MusicalClock  # the tempo map it is composed on


class ComposeLog(Protocol):
    """Hears every compose call and every context dropped, in order (``runtime._record``)."""

    def composed(self, serial: int, inputs: BarInputs) -> None: ...

    def forgot(self, index: int) -> None: ...


@dataclass
class _Context:
    chords: tuple[int, int]
    sequences: dict[str, SequenceContext] = field(default_factory=dict)
    voicing: tuple[int, ...] = ()  # the harmony stem's last chord voicing (key-normalized)


FILL_VOICES = (1, 1, 5, 5)  # a transition bar's last beat: snare, snare, tom, tom (rows)
PlanKey = tuple[BarPlan, int, int]  # what a bar was composed for: plan, start frame, frames


class Composer:
    def __init__(self, bundle: Bundle, clock: MusicalClock, control: Control, seed: int) -> None:
        self.bundle = bundle
        self._clock = clock
        self.control = control
        self.seed = seed
        self.spec = bundle.spec
        self.trained_as = {name: spec.trained_as for name, spec in bundle.spec.states.items()}
        self.stem_names = list(bundle.stems)
        self.steps_per_bar = clock.meter.steps_per_bar
        self.transpose = -bundle.key.normalization_shift
        vocab = Vocabulary(tuple(bundle.manifest["vocabulary"]))
        if vocab != Vocabulary.default():
            raise BundleError(
                "bundle field 'manifest.vocabulary' is not the vocabulary this runtime speaks"
            )
        models = bundle.models

        def need(name: str) -> OnnxModel:
            if name not in models:
                raise BundleError(f"bundle field 'models.{name}' is missing; the stems need it")
            return OnnxModel(models[name])

        roles = {spec["role"] for spec in bundle.stems.values()}
        self.harmony = HarmonyGenerator(need("harmony")) if "harmony" in models else None
        self.sequences = {
            r: SequenceGenerator(need(r), vocab, self.steps_per_bar)
            for r in ("melody", "bass")
            if r in roles
        }
        self.drums = (
            DrumGenerator(
                need("drums_generator"),
                OnnxModel(models["drums_critic"]) if "drums_critic" in models else None,
            )
            if "drums" in roles
            else None
        )
        from ._mixer import MASTER_GAIN  # the mixer imports this module: import it late

        self.mix = mix_settings(bundle.manifest, MASTER_GAIN, sampled=bundle.samplers)
        self.instruments: dict[str, Instrument] = {
            name: make_instrument(
                spec["instrument"],
                clock.sample_rate,
                polyphony=self.mix.stems[name].polyphony,
                sampler=bundle.samplers.get(name),
            )
            for name, spec in bundle.stems.items()
        }
        self.mixbus = MixBus(
            [self.mix.stems[name] for name in self.stem_names],
            self.mix,
            clock.sample_rate,
            clock.frames_per_beat,
        )
        self.tail_frames = int(TAIL_SECONDS * clock.sample_rate)
        # rows for the longest bar the style plays, so a bar fits any tempo of the map
        self.tempos = {name: bundle.spec.tempo_for(name) for name in bundle.spec.states}
        slowest = min([clock.tempo, bundle.spec.tempo, *self.tempos.values()])
        self.bar_rows = int(math.ceil(clock.frames_per_bar * clock.tempo / slowest)) + 1
        key = bundle.key
        self.dominant = Chord(7 if key.mode == "major" else 4, "maj").index  # key-normalized
        self._contexts: dict[int, _Context] = {}
        self._overflow: dict[int, np.ndarray] = {}
        # told each bar's chord, so what follows the chord (stingers) is ready before it plays
        self.on_chord: Callable[[int, float], None] | None = None
        self.level = (
            0  # the CPU budget's level (runtime._budget): 1 unranked drums, 2 simpler voices
        )
        self._simpler: dict[str, Instrument] = {}
        self.serial = 0  # compose calls made: each bar carries its number
        self.recorder: ComposeLog | None = None  # a replay log hears every compose and forget

    @property
    def clock(self) -> MusicalClock:
        """The tempo map to compose on: the mixer's current one (``Control.clock``)."""
        shared = getattr(self.control, "clock", None)
        return shared if shared is not None else self._clock

    @clock.setter
    def clock(self, clock: MusicalClock) -> None:
        self._clock = clock

    def plan_key(self, index: int) -> PlanKey:
        """What bar ``index`` would be composed for now; a composed bar whose key differs is stale."""
        clock = self.clock
        return self.control.plan_for_bar(index), clock.bar_start(index), clock.bar_frames(index)

    def _context_before(self, index: int) -> _Context:
        earlier = [i for i in self._contexts if i < index]
        if earlier:
            return self._contexts[max(earlier)]
        return _Context(
            chords=(START_CHORD, START_CHORD),
            sequences={role: gen.initial_context() for role, gen in self.sequences.items()},
        )

    def forget_before(self, index: int) -> None:
        """Drop contexts and ring-outs of bars long played (keeps memory flat)."""
        dropped = 0
        for store in (self._contexts, self._overflow):
            for i in [i for i in store if i < index]:
                del store[i]
                dropped += 1
        if dropped and self.recorder is not None:  # which context a later bar starts from
            self.recorder.forgot(index)

    def inputs_for(self, index: int) -> BarInputs:
        """Bar ``index``'s inputs as the engine stands now."""
        control = self.control
        return BarInputs(
            index,
            control.plan_for_bar(index),
            dict(control.parameters),  # one copy: the mixer may move a value meanwhile
            control.change_for_bar(index),
            self.level,
            self.clock,  # the tempo map now: the mixer replaces it whole
        )

    def compose(self, index: int, inputs: BarInputs | None = None) -> BarAudio:
        """Compose and render bar ``index`` from ``inputs`` (default: as the engine stands)."""
        t0 = time.perf_counter()
        if inputs is None:
            inputs = self.inputs_for(index)
        clock, plan, parameters, level = inputs.clock, inputs.plan, inputs.parameters, inputs.level
        state = plan.state
        phrase_bar = plan.phrase_bar  # the models' phrase position: the entry decides it
        intensity = float(parameters.get("intensity", 0.5))
        # the state's mood moved by the mood parameters (e.g. danger), and the trained
        # state whose material it plays: what the models are conditioned on
        valence, arousal = self.spec.mood(state, parameters)
        if plan.transition_bar:  # the destination's colour with the source's energy
            arousal = self.spec.mood(plan.from_state, parameters)[1]
        trained = self.trained_as.get(state, state)
        rng = np.random.default_rng((self.seed, index))
        context = self._context_before(index)
        chord = 0
        if self.harmony is not None:
            chord = self.harmony.next_chord(
                context.chords,
                rng,
                intensity=intensity,
                valence=valence,
                state=trained,
                bar_index=phrase_bar,
            )
            if plan.transition_bar:  # ends on the dominant: the destination resolves it
                chord = self.dominant
        cond = Conditions(
            intensity=intensity,
            valence=valence,
            state=trained,
            chord=chord,
            bar_index=phrase_bar,
            arousal=arousal,
        )
        sequences: dict[str, SequenceContext] = {}
        grid_notes: dict[str, list[Note]] = {}
        for role, generator in self.sequences.items():
            grid_notes[role], sequences[role] = generator.generate_bar(
                context.sequences[role], rng, cond
            )
        grid_notes["harmony"], voicing = self._voicing(chord, intensity, valence, context.voicing)
        drum_hits = (
            self.drums.generate_bar(rng, cond, ranked=level < 1) if self.drums is not None else []
        )
        if plan.transition_bar and self.drums is not None:
            drum_hits = self._fill(drum_hits)
        self._contexts[index] = _Context(
            chords=(context.chords[1], chord), sequences=sequences, voicing=voicing
        )
        t1 = time.perf_counter()

        frames = clock.bar_frames(index)
        fps = clock.frames_per_step_at(index)
        # the longest bar of the style plus one spare row, so a bar fits any place in the map
        # (a repeated fallback bar, a bar retimed after it was composed)
        rows = max(self.bar_rows, frames + 1)
        # planar (stems, channels, frames): instruments add one contiguous row per channel
        dry = np.zeros((len(self.stem_names), 2, rows + self.tail_frames), dtype=np.float32)
        notes: dict[str, list[tuple[int, int, int, int]]] = {}
        state_gains = self.bundle.states[state]["stems"]
        for s, name in enumerate(self.stem_names):
            role = self.bundle.stems[name]["role"]
            instrument = self._simpler_voice(name) if level >= 2 else self.instruments[name]
            # a stem this state mutes is written but not sounded: its notes' ring-out and
            # effect tails would otherwise be faded in with the next state that plays it
            sounded = float(state_gains.get(name, 1.0)) > 0.0
            if role == "drums" and isinstance(instrument, DrumKit):
                hits = [DrumHit(v, int(round(pos * fps)), vel) for v, pos, vel in drum_hits]
                if sounded:
                    instrument.render_into(hits, dry[s])
                notes[name] = [
                    (DRUM_VOICES[h.voice][1], h.start_frame, int(fps), int(h.velocity * 127))
                    for h in hits
                ]
                continue
            bar_notes = grid_notes.get(role, [])
            framed = notes_to_frames(bar_notes, fps, self.transpose)
            if sounded and isinstance(instrument, PitchedInstrument):
                instrument.render_into(framed, dry[s])
            notes[name] = framed
        previous = self._overflow.get(index - 1)  # the dry ring-out of the bar before
        if previous is not None:
            ring = min(dry.shape[2], previous.shape[2])
            dry[:, :, :ring] += previous[:, :, :ring]
        self._overflow[index] = _rung_out(dry[:, :, frames:])
        # pan, effects and stem limiting, carrying the effects' tails on from the bar before
        playable = self.mixbus.process(dry[:, :, :rows], frames, index)
        if self.on_chord is not None:  # the stingers' versions for this bar's chord and tempo
            self.on_chord(chord, fps)
        t2 = time.perf_counter()
        self.serial += 1
        if self.recorder is not None:
            self.recorder.composed(self.serial, inputs)
        return BarAudio(
            index=index,
            start_frame=clock.bar_start(index),
            frames=frames,
            state=state,
            intensity=intensity,
            chord=chord,
            change=inputs.change,
            playable=playable,
            notes=notes,
            generate_ms=(t1 - t0) * 1000.0,
            render_ms=(t2 - t1) * 1000.0,
            tempo=clock.tempo_at(index),
            transition_bar=plan.transition_bar,
            phrase_bar=phrase_bar % 4,
            serial=self.serial,
        )

    def _fill(self, hits: list[tuple[int, float, float]]) -> list[tuple[int, float, float]]:
        """The bar's hits with its last beat replaced by a rising snare-and-tom fill on every
        step (the kick kept on the beat): high rhythmic activity leading into the next bar."""
        meter = self.clock.meter
        per_beat = meter.steps_per_beat
        last = meter.steps_per_bar - per_beat
        kept = [h for h in hits if h[1] < last]
        steps = [last + i * per_beat / len(FILL_VOICES) for i in range(len(FILL_VOICES))]
        fill = [
            (voice, step, 0.7 + 0.3 * i / (len(steps) - 1))
            for i, (voice, step) in enumerate(zip(FILL_VOICES, steps, strict=True))
        ]
        return kept + [(0, float(last), 0.9)] + fill

    def _simpler_voice(self, stem: str) -> Instrument:
        """The stem's synth with one oscillator voice (no unison, no sub, no partials)."""
        instrument = self.instruments[stem]
        if not isinstance(instrument, SynthInstrument):
            return instrument
        simpler = self._simpler.get(stem)
        if simpler is None:
            patch = replace(instrument.patch, unison=1, detune_cents=0.0, sub=0.0, partials=())
            simpler = SynthInstrument(
                instrument.name, patch, self.clock.sample_rate, instrument.polyphony
            )
            self._simpler[stem] = simpler
        return simpler

    def _voicing(
        self, chord: int, intensity: float, valence: float, previous: tuple[int, ...] = ()
    ) -> tuple[list[Note], tuple[int, ...]]:
        """The harmony stem's bar: the chord voiced with the least movement from
        ``previous`` in the mood's register, struck on the style's harmony rhythm for
        this intensity."""
        if self.harmony is not None:
            return self.harmony.bar_notes(chord, previous, intensity, self.steps_per_bar, valence)
        voicing = voice_chord(chord, previous, valence)
        velocity = int(56 + 40 * intensity)
        return [Note(p, 0, self.steps_per_bar, velocity) for p in voicing], voicing

    def chord_name(self, chord: int) -> str:
        """The chord's name spelled in the bundle's key (Bb and C# in D minor, not A# and Db)."""
        return spell_chord(chord, self.bundle.key)


def _rung_out(tail: np.ndarray) -> np.ndarray:
    """A copy of a bar's dry ring-out (stems, 2, frames) up to its last sounding frame: the
    tail is sized for the longest ring (a crash), and most bars ring for far less."""
    sounding = np.flatnonzero(tail.any(axis=(0, 1)))
    return tail[:, :, : int(sounding[-1]) + 1 if sounding.size else 0].copy()
