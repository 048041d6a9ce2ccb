"""How many faces each class needs, which candidates to take first, and what to trim.

The choice is reproducible and independent of file listing order: candidates are ranked
by annotation confidence (where the layout gives one), then by a hash of the seed and the
candidate's relative path, so the same seed picks the same faces on any machine. When
AffectNet cannot lift every class to the largest, the ``feasible`` target is the highest
count every class reaches, and classes above it can be trimmed to it (rows marked drop,
never deleted), so the classes end exactly equal.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ferclean.keys import seeded_rank
from ferclean.manifest import effective_labels, kept, mark

#: ``--target feasible``: the highest count every class can reach with the usable faces.
FEASIBLE = "feasible"
#: Note on rows ``trim_surplus`` drops.
TRIM_NOTE = "trimmed to balance"
#: Splits trimmed first: training images (or a flat dataset's only split).
_TRIM_FIRST = ("train", "")


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


def feasible_target(before: pd.Series, usable: pd.Series) -> int:
    """The highest per-class count every class reaches: min over classes of kept + usable new faces."""
    return int((before + usable.reindex(before.index, fill_value=0)).min()) if len(before) else 0


def _largest_remainder(total: int, weights: pd.Series) -> pd.Series:
    """``total`` split over ``weights`` in proportion, in whole numbers that add up (ties: index order)."""
    exact = total * weights / weights.sum()
    share = np.floor(exact).astype(int)
    rest = (exact - share).sort_values(ascending=False, kind="stable").index[: total - int(share.sum())]
    share[rest] += 1
    return share


def trim_plan(counts: pd.DataFrame, target: int) -> pd.DataFrame:
    """Images to drop per class (rows) and split (columns) so that no class exceeds ``target``.

    ``counts`` holds kept images per class and split. Training images go first; only what
    the training split cannot absorb comes from the other splits, spread over them in
    proportion to their images of that class, so their ratios to each other are kept.
    """
    plan = pd.DataFrame(0, index=counts.index, columns=counts.columns)
    first = [s for s in counts.columns if s in _TRIM_FIRST]
    rest = [s for s in counts.columns if s not in _TRIM_FIRST]
    for label, row in counts.iterrows():
        surplus = max(0, int(row.sum()) - target)
        for split in first:
            take = min(surplus, int(row[split]))
            plan.loc[label, split] = take
            surplus -= take
        if surplus and rest:
            plan.loc[label, rest] = _largest_remainder(surplus, row[rest].astype(float))
    return plan


def trim_surplus(frame: pd.DataFrame, target: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``frame`` with every class above ``target`` kept images brought down to it, and the
    plan (images dropped per class and split).

    Surplus rows are marked ``status=drop`` with the note ``trimmed to balance`` (never
    removed), per ``trim_plan``; within a class and split the lowest ``label_quality`` goes
    first where the manifest has that column (the most doubtful labels), then seeded-random.
    """
    labels = effective_labels(frame)[kept(frame)]
    splits = frame.loc[labels.index, "split"]
    counts = pd.crosstab(labels, splits)
    plan = trim_plan(counts, target)
    quality = (
        pd.to_numeric(frame["label_quality"], errors="coerce").fillna(np.inf)
        if "label_quality" in frame.columns
        else pd.Series(np.inf, index=frame.index)
    )
    drop: list[int] = []
    for (label, split), group in labels.groupby([labels, splits]):
        take = int(plan.loc[label, split])
        if not take:
            continue
        rows = group.index.to_numpy()
        paths = frame.loc[rows, "path"].to_numpy(dtype=str)
        order = np.lexsort((paths, seeded_rank(paths, seed), quality[rows].to_numpy()))
        drop.extend(rows[order[:take]])
    return mark(frame, pd.Index(drop), "drop", TRIM_NOTE), plan
