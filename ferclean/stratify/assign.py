"""Leak-free, class-stratified assignment of images to train/val/test.

Duplicates must never straddle splits (that is a leak), so a duplicate group is placed as a
unit. Groups are placed largest first (ties in a seeded order of their keys, never input
order) into the split whose classes most lack images relative to their target; small groups
and singletons placed last fill the remaining gaps, which keeps every class's share of every
split within about one image of its target. A class too small to reach every split goes
where the ratios say (3 images at 80/10/10 all go to train); ``--min-per-class`` flags that.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ferclean.errors import FercleanError
from ferclean.keys import seeded_rank
from ferclean.labels import canonical_split, class_order
from ferclean.manifest import effective_labels, group_keys, kept


def assign_splits(
    labels: np.ndarray | pd.Series,
    groups: np.ndarray | pd.Series,
    ratios: dict[str, float],
    seed: int,
) -> np.ndarray:
    """The split name of every row, placing each group of rows (``groups`` keys) as a unit.

    Deterministic for a seed and independent of row order: the result for a row depends only
    on the multiset of (label, group key) pairs. ``ratios`` need not sum to 1; splits with a
    zero ratio receive nothing. Rows that should be their own group need unique keys.
    """
    labels = np.asarray(labels, dtype=object).astype(str)
    groups = np.asarray(groups, dtype=object).astype(str)
    if labels.shape != groups.shape or labels.ndim != 1:
        raise ValueError("labels and groups must be 1-D arrays of the same length")
    splits = [s for s, r in ratios.items() if r > 0]
    if not splits:
        raise FercleanError("No split has a positive ratio.")
    weights = np.array([ratios[s] for s in splits], dtype=float)
    weights /= weights.sum()
    out = np.empty(len(labels), dtype=object)
    if len(labels) == 0:
        return out

    class_names, class_idx = np.unique(labels, return_inverse=True)
    group_names, group_idx = np.unique(groups, return_inverse=True)
    n_groups, n_classes, n_splits = len(group_names), len(class_names), len(splits)

    # Per group: its size, and its rows per class as a sparse list (most groups hold one class).
    pair = group_idx.astype(np.int64) * n_classes + class_idx
    pairs, pair_counts = np.unique(pair, return_counts=True)
    pair_group, pair_class = pairs // n_classes, pairs % n_classes
    sizes = np.bincount(group_idx, minlength=n_groups)
    starts = np.searchsorted(pair_group, np.arange(n_groups + 1))

    target = np.bincount(class_idx, minlength=n_classes)[:, None] * weights[None, :]
    # Largest groups first; equal sizes in seeded-hash order (then by key, should hashes collide).
    order = np.lexsort((group_names, seeded_rank(group_names, seed), -sizes)).tolist()
    # On equal need, prefer the split with the larger ratio, then the SPLITS order.
    preference = np.lexsort((np.arange(n_splits), -weights)).tolist()
    choice = _place_groups(
        order, starts.tolist(), pair_class.tolist(), pair_counts.tolist(), target.tolist(), preference
    )
    return np.array(splits, dtype=object)[choice[group_idx]]


def _place_groups(
    order: list[int],
    starts: list[int],
    pair_class: list[int],
    pair_counts: list[int],
    target: list[list[float]],
    preference: list[int],
) -> np.ndarray:
    """The greedy placement loop, on plain lists: a group costs a few microseconds, not numpy's
    per-call overhead, which matters at AffectNet's size (hundreds of thousands of groups).

    Group ``g`` holds ``pair_counts[j]`` rows of class ``pair_class[j]`` for ``j`` in
    ``starts[g]:starts[g + 1]``; ``target[c][s]`` is class ``c``'s target count in split ``s``.
    """
    n_splits = len(preference)
    current = [[0.0] * n_splits for _ in target]
    choice = np.empty(len(starts) - 1, dtype=np.int64)
    for g in order:
        members = range(starts[g], starts[g + 1])
        need = [0.0] * n_splits
        for j in members:
            row, goal, m = current[pair_class[j]], target[pair_class[j]], pair_counts[j]
            # How far below target each split is at the group's midpoint (the Webster /
            # Sainte-Lague rule for one image at a time: unbiased between large and small splits).
            for s in range(n_splits):
                need[s] += m * (1.0 - (row[s] + m / 2) / goal[s])
        best = preference[0]
        for s in preference[1:]:
            if need[s] > need[best]:
                best = s
        choice[g] = best
        for j in members:
            current[pair_class[j]][best] += pair_counts[j]
    return choice


@dataclass
class StratifyResult:
    """The re-split frame and what the report needs to say about it."""

    frame: pd.DataFrame
    ratios: dict[str, float]
    keep_split: str | None = None
    #: Groups (and their rows) pulled into the kept split because one member already sat there.
    pulled_groups: int = 0
    pulled_rows: int = 0
    #: Kept rows assigned by this run (everything but the kept split).
    assigned: pd.Series = field(default_factory=lambda: pd.Series(dtype=bool))


def stable_group_keys(frame: pd.DataFrame) -> pd.Series:
    """Group keys that do not depend on row order or group numbering: each group's smallest path."""
    keys = group_keys(frame)
    first_path = frame["path"].groupby(keys).transform("min")
    return "g:" + first_path.astype(str)


