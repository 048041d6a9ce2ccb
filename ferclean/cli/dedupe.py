"""``ferclean dedupe``: exact and near duplicates, leakage and label-conflict report, resolution."""

from __future__ import annotations

import json
import resource
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click
import numpy as np
import pandas as pd
from rich.table import Table

from ferclean.cli.common import classes_option, command_line, hash_option, jobs_option, load_input, output_option, save
from ferclean.console import console, default_jobs, progress_bar
from ferclean.contact_sheet import contact_sheet
from ferclean.dedupe import (
    CONFLICT_ACTIONS,
    CANDIDATE_RADIUS,
    DEFAULT_THRESHOLD,
    POLICIES,
    assign_groups,
    cluster_table,
    find_duplicate_pairs,
    leakage_table,
    resolve,
    worst_pairs,
)
from ferclean.manifest import Manifest
from ferclean.scan import ensure_hashes
from ferclean.verify import DEFAULT_MIN_SIMILARITY, load_features, verify_duplicates


@click.command()
@click.argument("source", metavar="MANIFEST_OR_DATASET", type=click.Path(path_type=Path))
@output_option()
@hash_option
@click.option(
    "--threshold",
    type=click.IntRange(0, 32),
    default=None,
    help=f"Largest Hamming distance (bits of 64) of a hash candidate [default: {CANDIDATE_RADIUS} with --verify,"
    f" {DEFAULT_THRESHOLD} with --no-verify].",
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
    help="With --verify: lowest score (best normalised cross-correlation of edge detail over shifts of up to"
    " 4 px; 1 = same pixels up to brightness and contrast) for a pair to count as a duplicate. Raise it for"
    " fewer false matches, lower it to catch more edited copies.",
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
) -> None:
    """Find exact and near-duplicate images (mirrored copies too), within and across splits.

    Duplicates form groups (the manifest's `group` column). The report lists groups that
    leak across train/val/test and groups whose copies carry different labels. With
    --policy keep-one one copy per group stays (a test copy before val before train, so
    leaks are fixed by dropping training copies) and the rest get status=drop; conflicting
    groups follow --on-conflict. Nothing is deleted: every change is listed in actions.csv.

    Hash candidates within --threshold bits are verified on the pixels (--verify) and a
    group must hold together: every two members of a group verify, so a chain A~B~C
    where A and C differ is cut (the closer pair stays a group). pairs.csv lists every
    candidate with its hash distance, similarity and whether it verified.

    \b
    Example:
      ferclean dedupe manifests/fer2013.csv -o manifests/fer2013-dedup.csv \\
          --policy keep-one --on-conflict review
    """
    timer = StageTimer()
    with timer("read and hash"):
        manifest = ensure_hashes(load_input(source, classes, hash_method, jobs), hash_method, jobs)
    radius = threshold if threshold is not None else (CANDIDATE_RADIUS if verify else DEFAULT_THRESHOLD)
    with timer("search"), console.status("Searching for duplicates"):
        pairs = find_duplicate_pairs(manifest.frame, radius)
    labels = None
    if verify:
        with timer("verify"):
            pairs, labels = _verify(manifest, pairs, min_similarity, jobs)
    with timer("group"):
        grouped = assign_groups(manifest.frame, pairs[pairs["verified"]] if verify else pairs, labels)
    resolved, actions = resolve(grouped, policy, on_conflict)
    settings = {"threshold": radius, "verify": verify, "min_similarity": min_similarity if verify else None}
    result = manifest.with_frame(resolved, dedupe={**settings, "policy": policy, "on_conflict": on_conflict})
    report_dir = report_dir or output.with_name(f"{output.stem}_dedupe")
    with timer("report"):
        clusters, leaks = cluster_table(grouped), leakage_table(grouped)
        _write_report(result, grouped, pairs, clusters, leaks, actions, report_dir)
    _print_summary(grouped, _grouped_pairs(grouped, pairs), clusters, leaks, actions)
    with timer("write manifest"):
        save(result, output, command_line(), title="Images per split and class after dedupe (status != drop)")
    console.print(timer.table())
    console.print(f"Report in [bold]{report_dir}/[/]: pairs.csv, groups.csv, leakage.csv, actions.csv, contact_sheet.png")


