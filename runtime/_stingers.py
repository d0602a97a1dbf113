"""Stingers: short phrases laid over the music, quantized to the beat, fitted to the chord.

A stinger is written over the home chord of the bundle's key. ``StingerPhrase``
renders it, off the audio thread, as written and moved onto any chord: to the
chord's root, with its third made the chord's (so the pickup arpeggio in D minor
plays A C# E A over the A major dominant). The composer asks for the fitted
versions of each chord it writes (``StingerVoices.prepare``), a bar or more
before that bar plays. ``StingerVoices`` is the mixer's fixed pool of playing
stingers: a trigger takes a free slot (or is dropped when all are busy), so a
game that fires a stinger on every bullet costs the callback a bounded amount of
work; when a voice starts, it takes the version for the chord playing then.

A stinger's rhythm is written in steps, so it follows the tempo of the bar it
lands in: each version is rendered for a chord and a bar length (a state with
its own tempo, or a bar of a tempo ramp), and keyed by both. A voice whose
version is not ready plays the stinger as written at the tempo the music
started in.
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from adaptive._bundle import Bundle
from adaptive._errors import BundleError
from adaptive._music import CHORDS, Key

from ._clock import MusicalClock
from ._instruments import PitchedInstrument, make_instrument

__all__ = [
    "StingerVoices",
    "StingerSettings",
    "StingerPhrase",
    "fit_to_chord",
    "stinger_settings",
    "MAX_STINGER_VOICES",
    "AS_WRITTEN",
]

MAX_STINGER_VOICES = 8  # playing at once, over all stingers
STINGER_TAIL_SECONDS = 0.6
STINGER_NOTE_CACHE_BYTES = 512 * 1024
# chords each stinger keeps fitted (live): 24 chords of three stingers would hold 60 MB;
# the chord playing was prepared at most the look-ahead (8 bars) plus two bars ago
FITTED_CHORDS_KEPT = 10
# an evicted fitting is dropped this long after, by the composer's thread: by then no
# voice still plays it (a stinger lasts a few seconds), so the mixer never frees its audio
EVICTED_KEPT_SECONDS = 8.0
AS_WRITTEN = -1  # the chord slot of a stinger played as written, over the home chord


def fit_to_chord(semitones: Sequence[int], key: Key, chord: int) -> list[int]:
    """Semitones above the tonic, written over the home chord, moved onto ``chord``
    (a key-normalized index into CHORDS): by the chord root's interval from the
    tonic (the nearer way), and with the home third turned into the chord's third."""
    if not 0 <= chord < len(CHORDS):
        return list(semitones)
    target = CHORDS[chord]
    root = (target.root - key.normalization_shift - key.tonic) % 12
    shift = root - 12 if root > 6 else root
    home_third = 3 if key.mode == "minor" else 4
    third = 4 if target.quality == "maj" else 3
    return [s + shift + (third - home_third if s % 12 == home_third else 0) for s in semitones]


class StingerPhrase:
    """One stinger's notes and voice: renders its audio as written or fitted to a chord."""

    def __init__(self, name: str, spec: Mapping, key: Key, clock: MusicalClock) -> None:  # type: ignore[type-arg]
        try:
            instrument = make_instrument(spec["instrument"], clock.sample_rate)
        except ValueError as exc:
            raise BundleError(
                f"bundle field 'manifest.stingers.{name}.instrument': {exc}"
            ) from None
        if not isinstance(instrument, PitchedInstrument):
            instrument = make_instrument("lead", clock.sample_rate)
        assert isinstance(instrument, PitchedInstrument)
        # each rendering is kept whole (as written, and per chord): its notes need no cache
        instrument.cache.max_bytes = STINGER_NOTE_CACHE_BYTES
        self.instrument = instrument
        self.key = key
        self.tonic = 60 + key.tonic - (12 if key.tonic > 6 else 0)
        self.frames_per_step = clock.frames_per_step  # the tempo the music starts in
        self.semitones = [int(semis) for _, semis, _, _ in spec["notes"]]
        self.steps = [(step, steps, vel) for step, _, steps, vel in spec["notes"]]
        self.tail = int(STINGER_TAIL_SECONDS * clock.sample_rate)

    def render(self, chord: int = AS_WRITTEN, frames_per_step: float | None = None) -> np.ndarray:
        """(frames, 2) float32, at ``frames_per_step`` (None: the tempo the music starts in)."""
        fps = self.frames_per_step if frames_per_step is None else frames_per_step
        pitches = fit_to_chord(self.semitones, self.key, chord)
        notes = [
            (min(127, max(0, self.tonic + p)), int(round(step * fps)), int(round(steps * fps)), vel)
            for p, (step, steps, vel) in zip(pitches, self.steps, strict=True)
        ]
        length = max(start + frames for _, start, frames, _ in notes)
        audio = np.zeros((length + self.tail, 2), np.float32)
        self.instrument.render(notes, audio)
        # kept whole (as written and per chord): without the silence past the last release
        sounding = np.flatnonzero(audio.any(axis=1))
        return audio[: int(sounding[-1]) + 1 if sounding.size else 1].copy()


