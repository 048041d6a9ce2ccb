"""Canonical split and class names, the aliases datasets use for them, and the soft-label format."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

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


#: Manifest column holding a row's class distribution (``ferclean clean`` writes the probe's).
SOFT_LABEL = "soft_label"


def format_soft_labels(probs: np.ndarray, classes: Sequence[str], digits: int = 3) -> list[str]:
    """Each row of ``probs`` as ``"angry:0.102 disgust:0.013 ..."``: readable in a CSV, and
    every class named so that a reordered class list cannot misread it."""
    probs = np.asarray(probs, dtype=float)
    if probs.ndim != 2 or probs.shape[1] != len(classes):
        raise ValueError(f"probs must be (rows, {len(classes)} classes), got shape {probs.shape}.")
    return [" ".join(f"{c}:{p:.{digits}f}" for c, p in zip(classes, row)) for row in probs]


def parse_soft_labels(values: Iterable[str], classes: Sequence[str], column: str = SOFT_LABEL) -> np.ndarray:
    """``(rows, classes)`` distributions from :func:`format_soft_labels` strings, each renormalised
    to sum to 1 (rounding); an empty value is a NaN row. A malformed value or a class outside
    ``classes`` is an error naming ``column``."""
    index = {c: i for i, c in enumerate(classes)}
    values = list(values)
    out = np.full((len(values), len(classes)), np.nan)
    for row, text in enumerate(values):
        if not str(text).strip():
            continue
        out[row] = 0.0
        for item in str(text).split():
            name, sep, number = item.partition(":")
            try:
                if not sep or name not in index:
                    raise ValueError
                out[row, index[name]] = float(number)
            except ValueError:
                raise FercleanError(
                    f"{column} row {row + 1} has {item!r}; expected class:probability with a class among "
                    f"{', '.join(classes)}."
                ) from None
        total = out[row].sum()
        if not np.isfinite(total) or total <= 0 or (out[row] < 0).any():
            raise FercleanError(f"{column} row {row + 1} ({text!r}) is not a distribution: probabilities must be >= 0 and sum above 0.")
        out[row] /= total
    return out