class StageTimer:
    """Wall and CPU seconds per named stage (CPU includes finished worker processes)."""

    def __init__(self) -> None:
        self.stages: list[tuple[str, float, float]] = []

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        wall, cpu = time.perf_counter(), _cpu_seconds()
        yield
        self.stages.append((name, time.perf_counter() - wall, _cpu_seconds() - cpu))

    def table(self) -> Table:
        table = Table(title="Stage times")
        for column in ("stage", "wall s", "CPU s"):
            table.add_column(column, justify="left" if column == "stage" else "right")
        for name, wall, cpu in self.stages:
            table.add_row(name, f"{wall:.2f}", f"{cpu:.2f}")
        table.add_row("total", f"{sum(s[1] for s in self.stages):.2f}", f"{sum(s[2] for s in self.stages):.2f}")
        return table


def _cpu_seconds() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _verify(manifest: Manifest, pairs: pd.DataFrame, min_similarity: float, jobs: int | None) -> tuple[pd.DataFrame, np.ndarray]:
    """Decode the candidates' images and verify them (the pixels are not kept in the manifest)."""
    rows = np.unique(pairs[["a", "b"]].to_numpy())
    paths = [str(manifest.root / p) for p in manifest.frame["path"].iloc[rows]]
    with progress_bar() as bar:
        task = bar.add_task("Verifying candidates", total=len(paths))
        feats = load_features(paths, jobs or default_jobs(), lambda _, done, __: bar.update(task, completed=done))
    return verify_duplicates(manifest.frame, pairs, feats, rows, min_similarity)


def _grouped_pairs(frame: pd.DataFrame, pairs: pd.DataFrame) -> pd.DataFrame:
    """Pairs whose two images ended in the same group (verified and not cut from a chain)."""
    group = frame["group"].to_numpy()
    ga, gb = group[pairs["a"].to_numpy()], group[pairs["b"].to_numpy()]
    same = pd.notna(ga) & pd.notna(gb)
    same[same] = ga[same] == gb[same]
    return pairs[same]


def _pair_listing(frame: pd.DataFrame, pairs: pd.DataFrame) -> pd.DataFrame:
    a, b = frame.iloc[pairs["a"]].reset_index(drop=True), frame.iloc[pairs["b"]].reset_index(drop=True)
    listing = pd.DataFrame(
        {
            "path_a": a["path"],
            "path_b": b["path"],
            "split_a": a["split"],
            "split_b": b["split"],
            "label_a": a["label"],
            "label_b": b["label"],
            "distance": pairs["distance"].to_numpy(),
            "kind": pairs["kind"].to_numpy(),
        }
    )
    for column in ("similarity", "verified"):
        if column in pairs:
            listing[column] = pairs[column].to_numpy()
    listing["group"] = a["group"].where(a["group"].to_numpy() == b["group"].to_numpy())
    return listing


def _group_sheet_rows(result: Manifest, grouped: pd.DataFrame, pairs: pd.DataFrame, limit: int = 24, width: int = 8) -> list:
    """One row per group to show (groups of the worst pairs first), each member's face once."""
    order = worst_pairs(grouped, pairs, limit=len(pairs))
    groups = pd.unique(grouped["group"].to_numpy()[order["a"].to_numpy()])[:limit]
    rows = []
    for group in groups:
        members = grouped[grouped["group"] == group].sort_values("path")
        cells = [(result.root / m.path, f"{m.split or '-'} {m.label}") for m in members.itertuples()]
        cells[0] = (cells[0][0], f"group {int(group)}: {cells[0][1]}")
        rows += [cells[k : k + width] for k in range(0, len(cells), width)]
    return rows


def _write_report(
    result: Manifest,
    grouped: pd.DataFrame,
    pairs: pd.DataFrame,
    clusters: pd.DataFrame,
    leaks: pd.DataFrame,
    actions: pd.DataFrame,
    report_dir: Path,
) -> None:
    report_dir.mkdir(parents=True, exist_ok=True)
    _pair_listing(grouped, pairs).to_csv(report_dir / "pairs.csv", index=False)
    clusters.to_csv(report_dir / "groups.csv", index_label="group")
    leaks.to_csv(report_dir / "leakage.csv", index=False)
    actions.to_csv(report_dir / "actions.csv", index=False)
    in_groups = _grouped_pairs(grouped, pairs)
    contact_sheet(
        _group_sheet_rows(result, grouped, in_groups),
        report_dir / "contact_sheet.png",
        title="Duplicate groups (leaks and label conflicts first) - one face per member, split and class under each",
    )
    summary = {
        "candidates": len(pairs),
        "pairs": len(in_groups),
        "pairs_by_kind": in_groups["kind"].value_counts().to_dict(),
        "groups": len(clusters),
        "largest_group": int(clusters["size"].max()) if len(clusters) else 0,
        "images_in_groups": int(clusters["size"].sum()) if len(clusters) else 0,
        "actions": actions.groupby(["action", "split"]).size().rename("n").reset_index().to_dict("records"),
    }
    (report_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")


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
