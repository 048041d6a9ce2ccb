"""``ferclean mislabel-review``: flag doubtful labels with a probe model, review them, apply decisions."""

from __future__ import annotations

from pathlib import Path

import click
import numpy as np
import pandas as pd
from rich.table import Table

from ferclean.cli.common import classes_option, command_line, jobs_option, load_input, output_option, save
from ferclean.console import console, progress
from ferclean.errors import FercleanError
from ferclean.labels import class_order
from ferclean.manifest import Manifest, effective_labels, group_keys, kept
from ferclean.mislabel.annotate import annotate
from ferclean.mislabel.decisions import apply_decisions, read_decisions
from ferclean.mislabel.decisions import auto_relabel as relabel_confident
from ferclean.mislabel.features import load_images, load_one
from ferclean.folds import assign_folds
from ferclean.mislabel.probe import PROBES, out_of_fold_probs
from ferclean.mislabel.report import confusion, pair_counts, review_table
from ferclean.plots import plot_confusion
from ferclean.mislabel.review_page import render_review_page, thumbnail_uri
from ferclean.mislabel.saved_probs import SavedProbs, align, load_probs, save_probs
from ferclean.mislabel.scoring import score


@click.command("mislabel-review")
@click.argument("source", metavar="MANIFEST_OR_DATASET", type=click.Path(path_type=Path))
@output_option()
@click.option("--probe", type=click.Choice(PROBES), default="fast", show_default=True,
              help="fast: HOG, LBP and pixel features, PCA, perceptron + logistic regression (CPU); cnn: a small Keras CNN per fold (GPU).")
@click.option("--folds", type=click.IntRange(min=2), default=5, show_default=True, help="Cross-validation folds.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for folds and probe.")
@click.option("--epochs", type=click.IntRange(min=1), default=20, show_default=True, help="Epochs per fold (cnn probe).")
@click.option("--report-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder for probs.npy, review.csv, review.html, confusion_matrix.png [default: <output stem>_review/].")
@click.option("--probs", "probs_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Reuse the out-of-fold probabilities (probs.npy) of an earlier run instead of training.")
@click.option("--apply", "decisions_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write a reviewer's decisions.csv (path, decision, new_label) into the manifest; no probe runs.")
@click.option("--auto-relabel", type=click.FloatRange(0.0, 1.0), default=None, metavar="MIN_CONFIDENCE",
              help="Relabel flagged images whose suggestion has at least this out-of-fold probability.")
@click.option("--page-limit", type=click.IntRange(min=1), default=2000, show_default=True,
              help="Most doubtful flagged images shown in review.html (review.csv lists them all).")
@classes_option
@jobs_option
def mislabel_review(
    source: Path, output: Path, probe: str, folds: int, seed: int, epochs: int, report_dir: Path | None,
    probs_path: Path | None, decisions_path: Path | None, auto_relabel: float | None, page_limit: int,
    classes: str | None, jobs: int | None,
) -> None:
    """Flag images whose label a probe model, trained on the other folds, finds unlikely.

    Every kept image gets an out-of-fold prediction (duplicates stay in one fold); confident
    learning then flags the doubtful ones (status=review) with a suggested label. Review them
    in the report's review.html, download decisions.csv, and apply it with --apply.

    \b
    Example:
      ferclean mislabel-review manifests/fer2013.csv -o manifests/fer2013-review.csv
      ferclean mislabel-review manifests/fer2013-review.csv --apply decisions.csv -o manifests/fer2013-reviewed.csv
      ferclean mislabel-review manifests/fer2013.csv --probs manifests/fer2013-review_review/probs.npy \\
          --auto-relabel 0.9 -o manifests/fer2013-auto.csv
    """
    manifest = load_input(source, classes, jobs=jobs)
    frame = manifest.frame
    if decisions_path is not None:
        known = class_order(effective_labels(frame)[kept(frame)])
        decisions = read_decisions(decisions_path, frame["path"], known)
        frame = apply_decisions(frame, decisions, decisions_path.name)
        console.print(_count_table(decisions["decision"].value_counts(), f"Decisions from {decisions_path.name}", "decision"))
    elif auto_relabel is None or probs_path is not None or "label_quality" not in frame.columns:
        frame = _review(manifest, output, probe, folds, seed, epochs, report_dir, probs_path, page_limit, jobs)
    if auto_relabel is not None:
        frame, relabelled = relabel_confident(frame, auto_relabel)
        console.print(f"Auto-relabelled {relabelled:,} flagged image(s) with suggestion p >= {auto_relabel:g}.")
    save(manifest.with_frame(frame), output, command_line())


