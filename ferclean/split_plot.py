"""A PNG bar chart of the class mix of every split, before and after a re-split."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 - the backend must be chosen first
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from ferclean.outputs import atomic_path, require_suffix  # noqa: E402

_COLOURS = {"train": "#4C72B0", "val": "#DD8452", "test": "#55A868", "": "#8172B3"}


#: File types the chart can be written as (matplotlib picks the format from the suffix).
PLOT_SUFFIXES: tuple[str, ...] = (".png", ".svg", ".pdf")


def plot_name(text: str) -> Path:
    """A ``--plot`` path, refused unless it ends in a suffix the chart can be written as."""
    path = Path(text)
    require_suffix(path, PLOT_SUFFIXES, "--plot")
    return path


def plot_splits(before: pd.DataFrame, after: pd.DataFrame, out_path: str | Path, title: str = "") -> Path:
    """Two panels (before, after) of grouped bars: each class's share of each split, in %.

    ``before`` and ``after`` are class x split count tables (``tables.split_class_counts``).
    Shares rather than counts make a stratified split visible at a glance: the bars of a
    class are level when every split holds the class in the same proportion.
    """
    out_path = Path(out_path)
    classes = list(dict.fromkeys([*before.index, *after.index]))
    fig, axes = plt.subplots(1, 2, figsize=(max(8.0, 1.6 * len(classes) + 2), 4.2), sharey=True)
    for ax, counts, name in zip(axes, (before, after), ("before", "after")):
        _panel(ax, counts.reindex(index=classes, fill_value=0), name)
    axes[0].set_ylabel("share of the split (%)")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    with atomic_path(out_path) as temp:
        fig.savefig(temp, dpi=110)
    plt.close(fig)
    return out_path


def _panel(ax: plt.Axes, counts: pd.DataFrame, name: str) -> None:
    splits = list(counts.columns)
    x = np.arange(len(counts.index))
    width = 0.8 / max(len(splits), 1)
    for i, split in enumerate(splits):
        total = counts[split].sum()
        share = 100 * counts[split] / total if total else counts[split] * 0.0
        label = f"{split or '(no split)'} (n={int(total):,})"
        ax.bar(x + (i - (len(splits) - 1) / 2) * width, share, width, label=label, color=_COLOURS.get(split))
    ax.set_xticks(x, [str(c) for c in counts.index], rotation=30, ha="right")
    ax.set_title(name)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize="small")