def stratify_frame(
    frame: pd.DataFrame, ratios: dict[str, float], seed: int, keep_split: str | None = None
) -> StratifyResult:
    """Re-split the kept rows of a manifest table; dropped rows keep their split untouched.

    The old split goes to an ``orig_split`` column (an existing one is left as it is, so
    that repeated runs still remember the dataset's original split). With ``keep_split``,
    rows already in that split stay, whole groups touching it join it, and the other rows are
    divided among the remaining splits in proportion to their ratios.
    """
    frame = frame.copy()
    if "orig_split" not in frame.columns:
        frame["orig_split"] = frame["split"]
    keep = kept(frame).to_numpy()
    if not keep.any():
        raise FercleanError("The manifest has no kept image (every row has status=drop); nothing to split.")
    labels = effective_labels(frame).to_numpy()
    keys = stable_group_keys(frame)
    new_split = frame["split"].to_numpy(dtype=object).copy()
    assign = keep.copy()
    pulled_groups = pulled_rows = 0
    target_ratios = dict(ratios)
    if keep_split is not None:
        keep_split = canonical_split(keep_split, "keep_split")
        in_kept = keep & (frame["split"].to_numpy() == keep_split)
        if not in_kept.any():
            raise FercleanError(f"keep_split {keep_split!r}: the manifest has no kept image in split {keep_split!r}.")
        touching = pd.Series(in_kept).groupby(keys.to_numpy()).transform("any").to_numpy() & keep
        pulled = touching & ~in_kept
        pulled_rows = int(pulled.sum())
        pulled_groups = int(pd.Series(keys.to_numpy()[pulled]).nunique())
        new_split[touching] = keep_split
        assign = keep & ~touching
        target_ratios = {s: r for s, r in ratios.items() if s != keep_split and r > 0}
        if not target_ratios:
            raise FercleanError(
                f"keep_split {keep_split!r} leaves no other split with a positive ratio to re-split the rest into."
            )
    if assign.any():
        new_split[assign] = assign_splits(labels[assign], keys.to_numpy()[assign], target_ratios, seed)
    frame["split"] = new_split
    return StratifyResult(
        frame=frame,
        ratios=ratios,
        keep_split=keep_split,
        pulled_groups=pulled_groups,
        pulled_rows=pulled_rows,
        assigned=pd.Series(assign, index=frame.index),
    )


def deviation_table(
    labels: np.ndarray | pd.Series, splits: np.ndarray | pd.Series, ratios: dict[str, float]
) -> pd.DataFrame:
    """Per class (rows) and split (columns): ``100 * (n(c, s) / n(c) - ratio(s))``, in points.

    This is how far each class's spread over the splits is from the target ratios; its
    largest absolute value is the stratification quality the report prints.
    """
    total = sum(r for r in ratios.values() if r > 0)
    data = pd.DataFrame({"label": np.asarray(labels, dtype=object), "split": np.asarray(splits, dtype=object)})
    positive = [s for s in ratios if ratios[s] > 0]
    counts = pd.crosstab(data["label"], data["split"]).reindex(columns=positive, fill_value=0)
    counts = counts.reindex(class_order(counts.index))
    share = counts.div(counts.sum(axis=1).replace(0, np.nan), axis=0)
    target = pd.Series({s: ratios[s] / total for s in counts.columns})
    return 100 * (share - target)


def max_deviation(deviations: pd.DataFrame) -> float:
    """The largest absolute deviation in a :func:`deviation_table` (0 when it is empty)."""
    return float(np.nanmax(np.abs(deviations.to_numpy()))) if deviations.size else 0.0


def deviation_floor(labels: np.ndarray | pd.Series, ratios: dict[str, float]) -> float:
    """A lower bound on :func:`max_deviation` for any split of whole images, in points.

    A class of ``n`` images cannot put a fractional ``n * ratio`` images in a split; the
    distance to the nearest whole count bounds what any method can reach (groups aside).
    """
    total = sum(r for r in ratios.values() if r > 0)
    sizes = pd.Series(np.asarray(labels, dtype=object)).value_counts().to_numpy(dtype=float)
    if sizes.size == 0:
        return 0.0
    exact = sizes[:, None] * np.array([r / total for r in ratios.values() if r > 0])[None, :]
    return float(100 * (np.abs(exact - np.round(exact)) / sizes[:, None]).max())


def cross_split_groups(frame: pd.DataFrame) -> int:
    """How many duplicate groups have kept members in more than one split (a leak; must be 0)."""
    rows = frame[kept(frame) & frame["group"].notna()]
    if rows.empty:
        return 0
    return int((rows.groupby("group")["split"].nunique() > 1).sum())


def check_min_per_class(frame: pd.DataFrame, splits: list[str], minimum: int) -> None:
    """Refuse a split that would leave a class with fewer than ``minimum`` kept images."""
    if minimum <= 0:
        return
    keep = kept(frame)
    labels = effective_labels(frame)[keep]
    counts = pd.crosstab(labels, frame.loc[keep, "split"]).reindex(columns=splits, fill_value=0)
    classes = class_order(counts.index)
    short = [(s, c, int(counts.at[c, s])) for s in splits for c in classes if counts.at[c, s] < minimum]
    if short:
        listed = ", ".join(f"{s}/{c} has {n}" for s, c, n in short[:6])
        more = f" (and {len(short) - 6} more)" if len(short) > 6 else ""
        raise FercleanError(
            f"--min-per-class {minimum} not met: {listed}{more}; lower it, change --ratios or add images."
        )