def _review(
    manifest: Manifest, output: Path, probe: str, folds: int, seed: int, epochs: int,
    report_dir: Path | None, probs_path: Path | None, page_limit: int, jobs: int | None,
) -> pd.DataFrame:
    """Probe (or reuse saved probabilities), score, annotate, and write the report folder."""
    frame = manifest.frame
    report_dir = report_dir or output.with_name(output.stem + "_review")
    rows = np.flatnonzero(kept(frame).to_numpy())
    if len(rows) == 0:
        raise FercleanError("The manifest has no kept images to review.")
    paths = frame["path"].iloc[rows].tolist()
    label_names = effective_labels(frame).iloc[rows].tolist()
    abspaths = [manifest.root / p for p in paths]
    if probs_path is not None:
        saved = load_probs(probs_path)
        probs, fold_of = align(saved, paths, label_names)
        class_names = saved.classes
        thumbs_source = None
    else:
        images, ok = load_images(abspaths, jobs)
        if not ok.all():
            bad = [paths[i] for i in np.flatnonzero(~ok)]
            console.print(f"[yellow]Skipped {len(bad)} unreadable image(s), e.g. {bad[0]}")
            rows, images = rows[ok], images[ok]
            paths = [p for p, good in zip(paths, ok) if good]
            label_names = [n for n, good in zip(label_names, ok) if good]
        class_names = class_order(label_names)
        if len(class_names) < 2:
            raise FercleanError(f"Only one class ({class_names[0]}) among the kept images; a probe needs two or more.")
        labels = np.array([class_names.index(n) for n in label_names], dtype=np.int64)
        groups = group_keys(frame).iloc[rows].tolist()
        fold_of = assign_folds(paths, labels, groups, folds, seed)
        with progress() as on_progress:
            probs = out_of_fold_probs(images, labels, fold_of, len(class_names), probe, seed, epochs, on_progress)
        saved = SavedProbs(probs=probs, paths=paths, folds=fold_of, classes=class_names,
                           meta={"probe": probe, "folds": folds, "seed": seed})
        save_probs(report_dir / "probs.npy", saved)
        thumbs_source = dict(zip(paths, images))
    labels = np.array([class_names.index(n) for n in label_names], dtype=np.int64)
    scores = score(labels, probs)
    frame = annotate(frame, rows, class_names, scores)
    review = review_table(frame, pd.Series(fold_of, index=frame.index[rows]))
    _write_report(manifest, review, labels, probs, class_names, report_dir, thumbs_source, probs_path is not None, page_limit)
    _print_summary(review, labels, probs, len(rows), scores.estimated_errors)
    return frame


def _write_report(
    manifest: Manifest, review: pd.DataFrame, labels: np.ndarray, probs: np.ndarray, class_names: list[str],
    report_dir: Path, thumbs_source: dict[str, np.ndarray] | None, reused: bool, page_limit: int,
) -> None:
    report_dir.mkdir(parents=True, exist_ok=True)
    review.to_csv(report_dir / "review.csv", index=False)
    # A page of tens of thousands of embedded thumbnails is too slow to review; the rest stay in review.csv.
    page = review.head(page_limit)
    if thumbs_source is None:
        thumbs_source = {}
    thumbs = []
    for path in page["path"]:
        array = thumbs_source.get(path)
        if array is None:
            array = load_one(str(manifest.root / path))
        thumbs.append(thumbnail_uri(array if array is not None else np.zeros((48, 48), np.uint8)))
    shown = f"the {len(page):,} most doubtful of " if len(page) < len(review) else ""
    title = f"ferclean mislabel review: {shown}{len(review):,} flagged image(s)"
    (report_dir / "review.html").write_text(render_review_page(page, thumbs, class_names, title), encoding="utf-8")
    matrix = confusion(labels, probs.argmax(axis=1), len(class_names))
    accuracy = np.trace(matrix) / max(matrix.sum(), 1)
    plot_confusion(
        matrix, class_names, report_dir / "confusion_matrix.png", f"Probe vs given labels (accuracy {accuracy:.1%})",
        xlabel="probe prediction (out of fold)", ylabel="given label",
    )
    console.print(
        f"Wrote [bold]{report_dir}[/]: {'' if reused else 'probs.npy, probs_index.csv, probs_meta.json, '}"
        "review.csv, review.html, confusion_matrix.png"
    )


def _count_table(counts: pd.Series, title: str, what: str) -> Table:
    table = Table(title=title)
    table.add_column(what)
    table.add_column("images", justify="right")
    for name, count in counts.items():
        table.add_row(str(name), f"{int(count):,}")
    return table


def _print_summary(review: pd.DataFrame, labels: np.ndarray, probs: np.ndarray, probed: int, estimate: int) -> None:
    accuracy = float((probs.argmax(axis=1) == labels).mean())
    table = _count_table(pair_counts(review), f"Flagged per class pair ({len(review):,} of {probed:,} images)", "given -> suggested")
    table.caption = (
        f"probe agrees with the given label on {accuracy:.1%} of images (out of fold); estimated label errors"
        f" {estimate:,} ({estimate / probed:.1%}): images confidently in another class (p >= that class's mean"
        " self-confidence), calibrated to the label counts; the flagged are that many with the lowest"
        " normalized margin whose likeliest class is another"
    )
    console.print(table)
