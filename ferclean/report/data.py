"""What the report shows, chosen from a manifest's table: pure functions on DataFrames.

Each function answers one section's question (how many images per split and class, which
duplicate groups leak or disagree, which labels the probe doubts most, which images failed
scan's checks, what each command changed) and names the rows whose faces the page embeds.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ferclean.affectnet.balance import TRIM_NOTE
from ferclean.dedupe.resolve import cluster_table, leakage_table
from ferclean.labels import SPLITS, class_order
from ferclean.manifest import effective_labels, kept
from ferclean.mislabel.annotate import REASON_PREFIX
from ferclean.quality import REASONS, invalid_reasons
from ferclean.render.tables import imbalance

#: Duplicate groups shown besides every leaking or label-conflict group: the largest ones.
LARGEST_GROUPS = 30
#: Faces drawn per duplicate group (a group has at most ~30; the rest is counted).
FACES_PER_GROUP = 12
#: Faces drawn per invalid-image reason (the count says how many there are).
FACES_PER_REASON = 60
#: AffectNet faces drawn per class.
FACES_PER_CLASS = 12
#: Suspect labels shown by default.
TOP_SUSPECTS = 200

#: Which command wrote a note entry, by the entry's start (see each step's notes).
NOTE_STEPS: tuple[tuple[str, str], ...] = (
    ("unreadable:", "scan"),
    ("too small:", "scan"),
    ("invalid:", "scan"),
    ("duplicate of ", "dedupe"),
    ("label conflict in group", "dedupe"),
    (REASON_PREFIX, "mislabel-review"),
    ("reviewed (", "mislabel-review --apply"),
    ("auto-relabel:", "mislabel-review --auto-relabel"),
    (TRIM_NOTE, "merge-affectnet --trim"),
)


def split_order(splits: Sequence[str]) -> list[str]:
    """train, val, test first, then any other split name, sorted."""
    present = set(splits)
    return [s for s in SPLITS if s in present] + sorted(present - set(SPLITS))


def overview_counts(frame: pd.DataFrame) -> pd.DataFrame:
    """Images per (class, split) before (every row, its given label and first split) and after
    (kept rows, the label they train with): columns class, split, before, after."""
    first_split = frame["orig_split"].where(frame["orig_split"] != "", frame["split"]) if "orig_split" in frame else frame["split"]
    before = pd.DataFrame({"class": frame["label"], "split": first_split}).value_counts().rename("before")
    keep = kept(frame)
    after = pd.DataFrame({"class": effective_labels(frame)[keep], "split": frame.loc[keep, "split"]}).value_counts().rename("after")
    counts = pd.concat([before, after], axis=1).fillna(0).astype(np.int64).reset_index()
    classes, splits = class_order(counts["class"]), split_order(counts["split"])
    counts["_c"], counts["_s"] = counts["class"].map(classes.index), counts["split"].map(splits.index)
    return counts.sort_values(["_c", "_s"]).drop(columns=["_c", "_s"]).reset_index(drop=True)


def imbalance_ratios(counts: pd.DataFrame) -> tuple[float, float]:
    """Largest class over smallest, before and after."""
    per_class = counts.groupby("class")[["before", "after"]].sum()
    return imbalance(per_class["before"]), imbalance(per_class["after"])


def note_steps(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows each command noted, by the status they hold now: columns step, keep, relabel, review, drop, total.

    A row noted twice by one step counts once; a later, stronger status shows where it went.
    """
    entries = frame["note"].str.split("; ").explode()
    entries = entries[entries.fillna("") != ""]
    step = pd.Series(pd.NA, index=entries.index, dtype=object)
    for prefix, name in NOTE_STEPS:
        step = step.where(step.notna() | ~entries.str.startswith(prefix), name)
    noted = pd.DataFrame({"row": entries.index, "step": step.to_numpy()}).dropna().drop_duplicates()
    if "source" in frame:
        added = frame.index[frame["source"] == "affectnet"]
        noted = pd.concat([noted, pd.DataFrame({"row": added, "step": "merge-affectnet (added)"})])
    if "orig_split" in frame:
        moved = frame.index[(frame["orig_split"] != "") & (frame["orig_split"] != frame["split"])]
        noted = pd.concat([noted, pd.DataFrame({"row": moved, "step": "stratify (moved split)"})])
    columns = ["keep", "relabel", "review", "drop"]
    if noted.empty:
        return pd.DataFrame(columns=["step", *columns, "total"])
    noted["status"] = frame["status"].to_numpy()[noted["row"].to_numpy()]
    table = pd.crosstab(noted["step"], noted["status"]).reindex(columns=columns, fill_value=0)
    order = [name for _, name in NOTE_STEPS] + ["merge-affectnet (added)", "stratify (moved split)"]
    table = table.reindex([s for s in dict.fromkeys(order) if s in table.index])
    table["total"] = table.sum(axis=1)
    return table.reset_index().rename(columns={"index": "step"})


