"""``ferclean evaluate``: re-evaluate a trained run on one split of any manifest."""

from __future__ import annotations

from pathlib import Path

import click

from ferclean.cli.common import check_outputs, load_input, manifest_stem
from ferclean.cli.options import classes_option, jobs_option
from ferclean.cli.console import console
from ferclean.labels import SPLITS
from ferclean.manifest import read_manifest
from ferclean.render.tables import metrics_table
from ferclean.votes import read_votes


@click.command()
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("--manifest", "-m", "manifest_path", type=click.Path(path_type=Path), default=None,
              help="Manifest .csv or dataset folder [default: the run's own manifest].")
@click.option("--split", type=click.Choice(SPLITS), default="test", show_default=True)
@click.option("--truth", "truth_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Annotator vote file (path + one vote count per class): score against each image's vote majority instead of its label.")
@click.option("--output", "-o", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder for the report [default: RUN_DIR/eval-<manifest>-<split>].")
@click.option("--batch-size", type=click.IntRange(min=1), default=256, show_default=True)
@classes_option
@jobs_option
def evaluate(
    run_dir: Path, manifest_path: Path | None, split: str, truth_path: Path | None, output: Path | None,
    batch_size: int, classes: str | None, jobs: int | None,
) -> None:
    """Re-evaluate the model saved in RUN_DIR on one split of any manifest.

    Writes metrics.json (accuracy, macro-F1, per-class precision/recall/F1),
    classification_report.txt, confusion_matrix.png/.csv and predictions.csv.

    With --truth VOTES.csv (columns path, neutral, happiness, surprise, sadness, anger,
    disgust, fear and optionally contempt, unknown, NF: annotator vote counts) each image is
    scored against the class that more than half of its annotators chose; images without votes
    or without such a majority are left out and counted.

    \b
    Example:
      ferclean evaluate runs/fer2013-clean-1 --manifest manifests/fer2013.csv --split test
      ferclean evaluate runs/fer2013-clean-1 -m manifests/fer2013.csv --truth annotator_votes.csv
    """
    from ferclean_train.evaluate import evaluate_run
    from ferclean_train.predict import load_run

    run = load_run(run_dir)
    if manifest_path is None:
        manifest_path = run_dir / run.details["manifest"]["copy"]
        manifest = read_manifest(manifest_path)
        label = "own"
    else:
        manifest = load_input(manifest_path, classes, jobs=jobs)
        label = manifest_stem(manifest_path)
    votes = read_votes(truth_path) if truth_path else None
    out_dir = output or run_dir / f"eval-{label}-{split}{'-truth' if truth_path else ''}"
    check_outputs(manifest_path, manifest, {"--output": out_dir}, (truth_path,))
    metrics = evaluate_run(
        run, manifest, split, out_dir, batch_size, votes, str(truth_path or ""), {"manifest": str(manifest_path.resolve())}
    )
    scored_by = f" against the vote majority of {truth_path.name}" if truth_path else ""
    console.print(metrics_table(metrics, f"{split} split of {manifest_path.name}{scored_by}, model {run_dir.name}"))
    if truth_path:
        t = metrics["truth"]
        console.print(
            f"Scored {t['scored']:,} of {t['rows']:,} images; left out {t['without_votes']:,} without votes"
            f" and {t['without_majority']:,} without a majority."
        )
    console.print(f"Wrote [bold]{out_dir}[/]")
