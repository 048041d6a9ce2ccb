"""Training curves (matplotlib, headless Agg backend); the confusion matrix is ferclean.plots'."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402
import pandas as pd  # noqa: E402


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
    fig.savefig(out_path, dpi=110)
    plt.close(fig)
    return out_path


def plot_accuracy_vs_minutes(curves: dict[str, pd.DataFrame], out_path: Path, target: float | None = None) -> Path:
    """Validation accuracy against wall-clock minutes, one line per run, each run's test accuracy
    as a star at its finishing time: where a time budget goes. ``curves`` frames hold ``minutes``,
    ``val_accuracy`` and, on their last row, ``test_accuracy``."""
    fig, ax = plt.subplots(figsize=(8, 5))
    for label, frame in curves.items():
        line = ax.plot(frame["minutes"], frame["val_accuracy"], marker=".", label=f"{label} (val)")[0]
        last = frame.iloc[-1]
        ax.plot(last["finished_minutes"], last["test_accuracy"], marker="*", markersize=14, color=line.get_color(),
                linestyle="none", label=f"{label} test {last['test_accuracy']:.1%}")
    if target is not None:
        ax.axhline(target, color="grey", linestyle="--", label=f"target {target:.0%}")
    ax.set_xlabel("wall-clock minutes since the run started")
    ax.set_ylabel("accuracy")
    ax.set_title("Accuracy against training time")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out_path, dpi=110)
    plt.close(fig)
    return out_path