def duplicate_groups(frame: pd.DataFrame, largest: int = LARGEST_GROUPS) -> pd.DataFrame:
    """Groups to show: every label-conflict group, then every cross-split (leaking) group, then
    the ``largest`` other groups; within each, larger first. Index: group id; columns of
    dedupe's cluster table."""
    table = cluster_table(frame)
    if table.empty:
        return table
    table = table.assign(_rank=np.where(table["conflict"], 0, np.where(table["cross_split"], 1, 2)))
    table = table.sort_values(["_rank", "size"], ascending=[True, False], kind="stable")
    shown = table[table["_rank"] < 2]
    rest = table[table["_rank"] == 2].head(largest)
    return pd.concat([shown, rest]).drop(columns="_rank")


def duplicate_counts(frame: pd.DataFrame) -> dict[str, object]:
    """Groups, images in them, leaking and conflicting groups, and the per-split-pair leak table."""
    table = cluster_table(frame)
    return {
        "groups": len(table),
        "images": int(table["size"].sum()) if len(table) else 0,
        "largest": int(table["size"].max()) if len(table) else 0,
        "cross_split": int(table["cross_split"].sum()) if len(table) else 0,
        "conflict": int(table["conflict"].sum()) if len(table) else 0,
        "leaks": leakage_table(frame) if len(table) else pd.DataFrame(columns=["splits", "groups", "images"]),
    }


def group_members(frame: pd.DataFrame, groups: pd.Index, limit: int = FACES_PER_GROUP) -> dict[int, list[tuple[str, str, str, str]]]:
    """The first ``limit`` members of each group (test, val, train, then by path) as
    (path, split, label it trains with, status) tuples."""
    members = frame[frame["group"].isin(groups)]
    members = members.assign(label=effective_labels(members), _s=members["split"].map({"test": 0, "val": 1, "train": 2}).fillna(3))
    members = members.sort_values(["group", "_s", "path"], kind="stable")
    members = members[members.groupby("group").cumcount() < limit]
    out: dict[int, list[tuple[str, str, str, str]]] = {}
    for group, *row in zip(members["group"].astype(int), members["path"], members["split"], members["label"], members["status"]):
        out.setdefault(group, []).append(tuple(row))
    return out


def suspects(frame: pd.DataFrame, top: int = TOP_SUSPECTS) -> pd.DataFrame:
    """The ``top`` rows the probe flagged (note by mislabel-review), lowest ``label_quality`` first."""
    if "label_quality" not in frame or "suggested_label" not in frame:
        return frame.iloc[:0]
    flagged = frame[frame["note"].str.contains(REASON_PREFIX, regex=False)]
    numbers = {c: pd.to_numeric(flagged[c], errors="coerce") for c in ("label_quality", "suggested_confidence") if c in flagged}
    return flagged.assign(**numbers).sort_values(["label_quality", "path"], kind="stable").head(top)


def invalid_by_reason(frame: pd.DataFrame, limit: int = FACES_PER_REASON) -> list[tuple[str, str, int, pd.DataFrame]]:
    """Per reason scan flagged (in its order): (reason, meaning, images, the first ``limit`` rows)."""
    reasons = invalid_reasons(frame).dropna()
    if reasons.empty:
        return []
    exploded = reasons.str.split(", ").explode()
    out = []
    for reason, meaning in REASONS.items():
        rows = exploded.index[exploded == reason].unique()
        if len(rows):
            out.append((reason, meaning, len(rows), frame.loc[rows].sort_values("path").head(limit)))
    return out


def affectnet_added(frame: pd.DataFrame, limit: int = FACES_PER_CLASS) -> dict[str, pd.DataFrame]:
    """Sample AffectNet faces per class (the first ``limit`` by path)."""
    added = frame[frame["source"] == "affectnet"]
    return {label: rows.sort_values("path").head(limit) for label, rows in added.groupby("label")}


def probe_bars(paths: Sequence[str], saved_paths: Sequence[str], probs: np.ndarray) -> np.ndarray:
    """Rows of ``probs`` (ordered as ``saved_paths``) for ``paths``; NaN where a path was not probed."""
    position = {p: i for i, p in enumerate(saved_paths)}
    out = np.full((len(paths), probs.shape[1]), np.nan)
    for k, path in enumerate(paths):
        if path in position:
            out[k] = probs[position[path]]
    return out
