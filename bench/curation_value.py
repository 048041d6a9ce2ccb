"""Does curation pay? The same model trained on raw and on ferclean-curated FER2013.

Run by hand (it trains 2 arms x len(--seeds) models of --max-minutes each):

    .venv/bin/python bench/curation_value.py --truth ../shared/data/ferplus/train_votes.csv \\
        --holdout 3000 --max-minutes 45 --seeds 0,1 --work runs/curation

The figures in docs/benchmarks.md (20 epochs per model; ``ferclean clean --probe cnn`` runs its
probe once and later runs in the same ``--work`` reuse it; three seeds take about two hours on two
quiet cores):

    .venv/bin/python bench/curation_value.py --truth ../shared/data/ferplus/train_votes.csv \\
        --holdout 3000 --epochs 20 --same-epochs --seeds 0,1,2 --probe cnn --work runs/curation

Arms, both built with the ``ferclean`` command line exactly as a user would run it:
- **raw**: the original labels and splits;
- **curated**: ``ferclean clean`` on the raw arm's manifest, with its default policy (or the
  options of ``--policy``): duplicates kept once (a leak is fixed by dropping the training copy),
  flagged training labels relabelled where the probe is sure enough, and every training image
  given the probe's class distribution as a soft label (see ``ferclean clean --help``). The probe
  learns from the training split only, so no evaluation label reaches the curated arm.
Both arms train the CPU default recipe for the same ``--max-minutes`` and seeds, and are scored on
the same evaluation images with the same labels:
- ``--truth VOTES.csv --holdout N``: N training images with a clear vote majority are held out of
  both trainings and labelled by the votes (FER+ style: more than half of the annotators);
- ``--truth VOTES.csv``: the test split, labelled by the votes (images without a majority are left
  out and counted);
- neither: the test split with its own labels.
The last line printed is ``curated_minus_raw_points=X.XX`` (mean accuracy difference in points).

On a shared machine use ``--epochs N``: the raw arm trains N epochs and a curated arm the same number
of optimizer steps (more epochs when curation made its training set smaller), as an equal
wall-clock budget would on quiet cores.
``--arms raw`` trains the raw arm alone (for instance while the probe is being chosen); a later run
with the same ``--work`` reuses every finished model and probe review.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
from rich.console import Console
from rich.table import Table

from ferclean.manifest import Manifest, kept, read_manifest, write_manifest
from ferclean.mislabel.saved_probs import load_probs, save_probs
from ferclean.votes import match_votes, read_votes

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "fer2013"
console = Console()


def ferclean(*args: str | Path) -> None:
    """Run one ``ferclean`` command as a user would; stop the bench if it fails."""
    command = [sys.executable, "-m", "ferclean", *map(str, args)]
    console.print(f"[dim]$ ferclean {' '.join(map(str, args))}")
    if subprocess.run(command).returncode != 0:
        sys.exit(f"ferclean {args[0]} failed; see above.")


def holdout_rows(frame: pd.DataFrame, truth: pd.Series, n: int, seed: int) -> pd.Index:
    """``n`` training rows with a vote majority, stratified by their given label, seeded."""
    pool = frame[(frame["split"] == "train") & (truth != "")]
    if n > len(pool):
        sys.exit(f"--holdout {n} is more than the {len(pool)} training images with a vote majority.")
    share = n / len(pool)
    picked = pool.groupby("label", group_keys=False).sample(frac=share, random_state=seed)
    return picked.index[:n]


def build_raw(scanned: Manifest, votes: pd.DataFrame | None, holdout: int, seed: int) -> tuple[Manifest, pd.DataFrame]:
    """The raw arm's manifest and the evaluation rows (path, label) shared by both arms."""
    frame = scanned.frame.copy()
    if holdout:
        truth = match_votes(frame["path"], votes).labels
        held = holdout_rows(frame, truth, holdout, seed)
        frame = frame[frame["split"] != "test"]
        frame.loc[held, "split"] = "test"
        frame.loc[held, "note"] = "held out for the curation benchmark"
    evaluation = frame.loc[frame["split"] == "test", ["path", "split", "label", "status"]].copy()
    evaluation["status"] = "keep"
    return scanned.with_frame(frame.reset_index(drop=True)), evaluation.reset_index(drop=True)


def build_curated(raw_path: Path, curated_path: Path, probe: str, policy: list[str], probs: Path | None) -> None:
    """The curated arm's manifest: ``ferclean clean`` on the raw one, as a user runs it.

    A probe's probabilities from an earlier run in the work folder are reused (the slow part).
    """
    earlier = curated_path.with_name(f"{curated_path.stem}_clean") / "review" / "probs.npy"
    reuse = probs or (earlier if earlier.exists() else None)
    if reuse == earlier:  # out of the report folder that this run rewrites
        reuse = curated_path.with_name(f"{curated_path.stem}-probs.npy")
        save_probs(reuse, load_probs(earlier))
    ferclean("clean", raw_path, "--probe", probe, *(("--probs", reuse) if reuse else ()), *policy, "-o", curated_path)


