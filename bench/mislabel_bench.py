"""How well ``mislabel-review`` finds wrong labels on real FER2013.

Two modes, both printing their figures; run by hand:

``real`` (default): rankings against FER2013's *real* label errors, as judged by the FER+
annotators (``ferplus/train_votes.csv``, read here and nowhere else). A training image is a
clear error when at least 6 of its 10 votes go to one of the 7 FER2013 classes other than its
folder label. The probe runs over all of FER2013; precision@N,
the flagged set and the suggestion are judged on the training images, the only ones with votes.

``flips``: a known random share of labels flipped to another class, scored with our confident
learning and with ``cleanlab.filter.find_label_issues`` on the same probabilities. FER2013's
own wrong labels count as false positives there, so precision is a lower bound.

    .venv/bin/python bench/mislabel_bench.py --save-probs runs/bench/probs.npy   # fast probe, all FER2013
    .venv/bin/python bench/mislabel_bench.py --probs runs/bench/probs.npy        # re-score, no training
    .venv/bin/python bench/mislabel_bench.py --probs a/probs.npy --probs b/probs.npy   # + their average
    .venv/bin/python bench/mislabel_bench.py --probe ensemble --save-probs runs/bench/ens.npy  # each member, the ensemble
    .venv/bin/python bench/mislabel_bench.py --probs runs/bench/ens-fast.npy --probs runs/bench/ens-compact.npy
    .venv/bin/python bench/mislabel_bench.py --mode flips --probe cnn --limit 3000 --epochs 10
    .venv/bin/python bench/mislabel_bench.py --mode commands --runs 3   # the CLI against dedupe, wall

``commands``: ``ferclean mislabel-review FER2013 --probe P`` and ``ferclean dedupe FER2013 --policy
keep-one`` as a user runs them (fresh processes, scan included), interleaved ``--runs`` times;
prints each run, the medians, their ratio (the figure machines of different speed share) and the
load average before and after.
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from ferclean.dedupe.resolve import assign_groups, find_duplicate_pairs
from ferclean.folds import assign_folds
from ferclean.labels import class_order
from ferclean.manifest import group_keys
from ferclean.mislabel.features import load_images
from ferclean.mislabel.probe import COMPACT_FOLDS, PROBES, average_members, member_probs, members, needs_cnn
from ferclean.mislabel.saved_probs import SavedProbs, align, load_probs, save_probs
from ferclean.mislabel.scoring import FLAG_RULES, RANKINGS, score
from ferclean.scan import scan_dataset

from measure import run_ferclean

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
#: FER+ vote columns for the 7 FER2013 classes (contempt, unknown and not-a-face are not).
FERPLUS_CLASSES = {"neutral": "neutral", "happiness": "happy", "surprise": "surprise", "sadness": "sad",
                   "anger": "angry", "disgust": "disgust", "fear": "fear"}
CLEAR_VOTES = 6
CUTS = (500, 1000, 2000)
RELABEL_THRESHOLDS = (0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def cpu_seconds() -> float:
    """CPU time of this process and its finished workers: honest where the cores are shared."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def flip_labels(labels: np.ndarray, k: int, share: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Noisy labels with exactly ``share`` of them moved to a random other class, and the mask."""
    rng = np.random.default_rng(seed)
    chosen = rng.choice(len(labels), int(round(share * len(labels))), replace=False)
    noisy = labels.copy()
    noisy[chosen] = (labels[chosen] + rng.integers(1, k, len(chosen))) % k
    flipped = np.zeros(len(labels), dtype=bool)
    flipped[chosen] = True
    return noisy, flipped


