"""``ferclean predict``: classify image files with a trained run."""

from __future__ import annotations

from pathlib import Path

import click
from rich.table import Table

from ferclean.cli.console import console
from ferclean.errors import FercleanError
from ferclean.images import IMAGE_SUFFIXES


def _expand(images: tuple[Path, ...]) -> list[Path]:
    """Files as given; folders become the images inside them, sorted."""
    paths: list[Path] = []
    for item in images:
        if item.is_dir():
            paths.extend(sorted(p for p in item.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES))
        else:
            paths.append(item)
    return paths


@click.command()
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.argument("images", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--min-confidence", type=click.FloatRange(0, 1), default=0.7, show_default=True,
              help="Below this top probability the answer is 'uncertain'.")
def predict(run_dir: Path, images: tuple[Path, ...], min_confidence: float) -> None:
    """Classify IMAGE files (or folders of images) with the model saved in RUN_DIR.

    Prints the class and every class probability per image; when the top probability is below
    --min-confidence the answer is 'uncertain'. Unreadable files are listed and skipped.

    \b
    Example:
      ferclean predict runs/fer2013-clean-1 face1.png face2.jpg --min-confidence 0.6
    """
    from ferclean_train.predict import decide, load_run, predict_images

    run = load_run(run_dir)
    paths = _expand(images)
    if not paths:
        raise FercleanError("No image files found in the given paths.")
    probs, good, bad = predict_images(run, paths)
    for path, why in bad:
        console.print(f"[yellow]Skipped {path}: {why}")
    if not good:
        raise FercleanError("None of the given files is a readable image.")
    answers = decide(probs, run.classes, min_confidence)
    table = Table(title=f"Predictions of {run_dir.name} (minimum confidence {min_confidence:.0%})")
    table.add_column("image")
    table.add_column("prediction")
    for label in run.classes:
        table.add_column(label, justify="right")
    for path, answer, row in zip(good, answers, probs):
        style = "dim" if answer == "uncertain" else "bold"
        table.add_row(str(path), f"[{style}]{answer}[/]", *[f"{p:.3f}" for p in row])
    console.print(table)
