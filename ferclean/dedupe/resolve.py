"""Duplicate pairs, groups, cross-split leakage, label conflicts and their resolution.

Pure functions on manifest tables; ``ferclean.dedupe.find_duplicates`` chains them.
"""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pandas as pd

from ferclean.dedupe.clusters import cluster_ids, number_groups
from ferclean.dedupe.hashing import hex_to_uint64, unique_keys
from ferclean.manifest import effective_labels, mark
from ferclean.dedupe.search import hamming, mirror_pairs, neighbour_counts

#: Near-duplicate threshold in bits of a 64-bit phash. On FER2013 (bench/dedupe_bench.py
#: prints the distance histogram) 15 of 16 sampled pairs at 4 bits were the same photo
#: (re-crops, contrast changes, small shifts), 12 of 16 at 6 bits and 1 of 6 at 8 bits; pair
#: counts jump from 8 bits on (6.8k at 8, 38k at 10). Raise it with --threshold to catch more.
DEFAULT_THRESHOLD = 4
#: Hash radius of the candidates that pixel verification checks (--verify). On FER2013 half
#: of the marked candidates at 12 bits are the same photo cropped 5-15 % tighter
#: (bench/dedupe_marks.csv), so 12, though candidates grow five-fold from 10 bits (52k -> 256k).
CANDIDATE_RADIUS = 12
#: The candidate radius shrinks (down to MIN_CANDIDATE_RADIUS) while the images have more than
#: this many other hashes (theirs and mirrors) within it on average: similar faces crowd
#: the hash space as a set grows, and the candidates with them (a generated million-face tree:
#: 49 per image at 12 bits, 4.9 at 10, against 7.8 for FER2013 at 12), which pixel
#: verification would then spend minutes and gigabytes on. Measured on a seeded sample of
#: NEIGHBOUR_SAMPLE images.
MAX_NEIGHBOURS, MIN_CANDIDATE_RADIUS, NEIGHBOUR_SAMPLE = 24, 8, 1024

#: Largest threshold any command accepts: half the bits, past which unrelated faces match.
MAX_THRESHOLD = 32

POLICIES = ("report", "keep-one", "leaks")
CONFLICT_ACTIONS = ("review", "drop", "majority")

#: Which copy keep-one keeps first: evaluation splits are never thinned to fix a leak.
_SPLIT_PRIORITY = {"test": 0, "val": 1, "train": 2}

_ACTION_COLUMNS = ["path", "split", "label", "group", "action", "reason"]

#: A candidate pair's kind by code: 0 near, 1 mirror, 2 exact.
_KINDS = np.array(["near", "mirror", "exact"], dtype=object)


def hashed_rows(frame: pd.DataFrame) -> np.ndarray:
    """Positions of rows that have a perceptual hash (i.e. were readable)."""
    return np.flatnonzero(frame["phash"].to_numpy() != "")


