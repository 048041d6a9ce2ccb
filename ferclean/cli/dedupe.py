"""``ferclean dedupe``: exact and near duplicates, leakage and label-conflict report, resolution."""

from __future__ import annotations

from pathlib import Path

import click
import pandas as pd
from rich.table import Table

from ferclean.cli.common import (
    check_outputs,
    classes_option,
    command_line,
    hash_option,
    jobs_option,
    load_input,
    output_option,
    save,
    threshold_option,
)
from ferclean.console import console
from ferclean.contact_sheet import contact_sheet
from ferclean.dedupe import (
    CONFLICT_ACTIONS,
    POLICIES,
    assign_groups,
    cluster_table,
    find_duplicate_pairs,
    leakage_table,
    resolve,
    worst_pairs,
)
from ferclean.manifest import Manifest
from ferclean.outputs import write_csv, write_json
from ferclean.scan import ensure_hashes


@click.command()
@click.argument("source", metavar="MANIFEST_OR_DATASET", type=click.Path(path_type=Path))
@output_option()
@hash_option
@threshold_option("Largest Hamming distance (bits of 64) for a near duplicate.")
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
def dedupe(
    source: Path,
    output: Path,
    hash_method: str,
    threshold: int,
    policy: str,
    on_conflict: str,
    report_dir: Path | None,
    classes: str | None,
    jobs: int | None,
) -> None:
    """Find exact and near-duplicate images (mirrored copies too), within and across splits.

    Duplicates form groups (the manifest's `group` column). The report lists groups that
    leak across train/val/test and groups whose copies carry different labels. With
    --policy keep-one one copy per group stays (a test copy before val before train, so
    leaks are fixed by dropping training copies) and the rest get status=drop; conflicting
    groups follow --on-conflict. Nothing is deleted: every change is listed in actions.csv.

    \b
    Example:
      ferclean dedupe manifests/fer2013.csv -o manifests/fer2013-dedup.csv \\
          --policy keep-one --on-conflict review
    """
    report_dir = report_dir or output.with_name(f"{output.stem}_dedupe")
    outputs = {"-o": output, "--report-dir": report_dir}
    check_outputs(source, None, outputs)
    loaded = load_input(source, classes, hash_method, jobs)
    check_outputs(source, loaded, outputs)
    manifest = ensure_hashes(loaded, hash_method, jobs)
    with console.status("Searching for duplicates"):
        pairs = find_duplicate_pairs(manifest.frame, threshold)
    grouped = assign_groups(manifest.frame, pairs)
    resolved, actions = resolve(grouped, policy, on_conflict)
    result = manifest.with_frame(resolved, dedupe={"threshold": threshold, "policy": policy, "on_conflict": on_conflict})
    clusters, leaks = cluster_table(grouped), leakage_table(grouped)
    _write_report(result, grouped, pairs, clusters, leaks, actions, report_dir)
    _print_summary(grouped, pairs, clusters, leaks, actions)
    save(result, output, command_line(), title="Images per split and class after dedupe (status != drop)")
    console.print(f"Report in [bold]{report_dir}/[/]: pairs.csv, groups.csv, leakage.csv, actions.csv, contact_sheet.png")


def _pair_listing(frame: pd.DataFrame, pairs: pd.DataFrame) -> pd.DataFrame:
    a, b = frame.iloc[pairs["a"]].reset_index(drop=True), frame.iloc[pairs["b"]].reset_index(drop=True)
    return pd.DataFrame(
        {
            "path_a": a["path"],
            "path_b": b["path"],
            "split_a": a["split"],
            "split_b": b["split"],
            "label_a": a["label"],
            "label_b": b["label"],
            "distance": pairs["distance"].to_numpy(),
            "kind": pairs["kind"].to_numpy(),
            "group": a["group"],
        }
    )


def _write_report(
    result: Manifest,
    grouped: pd.DataFrame,
    pairs: pd.DataFrame,
    clusters: pd.DataFrame,
    leaks: pd.DataFrame,
    actions: pd.DataFrame,
    report_dir: Path,
) -> None:
    write_csv(report_dir / "pairs.csv", _pair_listing(grouped, pairs))
    write_csv(report_dir / "groups.csv", clusters, index=True, index_label="group")
    write_csv(report_dir / "leakage.csv", leaks)
    write_csv(report_dir / "actions.csv", actions)
    worst = worst_pairs(grouped, pairs)
    rows = []
    for pair in worst.itertuples():
        cells = []
        for position in (pair.a, pair.b):
            row = grouped.iloc[position]
            cells.append((result.root / row["path"], f"{row['split'] or '-'} {row['label']}"))
        cells[0] = (cells[0][0], f"{cells[0][1]} d={pair.distance} {pair.kind}")
        rows.append(cells)
    sheet_rows = [sum(rows[k : k + 4], []) for k in range(0, len(rows), 4)]
    contact_sheet(sheet_rows, report_dir / "contact_sheet.png", title="Worst duplicate pairs: leaks and label conflicts first")
    summary = {
        "pairs": len(pairs),
        "pairs_by_kind": pairs["kind"].value_counts().to_dict(),
        "groups": len(clusters),
        "images_in_groups": int(clusters["size"].sum()) if len(clusters) else 0,
        "actions": actions.groupby(["action", "split"]).size().rename("n").reset_index().to_dict("records"),
    }
    write_json(report_dir / "summary.json", summary)


def _print_summary(
    grouped: pd.DataFrame, pairs: pd.DataFrame, clusters: pd.DataFrame, leaks: pd.DataFrame, actions: pd.DataFrame
) -> None:
    table = Table(title="Duplicates")
    table.add_column("measure")
    table.add_column("count", justify="right")
    hashed = int((grouped["phash"] != "").sum())
    for kind in ("exact", "near", "mirror"):
        table.add_row(f"{kind} pairs", f"{int((pairs['kind'] == kind).sum()):,}")
    table.add_row("duplicate groups", f"{len(clusters):,}")
    table.add_row("images in groups", f"{int(clusters['size'].sum()) if len(clusters) else 0:,} of {hashed:,} hashed")
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
