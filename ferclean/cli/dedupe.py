"""``ferclean dedupe``: exact and near duplicates, leakage and label-conflict report, resolution."""

from __future__ import annotations

from pathlib import Path

import click
from rich.table import Table

from ferclean.cli.common import check_outputs, command_line, load_input_and_pixels, save
from ferclean.cli.options import backend_options, classes_option, hash_option, jobs_option, output_option, threshold_option
from ferclean.parallel import Backend
from ferclean.cli.console import console, progress
from ferclean.dedupe import (
    BASE,
    CANDIDATE_RADIUS,
    CONFLICT_ACTIONS,
    DEFAULT_MIN_SIMILARITY,
    DEFAULT_THRESHOLD,
    MAX_NEIGHBOURS,
    MIN_CANDIDATE_RADIUS,
    POLICIES,
    DedupeResult,
    find_duplicates,
    timed,
)
from ferclean.dedupe.report import REPORT_FILES, write_report


@click.command()
@click.argument("source", metavar="MANIFEST_OR_DATASET", type=click.Path(path_type=Path))
@output_option()
@hash_option
@threshold_option(
    f"Largest Hamming distance (bits of 64) of a hash candidate [default: {CANDIDATE_RADIUS} with --verify,"
    f" narrowed down to {MIN_CANDIDATE_RADIUS} where images average over {MAX_NEIGHBOURS} hash neighbours;"
    f" {DEFAULT_THRESHOLD} with --no-verify].",
    default=None,
)
@click.option(
    "--verify/--no-verify",
    default=True,
    show_default=True,
    help="Check each hash candidate on the pixels (shift-, brightness- and contrast-tolerant) and group only"
    " verified pairs, so unrelated faces do not chain; --no-verify groups every pair within --threshold.",
)
@click.option(
    "--min-similarity",
    type=click.FloatRange(0.0, 1.0),
    default=DEFAULT_MIN_SIMILARITY,
    show_default=True,
    help="With --verify: lowest score (best normalised cross-correlation of the equalised images' edge detail"
    " over shifts of up to 4 px and crops up to 16 % tighter; 1 = same pixels up to a tone change) for a pair"
    " to count as a duplicate; mirror candidates need 0.1 more. Raise it for fewer false matches, lower it to"
    " catch more edited copies.",
)
@click.option("--policy", type=click.Choice(POLICIES), default="report", show_default=True, help="What to do with duplicates.")
@click.option(
    "--on-conflict",
    type=click.Choice(CONFLICT_ACTIONS),
    default="review",
    show_default=True,
    help="With keep-one: groups whose copies carry different labels.",
)
@click.option(
    "--report-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where the pair list, tables and contact sheet go [default: <output stem>_dedupe/].",
)
@classes_option
@jobs_option
@backend_options
def dedupe(
    source: Path,
    output: Path,
    hash_method: str,
    threshold: int | None,
    verify: bool,
    min_similarity: float,
    policy: str,
    on_conflict: str,
    report_dir: Path | None,
    classes: str | None,
    jobs: int | None,
    backend: Backend,
) -> None:
    """Find exact and near-duplicate images (mirrored copies too), within and across splits.

    Duplicates form groups (the manifest's `group` column). The report lists groups that
    leak across train/val/test and groups whose copies carry different labels. With
    --policy keep-one one copy per group stays (a test copy before val before train, so
    leaks are fixed by dropping training copies) and the rest get status=drop; with --policy
    leaks every copy in the group's first split stays (each exact copy once) and the copies in
    other splits are dropped, so a split keeps a face's re-crops but shares none; conflicting
    groups follow --on-conflict. Nothing is deleted: every change is listed in actions.csv.

    Hash candidates within --threshold bits are verified on the pixels (--verify) and a
    group must hold together: every two members score at least --min-similarity minus
    0.35, so a chain A~B~C where A and C differ is cut (the closer pair stays a group).
    pairs.csv lists every candidate with its hash distance, similarity and verdict.

    \b
    Example:
      ferclean dedupe manifests/fer2013.csv -o manifests/fer2013-dedup.csv \\
          --policy keep-one --on-conflict review
    """
    report_dir = report_dir or output.with_name(f"{output.stem}_dedupe")
    outputs = {"-o": output, "--report-dir": report_dir}
    check_outputs(source, None, outputs)
    times: list = []
    with timed("scan and hash", times):
        # A folder is decoded once: the hashing pass keeps the small copies verification reads.
        manifest, pixels = load_input_and_pixels(
            source, classes, hash_method, jobs, backend, keep_pixels=BASE if verify else None
        )
    check_outputs(source, manifest, outputs)
    with progress() as on_progress:
        result = find_duplicates(
            manifest, threshold, policy, on_conflict, hash_method, jobs, on_progress, backend, verify, min_similarity, pixels
        )
    with timed("report", times):
        report_dir = write_report(result, report_dir)
    _print_summary(result)
    with timed("write manifest", times):
        save(result.manifest, output, command_line(), title="Images per split and class after dedupe (status != drop)")
    console.print(_times_table(times[:1] + result.times + times[1:]))
    console.print(f"Report in [bold]{report_dir}/[/]: {', '.join(REPORT_FILES)}")


def _times_table(times: list[tuple[str, float, float]]) -> Table:
    table = Table(title="Stage times")
    for column in ("stage", "wall s", "CPU s"):
        table.add_column(column, justify="left" if column == "stage" else "right")
    for name, wall, cpu in times:
        table.add_row(name, f"{wall:.2f}", f"{cpu:.2f}")
    table.add_row("total", f"{sum(t[1] for t in times):.2f}", f"{sum(t[2] for t in times):.2f}")
    return table


def _print_summary(result: DedupeResult) -> None:
    grouped, pairs, clusters, leaks, actions = result.grouped, result.grouped_pairs, result.clusters, result.leaks, result.actions
    table = Table(title="Duplicates")
    table.add_column("measure")
    table.add_column("count", justify="right")
    hashed = int((grouped["phash"] != "").sum())
    for kind in ("exact", "near", "mirror"):
        table.add_row(f"{kind} pairs", f"{int((pairs['kind'] == kind).sum()):,}")
    table.add_row("duplicate groups", f"{len(clusters):,}")
    table.add_row("images in groups", f"{int(clusters['size'].sum()) if len(clusters) else 0:,} of {hashed:,} hashed")
    table.add_row("largest group", f"{int(clusters['size'].max()) if len(clusters) else 0:,}")
    table.add_row("groups spanning splits (leaks)", f"{int(clusters['cross_split'].sum()) if len(clusters) else 0:,}")
    table.add_row("groups with a label conflict", f"{int(clusters['conflict'].sum()) if len(clusters) else 0:,}")
    console.print(table)
    if len(leaks):
        leak_table = Table(title="Cross-split leakage")
        for column in ("splits", "groups", "images"):
            leak_table.add_column(column, justify="left" if column == "splits" else "right")
        for row in leaks.itertuples():
            leak_table.add_row(row.splits, f"{row.groups:,}", f"{row.images:,}")
        console.print(leak_table)
    if len(actions):
        moved = Table(title="Changes made (see actions.csv)")
        moved.add_column("split")
        for action in ("drop", "review"):
            moved.add_column(action, justify="right")
        by_split = actions.groupby(["split", "action"]).size().unstack(fill_value=0)
        for split, row in by_split.iterrows():
            moved.add_row(split or "(none)", *[f"{int(row.get(a, 0)):,}" for a in ("drop", "review")])
        console.print(moved)
    else:
        console.print("No statuses changed (policy report, or nothing to resolve).")
