"""``ferclean mislabel-review``: flag doubtful labels with a probe model, review them, apply decisions."""

from __future__ import annotations

from pathlib import Path

import click
import pandas as pd
from rich.table import Table

from ferclean.cli.common import check_outputs, command_line, load_input, note_resume, save
from ferclean.cli.console import console, progress
from ferclean.cli.options import backend_options, classes_option, jobs_option, output_option
from ferclean.parallel import Backend
from ferclean.labels import class_order
from ferclean.manifest import effective_labels, kept
from ferclean.mislabel.decisions import apply_decisions, read_decisions
from ferclean.mislabel.decisions import auto_relabel as relabel_confident
from ferclean.mislabel.pipeline import PROBES, ReviewResult, review
from ferclean.mislabel.probe import CNN_EPOCHS, COMPACT_EPOCHS, COMPACT_FOLDS, needs_cnn
from ferclean.mislabel.report import pair_counts


@click.command("mislabel-review")
@click.argument("source", metavar="MANIFEST_OR_DATASET", type=click.Path(path_type=Path))
@output_option()
@click.option("--probe", type=click.Choice(PROBES), default="fast", show_default=True,
              help="fast: two perceptrons on whitened HOG and HOG+LBP+pixel features (under a minute on FER2013);"
                   " cnn: a small CNN at 32 px (about 8 min on FER2013 and 2 cores); both judge an image by what they"
                   " say of it while training on every image. ensemble: fast and the trainer's compact CNN per fold,"
                   " judging each image held out and in training: the best at finding real errors (about 40 min).")
@click.option("--folds", type=click.IntRange(min=2), default=None,
              help=f"Folds of the ensemble's compact CNN [default: {COMPACT_FOLDS}, which costs one training over the"
                   " whole set; duplicates stay in one fold]. The fast and cnn probes have none.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the probe (and its folds).")
@click.option("--epochs", type=click.IntRange(min=1), default=None,
              help=f"Epochs of the CNN [default: {CNN_EPOCHS} for cnn, {COMPACT_EPOCHS} per fold for ensemble].")
@click.option("--report-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder for probs.npy, review.csv, review.html, confusion_matrix.png [default: <output stem>_review/].")
@click.option("--probs", "probs_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Reuse the probe's probabilities (probs.npy) of an earlier run instead of training.")
@click.option("--apply", "decisions_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write a reviewer's decisions.csv (path, decision, new_label) into the manifest; no probe runs.")
@click.option("--auto-relabel", type=click.FloatRange(0.0, 1.0), default=None, metavar="MIN_CONFIDENCE",
              help="Relabel flagged images whose suggestion has at least this probability.")
@click.option("--resume", is_flag=True,
              help="Continue an interrupted cnn or ensemble probe after its last finished epoch (cnn) or fold"
                   " (ensemble), checkpointed in the report folder; refused when the images, labels or options differ.")
@click.option("--page-limit", type=click.IntRange(min=1), default=2000, show_default=True,
              help="Most doubtful flagged images shown in review.html (review.csv lists them all).")
@classes_option
@jobs_option
@backend_options
def mislabel_review(
    source: Path, output: Path, probe: str, folds: int | None, seed: int, epochs: int | None, report_dir: Path | None,
    probs_path: Path | None, decisions_path: Path | None, auto_relabel: float | None, resume: bool, page_limit: int,
    classes: str | None, jobs: int | None, backend: Backend,
) -> None:
    """Flag images whose label a probe model finds unlikely.

    Every kept image is judged by how late, if ever, the probe's models fit its label while
    training on it (a wrong label is fitted last). Confident learning then flags the doubtful
    ones (status=review) with a suggested label. Review them in the report's review.html,
    download decisions.csv, and apply it with --apply. --probs reuses the probabilities of an
    earlier run on any manifest sharing its images (matched by path, e.g. after dedupe), to try
    policies without training again.

    \b
    Example:
      ferclean mislabel-review manifests/fer2013.csv -o manifests/fer2013-review.csv
      ferclean mislabel-review manifests/fer2013.csv --probe ensemble -o manifests/fer2013-review.csv
      ferclean mislabel-review manifests/fer2013.csv --probe ensemble -o manifests/fer2013-review.csv --resume
      ferclean mislabel-review manifests/fer2013-review.csv --apply decisions.csv -o manifests/fer2013-reviewed.csv
      ferclean mislabel-review manifests/fer2013.csv --probs manifests/fer2013-review_review/probs.npy \\
          --auto-relabel 0.9 -o manifests/fer2013-auto.csv
    """
    report_dir = report_dir or output.with_name(output.stem + "_review")
    outputs = {"-o": output, "--report-dir": report_dir}
    check_outputs(source, None, outputs, (decisions_path, probs_path))
    manifest = load_input(source, classes, jobs=jobs, backend=backend)
    check_outputs(source, manifest, outputs, (decisions_path, probs_path))
    frame = manifest.frame
    if decisions_path is not None:
        known = class_order(effective_labels(frame)[kept(frame)])
        decisions = read_decisions(decisions_path, frame["path"], known)
        frame = apply_decisions(frame, decisions, decisions_path.name)
        console.print(_count_table(decisions["decision"].value_counts(), f"Decisions from {decisions_path.name}", "decision"))
    elif auto_relabel is None or probs_path is not None or "label_quality" not in frame.columns:
        if probs_path is None and needs_cnn(probe):
            note_resume("the same command and --resume")
        with progress() as on_progress:
            result = review(
                manifest, probe, folds, seed, epochs, probs_path, _probe_cnns() if needs_cnn(probe) else None,
                report_dir, page_limit, jobs, on_progress, backend, resume,
            )
        _print_review(result, report_dir)
        frame = result.manifest.frame
    if auto_relabel is not None:
        frame, relabelled = relabel_confident(frame, auto_relabel)
        console.print(f"Auto-relabelled {relabelled:,} flagged image(s) with suggestion p >= {auto_relabel:g}.")
    save(manifest.with_frame(frame), output, command_line())


def _count_table(counts: pd.Series, title: str, what: str) -> Table:
    table = Table(title=title)
    table.add_column(what)
    table.add_column("images", justify="right")
    for name, count in counts.items():
        table.add_row(str(name), f"{int(count):,}")
    return table


def _print_review(result: ReviewResult, report_dir: Path) -> None:
    if result.skipped:
        console.print(f"[yellow]Skipped {len(result.skipped)} unreadable image(s), e.g. {result.skipped[0]}")
    written = "" if result.reused else "probs.npy, probs_index.csv, probs_meta.json, "
    console.print(f"Wrote [bold]{report_dir}[/]: {written}review.csv, review.html, confusion_matrix.png")
    title = f"Flagged per class pair ({len(result.review):,} of {len(result.labels):,} images)"
    table = _count_table(pair_counts(result.review), title, "given -> suggested")
    estimate = result.estimated_errors
    table.caption = (
        f"probe agrees with the given label on {result.accuracy:.1%} of images; estimated wrong"
        f" labels {estimate:,} ({estimate / max(len(result.labels), 1):.1%}): images confidently in another class"
        " (p >= that class's mean self-confidence), calibrated to the label counts. The flagged are that many"
        " with the lowest normalized margin among those predicted as another class, most doubtful first."
    )
    console.print(table)


def _probe_cnns():  # noqa: ANN202 - keras is imported only for the CNN probes
    from ferclean_train.models import PROBE_CNNS

    return PROBE_CNNS
