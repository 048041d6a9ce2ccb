"""How many faces each class needs, and which candidates to take first.

The choice is reproducible and independent of file listing order: candidates are ranked
by annotation confidence (where the layout gives one), then by a hash of the seed and the
candidate's relative path, so the same seed picks the same faces on any machine.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from ferclean.affectnet.mapping import parse_assignments
from ferclean.errors import FercleanError
from ferclean.keys import seeded_rank
from ferclean.labels import normalise_class


def parse_target(text: str | int | None) -> int | None:
    """``"max"`` -> None (up to the largest class), ``"5000"`` -> 5000."""
    if text is None or str(text).strip().lower() == "max":
        return None
    try:
        value = int(str(text).strip())
    except ValueError:
        raise FercleanError(f"--target {text!r} must be 'max' or a whole number of images per class.") from None
    if value < 0:
        raise FercleanError(f"--target {text!r} must not be negative.")
    return value


def parse_per_class(text: str | None, target_classes: Iterable[str]) -> dict[str, int]:
    """``"happy=0,surprise=1700"`` -> images to add per named class (others follow --target)."""
    if not text:
        return {}
    allowed = set(target_classes)
    quotas: dict[str, int] = {}
    for name, number in parse_assignments(text, "--per-class", "CLASS=N"):
        label = normalise_class(name, allowed)
        if label not in allowed:
            raise FercleanError(f"--per-class names {name!r}; the dataset's classes are {', '.join(sorted(allowed))}.")
        if not number.isdigit():
            raise FercleanError(f"--per-class {name}={number}: N must be a whole number >= 0.")
        quotas[label] = int(number)
    return quotas


def quotas(before: pd.Series, target: int | None = None, per_class: dict[str, int] | None = None) -> pd.Series:
    """Images to add per class: up to the largest class (``target`` None) or to ``target``
    each, never negative; ``per_class`` sets the number to add for the classes it names."""
    goal = int(before.max()) if target is None and len(before) else (target or 0)
    need = (goal - before).clip(lower=0).astype(int)
    for label, count in (per_class or {}).items():
        need[label] = count
    return need


def rank_candidates(frame: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Candidates (``label``, ``key``, ``confidence``) in the order they should be taken:
    per class, most confident first (unknown confidence last), then seeded-random."""
    confidence = frame["confidence"].astype(float)
    order = np.lexsort(
        (
            frame["key"].to_numpy(dtype=str),
            seeded_rank(frame["key"], seed),
            -confidence.fillna(-np.inf).to_numpy(),
            confidence.isna().to_numpy(),
            frame["label"].to_numpy(dtype=str),
        )
    )
    ranked = frame.iloc[order].copy()
    ranked["rank"] = ranked.groupby("label").cumcount()
    return ranked
