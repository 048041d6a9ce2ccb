"""``ferclean export``: write a manifest out as a ``<split>/<class>/<file>`` folder tree."""

from __future__ import annotations

from pathlib import Path

import click
from rich.table import Table

from ferclean.cli.common import check_outputs, load_input
from ferclean.cli.options import classes_option, hash_option, jobs_option
from ferclean.cli.console import console, progress
from ferclean.errors import FercleanError
from ferclean.export import MODES, existing_files, export_manifest
from ferclean.manifest import kept
from ferclean.render.tables import distribution_table, split_class_counts


@click.command()
@click.argument("source", metavar="MANIFEST_OR_DATASET", type=click.Path(path_type=Path))
@click.option(
    "--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), required=True, help="Folder to write into."
)
@click.option(
    "--mode",
    type=click.Choice(MODES),
    default="copy",
    show_default=True,
    help="copy the images, or hard-link / symlink them to save space.",
)
@click.option(
    "--force",
    is_flag=True,
    help="Write into a non-empty --out: replaces files at the exported names, leaves every other file there.",
)
@classes_option
@hash_option
@jobs_option
def export(
    source: Path, out_dir: Path, mode: str, force: bool, classes: str | None, hash_method: str, jobs: int | None
) -> None:
    """Materialise MANIFEST_OR_DATASET as OUT/<split>/<class>/<file> (OUT/<class>/<file> when the
    manifest has no splits).

    Dropped images are left out and relabelled ones go under their new class. Two images
    with the same file name in one folder both get a short hash of their source path added
    to the name. Source images are only read, never moved or changed.

    \b
    Example:
      ferclean export manifests/fer2013-split.csv --out exported/fer2013-clean --mode hardlink
    """
    check_outputs(source, None, {"--out": out_dir})
    manifest = load_input(source, classes, hash_method, jobs)
    check_outputs(source, manifest, {"--out": out_dir})
    present = existing_files(out_dir)
    if present and not force:
        raise FercleanError(
            f"--out {out_dir} is not empty ({len(present):,} file(s)); choose a new folder or pass --force"
            " (it replaces files at the exported names and leaves the others)."
        )
    with progress() as on_progress:
        result = export_manifest(manifest, out_dir, mode, on_progress)
    console.print(distribution_table(split_class_counts(manifest.frame), f"Exported to {out_dir}"))
    table = Table(title="Export summary", show_header=False)
    table.add_column("what")
    table.add_column("value", justify="right")
    table.add_row(f"images written ({mode})", f"{result.written:,}")
    table.add_row("dropped images left out", f"{int((~kept(manifest.frame)).sum()):,}")
    table.add_row("renamed for a name clash (hash suffix)", f"{int(result.plan['renamed'].sum()):,}")
    if present:
        table.add_row("files replaced (--force)", f"{result.replaced:,}")
        table.add_row("other files already there, left untouched", f"{result.untouched:,}")
    console.print(table)