def leaked_paths(work: Path, raw_path: Path) -> set[str]:
    """Evaluation images with a duplicate among the raw arm's training images (``dedupe --policy
    report`` groups): a raw model may have learned them by heart."""
    groups_path = work / "raw-groups.csv"
    if not groups_path.exists():
        ferclean("dedupe", raw_path, "--policy", "report", "-o", groups_path)
    frame = read_manifest(groups_path).frame
    train_groups = set(frame.loc[(frame["split"] == "train") & frame["group"].notna(), "group"])
    return set(frame.loc[(frame["split"] == "test") & frame["group"].isin(train_groups), "path"])


def accuracy_without(predictions: Path, leaked: set[str]) -> float:
    """Accuracy over the evaluated images outside ``leaked``."""
    frame = pd.read_csv(predictions)
    clean = ~frame["path"].isin(leaked)
    return float((frame["label"] == frame["predicted"])[clean].mean())


def arm_epochs(epochs: int, raw_path: Path, manifest_path: Path) -> int:
    """``epochs`` scaled by raw / this arm's training images: the raw arm's number of steps."""
    return max(1, round(epochs * trained_on(raw_path) / trained_on(manifest_path)))


def trained_on(manifest_path: Path) -> int:
    frame = read_manifest(manifest_path).frame
    return int(((frame["split"] == "train") & kept(frame)).sum())


