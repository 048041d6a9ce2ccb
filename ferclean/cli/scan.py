"""``ferclean scan``: index a dataset folder into a manifest."""

from __future__ import annotations

from pathlib import Path

import click
import pandas as pd
from rich.table import Table

from ferclean.cli.common import check_outputs, command_line, load_input, save
from ferclean.cli.console import console
from ferclean.cli.options import backend_options, classes_option, hash_option, jobs_option, output_option
from ferclean.errors import FercleanError
from ferclean.manifest import Manifest
from ferclean.outputs import write_csv
from ferclean.parallel import Backend
from ferclean.quality import REASONS, invalid_mask, invalid_reasons, reason_counts
from ferclean.render.contact_sheet import contact_sheet

#: Flagged images shown per reason on the report's contact sheet (flagged.csv lists them all).
SHEET_PER_REASON = 24
SHEET_COLUMNS = 12


@click.command()
@click.argument("dataset", type=click.Path(path_type=Path))
@output_option()
@classes_option
@hash_option
@jobs_option
@backend_options
@click.option(
    "--invalid",
    type=click.Choice(["review", "drop"]),
    default="review",
    show_default=True,
    help="Status for images failing the quality checks (blank, text, icon, noise, not a face...).",
)
@click.option("--no-quality", is_flag=True, help="Skip the quality checks.")
@click.option(
    "--report-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where reasons.csv, flagged.csv and contact_sheet.png go [default: <output stem>_scan/].",
)
def scan(
    dataset: Path, output: Path, classes: str | None, hash_method: str, jobs: int | None, backend: Backend,
    invalid: str, no_quality: bool, report_dir: Path | None,
) -> None:
    """Index DATASET, a <split>/<class>/<image> or <class>/<image> folder tree.

    Split names (train/training, val/valid/validation/dev/PublicTest, test/testing/PrivateTest)
    and class names (happy/happiness, sad/sadness, ...) are normalised. Each image is decoded
    once: size, pixel hash and perceptual hashes go into the manifest; unreadable files are
    listed and marked status=drop. Images that are not usable faces (blank or too dark/bright
    frames, text, icons, noise, too small, extreme aspect, not recognised as a face) are marked
    status=review with an "invalid: <reasons>" note (or dropped with --invalid drop); the
    report folder holds the reasons table and a contact sheet of them.

    \b
    Example:
      ferclean scan ../shared/data/fer2013 -o manifests/fer2013.csv
      ferclean scan ../shared/data/fer2013 -o manifests/fer2013.csv --invalid drop
      ferclean scan big-set -o manifests/big.csv --backend dask --scheduler tcp://head:8786
    """
    if not dataset.is_dir():
        raise FercleanError(f"Dataset folder {dataset} does not exist or is not a folder.")
    report_dir = None if no_quality else report_dir or output.with_name(f"{output.stem}_scan")
    check_outputs(dataset, None, {"-o": output, "--report-dir": report_dir})
    manifest = load_input(dataset, classes, hash_method, jobs, backend, None if no_quality else invalid)
    save(manifest, output, command_line())
    if report_dir is not None:
        _quality_report(manifest, report_dir, invalid)


def _sheet_rows(listing: pd.DataFrame, root: Path) -> list[list[tuple[Path, str]] | str]:
    """Contact-sheet rows: per reason (REASONS order), a heading and the first SHEET_PER_REASON
    images failing it first, captioned with their file name and any other reasons."""
    first = listing["reasons"].str.split(", ").str[0]
    rows: list[list[tuple[Path, str]] | str] = []
    for reason, meaning in REASONS.items():
        group = listing[first == reason]
        if group.empty:
            continue
        rows.append(f"{reason}: {len(group):,} image(s), {meaning}")
        cells = [(root / row.path, " ".join([Path(row.path).name, *row.reasons.split(", ")[1:]])) for row in group.head(SHEET_PER_REASON).itertuples()]
        rows += [cells[i : i + SHEET_COLUMNS] for i in range(0, len(cells), SHEET_COLUMNS)]
    return rows


def _quality_report(manifest: Manifest, report_dir: Path, invalid: str) -> None:
    """Write the reasons table, the flagged list and their contact sheet; print the table."""
    frame = manifest.frame
    flagged = frame[invalid_mask(frame)]
    counts = reason_counts(frame)
    write_csv(report_dir / "reasons.csv", counts, index=False)
    listing = flagged[["path", "split", "label", "status"]].assign(reasons=invalid_reasons(flagged))
    write_csv(report_dir / "flagged.csv", listing, index=False)
    contact_sheet(_sheet_rows(listing, manifest.root), report_dir / "contact_sheet.png",
                  title=f"{len(flagged):,} image(s) failing the quality checks, grouped by their first reason")
    table = Table(title=f"{len(flagged):,} image(s) failing the quality checks, marked status={invalid}")
    table.add_column("reason")
    table.add_column("images", justify="right")
    table.add_column("meaning")
    for row in counts.itertuples():
        table.add_row(row.reason, f"{row.images:,}", row.meaning)
    table.caption = "an image may fail several checks"
    console.print(table)
    console.print(f"Quality report in [bold]{report_dir}/[/]: reasons.csv, flagged.csv, contact_sheet.png")
