"""The composer: plans one bar for every stem with the models, then renders it.

Each bar's randomness comes from its own generator seeded by (seed, bar index),
so a bar sounds the same however the threads were scheduled; and each bar's
model context (chord history, recurrent state) is kept, so a bar can be
composed again with a new state without disturbing the bars before it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np
import numpy.random  # noqa: F401  (numpy loads it on first use: in the first bar, 6 ms)

from adaptive._bundle import Bundle
from adaptive._errors import BundleError
from adaptive._music import DRUM_VOICES, START_CHORD, Note
from adaptive._tokens import Vocabulary

from ._bar import BarAudio
from ._clock import MusicalClock
from ._control import Control
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


@dataclass
class _Context:
    chords: tuple[int, int]
    sequences: dict[str, SequenceContext] = field(default_factory=dict)
    voicing: tuple[int, ...] = ()  # the harmony stem's last chord voicing (key-normalized)


class Composer:
    def __init__(self, bundle: Bundle, clock: MusicalClock, control: Control, seed: int) -> None:
        self.bundle = bundle
        self.clock = clock
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
        self._contexts: dict[int, _Context] = {}
        self._overflow: dict[int, np.ndarray] = {}
        # told each bar's chord, so what follows the chord (stingers) is ready before it plays
        self.on_chord: Callable[[int], None] | None = None
        self.level = (
            0  # the CPU budget's level (runtime._budget): 1 unranked drums, 2 simpler voices
        )
        self._simpler: dict[str, Instrument] = {}

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
        for store in (self._contexts, self._overflow):
            for i in [i for i in store if i < index]:
                del store[i]

    def compose(self, index: int) -> BarAudio:
        t0 = time.perf_counter()
        control = self.control
        state = control.state_for_bar(index)
        intensity = float(control.parameters.get("intensity", 0.5))
        # the state's mood moved by the mood parameters (e.g. danger), and the trained
        # state whose material it plays: what the models are conditioned on
        valence, arousal = self.spec.mood(state, control.parameters)
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
                bar_index=index,
            )
        cond = Conditions(
            intensity=intensity,
            valence=valence,
            state=trained,
            chord=chord,
            bar_index=index,
            arousal=arousal,
        )
        sequences: dict[str, SequenceContext] = {}
        grid_notes: dict[str, list[Note]] = {}
        for role, generator in self.sequences.items():
            grid_notes[role], sequences[role] = generator.generate_bar(
                context.sequences[role], rng, cond
            )
        grid_notes["harmony"], voicing = self._voicing(chord, intensity, context.voicing)
        drum_hits = (
            self.drums.generate_bar(rng, cond, ranked=self.level < 1)
            if self.drums is not None
            else []
        )
        self._contexts[index] = _Context(
            chords=(context.chords[1], chord), sequences=sequences, voicing=voicing
        )
        t1 = time.perf_counter()

        frames = self.clock.bar_frames(index)
        fps = self.clock.frames_per_step
        # one spare row so a repeated (fallback) bar fits a bar one frame longer
        rows = int(math.ceil(self.clock.frames_per_bar)) + 1
        # planar (stems, channels, frames): instruments add one contiguous row per channel
        dry = np.zeros((len(self.stem_names), 2, rows + self.tail_frames), dtype=np.float32)
        notes: dict[str, list[tuple[int, int, int, int]]] = {}
        for s, name in enumerate(self.stem_names):
            role = self.bundle.stems[name]["role"]
            instrument = self._simpler_voice(name) if self.level >= 2 else self.instruments[name]
            if role == "drums" and isinstance(instrument, DrumKit):
                hits = [DrumHit(v, int(round(pos * fps)), vel) for v, pos, vel in drum_hits]
                instrument.render_into(hits, dry[s])
                notes[name] = [
                    (DRUM_VOICES[h.voice][1], h.start_frame, int(fps), int(h.velocity * 127))
                    for h in hits
                ]
                continue
            bar_notes = grid_notes.get(role, [])
            framed = notes_to_frames(bar_notes, fps, self.transpose)
            if isinstance(instrument, PitchedInstrument):
                instrument.render_into(framed, dry[s])
            notes[name] = framed
        previous = self._overflow.get(index - 1)  # the dry ring-out of the bar before
        if previous is not None:
            ring = min(dry.shape[2], previous.shape[2])
            dry[:, :, :ring] += previous[:, :, :ring]
        self._overflow[index] = _rung_out(dry[:, :, frames:])
        # pan, effects and stem limiting, carrying the effects' tails on from the bar before
        playable = self.mixbus.process(dry[:, :, :rows], frames, index)
        if self.on_chord is not None and self.harmony is not None:
            self.on_chord(chord)
        t2 = time.perf_counter()
        return BarAudio(
            index=index,
            start_frame=self.clock.bar_start(index),
            frames=frames,
            state=state,
            intensity=intensity,
            chord=chord,
            change=control.change_for_bar(index),
            playable=playable,
            notes=notes,
            generate_ms=(t1 - t0) * 1000.0,
            render_ms=(t2 - t1) * 1000.0,
        )

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
        self, chord: int, intensity: float, previous: tuple[int, ...] = ()
    ) -> tuple[list[Note], tuple[int, ...]]:
        """The harmony stem's bar: the chord voiced with the least movement from
        ``previous``, struck on the style's harmony rhythm for this intensity."""
        if self.harmony is not None:
            return self.harmony.bar_notes(chord, previous, intensity, self.steps_per_bar)
        voicing = voice_chord(chord, previous)
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
