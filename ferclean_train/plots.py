"""Training curves (matplotlib, headless Agg backend); the confusion matrix is ferclean.plots'."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402
import pandas as pd  # noqa: E402

from ferclean.outputs import atomic_path  # noqa: E402


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
    fig.tight_layout()
    with atomic_path(out_path) as temp:
        fig.savefig(temp, dpi=110)
    plt.close(fig)
    return out_path
