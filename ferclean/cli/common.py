"""Input and output shared by the commands: load a manifest or dataset, save with a summary."""

from __future__ import annotations

import sys
from pathlib import Path

from rich.table import Table

from ferclean.cli.console import console, progress
from ferclean.errors import FercleanError
from ferclean.labels import parse_class_list
from ferclean.manifest import Manifest, read_manifest, write_manifest
from ferclean.render.tables import distribution_table, split_class_counts
from ferclean.scan import scan_dataset, unreadable_rows


def load_input(source: str | Path, classes: str | None = None, hash_method: str = "phash", jobs: int | None = None) -> Manifest:
    """A manifest from a ``.csv`` file, or from scanning a dataset folder first."""
    source = Path(source)
    if source.is_dir():
        with progress() as on_progress:
            manifest, listing = scan_dataset(source, parse_class_list(classes), hash_method, jobs, on_progress)
        report_unreadable(manifest)
        if listing.ignored:
            console.print(f"[yellow]Ignored {len(listing.ignored)} non-image file(s), e.g. {listing.ignored[0]}")
        return manifest
    if source.suffix.lower() == ".csv" or source.is_file():
        return read_manifest(source)
    raise FercleanError(f"{source} does not exist; give a dataset folder or a manifest .csv.")


def report_unreadable(manifest: Manifest, limit: int = 20) -> None:
    """List unreadable images (kept in the manifest with status=drop) so none go unnoticed."""
    bad = unreadable_rows(manifest.frame)
    if bad.empty:
        return
    table = Table(title=f"{len(bad)} unreadable image(s), marked status=drop", title_style="bold yellow")
    table.add_column("path")
    table.add_column("problem")
    for row in bad.head(limit).itertuples():
        table.add_row(row.path, row.note.removeprefix("unreadable: "))
    if len(bad) > limit:
        table.caption = f"... and {len(bad) - limit} more (see the manifest's note column)"
    console.print(table)


def save(manifest: Manifest, output: Path, command: str, title: str = "Images per split and class") -> None:
    """Write the manifest and print its split x class table."""
    write_manifest(manifest, output, command=command)
    console.print(distribution_table(split_class_counts(manifest.frame), title))
    console.print(f"Wrote [bold]{output}[/] ({len(manifest.frame):,} rows) and {output.with_suffix('.json').name}")


def command_line() -> str:
    """The command as typed, recorded in the manifest's history."""
    return " ".join(["ferclean", *sys.argv[1:]])


def manifest_stem(path: Path) -> str:
    """A run or report name for a manifest: the .csv's stem, or the dataset folder's name."""
    return path.stem if path.suffix.lower() == ".csv" else path.resolve().name
