"""Mood from words: ``mood = "tense, dark, driving"`` becomes (valence, arousal).

The affect lexicon below is our own, written for game-music cue words and
licensed with the code (Apache-2.0); the published valence/arousal norms
(ANEW, NRC-VAD, Warriner et al.) restrict commercial use or redistribution,
so none of them is shipped. Each word has a valence (0 = dark / unpleasant,
1 = bright / pleasant) and an arousal (0 = calm, 1 = agitated), on the same
scale as ``states.NAME.valence`` and ``arousal`` in a style. Words are matched
after lower-casing and stripping a plural/adverb ending; "not" or "un-" before a
word mirrors its valence around 0.5. The description's mood is the mean of its
known words; unknown words are reported so a sound designer can rephrase.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["AFFECT_LEXICON", "Mood", "mood_from_text", "LEXICON_LICENSE"]

LEXICON_LICENSE = "Apache-2.0 (written by the adaptive contributors)"

# word: (valence, arousal)
AFFECT_LEXICON: dict[str, tuple[float, float]] = {
    # bright, pleasant
    "happy": (0.9, 0.6), "joyful": (0.95, 0.7), "bright": (0.85, 0.55), "cheerful": (0.9, 0.6),
    "playful": (0.85, 0.6), "hopeful": (0.8, 0.45), "triumphant": (0.9, 0.8), "heroic": (0.8, 0.75),
    "victorious": (0.9, 0.8), "warm": (0.8, 0.35), "sunny": (0.9, 0.5), "light": (0.75, 0.4),
    "sweet": (0.85, 0.3), "tender": (0.75, 0.2), "gentle": (0.75, 0.15), "peaceful": (0.8, 0.1),
    "calm": (0.7, 0.1), "serene": (0.8, 0.1), "relaxed": (0.75, 0.1), "soothing": (0.75, 0.1),
    "dreamy": (0.7, 0.2), "wonder": (0.8, 0.45), "magical": (0.8, 0.45), "majestic": (0.75, 0.55),
    "grand": (0.7, 0.6), "uplifting": (0.9, 0.6), "festive": (0.9, 0.75), "lively": (0.8, 0.75),
    "bouncy": (0.8, 0.7), "carefree": (0.85, 0.45), "romantic": (0.8, 0.35), "safe": (0.75, 0.15),
    "cozy": (0.8, 0.15), "pastoral": (0.75, 0.15), "noble": (0.7, 0.45), "proud": (0.75, 0.55),
    "adventurous": (0.75, 0.65), "curious": (0.65, 0.45), "nostalgic": (0.55, 0.25),
    # neutral or mixed
    "mysterious": (0.4, 0.4), "quiet": (0.55, 0.1), "still": (0.5, 0.05), "sparse": (0.5, 0.15),
    "ambient": (0.55, 0.15), "slow": (0.45, 0.1), "steady": (0.55, 0.4), "marching": (0.5, 0.6),
    "epic": (0.6, 0.8), "intense": (0.35, 0.85), "busy": (0.5, 0.75), "fast": (0.5, 0.8),
    "driving": (0.45, 0.85), "urgent": (0.3, 0.85), "energetic": (0.7, 0.85), "powerful": (0.55, 0.85),
    "bold": (0.6, 0.7), "wild": (0.45, 0.9), "exciting": (0.75, 0.85), "strange": (0.35, 0.45),
    # dark, unpleasant
    "sad": (0.15, 0.2), "melancholy": (0.2, 0.2), "melancholic": (0.2, 0.2), "lonely": (0.15, 0.15),
    "sorrowful": (0.1, 0.2), "mournful": (0.1, 0.15), "grief": (0.05, 0.3), "somber": (0.2, 0.2),
    "sombre": (0.2, 0.2), "gloomy": (0.15, 0.2), "bleak": (0.1, 0.15), "cold": (0.3, 0.25),
    "dark": (0.15, 0.45), "grim": (0.1, 0.5), "ominous": (0.15, 0.55), "eerie": (0.2, 0.45),
    "creepy": (0.15, 0.55), "haunting": (0.25, 0.35), "scary": (0.1, 0.75), "fearful": (0.1, 0.75),
    "afraid": (0.1, 0.7), "tense": (0.25, 0.8), "anxious": (0.2, 0.75), "nervous": (0.25, 0.7),
    "suspense": (0.25, 0.65), "suspenseful": (0.25, 0.65), "menacing": (0.1, 0.75),
    "threatening": (0.1, 0.75), "dangerous": (0.15, 0.8), "angry": (0.1, 0.9), "furious": (0.05, 0.95),
    "aggressive": (0.15, 0.9), "violent": (0.05, 0.95), "chaotic": (0.2, 0.95), "frantic": (0.2, 0.95),
    "desperate": (0.1, 0.85), "heavy": (0.25, 0.7), "brutal": (0.05, 0.9), "evil": (0.05, 0.7),
    "sinister": (0.1, 0.55), "doom": (0.05, 0.6), "tragic": (0.1, 0.45), "battle": (0.3, 0.9),
    "combat": (0.3, 0.9), "fight": (0.3, 0.9), "war": (0.1, 0.9), "boss": (0.2, 0.9),
}  # fmt: skip

_NEGATIONS = ("not", "never", "no", "without")


@dataclass(frozen=True)
class Mood:
    valence: float
    arousal: float
    known: tuple[str, ...]  # the words that were found in the lexicon
    unknown: tuple[str, ...]


def _lookup(word: str) -> tuple[float, float] | None:
    for candidate in (
        word,
        word.removesuffix("ly"),
        word.removesuffix("s"),
        word.removesuffix("y"),
    ):
        if candidate in AFFECT_LEXICON:
            return AFFECT_LEXICON[candidate]
    if word.startswith("un") and word[2:] in AFFECT_LEXICON:  # unsafe, unhappy: mirrored
        valence, arousal = AFFECT_LEXICON[word[2:]]
        return 1.0 - valence, arousal
    return None


def mood_from_text(text: str) -> Mood | None:
    """(valence, arousal) of a description, or None when no word is in the lexicon."""
    words = re.findall(r"[a-z]+", text.lower())
    values: list[tuple[float, float]] = []
    known: list[str] = []
    unknown: list[str] = []
    negate = False
    for word in words:
        if word in _NEGATIONS:
            negate = True
            continue
        found = _lookup(word)
        if found is None:
            if word not in ("and", "but", "a", "the", "very", "quite", "slightly", "with"):
                unknown.append(word)
            continue
        valence, arousal = found
        if negate:
            valence, negate = 1.0 - valence, False
        values.append((valence, arousal))
        known.append(word)
    if not values:
        return None
    return Mood(
        valence=round(sum(v for v, _ in values) / len(values), 4),
        arousal=round(sum(a for _, a in values) / len(values), 4),
        known=tuple(known),
        unknown=tuple(unknown),
    )
