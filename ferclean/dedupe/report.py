"""The dedupe report folder: pair list, group and leakage tables, actions, contact sheet, summary."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ferclean.dedupe import DedupeResult
from ferclean.dedupe.resolve import worst_pairs
from ferclean.outputs import write_csv, write_json
from ferclean.render.contact_sheet import contact_sheet

#: The files ``write_report`` writes, in the order the CLI lists them.
REPORT_FILES = ("pairs.csv", "groups.csv", "leakage.csv", "actions.csv", "contact_sheet.png", "summary.json")


def pair_listing(frame: pd.DataFrame, pairs: pd.DataFrame) -> pd.DataFrame:
    """One row per duplicate pair with both paths, splits and labels, for people to read."""
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


def summary(result: DedupeResult) -> dict:
    """Counts of pairs, groups and actions (``summary.json``)."""
    pairs, clusters, actions = result.pairs, result.clusters, result.actions
    return {
        "pairs": len(pairs),
        "pairs_by_kind": pairs["kind"].value_counts().to_dict(),
        "groups": len(clusters),
        "images_in_groups": int(clusters["size"].sum()) if len(clusters) else 0,
        "actions": actions.groupby(["action", "split"]).size().rename("n").reset_index().to_dict("records"),
    }


def write_report(result: DedupeResult, report_dir: Path) -> Path:
    """Write every file of ``REPORT_FILES`` into ``report_dir`` (created if needed)."""
    grouped, pairs = result.grouped, result.pairs
    write_csv(report_dir / "pairs.csv", pair_listing(grouped, pairs))
    write_csv(report_dir / "groups.csv", result.clusters, index=True, index_label="group")
    write_csv(report_dir / "leakage.csv", result.leaks)
    write_csv(report_dir / "actions.csv", result.actions)
    rows = []
    for pair in worst_pairs(grouped, pairs).itertuples():
        cells = []
        for position in (pair.a, pair.b):
            row = grouped.iloc[position]
            cells.append((result.manifest.root / row["path"], f"{row['split'] or '-'} {row['label']}"))
        cells[0] = (cells[0][0], f"{cells[0][1]} d={pair.distance} {pair.kind}")
        rows.append(cells)
    sheet_rows = [sum(rows[k : k + 4], []) for k in range(0, len(rows), 4)]
    contact_sheet(sheet_rows, report_dir / "contact_sheet.png", title="Worst duplicate pairs: leaks and label conflicts first")
    write_json(report_dir / "summary.json", summary(result))
    return report_dir
