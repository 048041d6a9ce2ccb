"""Options and input handling shared by the subcommands."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import click
from rich.table import Table

from ferclean.console import console
from ferclean.dedupe import DEFAULT_THRESHOLD, MAX_THRESHOLD
from ferclean.errors import FercleanError
from ferclean.hashing import HASH_METHODS
from ferclean.labels import parse_class_list
from ferclean.manifest import Manifest, companion_path, read_manifest, write_manifest
from ferclean.outputs import guard_outputs
from ferclean.scan import scan_dataset, unreadable_rows
from ferclean.tables import distribution_table, split_class_counts

jobs_option = click.option(
    "--jobs", "-j", type=click.IntRange(min=1), default=None, help="Worker processes [default: all cores]."
)
classes_option = click.option(
    "--classes", default=None, metavar="A,B", help="Extra class folder names to accept besides the known emotions."
)
hash_option = click.option(
    "--hash",
    "hash_method",
    type=click.Choice(sorted(HASH_METHODS)),
    default="phash",
    show_default=True,
    help="Perceptual hash used for near-duplicate search.",
)


def parsed_by(parse: Callable[[str], object]) -> Callable[[click.Context, click.Parameter, str | None], object]:
    """A click callback running a core parser, so its error is click's, naming the option."""

    def callback(ctx: click.Context, param: click.Parameter, value: str | None) -> object:
        if value is None:
            return None
        try:
            return parse(value)
        except FercleanError as exc:
            raise click.BadParameter(str(exc)) from None

    return callback


def threshold_option(help_text: str) -> Callable:
    """``--threshold``: one rule (0..MAX_THRESHOLD bits of a 64-bit hash) for every command that matches duplicates."""
    return click.option(
        "--threshold", type=click.IntRange(0, MAX_THRESHOLD), default=DEFAULT_THRESHOLD, show_default=True, help=help_text
    )


def _csv_name(ctx: click.Context, param: click.Parameter, value: Path | None) -> Path | None:
    if value is not None and value.suffix.lower() != ".csv":
        raise click.BadParameter(f"{value} must end in .csv (its companion .json is written beside it).")
    return value


def output_option(help_text: str = "Manifest to write, a new .csv (a companion .json is written beside it).") -> click.Option:
    return click.option(
        "--output", "-o", type=click.Path(dir_okay=False, path_type=Path), required=True, help=help_text,
        callback=_csv_name,
    )


def check_outputs(
    source: Path,
    manifest: Manifest | None,
    outputs: dict[str, Path | None],
    inputs: tuple[Path | None, ...] = (),
    extra_roots: tuple[Path, ...] = (),
    exclude_source: str | None = None,
) -> None:
    """Refuse outputs inside the source images or equal to an input (ferclean.outputs.guard_outputs).

    Called once before the work with ``manifest=None`` (the dataset folder, if SOURCE is one,
    is the source root) and again once the manifest's image folders are known.
    """
    roots = manifest.source_roots(exclude_source) if manifest is not None else ([source.resolve()] if source.is_dir() else [])
    roots = [*roots, *(r.resolve() for r in extra_roots)]
    given = [p for p in (source, *inputs) if p is not None and p.is_file()]
    given += [companion_path(p) for p in given if p.suffix.lower() == ".csv"]
    named = dict(outputs)
    if named.get("-o") is not None:
        named["-o (its .json)"] = companion_path(named["-o"])
    guard_outputs(named, roots, given)


def load_input(source: str | Path, classes: str | None = None, hash_method: str = "phash", jobs: int | None = None) -> Manifest:
    """A manifest from a ``.csv`` file, or from scanning a dataset folder first."""
    source = Path(source)
    if source.is_dir():
        manifest, listing = scan_dataset(source, parse_class_list(classes), hash_method, jobs)
        report_unreadable(manifest)
        if listing.ignored:
            console.print(f"[yellow]Ignored {len(listing.ignored)} non-image file(s), e.g. {listing.ignored[0]}")
        return manifest
    if source.suffix.lower() == ".csv" or source.is_file():
        manifest = read_manifest(source, parse_class_list(classes))
        missing = manifest.missing_paths()
        if missing:
            console.print(
                f"[yellow]Warning: {len(missing):,} of {len(manifest.frame):,} image path(s) in {source} do not exist,"
                f" e.g. {missing[0]} (root {manifest.root})."
            )
        return manifest
    raise FercleanError(f"{source} does not exist; give a dataset folder or a manifest .csv.")


def report_unreadable(manifest: Manifest, limit: int = 20) -> None:
    """List unreadable images (kept in the manifest with status=drop) and images too small to
    be a face (status=review) so none go unnoticed."""
    small = manifest.frame[manifest.frame["note"].str.contains("too small:", regex=False)]
    if not small.empty:
        example = small.iloc[0]
        console.print(
            f"[yellow]{len(small):,} image(s) too small to be a face, marked status=review,"
            f" e.g. {example['path']} ({example['note'].split('too small: ')[-1]})."
        )
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
