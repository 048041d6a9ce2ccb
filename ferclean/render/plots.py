"""Every figure of the toolkit and the trainer: confusion matrix, split shares, training curves.

matplotlib with the headless Agg backend, chosen once here.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from ferclean.outputs import atomic_path  # noqa: E402


def _save(fig: plt.Figure, out_path: str | Path) -> None:
    """Write ``fig`` atomically (a half-written PNG never replaces a good one) and free it."""
    fig.tight_layout()
    with atomic_path(out_path) as temp:
        fig.savefig(temp, dpi=110)
    plt.close(fig)


def plot_confusion(
    matrix: np.ndarray,
    classes: Sequence[str],
    out_path: Path,
    title: str = "",
    xlabel: str = "predicted",
    ylabel: str = "true",
) -> Path:
    """Row-normalised colours (recall per true class) with the raw counts written in each cell."""
    totals = matrix.sum(axis=1, keepdims=True)
    share = np.divide(matrix, totals, out=np.zeros(matrix.shape, dtype=float), where=totals > 0)
    size = 1.0 + 0.75 * len(classes)
    fig, ax = plt.subplots(figsize=(size + 1.5, size))
    image = ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(classes)), classes, rotation=45, ha="right")
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    for i in range(len(classes)):
        for j in range(len(classes)):
            ax.text(
                j, i, f"{matrix[i, j]}\n{share[i, j]:.0%}", ha="center", va="center", fontsize=8,
                color="white" if share[i, j] > 0.5 else "black",
            )
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label=f"share of {ylabel} class")
    if title:
        ax.set_title(title)
    _save(fig, out_path)
    return Path(out_path)


_COLOURS = {"train": "#4C72B0", "val": "#DD8452", "test": "#55A868", "": "#8172B3"}


def plot_splits(before: pd.DataFrame, after: pd.DataFrame, out_path: str | Path, title: str = "") -> Path:
    """Two panels (before, after) of grouped bars: each class's share of each split, in %.

    ``before`` and ``after`` are class x split count tables (``render.tables.split_class_counts``).
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
    _save(fig, out_path)
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


def plot_curves(history: pd.DataFrame, best_epoch: int | None, out_path: Path) -> Path:
    """Accuracy and loss, train vs val, per epoch (1-based), with the kept (best) epoch marked."""
    epochs = history["epoch"].to_numpy() + 1
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, metric, title in ((axes[0], "accuracy", "Accuracy"), (axes[1], "loss", "Loss")):
        if metric in history:
            ax.plot(epochs, history[metric], label="train", marker=".")
        if f"val_{metric}" in history:
            ax.plot(epochs, history[f"val_{metric}"], label="val", marker=".")
        if best_epoch is not None:
            ax.axvline(best_epoch, color="grey", linestyle="--", label=f"best epoch ({best_epoch})")
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend()
    _save(fig, out_path)
    return out_path
