"""Stingers follow the chord: moved to its root, with its third, rendered before they play."""

from __future__ import annotations

import numpy as np
import pytest

import adaptive
from adaptive._music import CHORDS, Chord, Key
from runtime import MusicEngine
from runtime._clock import MusicalClock
from runtime._stingers import (
    AS_WRITTEN,
    StingerPhrase,
    StingerSettings,
    StingerVoices,
    fit_to_chord,
)
from runtime._timeline import Timeline, render_timeline

D_MINOR = Key.parse("D minor")
PICKUP = [12, 15, 19, 24]  # D F A D over the home chord of D minor


def chord_index(key: Key, name: str) -> int:
    """The key-normalized index of a chord named in ``key``'s own pitch classes."""
    root, quality = name.rstrip("m"), "min" if name.endswith("m") else "maj"
    pc = Key.parse(f"{root} major").tonic
    return Chord((pc + key.normalization_shift) % 12, quality).index


def pitch_classes(semitones: list[int], key: Key) -> set[int]:
    return {(key.tonic + s) % 12 for s in semitones}


@pytest.mark.parametrize(
    ("chord", "expected"),
    [
        ("Dm", {2, 5, 9}),  # the home chord: as written
        ("A", {9, 1, 4}),  # the dominant: its third raised to C#
        ("Bb", {10, 2, 5}),
        ("F", {5, 9, 0}),
        ("Gm", {7, 10, 2}),
        ("C", {0, 4, 7}),
    ],
)
def test_a_phrase_on_the_home_chord_moves_onto_each_chord(chord: str, expected: set[int]) -> None:
    fitted = fit_to_chord(PICKUP, D_MINOR, chord_index(D_MINOR, chord))
    assert pitch_classes(fitted, D_MINOR) == expected
    assert fitted[1] - fitted[0] in (3, 4) and fitted[3] - fitted[0] == 12  # its shape kept
    assert abs(fitted[0] - PICKUP[0]) <= 6  # moved the nearer way


def test_a_major_key_turns_its_major_third_minor_on_a_minor_chord() -> None:
    c_major = Key.parse("C major")
    fitted = fit_to_chord([0, 4, 7], c_major, chord_index(c_major, "Am"))
    assert pitch_classes(fitted, c_major) == {9, 0, 4}


def test_no_chord_yet_leaves_the_phrase_as_written() -> None:
    assert fit_to_chord(PICKUP, D_MINOR, len(CHORDS)) == PICKUP
    assert fit_to_chord(PICKUP, D_MINOR, AS_WRITTEN) == PICKUP


def _pickup() -> tuple[StingerPhrase, StingerSettings, StingerVoices]:
    """A two-note pickup that follows the chord, in a pool of its own."""
    clock = MusicalClock(48000, 120.0, adaptive.Meter(4, 4))
    spec = {"instrument": "pluck", "notes": [[0, 12, 1, 90], [1, 15, 1, 96]]}
    phrase = StingerPhrase("pickup", spec, D_MINOR, clock)
    settings = StingerSettings(phrase.render(), 1.0, "immediate", 0, 4, phrase)
    return phrase, settings, StingerVoices({"pickup": settings})


def test_a_voice_takes_the_version_for_the_chord_playing_where_it_starts() -> None:
    _, settings, voices = _pickup()
    dominant, relative = chord_index(D_MINOR, "A"), chord_index(D_MINOR, "F")
    voices.prepare(dominant)
    voices.prepare(relative)
    step = round(settings.phrase.frames_per_step, 3)
    assert set(settings.fitted) == {(dominant, step), (relative, step)}
    scratch = np.zeros((512, 2), np.float32)
    started: list[int] = []

    def play(start: int, chords: tuple[int, int, int]) -> np.ndarray:
        out = np.zeros((512, 2), np.float32)
        voices.start("pickup", start, start, 0, 0)
        voices.mix(out, 0, scratch, 1.0, lambda v: started.append(v.chord), chords)
        for voice in voices.voices:
            voice.active = False
        voices._last_start["pickup"] = -(1 << 62)
        return out

    # a bar line at frame 256: before it the dominant plays, from it the relative major
    before = play(100, (256, dominant, relative))
    after = play(300, (256, dominant, relative))
    assert started == [dominant, relative]
    np.testing.assert_array_equal(before[100:], settings.fitted[dominant, step][:412])
    np.testing.assert_array_equal(after[300:], settings.fitted[relative, step][:212])
    assert not np.array_equal(settings.fitted[dominant, step], settings.fitted[relative, step])
    # a chord not rendered yet: the phrase as written, never silence
    unprepared = play(0, (0, AS_WRITTEN, chord_index(D_MINOR, "Gm")))
    assert started[-1] == AS_WRITTEN
    np.testing.assert_array_equal(unprepared, settings.audio[:512])


