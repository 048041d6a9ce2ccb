"""Pure summaries of a manifest (counts per split and class) and their rich rendering."""

from __future__ import annotations

from typing import Any

import pandas as pd
from rich.table import Table

from ferclean.labels import SPLITS, class_order
from ferclean.manifest import effective_labels, kept


def split_class_counts(frame: pd.DataFrame) -> pd.DataFrame:
    """Kept images per class (rows) and split (columns), with the effective (relabelled) label."""
    keep = kept(frame)
    data = pd.DataFrame({"label": effective_labels(frame)[keep], "split": frame.loc[keep, "split"]})
    counts = pd.crosstab(data["label"], data["split"]) if len(data) else pd.DataFrame()
    splits = [s for s in SPLITS if s in counts.columns] + sorted(set(counts.columns) - set(SPLITS))
    return counts.reindex(index=class_order(counts.index), columns=splits, fill_value=0)


def imbalance(counts: pd.Series) -> float:
    """Largest class count over the smallest (inf when a class is empty)."""
    counts = counts[counts.index.notna()]
    if counts.empty:
        return float("nan")
    smallest = counts.min()
    return float("inf") if smallest == 0 else float(counts.max() / smallest)


def distribution_table(counts: pd.DataFrame, title: str) -> Table:
    """Images per split x class with each class's share of its split, totals and the imbalance."""
    table = Table(title=title)
    table.add_column("class")
    for split in counts.columns:
        table.add_column(split or "(no split)", justify="right")
    table.add_column("total", justify="right")
    split_totals = counts.sum(axis=0)
    grand = int(split_totals.sum())
    for label, row in counts.iterrows():
        cells = [f"{int(n):,} ({100 * n / max(split_totals[s], 1):.1f}%)" for s, n in row.items()]
        table.add_row(str(label), *cells, f"{int(row.sum()):,} ({100 * row.sum() / max(grand, 1):.1f}%)")
    table.add_section()
    table.add_row(
        "total",
        *[f"{int(n):,} ({100 * n / max(grand, 1):.1f}%)" for n in split_totals],
        f"{grand:,}",
        style="bold",
    )
    ratio = imbalance(counts.sum(axis=1))
    table.caption = f"imbalance (largest / smallest class): {ratio:.1f}x"
    return table


def metrics_table(metrics: dict[str, Any], title: str) -> Table:
    """Per-class precision, recall and F1 of an evaluation's ``metrics.json``, then the totals."""
    table = Table(title=title)
    for column in ("class", "precision", "recall", "F1", "images"):
        table.add_column(column, justify="left" if column == "class" else "right")
    for label, m in metrics["per_class"].items():
        table.add_row(label, f"{m['precision']:.3f}", f"{m['recall']:.3f}", f"{m['f1']:.3f}", f"{m['support']:,}")
    table.add_section()
    table.add_row("accuracy", "", f"{metrics['accuracy']:.2%}", f"macro {metrics['macro_f1']:.3f}", f"{metrics['images']:,}", style="bold")
    return table
