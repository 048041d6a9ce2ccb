"""``ferclean report``: one self-contained HTML page of a manifest's data health."""

from __future__ import annotations

from pathlib import Path

import click
from rich.table import Table

from ferclean.cli.console import console, progress
from ferclean.report import write_report
from ferclean.report.data import TOP_SUSPECTS

@click.command()
@click.argument("manifest", type=click.Path(path_type=Path))
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="The page to write, a new .html file.")
@click.option("--runs", type=click.Path(path_type=Path), default=None,
              help="A folder of training runs (ferclean train's --runs-dir) to add, or one run folder.")
@click.option("--top", type=click.IntRange(min=0), default=TOP_SUSPECTS, show_default=True,
              help="Suspect labels shown, most doubtful first.")
def report(manifest: Path, output: Path, runs: Path | None, top: int) -> None:
    """Write one HTML page that shows what is wrong with a dataset, with the faces.

    Sections: overview (images per split and class before and after, imbalance, what each
    command changed), duplicates (label-conflict and cross-split groups side by side),
    suspect labels (the probe's most doubtful, with its bars), invalid images (per reason),
    the AffectNet merge and training runs. It reads MANIFEST, its .json and the report
    folders ferclean wrote beside it (<stem>_scan/, _dedupe/, _review/); a missing part is
    left out with a one-line note. The page needs no network: the faces are embedded.

    \b
    Example:
      ferclean report manifests/fer2013-dedup.csv -o manifests/fer2013-report.html
      ferclean report manifests/fer2013-review.csv -o report.html --runs runs
    """
    with progress() as on_progress:
        result = write_report(manifest, output, runs, top=top, on_progress=on_progress)
    table = Table(title="Report sections")
    table.add_column("section")
    table.add_column("faces", justify="right")
    for section, faces in result.faces.items():
        table.add_row(result.titles[section], f"{faces:,}")
    for note in result.notes:
        table.add_row(f"[yellow]{note}", "")
    console.print(table)
    size = output.stat().st_size / 2**20
    console.print(f"Wrote [bold]{output}[/] ({size:.1f} MiB); open it in a browser, e.g. xdg-open {output}")
