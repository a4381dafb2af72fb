"""SEE sequence names: the emotion and lighting vocabularies, their spellings, and the name schema.

A SEE sequence (folder) name is ``[seq]_[subject]_[sex]_[age]_[degree]_[lighting]_[emotion]_[length]_[take]``,
e.g. ``1_001_man_24_Master_normal_angry_45_take000``. Subject and lighting are parsed from it; DSEE's
converted sequences may lack those tokens, so the token positions live in a configurable
[`NameSchema`][ttfsnet_nas.emotion.names.NameSchema].

This module holds the vocabularies ([`EMOTIONS`][ttfsnet_nas.emotion.names.EMOTIONS],
[`LIGHTINGS`][ttfsnet_nas.emotion.names.LIGHTINGS], the table orders and abbreviations), the spelling
normalisers ([`canonical_emotion`][ttfsnet_nas.emotion.names.canonical_emotion],
[`canonical_lighting`][ttfsnet_nas.emotion.names.canonical_lighting]), the schema and parser
([`NameSchema`][ttfsnet_nas.emotion.names.NameSchema], [`ParsedName`][ttfsnet_nas.emotion.names.ParsedName],
[`SEE_SCHEMA`][ttfsnet_nas.emotion.names.SEE_SCHEMA]) and the inverse,
[`format_see_name`][ttfsnet_nas.emotion.names.format_see_name]. It reads no file; the loader is
[`ttfsnet_nas.emotion.see`][ttfsnet_nas.emotion.see], which re-exports every name here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

__all__ = [
    "EMOTIONS",
    "EMOTION_ABBREV",
    "LIGHTINGS",
    "LIGHTING_ABBREV",
    "PAPER_EMOTION_ORDER",
    "SEE_SCHEMA",
    "NameSchema",
    "ParsedName",
    "canonical_emotion",
    "canonical_lighting",
    "format_see_name",
]

#: Class names in the alphabetical order of the released ``labels`` list (ids 0…6).
EMOTIONS: tuple[str, ...] = ("angry", "disgust", "fear", "happiness", "neutral", "sadness", "surprise")
#: Column order of the SEEN / TNAS-ER result tables (Ha Sa An Di Su Fe Ne).
PAPER_EMOTION_ORDER: tuple[str, ...] = (
    "happiness",
    "sadness",
    "angry",
    "disgust",
    "surprise",
    "fear",
    "neutral",
)
EMOTION_ABBREV: dict[str, str] = {
    "happiness": "Ha",
    "sadness": "Sa",
    "angry": "An",
    "disgust": "Di",
    "surprise": "Su",
    "fear": "Fe",
    "neutral": "Ne",
}
#: Lighting tokens exactly as they appear in SEE sequence names (table column order Nor Over Low HDR).
LIGHTINGS: tuple[str, ...] = ("normal", "Overexposed", "Low", "HDR")
LIGHTING_ABBREV: dict[str, str] = {"normal": "Nor", "Overexposed": "Over", "Low": "Low", "HDR": "HDR"}

# Spellings seen in papers, docs and third-party code, all mapped to the released folder names.
_EMOTION_ALIASES: dict[str, str] = {
    **{e: e for e in EMOTIONS},
    "anger": "angry",
    "happy": "happiness",
    "sad": "sadness",
    "surprised": "surprise",
    "disgusted": "disgust",
    "fearful": "fear",
}
_LIGHTING_ALIASES: dict[str, str] = {
    "normal": "normal",
    "nor": "normal",
    "overexposed": "Overexposed",
    "overexposure": "Overexposed",
    "over": "Overexposed",
    "low": "Low",
    "low-light": "Low",
    "lowlight": "Low",
    "hdr": "HDR",
}


def canonical_emotion(name: str) -> str:
    """Map an emotion spelling (any case, e.g. ``neutraL``, ``Happy``) to its released folder name.

    Raises:
        ValueError: if the name is not one of the 7 SEE emotions.
    """
    key = name.strip().lower()
    if key not in _EMOTION_ALIASES:
        raise ValueError(f"unknown emotion {name!r}: expected one of {', '.join(EMOTIONS)}")
    return _EMOTION_ALIASES[key]


def canonical_lighting(name: str) -> str:
    """Map a lighting spelling (any case) to its SEE name token (normal, Overexposed, Low, HDR).

    Raises:
        ValueError: if the name is not one of the 4 SEE lighting conditions.
    """
    key = name.strip().lower()
    if key not in _LIGHTING_ALIASES:
        raise ValueError(f"unknown lighting {name!r}: expected one of {', '.join(LIGHTINGS)}")
    return _LIGHTING_ALIASES[key]


@dataclass(frozen=True, kw_only=True, slots=True)
class NameSchema:
    """Positions of the fields in a ``_``-separated sequence name; ``None`` = the name has no such token.

    Attributes:
        subject: token index of the subject id (SEE: 1).
        lighting: token index of the lighting condition (SEE: 5).
        emotion: token index of the emotion (SEE: 6). ``None`` takes the emotion from the JSON label only.
        min_tokens: a name with fewer tokens does not follow the schema: an error, or with ``lenient`` all
            fields ``None``.
        separator: token separator.
        lenient: a name with too few tokens, or with an unrecognised lighting/emotion token, gives ``None``
            fields instead of an error (DSEE names converted from other datasets need not follow SEE's
            pattern).
    """

    subject: int | None = 1
    lighting: int | None = 5
    emotion: int | None = 6
    min_tokens: int = 9
    separator: str = "_"
    lenient: bool = False

    def __post_init__(self) -> None:
        for key in ("subject", "lighting", "emotion"):
            value = getattr(self, key)
            if value is not None and value < 0:
                raise ValueError(f"NameSchema.{key}: expected a token index >= 0 or None, got {value}")
        if not self.separator:
            raise ValueError("NameSchema.separator: expected a non-empty string")

    def parse(self, name: str) -> ParsedName:
        """Parse a sequence name; fields the schema or the name lacks are ``None``.

        Raises:
            ValueError: unless ``lenient``, if the name has fewer than ``min_tokens`` tokens or its
                lighting/emotion token is not recognised.
        """
        tokens = name.split(self.separator)
        if len(tokens) < self.min_tokens:
            if self.lenient:
                return ParsedName(subject=None, lighting=None, emotion=None)
            raise ValueError(
                f"sequence name {name!r}: expected at least {self.min_tokens} tokens separated by "
                f"{self.separator!r}, got {len(tokens)}"
            )

        def token(index: int | None) -> str | None:
            return tokens[index] if index is not None and index < len(tokens) else None

        def parsed(value: str | None, canon: Callable[[str], str]) -> str | None:
            if value is None:
                return None
            try:
                return canon(value)
            except ValueError as exc:
                if self.lenient:
                    return None
                raise ValueError(f"sequence name {name!r}: {exc}") from None

        return ParsedName(
            subject=token(self.subject),
            lighting=parsed(token(self.lighting), canonical_lighting),
            emotion=parsed(token(self.emotion), canonical_emotion),
        )


@dataclass(frozen=True, slots=True)
class ParsedName:
    """Fields parsed from a sequence name (``None`` when absent)."""

    subject: str | None
    lighting: str | None
    emotion: str | None


SEE_SCHEMA = NameSchema()


def format_see_name(
    *,
    seq: int,
    subject: int,
    sex: str,
    age: int,
    degree: str,
    lighting: str,
    emotion: str,
    length: int,
    take: int,
) -> str:
    """Build a SEE sequence name, e.g. ``1_001_man_24_Master_normal_angry_45_take000``."""
    return (
        f"{seq}_{subject:03d}_{sex}_{age}_{degree}_{canonical_lighting(lighting)}_"
        f"{canonical_emotion(emotion)}_{length}_take{take:03d}"
    )
