"""The dedupe report folder: pair list, group and leakage tables, actions, contact sheet, summary."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ferclean.dedupe import DedupeResult
from ferclean.dedupe.resolve import worst_pairs
from ferclean.outputs import write_csv, write_json
from ferclean.render.contact_sheet import Cell, contact_sheet

#: The files ``write_report`` writes, in the order the CLI lists them.
REPORT_FILES = ("pairs.csv", "groups.csv", "leakage.csv", "actions.csv", "contact_sheet.png", "summary.json")


def pair_listing(frame: pd.DataFrame, pairs: pd.DataFrame) -> pd.DataFrame:
    """One row per candidate pair with both paths, splits and labels, for people to read.

    ``similarity`` and ``verified`` come with verified candidates; ``group`` is set where
    both images ended in the same group.
    """
    shown = frame[["path", "split", "label", "group"]]  # not every column: a million images' pairs are millions
    a, b = shown.iloc[pairs["a"]].reset_index(drop=True), shown.iloc[pairs["b"]].reset_index(drop=True)
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


def summary(result: DedupeResult) -> dict:
    """Counts of candidates, pairs, groups and actions (``summary.json``)."""
    pairs, clusters, actions = result.grouped_pairs, result.clusters, result.actions
    return {
        "candidates": len(result.pairs),
        "pairs": len(pairs),
        "pairs_by_kind": pairs["kind"].value_counts().to_dict(),
        "groups": len(clusters),
        "largest_group": int(clusters["size"].max()) if len(clusters) else 0,
        "images_in_groups": int(clusters["size"].sum()) if len(clusters) else 0,
        "actions": actions.groupby(["action", "split"]).size().rename("n").reset_index().to_dict("records"),
    }


def group_sheet_rows(result: DedupeResult, limit: int = 24, width: int = 8) -> list[list[Cell]]:
    """One row per group to show (groups of the worst pairs first), each member's face once,
    with its split and class under it."""
    grouped = result.grouped
    order = worst_pairs(grouped, result.grouped_pairs, limit=len(result.pairs))
    groups = pd.unique(grouped["group"].to_numpy()[order["a"].to_numpy()])[:limit]
    rows = []
    for group in groups:
        members = grouped[grouped["group"] == group].sort_values("path")
        cells = [(result.manifest.root / m.path, f"{m.split or '-'} {m.label}") for m in members.itertuples()]
        cells[0] = (cells[0][0], f"group {int(group)}: {cells[0][1]}")
        rows += [cells[k : k + width] for k in range(0, len(cells), width)]
    return rows


def write_report(result: DedupeResult, report_dir: Path) -> Path:
    """Write every file of ``REPORT_FILES`` into ``report_dir`` (created if needed)."""
    write_csv(report_dir / "pairs.csv", pair_listing(result.grouped, result.pairs))
    write_csv(report_dir / "groups.csv", result.clusters, index=True, index_label="group")
    write_csv(report_dir / "leakage.csv", result.leaks)
    write_csv(report_dir / "actions.csv", result.actions)
    contact_sheet(
        group_sheet_rows(result),
        report_dir / "contact_sheet.png",
        title="Duplicate groups (leaks and label conflicts first) - one face per member, split and class under each",
    )
    write_json(report_dir / "summary.json", summary(result))
    return report_dir
