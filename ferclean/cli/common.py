"""Input and output shared by the commands: load a manifest or dataset, save with a summary."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from rich.table import Table

from ferclean.cli.console import console, progress
from ferclean.errors import FercleanError
from ferclean.labels import parse_class_list
from ferclean.manifest import Manifest, companion_path, read_manifest, write_manifest
from ferclean.outputs import claim, current_session, guard_outputs
from ferclean.parallel import Backend
from ferclean.render.tables import distribution_table, split_class_counts
from ferclean.scan import scan_dataset, unreadable_rows


def load_input(
    source: str | Path,
    classes: str | None = None,
    hash_method: str = "phash",
    jobs: int | None = None,
    backend: Backend | None = None,
    invalid: str | None = None,
) -> Manifest:
    """A manifest from a ``.csv`` file, or from scanning a dataset folder first (on ``backend``).

    ``invalid`` is the status for images failing scan's quality checks; only ``ferclean scan``
    runs them (``None``: no checks), so other commands given a folder index it as before.
    """
    return load_input_and_pixels(source, classes, hash_method, jobs, backend, invalid)[0]


def load_input_and_pixels(
    source: str | Path,
    classes: str | None = None,
    hash_method: str = "phash",
    jobs: int | None = None,
    backend: Backend | None = None,
    invalid: str | None = None,
    keep_pixels: int | None = None,
) -> tuple[Manifest, np.ndarray | None]:
    """:func:`load_input`, and for a dataset folder scan's ``keep_pixels`` grey copies of its
    images (None for a manifest, or where scan did not keep them)."""
    source = Path(source)
    if source.is_dir():
        with progress() as on_progress:
            manifest, listing = scan_dataset(
                source, parse_class_list(classes), hash_method, jobs, on_progress, backend, invalid, keep_pixels
            )
        report_unreadable(manifest)
        if listing.ignored:
            console.print(f"[yellow]Ignored {len(listing.ignored)} non-image file(s), e.g. {listing.ignored[0]}")
        return manifest, listing.pixels
    if source.suffix.lower() == ".csv" or source.is_file():
        manifest = read_manifest(source, parse_class_list(classes))
        if manifest.drift:
            console.print(f"[yellow]Warning: {manifest.drift}")
        missing = manifest.missing_paths()
        if missing:
            console.print(
                f"[yellow]Warning: {len(missing):,} of {len(manifest.frame):,} image path(s) in {source} do not exist,"
                f" e.g. {missing[0]} (root {manifest.root})."
            )
        return manifest, None
    raise FercleanError(f"{source} does not exist; give a dataset folder or a manifest .csv.")


def check_outputs(
    source: Path,
    manifest: Manifest | None,
    outputs: dict[str, Path | None],
    inputs: tuple[Path | None, ...] = (),
    extra_roots: tuple[Path, ...] = (),
    exclude_source: str | None = None,
    immediate: tuple[str, ...] = (),
    claimed: bool = True,
) -> None:
    """Refuse outputs inside the source images or equal to an input (ferclean.outputs.guard_outputs),
    then claim each (:func:`claim_output`).

    Called once before the work with ``manifest=None`` (the dataset folder, if SOURCE is one,
    is the source root) and again once the manifest's image folders are known. Outputs named
    in ``immediate`` have their files land as written (faces read back later) instead of with
    the rest at the end. ``claimed=False`` only checks (train claims its new run folder, not --runs-dir).
    """
    roots = manifest.source_roots(exclude_source) if manifest is not None else ([source.resolve()] if source.is_dir() else [])
    roots = [*roots, *(r.resolve() for r in extra_roots)]
    given = [p for p in (source, *inputs) if p is not None and p.is_file()]
    given += [companion_path(p) for p in given if p.suffix.lower() == ".csv"]
    named = dict(outputs)
    if named.get("-o") is not None:
        named["-o (its .json)"] = companion_path(named["-o"])
    guard_outputs(named, roots, given)
    for what, path in outputs.items() if claimed else ():
        if path is not None:
            claim_output(path, what, deferred=what not in immediate)


def claim_output(path: Path, what: str, deferred: bool = True) -> None:
    """Lock an output for this run (a second run writing it is refused) and check every write
    under it stays inside it (ferclean.outputs.claim); say so when a killed run's lock is taken over."""
    session = current_session()
    seen = len(session.notes) if session is not None else 0
    companions = [companion_path(path)] if path.suffix.lower() == ".csv" else []
    claim(path, what, deferred, companions)
    for note in session.notes[seen:] if session is not None else []:
        console.print(f"[yellow]{note}")


def note_resume(hint: str | None) -> None:
    """What an interrupted run of this command should be resumed with (None: it cannot be)."""
    session = current_session()
    if session is not None:
        session.resume_hint = hint


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


def manifest_stem(path: Path) -> str:
    """A run or report name for a manifest: the .csv's stem, or the dataset folder's name."""
    return path.stem if path.suffix.lower() == ".csv" else path.resolve().name