def stinger_settings(bundle: Bundle, clock: MusicalClock) -> dict[str, StingerSettings]:
    """Each stinger's audio as written and its rules, from the bundle's typed manifest."""
    out = {}
    for name, spec in bundle.spec.stingers.items():
        phrase = StingerPhrase(name, bundle.stingers[name], bundle.key, clock)
        out[name] = StingerSettings(
            phrase.render(),
            spec.gain,
            spec.sync,
            int(spec.cooldown * clock.sample_rate),
            spec.max_voices,
            phrase,
            spec.key_aware,
        )
    return out


@dataclass(slots=True)
class StingerVoice:
    """One slot of the pool; ``active`` False means free."""

    active: bool = False
    announced: bool = False  # its "stinger" event has been sent
    name: str = ""
    audio: np.ndarray | None = None
    gain: float = 0.0
    start_frame: int = 0
    requested_frame: int = 0
    bar: int = 0
    beat: int = 0
    chord: int = AS_WRITTEN  # the chord its audio was fitted to


@dataclass(frozen=True, slots=True)
class StingerSettings:
    """How one stinger plays: its audio and the style's rules for it."""

    audio: np.ndarray  # (frames, 2) float32, as written
    gain: float = 0.8
    sync: str = "beat"  # "immediate", "beat" or "bar"
    cooldown_frames: int = 0
    max_voices: int = 4
    phrase: StingerPhrase | None = None  # None: ``audio`` is all it plays
    key_aware: bool = True  # moved onto the chord playing (else only retimed)
    # (chord, frames per step) -> its audio; filled by the composer's thread, read by the mixer's
    fitted: dict[tuple[int, float], np.ndarray] = field(default_factory=dict)

    def version(self, chord: int, frames_per_step: float) -> tuple[int, float]:
        """The key of the version for a bar with this chord and this step length."""
        return (chord if self.key_aware else AS_WRITTEN, round(frames_per_step, 3))


