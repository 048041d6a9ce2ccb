"""``ferclean evaluate``: re-evaluate a trained run on one split of any manifest."""

from __future__ import annotations

from pathlib import Path

import click

from ferclean.cli.common import load_input, manifest_stem
from ferclean.cli.options import classes_option, jobs_option
from ferclean.cli.console import console
from ferclean.labels import SPLITS
from ferclean.manifest import read_manifest
from ferclean.render.tables import metrics_table


@click.command()
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("--manifest", "-m", "manifest_path", type=click.Path(path_type=Path), default=None,
              help="Manifest .csv or dataset folder [default: the run's own manifest].")
@click.option("--split", type=click.Choice(SPLITS), default="test", show_default=True)
@click.option("--output", "-o", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder for the report [default: RUN_DIR/eval-<manifest>-<split>].")
@click.option("--batch-size", type=click.IntRange(min=1), default=256, show_default=True)
@classes_option
@jobs_option
def evaluate(
    run_dir: Path, manifest_path: Path | None, split: str, output: Path | None, batch_size: int, classes: str | None, jobs: int | None
) -> None:
    """Re-evaluate the model saved in RUN_DIR on one split of any manifest.

    Writes metrics.json (accuracy, macro-F1, per-class precision/recall/F1),
    classification_report.txt, confusion_matrix.png/.csv and predictions.csv.

    \b
    Example:
      ferclean evaluate runs/fer2013-clean-1 --manifest manifests/fer2013.csv --split test
    """
    from ferclean_train import data
    from ferclean_train.evaluate import predict_split, write_evaluation
    from ferclean_train.predict import load_run
    from ferclean_train.fit import decode_errors_as_input_errors

    run = load_run(run_dir)
    if manifest_path is None:
        manifest_path = run_dir / run.details["manifest"]["copy"]
        manifest = read_manifest(manifest_path)
        label = "own"
    else:
        manifest = load_input(manifest_path, classes, jobs=jobs)
        label = manifest_stem(manifest_path)
    rows = data.labelled_rows(manifest)
    part = data.require_split(rows, split, "evaluate on")
    data.check_files_exist(part)
    data.label_indices(part["label"], run.classes)
    with decode_errors_as_input_errors():
        probs = predict_split(run.model, part, run.classes, run.image_size, batch_size)
    out_dir = output or run_dir / f"eval-{label}-{split}"
    metrics = write_evaluation(out_dir, part, probs, run.classes, {"split": split, "manifest": str(manifest_path.resolve())})
    console.print(metrics_table(metrics, f"{split} split of {manifest_path.name}, model {run_dir.name}"))
    console.print(f"Wrote [bold]{out_dir}[/]")