def hashes_of(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(rows, direct, flipped)``: the positions of the hashed rows and their hashes and mirrored hashes as uint64."""
    rows = hashed_rows(frame)
    return rows, hex_to_uint64(frame["phash"].to_numpy()[rows]), hex_to_uint64(frame["phash_flip"].to_numpy()[rows])


def candidate_radius(frame: pd.DataFrame, radius: int = CANDIDATE_RADIUS) -> int:
    """The widest radius from ``radius`` down to MIN_CANDIDATE_RADIUS whose candidates stay within
    MAX_NEIGHBOURS per image (or MIN_CANDIDATE_RADIUS)."""
    _, direct, flipped = hashes_of(frame)
    radii = list(range(radius, MIN_CANDIDATE_RADIUS - 1, -1))
    counts = neighbour_counts(direct, flipped, radii, NEIGHBOUR_SAMPLE)
    return next((r for r, c in zip(radii, counts) if c <= MAX_NEIGHBOURS), min(radius, MIN_CANDIDATE_RADIUS))


def find_duplicate_pairs(frame: pd.DataFrame, threshold: int = DEFAULT_THRESHOLD, method: str = "auto") -> pd.DataFrame:
    """Pairs of row positions ``a < b`` that are duplicates, with their distance and kind.

    ``kind`` is ``exact`` (same decoded pixels), ``mirror`` (closest to the other's
    horizontal flip) or ``near``. A row's own mirror never matches itself.
    """
    rows, direct, flipped = hashes_of(frame)
    digests = frame["sha256"].to_numpy()[rows]
    found = mirror_pairs(direct, flipped, threshold, method)
    exact = _exact_pairs(digests)
    both, n = np.concatenate([found, exact]).astype(np.int64), max(len(rows), 1)
    keys = unique_keys(both[:, 0] * n + both[:, 1])  # sorted and unique by (i, j), without a row sort
    i, j = keys // n, keys % n
    d_direct = hamming(direct[i], direct[j]).astype(np.int64)
    # Both-mirrored is a direct match seen through the flip; one-mirrored is a mirror copy.
    d_direct = np.minimum(d_direct, hamming(flipped[i], flipped[j]))
    d_mirror = np.minimum(hamming(direct[i], flipped[j]), hamming(flipped[i], direct[j])).astype(np.int64)
    same_pixels = digests[i] == digests[j]
    # One shared str per kind: a million images' 4M candidates would otherwise hold 4M strings (0.25 GB).
    kind = _KINDS[np.where(same_pixels, 2, (d_mirror < d_direct).astype(np.int64))]
    distance = np.where(same_pixels, 0, np.minimum(d_direct, d_mirror))
    pairs = pd.DataFrame({"a": rows[i], "b": rows[j], "distance": distance, "kind": kind})
    return pairs.sort_values(["a", "b"], ignore_index=True)


def _exact_pairs(digests: np.ndarray) -> np.ndarray:
    """Position pairs sharing a pixel digest."""
    series = pd.Series(digests)
    series = series[series.duplicated(keep=False)]
    pairs = [pair for members in series.groupby(series).groups.values() for pair in combinations(sorted(members), 2)]
    return np.array(pairs, dtype=np.int64).reshape(-1, 2)


def assign_groups(frame: pd.DataFrame, pairs: pd.DataFrame, labels: np.ndarray | None = None) -> pd.DataFrame:
    """``frame`` with ``group`` set to a cluster id for duplicates and NA for singletons.

    Groups are the connected components of ``pairs``, or the given per-row ``labels``
    (-1 for none; e.g. from :func:`ferclean.dedupe.verify.verify_duplicates`).
    """
    paths = frame["path"].tolist()
    ids = cluster_ids(len(frame), pairs[["a", "b"]].to_numpy(), paths) if labels is None else number_groups(labels, paths)
    out = frame.copy()
    out["group"] = pd.array(np.where(ids >= 0, ids, 0), dtype="Int64")
    out.loc[ids < 0, "group"] = pd.NA
    return out


def cluster_table(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per duplicate group: size, splits and labels it spans, leak and conflict flags."""
    members = frame[frame["group"].notna()].assign(effective=effective_labels(frame))
    if members.empty:
        return pd.DataFrame(columns=["size", "splits", "labels", "cross_split", "conflict"])
    table = pd.DataFrame(
        {
            "size": members.groupby("group").size(),
            "splits": _joined_sets(members["group"], members["split"], "+"),
            "labels": _joined_sets(members["group"], members["effective"], "+"),
        }
    )
    table["cross_split"] = table["splits"].str.contains(r"\+", regex=True)
    table["conflict"] = table["labels"].str.contains(r"\+", regex=True)
    return table


def leakage_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Per split pair (``train/test``...): duplicate groups spanning both and images in them."""
    members = frame[frame["group"].notna()]
    splits = sorted(set(frame["split"]) - {""}, key=lambda s: _SPLIT_PRIORITY.get(s, 9), reverse=True)
    group, groups = pd.factorize(members["group"])
    where = pd.Index(splits).get_indexer(members["split"])
    spans = np.zeros((len(groups), len(splits) + 1), dtype=bool)  # which splits each group spans; -1: none
    spans[group, where] = True
    rows = []
    for (f, first), (s, second) in combinations(enumerate(splits), 2):
        leaking = spans[:, f] & spans[:, s]
        images = leaking[group] & ((where == f) | (where == s))
        rows.append({"splits": f"{first}/{second}", "groups": int(leaking.sum()), "images": int(images.sum())})
    return pd.DataFrame(rows, columns=["splits", "groups", "images"])


def _joined_sets(keys: pd.Series, values: pd.Series, sep: str) -> pd.Series:
    """``values.groupby(keys).agg(lambda s: sep.join(sorted(set(s))))`` (rows without a key left
    out) without a Python call per group: a key x value presence table, joined once per
    distinct row of it."""
    key_codes, key_index = pd.factorize(keys, sort=True)
    value_codes, names = pd.factorize(values, sort=True)
    seen = np.zeros((len(key_index), len(names)), dtype=bool)
    keyed = key_codes >= 0
    seen[key_codes[keyed], value_codes[keyed]] = True
    patterns, pattern_of = np.unique(seen, axis=0, return_inverse=True)
    joined = np.array([sep.join(names[row]) for row in patterns], dtype=object)
    return pd.Series(joined[pattern_of.ravel()], index=pd.Index(key_index, name=keys.name), dtype=values.dtype)


def resolve(frame: pd.DataFrame, policy: str = "report", on_conflict: str = "review") -> tuple[pd.DataFrame, pd.DataFrame]:
    """Apply a resolution policy; return the new frame and one action row per changed image.

    ``keep-one`` keeps one member per group (test before val before train, then the larger
    image, then the first path) and drops the others. ``leaks`` keeps every member in the group's
    first split by that order, each exact copy once, and drops the members in other splits: the
    split stays leak-free, and a training split keeps the re-crops of a face. Groups whose members disagree on the
    label are handled by ``on_conflict``: ``review`` marks them all for a person, ``drop``
    drops them all, ``majority`` keeps a copy with the majority label (a tie goes to review).
    ``report`` changes nothing.
    """
    if policy not in POLICIES:
        raise ValueError(f"unknown policy {policy!r}")
    if on_conflict not in CONFLICT_ACTIONS:
        raise ValueError(f"unknown conflict action {on_conflict!r}")
    out = frame.copy()
    if policy == "report":
        return out, pd.DataFrame([], columns=_ACTION_COLUMNS)
    live = out[out["group"].notna() & (out["status"] != "drop")].assign(_label=effective_labels(out))
    live = live.assign(
        _priority=live["split"].map(_SPLIT_PRIORITY).fillna(9),
        _area=-(live["width"].fillna(0) * live["height"].fillna(0)).astype("int64"),
        _order=np.arange(len(live)),
    )
    conflict = live["group"].map(live.groupby("group")["_label"].nunique()) > 1
    decisions = []  # (rows, status, reasons), applied in this order
    candidates = live[~conflict]
    if conflict.any():
        clash = live[conflict]
        names = clash["group"].map(_joined_sets(clash["group"], clash["_label"], "/"))
        groups = clash["group"].astype("int64").astype(str)
        counts = clash.groupby(["group", "_label"]).size()
        top = counts.groupby(level="group").transform("max")
        winners = counts[counts == top].reset_index()
        single = winners.groupby("group")["_label"].transform("size") == 1
        majority = winners[single].set_index("group")["_label"]
        dropped = "label conflict in group " + groups + " (" + names + ")"
        reviewed = "label conflict in group " + groups + ": " + names
        if on_conflict == "drop":
            decisions.append((clash.index, "drop", dropped))
        elif on_conflict == "majority":
            wins = clash["group"].map(majority)
            losers, tied = wins.notna() & (clash["_label"] != wins), wins.isna()
            decisions.append((clash.index[losers], "drop", dropped))
            decisions.append((clash.index[tied], "review", reviewed))
            candidates = pd.concat([candidates, clash[~losers & ~tied]])
        else:
            decisions.append((clash.index, "review", reviewed))
    # keep-one: the first of each group by split priority, larger image, path; drop the rest.
    # leaks: every member of the first split, each exact copy (same pixels) once.
    ranked = candidates.sort_values(["group", "_priority", "_area", "path"], kind="stable")
    by_group = ranked.groupby("group")
    keeper = by_group["path"].transform("first")
    if policy == "leaks":
        first_split = ranked["_priority"] == by_group["_priority"].transform("min")
        keeper = keeper.where(~first_split, ranked.groupby(["group", "sha256"])["path"].transform("first"))
    extra = ranked[ranked["path"] != keeper]
    decisions.append((extra.index, "drop", "duplicate of " + keeper + " (group " + ranked["group"].astype("int64").astype(str) + ")"))
    log = []
    for step, (rows, status, reasons) in enumerate(decisions):
        if len(rows):
            out = mark(out, rows, status, reasons.loc[rows])
            log.append(pd.DataFrame({"row": rows, "reason": reasons.loc[rows].to_numpy(), "step": step}))
    if not log:
        return out, pd.DataFrame([], columns=_ACTION_COLUMNS)
    # One action per change, group by group, in the order the loop over groups used to log them.
    done = pd.concat(log).assign(
        group=lambda d: live.loc[d["row"], "group"].to_numpy(), order=lambda d: live.loc[d["row"], "_order"].to_numpy()
    )
    done = done.sort_values(["group", "step", "order"], kind="stable")
    rows = out.loc[done["row"]]
    actions = pd.DataFrame(
        {
            "path": rows["path"].to_numpy(),
            "split": rows["split"].to_numpy(),
            "label": rows["label"].to_numpy(),
            "group": rows["group"].to_numpy(),
            "action": rows["status"].to_numpy(),
            "reason": done["reason"].to_numpy(),
        },
        columns=_ACTION_COLUMNS,
    )
    return out, actions


def worst_pairs(frame: pd.DataFrame, pairs: pd.DataFrame, limit: int = 40) -> pd.DataFrame:
    """Pairs to show first: cross-split label conflicts, then leaks, then conflicts, closest first."""
    a, b = frame.iloc[pairs["a"]], frame.iloc[pairs["b"]]
    labels = effective_labels(frame)
    ranked = pairs.assign(
        cross_split=a["split"].to_numpy() != b["split"].to_numpy(),
        conflict=labels.iloc[pairs["a"]].to_numpy() != labels.iloc[pairs["b"]].to_numpy(),
    )
    ranked["severity"] = 2 * ranked["cross_split"].astype(int) + ranked["conflict"].astype(int)
    ranked = ranked.sort_values(["severity", "distance", "a", "b"], ascending=[False, True, True, True], kind="stable")
    return ranked.head(limit).reset_index(drop=True)
