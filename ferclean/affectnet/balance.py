"""How many faces each class needs, and which candidates to take first.

The choice is reproducible and independent of file listing order: candidates are ranked
by annotation confidence (where the layout gives one), then by a hash of the seed and the
candidate's relative path, so the same seed picks the same faces on any machine.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ferclean.keys import seeded_rank


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
