"""How well ``mislabel-review`` finds known-wrong labels on real FER2013, against cleanlab.

Scans the dataset, groups duplicates, flips a known random share of labels to another class,
computes out-of-fold probabilities with a probe, then scores the flags on the flipped images
with our confident learning and with ``cleanlab.filter.find_label_issues`` on the *same*
probabilities. FER2013's own wrong labels count as false positives here, so precision is a
lower bound. Prints its figures; run by hand:

    .venv/bin/python bench/mislabel_bench.py                     # fast probe, all of FER2013
    .venv/bin/python bench/mislabel_bench.py --probe cnn --limit 3000 --epochs 10
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from ferclean.dedupe.resolve import assign_groups, find_duplicate_pairs
from ferclean.labels import class_order
from ferclean.manifest import group_keys
from ferclean.mislabel.features import load_images
from ferclean.folds import assign_folds
from ferclean.mislabel.probe import PROBES, out_of_fold_probs
from ferclean.mislabel.scoring import FLAG_RULES, score
from ferclean.scan import scan_dataset

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "fer2013"


def flip_labels(labels: np.ndarray, k: int, share: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Noisy labels with exactly ``share`` of them moved to a random other class, and the mask."""
    rng = np.random.default_rng(seed)
    chosen = rng.choice(len(labels), int(round(share * len(labels))), replace=False)
    noisy = labels.copy()
    noisy[chosen] = (labels[chosen] + rng.integers(1, k, len(chosen))) % k
    flipped = np.zeros(len(labels), dtype=bool)
    flipped[chosen] = True
    return noisy, flipped


def figures(name: str, flags: np.ndarray, ranked: np.ndarray, flipped: np.ndarray, at: int) -> None:
    precision = flipped[flags].mean() if flags.any() else float("nan")
    recall = flags[flipped].mean()
    top = ranked[:at]
    print(f"{name:<34} flagged {flags.sum():6d}  precision {precision:.4f}  recall {recall:.4f}  "
          f"precision@{at} {flipped[top].mean():.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--probe", choices=PROBES, default="fast")
    parser.add_argument("--noise", type=float, default=0.10)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--limit", type=int, default=0, help="Random subset of this many images (0: all).")
    parser.add_argument("--at", type=int, default=500, help="Cut-off for precision@N.")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--save", type=Path, default=None, help="Save probs, noisy labels and flip mask (.npz).")
    args = parser.parse_args()

    start = time.perf_counter()
    manifest, _ = scan_dataset(args.data, [], "phash", args.jobs)
    frame = manifest.frame[manifest.frame["status"] != "drop"].reset_index(drop=True)
    frame = assign_groups(frame, find_duplicate_pairs(frame))
    if args.limit:
        keep = np.sort(np.random.default_rng(args.seed).choice(len(frame), min(args.limit, len(frame)), replace=False))
        frame = frame.iloc[keep].reset_index(drop=True)
    scanned = time.perf_counter()
    classes = class_order(frame["label"])
    k = len(classes)
    true = np.array([classes.index(c) for c in frame["label"]], dtype=np.int64)
    noisy, flipped = flip_labels(true, k, args.noise, args.seed)

    images, ok = load_images([manifest.root / p for p in frame["path"]], args.jobs)
    assert ok.all(), "unreadable images in the benchmark set"
    folds = assign_folds(frame["path"].tolist(), noisy, group_keys(frame).tolist(), args.folds, args.seed)
    build_cnn = None
    if args.probe == "cnn":
        from ferclean_train.models import probe_cnn as build_cnn
    probs = out_of_fold_probs(images, noisy, folds, k, args.probe, args.seed, args.epochs, build_cnn)
    probed = time.perf_counter()
    if args.save:
        np.savez(args.save, probs=probs, noisy=noisy, true=true, flipped=flipped)
    results = {rule: score(noisy, probs, rule) for rule in FLAG_RULES}
    scored = time.perf_counter()

    from cleanlab.filter import find_label_issues

    theirs_ranked = find_label_issues(noisy, probs, return_indices_ranked_by="self_confidence")
    theirs_margin = find_label_issues(noisy, probs, return_indices_ranked_by="normalized_margin")
    theirs = np.zeros(len(noisy), dtype=bool)
    theirs[theirs_ranked] = True
    cleanlab_done = time.perf_counter()

    print(f"\n{len(frame):,} images, {k} classes, {flipped.sum():,} labels flipped ({args.noise:.0%}, seed {args.seed}),"
          f" probe {args.probe}, {args.folds} folds, {int(frame['group'].notna().sum()):,} images in duplicate groups")
    print(f"probe accuracy out of fold: vs noisy labels {np.mean(probs.argmax(1) == noisy):.3f},"
          f" vs original labels {np.mean(probs.argmax(1) == true):.3f}")
    for rule, result in results.items():
        figures(f"ferclean ({rule}{', default' if rule == FLAG_RULES[0] else ''})", result.flagged, result.ranking(), flipped, args.at)
    figures("cleanlab find_label_issues (sc)", theirs, theirs_ranked, flipped, args.at)
    figures("cleanlab find_label_issues (nm)", theirs, theirs_margin, flipped, args.at)
    print(f"wall time: scan+dedupe {scanned - start:.1f}s, load+folds+probe {probed - scanned:.1f}s,"
          f" our scoring (3 rules) {scored - probed:.2f}s, cleanlab {cleanlab_done - scored:.2f}s")


if __name__ == "__main__":
    main()
