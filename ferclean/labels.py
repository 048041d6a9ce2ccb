"""Canonical split and class names, and the aliases datasets use for them."""

from __future__ import annotations

from collections.abc import Iterable

from ferclean.errors import FercleanError

SPLITS: tuple[str, ...] = ("train", "val", "test")

SPLIT_ALIASES: dict[str, str] = {
    "train": "train",
    "training": "train",
    "val": "val",
    "valid": "val",
    "validation": "val",
    "dev": "val",
    "publictest": "val",
    "test": "test",
    "testing": "test",
    "privatetest": "test",
}

#: FER2013's seven classes in its own index order, then AffectNet's extra one.
CLASSES: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral", "contempt")

CLASS_ALIASES: dict[str, str] = {
    "angry": "angry",
    "anger": "angry",
    "disgust": "disgust",
    "disgusted": "disgust",
    "fear": "fear",
    "fearful": "fear",
    "happy": "happy",
    "happiness": "happy",
    "sad": "sad",
    "sadness": "sad",
    "surprise": "surprise",
    "surprised": "surprise",
    "neutral": "neutral",
    "contempt": "contempt",
}


def normalise_split(name: str) -> str | None:
    """Canonical split for a folder name (``PublicTest`` -> ``val``), or None if it is not one."""
    return SPLIT_ALIASES.get(name.strip().lower())


def normalise_class(name: str, extra: Iterable[str] = ()) -> str | None:
    """Canonical class for a folder name (``Happiness`` -> ``happy``), or None if unknown.

    ``extra`` lists further class names the user declared with ``--classes``; they are
    accepted as themselves, lower-cased.
    """
    key = name.strip().lower()
    if key in CLASS_ALIASES:
        return CLASS_ALIASES[key]
    if key in {e.strip().lower() for e in extra}:
        return key
    return None


def parse_class_list(text: str | None) -> list[str]:
    """Split a ``--classes a,b,c`` option into lower-case names, rejecting empty items."""
    if not text:
        return []
    names = [part.strip().lower() for part in text.split(",")]
    if any(not n for n in names):
        raise FercleanError(f"--classes has an empty name in {text!r}; give a comma-separated list.")
    return names


def class_order(labels: Iterable[str]) -> list[str]:
    """Stable display/training order: known classes in FER order, then others alphabetically."""
    present = set(labels)
    known = [c for c in CLASSES if c in present]
    return known + sorted(present - set(known))


def canonical_split(name: str, parameter: str = "split") -> str:
    """The canonical split for any of its spellings (``PrivateTest`` -> ``test``); an unknown
    name is an error that names ``parameter``."""
    split = normalise_split(name)
    if split is None:
        raise FercleanError(f"{parameter} {name!r} is not a split name; use one of {', '.join(SPLITS)}.")
    return split