class StingerVoices:
    """The mixer's stinger pool. Used only on the mixer's thread."""

    def __init__(
        self, stingers: Mapping[str, StingerSettings], slots: int = MAX_STINGER_VOICES
    ) -> None:
        self.stingers = dict(stingers)
        self.voices = [StingerVoice() for _ in range(slots)]
        self._last_start: dict[str, int] = {name: -(1 << 62) for name in stingers}
        self.dropped = 0  # triggers ignored by the cooldown or the voice caps
        self.fit_on_demand = False  # offline only: render a starting stinger's version right then
        # the composer's own: each stinger's versions by recency, and the evicted ones with
        # the time they were evicted
        self._recent: dict[str, OrderedDict[tuple[int, float], None]] = {
            name: OrderedDict() for name in stingers
        }
        self._evicted: deque[tuple[float, np.ndarray]] = deque()

    def trigger(self, name: str, frame: int, clock: MusicalClock) -> None:
        """Schedule ``name`` on its quantization boundary at or after ``frame``: the beats
        of the bar it lands in, at that bar's tempo in the map."""
        settings = self.stingers[name]
        if settings.sync == "immediate":
            start, bar = frame, clock.bar_at(frame)
            beat = int((frame - clock.bar_start(bar)) // clock.frames_per_beat_at(bar))
        elif settings.sync == "bar":
            bar = clock.bar_at(frame)
            if clock.bar_start(bar) < frame:
                bar += 1
            start, beat = clock.bar_start(bar), 0
        else:
            start, bar, beat = clock.next_beat(frame)
        self.start(name, start, frame, bar, beat)

    def start(self, name: str, start_frame: int, requested_frame: int, bar: int, beat: int) -> None:
        settings = self.stingers[name]
        if start_frame - self._last_start[name] < settings.cooldown_frames:
            self.dropped += 1
            return
        playing, slot = 0, None
        for voice in self.voices:
            if not voice.active:
                slot = slot or voice
            elif voice.name == name:
                playing += 1
        if slot is None or playing >= settings.max_voices:
            self.dropped += 1  # cutting a playing one short would click
            return
        self._last_start[name] = start_frame
        slot.active, slot.announced = True, False
        slot.name, slot.audio, slot.gain = name, settings.audio, settings.gain
        slot.chord = AS_WRITTEN
        slot.start_frame, slot.requested_frame = start_frame, requested_frame
        slot.bar, slot.beat = bar, beat

    def prepare(self, chord: int, frames_per_step: float | None = None) -> None:
        """Render every stinger's version for a bar with ``chord`` and ``frames_per_step``
        (None: the starting tempo), if not yet done. The composer's thread calls it for
        each bar it writes, before the bar plays.

        Each stinger keeps its ``FITTED_CHORDS_KEPT`` most recent versions; an older one
        leaves the table (the next bar that needs it renders it again, before it plays)
        and is freed here ``EVICTED_KEPT_SECONDS`` later, never by the mixer."""
        now = time.monotonic()
        for name, settings in self.stingers.items():
            phrase = settings.phrase
            if phrase is None:
                continue
            fps = phrase.frames_per_step if frames_per_step is None else frames_per_step
            key = settings.version(chord, fps)
            recent = self._recent[name]
            if key in settings.fitted:
                recent[key] = None
                recent.move_to_end(key)
                continue
            settings.fitted[key] = phrase.render(key[0], fps)
            recent[key] = None
            while len(recent) > FITTED_CHORDS_KEPT:
                oldest, _ = recent.popitem(last=False)
                self._evicted.append((now, settings.fitted.pop(oldest)))
        while self._evicted and self._evicted[0][0] <= now - EVICTED_KEPT_SECONDS:
            self._evicted.popleft()

    def mix(
        self,
        out: np.ndarray,
        frame: int,
        scratch: np.ndarray,
        master: float,
        on_start: Callable[[StingerVoice], None],
        chords: tuple[int, int, int] = (0, AS_WRITTEN, AS_WRITTEN),
        clock: MusicalClock | None = None,
    ) -> None:
        """Add the active voices' audio for ``out``'s frames; ``on_start`` hears each new one.

        ``chords``: (the frame where the bar playing at the block's end starts, the chord
        before that frame, the chord from it on), for the voices that start here;
        ``clock``: the tempo map, for the step length of the bar each one lands in."""
        end = frame + out.shape[0]
        for voice in self.voices:
            if not voice.active or voice.start_frame >= end:
                continue
            if not voice.announced:
                voice.announced = True
                chord = chords[2] if voice.start_frame >= chords[0] else chords[1]
                settings = self.stingers[voice.name]
                phrase = settings.phrase
                if phrase is not None:
                    fps = phrase.frames_per_step
                    if clock is not None:
                        fps = clock.frames_per_step_at(voice.bar)
                    key = settings.version(chord, fps)
                    fitted = settings.fitted.get(key)
                    if fitted is None and self.fit_on_demand:
                        fitted = settings.fitted[key] = phrase.render(key[0], fps)
                    if fitted is not None:  # else as written, at the starting tempo
                        voice.audio, voice.chord = fitted, key[0]
                on_start(voice)
            audio = voice.audio
            assert audio is not None
            a = max(frame, voice.start_frame)
            b = min(end, voice.start_frame + audio.shape[0])
            if b > a:
                chunk = scratch[: b - a]
                part = audio[a - voice.start_frame : b - voice.start_frame]
                np.multiply(part, voice.gain * master, out=chunk)
                out[a - frame : b - frame] += chunk
            if voice.start_frame + audio.shape[0] <= end:
                voice.active, voice.audio = False, None
