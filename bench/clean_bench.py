"""``ferclean clean`` on FER2013: how long the command takes and how good its changes are.

Run by hand:

    .venv/bin/python bench/clean_bench.py                       # fast probe, timed against dedupe
    .venv/bin/python bench/clean_bench.py --probs runs/bench/ens-compact.npy --probe ensemble --no-timing
    .venv/bin/python bench/clean_bench.py --probs P.npy --policy='--rare-relabel-min 0.4' --no-timing

Timing: the command a user runs, each in a fresh process (imports and scan included), against
``ferclean dedupe --policy keep-one`` on the same folder timed in the same run (the ratio is the
figure to compare between machines); the load average is printed before and after.

Quality, judged by the FER+ annotators' votes of the training images (benchmark truth, read here
only): of the labels clean changed, how many it fixed (new label = the vote majority) and broke
(old label was the majority), per class; and the share of kept training images whose label agrees
with the majority, before and after; and how close soft-label targets of each weight come to the
vote distributions (how ``train --soft-weight``'s default was chosen).
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from measure import run_ferclean

from ferclean.manifest import effective_labels, kept, read_manifest
from ferclean.mislabel.saved_probs import load_probs
from ferclean.votes import VOTE_CLASSES, match_votes, read_votes

#: The vote column of each FER2013 class.
VOTE_COLUMN = {cls: column for column, cls in VOTE_CLASSES.items()}

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def judge(manifest_csv: Path, votes_csv: Path) -> None:
    """Print what the changed labels did, against the vote majority of the training images."""
    frame = read_manifest(manifest_csv).frame
    truth = match_votes(frame["path"], read_votes(votes_csv)).labels
    train = (frame["split"] == "train") & (truth != "")
    given, trained = frame["label"], effective_labels(frame)
    moved = train & kept(frame) & (trained != given)
    fixed, broken = moved & (trained == truth), moved & (given == truth)
    table = pd.DataFrame({
        "relabelled out": moved.groupby(given).sum(),
        "fixed": fixed.groupby(given).sum(),
        "broken": broken.groupby(given).sum(),
        "dropped": (train & ~kept(frame)).groupby(given).sum(),
    }).fillna(0).astype(int)
    table.loc["total"] = table.sum()
    print(f"\nLabel changes on training images with a vote majority ({int(train.sum()):,}), by given class:")
    print(table.to_string())
    stay = train & kept(frame)
    print(f"labels agreeing with the vote majority: {(given[train] == truth[train]).mean():.2%} of all training"
          f" images; of the {int(stay.sum()):,} kept, {(given[stay] == truth[stay]).mean():.2%} before and"
          f" {(trained[stay] == truth[stay]).mean():.2%} after clean")
    print(f"net fixed: {int(fixed.sum()) - int(broken.sum()):+,}")


#: Soft-label weights whose targets are compared with the vote distributions.
SOFT_WEIGHTS = (0.0, 0.3, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)


def soft_targets(probs_npy: Path, votes_csv: Path, smoothing: float = 0.1) -> None:
    """Print how close ``train``'s target (1-w) label + w probe, with the loss's label smoothing,
    comes to each training image's vote distribution (cross-entropy, lower is closer), per w."""
    saved = load_probs(probs_npy)
    votes = read_votes(votes_csv).set_index("path")
    found = [i for i, p in enumerate(saved.paths) if p in votes.index]
    counts = votes.loc[[saved.paths[i] for i in found], [VOTE_COLUMN[c] for c in saved.classes]].to_numpy(float)
    has = counts.sum(axis=1) > 0
    shares = counts[has] / counts[has].sum(axis=1, keepdims=True)
    probs = saved.probs[found][has]
    given = [Path(saved.paths[i]).parent.name for i in np.array(found)[has]]
    onehot = np.eye(len(saved.classes))[[saved.classes.index(g) for g in given]]
    print(f"\nSoft-label targets against the vote distributions of {len(probs):,} training images (cross-entropy):")
    for w in SOFT_WEIGHTS:
        target = (1 - smoothing) * ((1 - w) * onehot + w * probs) + smoothing / len(saved.classes)
        print(f"  weight {w:.1f}: {-(shares * np.log(target)).sum(axis=1).mean():.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DATA, help="Folder holding fer2013/ and ferplus/.")
    parser.add_argument("--probe", default="fast")
    parser.add_argument("--probs", type=Path, default=None, help="Reuse a saved probs.npy (clean --probs).")
    parser.add_argument("--policy", default="", help="More clean options, given with '=', e.g. --policy='--relabel-min 0.5'.")
    parser.add_argument("--runs", type=int, default=1, help="Timed runs of each command (median printed).")
    parser.add_argument("--no-timing", action="store_true", help="Skip the dedupe reference (e.g. with --probs).")
    args = parser.parse_args()
    fer = args.data / "fer2013"
    options = ["--probe", args.probe, *(("--probs", args.probs) if args.probs else ()), *args.policy.split()]
    with tempfile.TemporaryDirectory() as work:
        out = Path(work) / "clean.csv"
        print(f"load average before: {os.getloadavg()[0]:.2f}")
        cleans, dedupes = [], []
        for _ in range(args.runs):
            cleans.append(run_ferclean("clean", fer, *options, "-o", out))
            if not args.no_timing:
                dedupes.append(run_ferclean("dedupe", fer, "--policy", "keep-one", "-o", Path(work) / "dedup.csv"))
        print(f"load average after: {os.getloadavg()[0]:.2f}")
        wall = sorted(c.wall for c in cleans)[len(cleans) // 2]
        cpu = sorted(c.cpu for c in cleans)[len(cleans) // 2]
        print(f"ferclean clean {' '.join(map(str, options))}: {wall:.1f} s wall / {cpu:.1f} s CPU"
              f" (runs: {', '.join(f'{c.wall:.1f}' for c in cleans)})")
        if dedupes:
            reference = sorted(d.wall for d in dedupes)[len(dedupes) // 2]
            print(f"ferclean dedupe --policy keep-one: {reference:.1f} s wall; clean / dedupe = {wall / reference:.1f}x")
        judge(out, args.data / "ferplus" / "train_votes.csv")
        soft_targets(out.with_name(f"{out.stem}_clean") / "review" / "probs.npy", args.data / "ferplus" / "train_votes.csv")


if __name__ == "__main__":
    main()
