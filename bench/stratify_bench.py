"""Speed and quality of ``assign_splits`` against scikit-learn's group-aware splitters.

Run by hand: ``.venv/bin/python bench/stratify_bench.py [MANIFEST.csv]``. On synthetic data with
FER2013's class sizes (x1 and x10) and 10% of rows in duplicate groups of 2-5, and optionally on a
real manifest (its ``group`` column from ``ferclean dedupe``), it prints for an 80/10/10 split the
time taken, the largest class deviation from target (percentage points) and the number of groups
split across splits, for:
- ``assign_splits`` (this project);
- ``StratifiedGroupKFold(10)`` folds assembled 8/1/1 (the usual scikit-learn answer; skipped
  above 100,000 rows, where it takes minutes);
- ``GroupShuffleSplit`` twice (80 | 20, then 10 | 10): group-safe, not stratified.
"""

from __future__ import annotations

import sys
import time

import numpy as np
import pandas as pd
from sklearn.model_selection import GroupShuffleSplit, StratifiedGroupKFold

from ferclean.manifest import effective_labels, kept, read_manifest
from ferclean.cli.options import parse_ratios
from ferclean.stratify.assign import assign_splits, deviation_floor, deviation_table, max_deviation, stable_group_keys

FER_SIZES = {"angry": 4921, "disgust": 539, "fear": 5117, "happy": 8954, "sad": 6032, "surprise": 3978, "neutral": 6169}
RATIOS = parse_ratios("80/10/10")


def synthetic(scale: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = np.concatenate([[c] * (n * scale) for c, n in FER_SIZES.items()]).astype(object)
    rng.shuffle(labels)
    groups = np.array([f"r{i}" for i in range(len(labels))], dtype=object)
    order, i, g = rng.permutation(len(labels)), 0, 0
    while i < 0.1 * len(labels):
        size = int(rng.integers(2, 6))
        groups[order[i : i + size]] = f"g{g}"
        i, g = i + size, g + 1
    return labels, groups


def ours(labels: np.ndarray, groups: np.ndarray) -> np.ndarray:
    return assign_splits(labels, groups, RATIOS, seed=42)


def sgkf(labels: np.ndarray, groups: np.ndarray) -> np.ndarray:
    out = np.empty(len(labels), dtype=object)
    folds = StratifiedGroupKFold(n_splits=10, shuffle=True, random_state=42).split(labels, labels, groups)
    for k, (_, test_idx) in enumerate(folds):
        out[test_idx] = "train" if k < 8 else ("val" if k == 8 else "test")
    return out


def gss(labels: np.ndarray, groups: np.ndarray) -> np.ndarray:
    out = np.full(len(labels), "train", dtype=object)
    train, rest = next(GroupShuffleSplit(n_splits=1, test_size=0.2, random_state=42).split(labels, groups=groups))
    val, test = next(GroupShuffleSplit(n_splits=1, test_size=0.5, random_state=42).split(rest, groups=groups[rest]))
    out[rest[val]], out[rest[test]] = "val", "test"
    return out


def measure(name: str, fn, labels: np.ndarray, groups: np.ndarray) -> dict:  # noqa: ANN001
    start = time.perf_counter()
    splits = fn(labels, groups)
    seconds = time.perf_counter() - start
    leaks = int((pd.Series(splits).groupby(groups).nunique() > 1).sum())
    worst = max_deviation(deviation_table(labels, splits, RATIOS))
    return {"method": name, "seconds": round(seconds, 3), "max_dev_pp": round(worst, 3), "cross_split_groups": leaks}


def main() -> None:
    datasets = {f"synthetic FER x{s} ({sum(FER_SIZES.values()) * s:,} rows)": synthetic(s) for s in (1, 10)}
    if len(sys.argv) > 1:
        frame = read_manifest(sys.argv[1]).frame
        frame = frame[kept(frame)]
        datasets[f"{sys.argv[1]} ({len(frame):,} kept rows)"] = (
            effective_labels(frame).to_numpy(dtype=object),
            stable_group_keys(frame).to_numpy(dtype=object),
        )
    for title, (labels, groups) in datasets.items():
        methods = [("assign_splits", ours), ("StratifiedGroupKFold 8/1/1", sgkf), ("GroupShuffleSplit x2", gss)]
        if len(labels) > 100_000:  # StratifiedGroupKFold grows to minutes here
            methods.pop(1)
        rows = [measure(n, f, labels, groups) for n, f in methods]
        print(f"\n{title}")
        print(pd.DataFrame(rows).to_string(index=False))
        print(f"least deviation any split of whole images could reach: {deviation_floor(labels, RATIOS):.3f} points")


if __name__ == "__main__":
    main()