def test_a_stinger_plays_at_the_tempo_of_the_bar_it_lands_in() -> None:
    """Its rhythm is in steps: in a bar at 150 bpm its second note comes 120/150 as soon
    as at the 120 bpm the music started in; as written, it is only retimed."""
    slow = MusicalClock(48000, 120.0, adaptive.Meter(4, 4))
    fast = MusicalClock(48000, 150.0, adaptive.Meter(4, 4))
    spec = {"instrument": "pluck", "notes": [[0, 12, 1, 90], [4, 12, 1, 90]]}
    phrase = StingerPhrase("pickup", spec, D_MINOR, slow)
    settings = StingerSettings(phrase.render(), 1.0, "immediate", 0, 4, phrase, key_aware=False)
    voices = StingerVoices({"pickup": settings})
    voices.prepare(chord_index(D_MINOR, "A"), fast.frames_per_step)
    (key,) = settings.fitted
    assert key == (AS_WRITTEN, round(fast.frames_per_step, 3))  # not moved onto the chord

    def onset_of_second_note(audio: np.ndarray, step_frames: float) -> int:
        # the first frame after the first note's step where the level jumps
        level = np.abs(audio[:, 0])
        search = int(3 * step_frames)
        return search + int(np.argmax(level[search:] > 0.2 * level.max()))

    slow_audio, fast_audio = settings.audio, settings.fitted[key]
    slow_onset = onset_of_second_note(slow_audio, slow.frames_per_step)
    fast_onset = onset_of_second_note(fast_audio, fast.frames_per_step)
    assert abs(slow_onset - 4 * slow.frames_per_step) < 64
    assert abs(fast_onset - 4 * fast.frames_per_step) < 64

    out = np.zeros((4096, 2), np.float32)
    scratch = np.zeros((4096, 2), np.float32)
    voices.start("pickup", 0, 0, 0, 0)
    voices.mix(out, 0, scratch, 1.0, lambda v: None, (0, AS_WRITTEN, AS_WRITTEN), fast)
    np.testing.assert_array_equal(out, fast_audio[:4096])


def test_each_stinger_in_a_render_is_fitted_to_the_bar_it_lands_in(
    default_bundle: adaptive.Bundle,
) -> None:
    engine = MusicEngine(default_bundle, output="offline", seed=5)
    bar = engine.timing.frames_per_bar / engine.sample_rate
    names = list(default_bundle.stingers)
    events = [{"time": (1.3 + 1.1 * i) * bar, "stinger": names[i % len(names)]} for i in range(8)]
    render_timeline(engine, Timeline.from_dict({"duration": 11 * bar, "events": events}))
    report = engine.report()
    chords = {b["index"]: b["chords"][0] for b in report["bars"]}
    fitted = [s for s in report["stingers"] if s["chord"] is not None]
    assert len(report["stingers"]) == 8
    assert fitted, "no stinger followed the chord"
    for stinger in fitted:
        assert stinger["chord"] == chords[stinger["bar"]], stinger
    assert len({s["chord"] for s in fitted}) > 1, "every stinger landed on the same chord"


def test_a_live_session_keeps_the_recent_chords_fitted_and_frees_the_rest_later(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from runtime import _stingers

    phrase, settings, voices = _pickup()
    kept = _stingers.FITTED_CHORDS_KEPT
    first = phrase.render(0)
    for chord in range(kept + 3):
        voices.prepare(chord)
    step = round(phrase.frames_per_step, 3)
    assert list(settings.fitted) == [(c, step) for c in range(3, kept + 3)]  # the most recent
    assert len(voices._evicted) == 3  # not freed yet: a voice may still play them
    voices.prepare(5)  # a chord kept: nothing rendered, nothing evicted
    assert len(settings.fitted) == kept and len(voices._evicted) == 3
    voices.prepare(0)  # an evicted chord comes back: fitted again, the same audio
    np.testing.assert_array_equal(settings.fitted[0, step], first)
    monkeypatch.setattr(_stingers, "EVICTED_KEPT_SECONDS", 0.0)  # as if seconds had passed
    voices.prepare(0)
    assert not voices._evicted  # freed by the composer's thread, seconds later