def ferplus_truth(votes_csv: Path, paths: list[str], classes: list[str], labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(has_votes, clear_error, majority)`` per row: rows without votes get False / -1."""
    votes = pd.read_csv(votes_csv).set_index("path").reindex(paths)
    has = votes[list(FERPLUS_CLASSES)].notna().all(axis=1).to_numpy()
    counts = votes[list(FERPLUS_CLASSES)].fillna(0).to_numpy()
    columns = np.array([classes.index(FERPLUS_CLASSES[c]) for c in FERPLUS_CLASSES])
    majority = np.where(has, columns[counts.argmax(axis=1)], -1)
    clear = has & (counts.max(axis=1) >= CLEAR_VOTES) & (majority != labels)
    return has, clear, majority


def load_fer2013(data: Path, limit: int, seed: int, jobs: int) -> tuple[pd.DataFrame, Path]:
    """Kept FER2013 rows with duplicate groups (optionally a random subset), and the dataset root."""
    manifest, _ = scan_dataset(data, [], "phash", jobs)
    frame = manifest.frame[manifest.frame["status"] != "drop"].reset_index(drop=True)
    frame = assign_groups(frame, find_duplicate_pairs(frame))
    if limit:
        keep = np.sort(np.random.default_rng(seed).choice(len(frame), min(limit, len(frame)), replace=False))
        frame = frame.iloc[keep].reset_index(drop=True)
    return frame, manifest.root


def probe_probs(frame: pd.DataFrame, root: Path, labels: np.ndarray, k: int, args: argparse.Namespace
                ) -> tuple[dict[str, np.ndarray], list[str]]:
    """Each member's probabilities, and a line of wall and CPU time per member."""
    wall, cpu = time.perf_counter(), cpu_seconds()
    images, ok = load_images([root / p for p in frame["path"]], args.jobs)
    assert ok.all(), "unreadable images in the benchmark set"
    timing = [f"decode {time.perf_counter() - wall:.1f} s wall / {cpu_seconds() - cpu:.1f} s CPU"]
    build_cnn = None
    if needs_cnn(args.probe):
        from ferclean_train.models import PROBE_CNNS as build_cnn
    folds = assign_folds(frame["path"].tolist(), labels, group_keys(frame).tolist(), args.folds or COMPACT_FOLDS, args.seed)
    probs = {}
    for member in members(args.probe):
        wall, cpu = time.perf_counter(), cpu_seconds()
        probs |= member_probs(images, labels, k, member, args.seed, args.epochs, build_cnn, folds)
        timing.append(f"{member} probe: {time.perf_counter() - wall:.1f} s wall / {cpu_seconds() - cpu:.1f} s CPU")
    return probs, timing


def real_mode(args: argparse.Namespace) -> None:
    frame, root = load_fer2013(args.data / "fer2013", args.limit, args.seed, args.jobs)
    paths = frame["path"].tolist()
    classes = class_order(frame["label"])
    labels = np.array([classes.index(c) for c in frame["label"]], dtype=np.int64)
    if args.probs:
        tables, probes = [], []
        for npy in args.probs:
            saved = load_probs(npy)
            probs = align(saved, paths, frame["label"].tolist())
            tables.append((npy, probs[:, [saved.classes.index(c) for c in classes]]))
            probes.append(saved.meta.get("probe"))
        timing = "probabilities read from " + ", ".join(str(p) for p, _ in tables)
        if sorted(probes) == sorted(members("ensemble")):
            tables.append((Path("ensemble of the above"), average_members(dict(zip(probes, (p for _, p in tables))))))
    else:
        by_member, lines = probe_probs(frame, root, labels, len(classes), args)
        timing = "; ".join(lines)
        tables = [(Path(f"{member} probe"), probs) for member, probs in by_member.items()]
        if len(by_member) > 1:
            tables.append((Path(f"{args.probe} probe"), average_members(by_member)))
        if args.save_probs:
            for member, probs in by_member.items():
                target = args.save_probs.with_name(f"{args.save_probs.stem}-{member}.npy") if len(by_member) > 1 else args.save_probs
                save_probs(target, SavedProbs(probs=probs, paths=paths, classes=classes,
                                              meta={"probe": member, "seed": args.seed}))
    if args.probs and len(tables) > 1:
        tables.append((Path("average of the above"), np.mean([p for _, p in tables], axis=0)))
    has, clear, majority = ferplus_truth(args.data / "ferplus" / "train_votes.csv", paths, classes, labels)
    print(f"\n{len(frame):,} images, {has.sum():,} with FER+ votes (training), of which {clear.sum():,}"
          f" ({clear[has].mean():.1%}) are clear errors (>= {CLEAR_VOTES} of 10 votes for another FER2013 class)")
    print(timing)
    header = (f"{'probabilities':<28} {'ranking':<18} {'acc':>5} " + " ".join(f"{'p@' + str(c):>7}" for c in CUTS)
              + f" {'sugg=FER+':>9} {'flagged':>8} {'flag prec':>9} {'flag rec':>8} {'estimate':>8}")
    print(header)
    for name, probs in tables:
        accuracy = (probs.argmax(axis=1) == labels).mean()
        for ranking in RANKINGS:
            result = score(labels, probs, ranking=ranking)
            order = np.lexsort((np.arange(len(labels)), result.label_quality))
            order = order[has[order]]
            precision = [clear[order[:cut]].mean() for cut in CUTS]
            found = order[: CUTS[1]][clear[order[: CUTS[1]]]]
            suggestion = (result.suggested[found] == majority[found]).mean()
            flags = result.flagged & has
            print(f"{str(name)[-28:]:<28} {ranking + (' *' if ranking == RANKINGS[0] else ''):<18} {accuracy:5.3f} "
                  + " ".join(f"{p:7.3f}" for p in precision)
                  + f" {suggestion:9.3f} {flags.sum():8,} {clear[flags].mean():9.3f} {flags[clear].mean():8.3f}"
                  f" {result.estimated_errors:8,}")
    print_relabel_policy(tables, labels, has, majority)
    print("p@N: share of clear errors among the N training images ranked most doubtful; sugg=FER+: share of the"
          f" clear errors in the top {CUTS[1]} whose suggested label is the FER+ majority; flagged/flag prec/flag rec:"
          " the default flag rule on training images; estimate: calibrated confident-joint off-diagonal total"
          " over all images; * the default ranking")


def print_relabel_policy(tables: list[tuple[Path, np.ndarray]], labels: np.ndarray, has: np.ndarray,
                         majority: np.ndarray) -> None:
    """What ``--auto-relabel P`` would do to the flagged training images, judged by the FER+ vote
    plurality: how many it relabels, how many of those it fixes (new label = plurality) and
    breaks (old label was the plurality), and the net change in labels agreeing with FER+."""
    print(f"\n{'probabilities':<28} {'auto-relabel P':>14} {'relabelled':>10} {'fixed':>7} {'broken':>7} {'net':>7}")
    for name, probs in tables:
        result = score(labels, probs)
        candidates = result.flagged & has & (result.suggested != labels)
        for threshold in RELABEL_THRESHOLDS:
            relabel = candidates & (result.suggested_confidence >= threshold)
            fixed = int((result.suggested[relabel] == majority[relabel]).sum())
            broken = int((labels[relabel] == majority[relabel]).sum())
            print(f"{str(name)[-28:]:<28} {threshold:>14.2f} {int(relabel.sum()):>10,} {fixed:>7,} {broken:>7,}"
                  f" {fixed - broken:>+7,}")


def flips_figures(name: str, flags: np.ndarray, ranked: np.ndarray, flipped: np.ndarray, at: int) -> None:
    precision = flipped[flags].mean() if flags.any() else float("nan")
    recall = flags[flipped].mean()
    print(f"{name:<34} flagged {flags.sum():6d}  precision {precision:.4f}  recall {recall:.4f}  "
          f"precision@{at} {flipped[ranked[:at]].mean():.3f}")


def flips_mode(args: argparse.Namespace) -> None:
    start = time.perf_counter()
    frame, root = load_fer2013(args.data / "fer2013", args.limit, args.seed, args.jobs)
    scanned = time.perf_counter()
    classes = class_order(frame["label"])
    k = len(classes)
    true = np.array([classes.index(c) for c in frame["label"]], dtype=np.int64)
    noisy, flipped = flip_labels(true, k, args.noise, args.seed)
    by_member, lines = probe_probs(frame, root, noisy, k, args)
    probs, timing = average_members(by_member), "; ".join(lines)
    results = {rule: score(noisy, probs, rule) for rule in FLAG_RULES}

    from cleanlab.filter import find_label_issues

    theirs_ranked = find_label_issues(noisy, probs, return_indices_ranked_by="self_confidence")
    theirs_margin = find_label_issues(noisy, probs, return_indices_ranked_by="normalized_margin")
    theirs = np.zeros(len(noisy), dtype=bool)
    theirs[theirs_ranked] = True

    print(f"\n{len(frame):,} images, {k} classes, {flipped.sum():,} labels flipped ({args.noise:.0%}, seed {args.seed}),"
          f" probe {args.probe}, {int(frame['group'].notna().sum()):,} images in duplicate groups")
    print(f"probe accuracy: vs noisy labels {np.mean(probs.argmax(1) == noisy):.3f},"
          f" vs original labels {np.mean(probs.argmax(1) == true):.3f}")
    for rule, result in results.items():
        flips_figures(f"ferclean ({rule}{', default' if rule == FLAG_RULES[0] else ''})", result.flagged,
                      result.ranking(), flipped, args.at)
    flips_figures("cleanlab find_label_issues (sc)", theirs, theirs_ranked, flipped, args.at)
    flips_figures("cleanlab find_label_issues (nm)", theirs, theirs_margin, flipped, args.at)
    print(f"scan+dedupe {scanned - start:.1f} s wall; {timing}")


def commands_mode(args: argparse.Namespace) -> None:
    folder = args.data / "fer2013"
    load = os.getloadavg()
    walls: dict[str, list[float]] = {"mislabel-review": [], "dedupe": []}
    with tempfile.TemporaryDirectory() as tmp:
        for run in range(args.runs):
            for command, extra in (("mislabel-review", ["--probe", args.probe, "--seed", str(args.seed)]),
                                   ("dedupe", ["--policy", "keep-one"])):
                out = Path(tmp) / f"{command}-{run}.csv"
                done = run_ferclean(command, folder, "-o", out, "--jobs", str(args.jobs), *extra)
                walls[command].append(done.wall)
                print(f"run {run + 1} {command}: {done.wall:.1f} s wall, {done.cpu:.1f} s CPU", flush=True)
    review, dedupe = (float(np.median(walls[c])) for c in ("mislabel-review", "dedupe"))
    print(f"median of {args.runs}: mislabel-review --probe {args.probe} {review:.1f} s"
          f" ({min(walls['mislabel-review']):.1f}-{max(walls['mislabel-review']):.1f}), dedupe --policy keep-one"
          f" {dedupe:.1f} s ({min(walls['dedupe']):.1f}-{max(walls['dedupe']):.1f}): {review / dedupe:.1f}x dedupe;"
          f" load average {load[0]:.2f} before, {os.getloadavg()[0]:.2f} after")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=("real", "flips", "commands"), default="real")
    parser.add_argument("--data", type=Path, default=DATA, help="Folder holding fer2013/ and ferplus/.")
    parser.add_argument("--probe", choices=PROBES, default="fast")
    parser.add_argument("--probs", type=Path, action="append", default=[],
                        help="real mode: score saved probs.npy (repeatable) instead of training a probe.")
    parser.add_argument("--save-probs", type=Path, default=None, help="real mode: save the probe's probs.npy here (an ensemble: one per member, NAME-fast.npy, NAME-cnn.npy).")
    parser.add_argument("--noise", type=float, default=0.10, help="flips mode: share of labels flipped.")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=None, help="Epochs of the CNN (default: the probe's own).")
    parser.add_argument("--folds", type=int, default=None, help=f"Folds of the ensemble's compact CNN (default {COMPACT_FOLDS}).")
    parser.add_argument("--limit", type=int, default=0, help="Random subset of this many images (0: all).")
    parser.add_argument("--at", type=int, default=500, help="flips mode: cut-off for precision@N.")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--runs", type=int, default=3, help="commands mode: interleaved runs of each command.")
    args = parser.parse_args()
    {"real": real_mode, "flips": flips_mode, "commands": commands_mode}[args.mode](args)


if __name__ == "__main__":
    main()