def per_class_table(results: dict[str, list[dict]]) -> Table:
    """Each class's F1 and faces found (recall x support), mean over the seeds, per arm: where
    macro-F1 moves. A class with a handful of evaluation faces (FER+ majority disgust: about 8 in
    3,000) swings macro-F1 by a few images."""
    arms = [arm for arm, runs in results.items() if runs]
    first = results[arms[0]][0]
    table = Table(title="Per class (mean over seeds): F1, evaluation faces found / support")
    table.add_column("class")
    table.add_column("support", justify="right")
    for arm in arms:
        table.add_column(f"{arm} F1", justify="right")
        table.add_column(f"{arm} found", justify="right")
    for name in first["classes"]:
        support = first["per_class"][name]["support"]
        cells = []
        for arm in arms:
            scores = [run["per_class"][name] for run in results[arm]]
            cells += [f"{statistics.mean(c['f1'] for c in scores):.3f}",
                      f"{statistics.mean(c['recall'] * c['support'] for c in scores):.1f}"]
        table.add_row(name, f"{support:,}", *cells)
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="FER2013 tree (split/class/image).")
    parser.add_argument("--work", type=Path, default=Path("runs/curation"), help="Keeps manifests, runs and evaluations.")
    parser.add_argument("--truth", type=Path, default=None, help="Vote file (path + FER+ vote columns).")
    parser.add_argument("--holdout", type=int, default=0, help="Training images held out and scored by --truth.")
    parser.add_argument("--max-minutes", type=float, default=45.0, help="Training budget of every model.")
    parser.add_argument("--epochs", type=int, default=None,
                        help="Train the raw arm this many epochs, and each curated arm as many optimizer steps "
                             "(epochs scaled by its training-set size), instead of --max-minutes: on a shared machine "
                             "a wall-clock budget would give the arms unequal compute.")
    parser.add_argument("--same-epochs", action="store_true",
                        help="With --epochs: every arm trains exactly --epochs epochs (fewer steps for a smaller set).")
    parser.add_argument("--arms", default="raw,curated",
                        help="Arms to train now (raw, curated); finished runs in --work are reused, so the raw arm "
                             "can train while the curated arm's probe is still being chosen.")
    parser.add_argument("--seeds", default="0,1", help="Comma-separated training seeds.")
    parser.add_argument("--probe", default="fast", help="ferclean clean --probe.")
    parser.add_argument("--probs", type=Path, default=None,
                        help="ferclean clean --probs: the probe's saved probs.npy over these images (from a "
                             "ferclean clean of the same raw manifest: a probe that learned the evaluation images' "
                             "labels would leak them), instead of training it again.")
    parser.add_argument("--policy", default="",
                        help="More ferclean clean options for the curated arm, given with '=', e.g. --policy='--relabel-min 0.5 --drop-unsure'"
                             " (default: clean's own policy).")
    parser.add_argument("--split-seed", type=int, default=0, help="Seed of the holdout draw.")
    args = parser.parse_args()
    policy = args.policy.split()
    if args.holdout and args.truth is None:
        parser.error("--holdout needs --truth (the held-out images are labelled by the votes).")
    seeds = [int(s) for s in args.seeds.split(",")]
    arms = [a.strip() for a in args.arms.split(",") if a.strip()]
    if not arms or set(arms) - {"raw", "curated"}:
        parser.error("--arms: choose raw, curated or both, comma-separated.")
    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()

    scanned_path = work / "scanned.csv"
    if not scanned_path.exists():
        ferclean("scan", args.data, "-o", scanned_path)
    votes = read_votes(args.truth) if args.truth else None
    raw, evaluation = build_raw(read_manifest(scanned_path), votes, args.holdout, args.split_seed)
    raw_path, eval_path = work / "raw.csv", work / "evaluation.csv"
    write_manifest(raw, raw_path, command="bench/curation_value.py: raw arm")
    write_manifest(raw.with_frame(evaluation), eval_path, command="bench/curation_value.py: evaluation images")

    tag = "-".join([args.probe, *(o.lstrip("-") for o in policy)]) or "default"
    curated_path = work / f"curated-{tag}.csv"
    if "curated" in arms:
        build_curated(raw_path, curated_path, args.probe, policy, args.probs)

    results: dict[str, list[dict]] = {"raw": [], "curated": []}
    manifests = {"raw": raw_path, "curated": curated_path}
    schedules = {arm: ("--max-minutes", args.max_minutes) for arm in manifests}
    if args.epochs and args.same_epochs:
        schedules = {arm: ("--epochs", args.epochs) for arm in manifests}
    elif args.epochs:
        # As many optimizer steps for each arm, as a shared wall-clock budget would give: a smaller
        # curated set trains proportionally more epochs.
        schedules = {arm: ("--epochs", arm_epochs(args.epochs, raw_path, path)) for arm, path in manifests.items()
                     if arm in arms}
    leaked = leaked_paths(work, raw_path)
    for arm in arms:
        for seed in seeds:
            option, amount = schedules[arm]
            name = f"raw-seed{seed}" if arm == "raw" else f"curated-{tag}-{option[2:]}{amount:g}-seed{seed}"
            run_dir = work / "runs" / f"{name}-1"
            if not (run_dir / "model.keras").exists():
                ferclean("train", "--manifest", manifests[arm], *schedules[arm], "--seed", seed,
                         "--runs-dir", work / "runs", "--name", name, "--version", 1)
            out = work / "eval" / name
            truth_args = ("--truth", args.truth) if args.truth else ()
            ferclean("evaluate", run_dir, "--manifest", eval_path, "--split", "test", *truth_args, "-o", out)
            metrics = json.loads((out / "metrics.json").read_text())
            metrics["leak_free_accuracy"] = accuracy_without(out / "predictions.csv", leaked)
            results[arm].append(metrics)

    per_model = f"{args.max_minutes:g} min"
    if args.epochs:
        per_model = f"{args.epochs} epochs" if args.same_epochs else f"the steps of {args.epochs} raw epochs"
    table = Table(title=f"Raw vs curated FER2013 ({per_model} per model; ferclean clean --probe {args.probe} {args.policy})")
    for column in ("arm", "trained on", "seed", "evaluated", "accuracy", "macro-F1", "leak-free accuracy"):
        table.add_column(column, justify="left" if column == "arm" else "right")
    means = {}
    for arm in arms:
        n = trained_on(manifests[arm])
        accuracies = [m["accuracy"] for m in results[arm]]
        for seed, m in zip(seeds, results[arm]):
            table.add_row(arm, f"{n:,}", str(seed), f"{m['images']:,}", f"{m['accuracy']:.2%}", f"{m['macro_f1']:.3f}",
                          f"{m['leak_free_accuracy']:.2%}")
        spread = statistics.stdev(accuracies) if len(accuracies) > 1 else 0.0
        f1s = [m["macro_f1"] for m in results[arm]]
        leak_free = statistics.mean(m["leak_free_accuracy"] for m in results[arm])
        table.add_row(f"{arm} mean ± sd", "", "", "", f"{statistics.mean(accuracies):.2%} ± {spread:.2%}",
                      f"{statistics.mean(f1s):.3f}", f"{leak_free:.2%}", style="bold")
        table.add_section()
        means[arm] = statistics.mean(accuracies)
    table.caption = (f"leak-free accuracy: over the {len(evaluation) - len(leaked):,} evaluation images without a"
                     f" duplicate among the raw arm's training images ({len(leaked):,} have one)")
    console.print(table)
    console.print(per_class_table(results))
    left_out = results[arms[0]][0].get("truth", {})
    if left_out:
        console.print(f"Evaluation labels from {args.truth.name}: {left_out}")
    console.print(f"Total time {(time.perf_counter() - started) / 60:.1f} min")
    if len(means) == 2:
        print(f"curated_minus_raw_points={100 * (means['curated'] - means['raw']):.2f}")


if __name__ == "__main__":
    main()
