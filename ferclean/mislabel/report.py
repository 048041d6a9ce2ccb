"""What a reviewer reads: the flagged table, counts per class pair, and the report folder
(probs.npy, review.csv, review.html, confusion_matrix.png)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from sklearn.metrics import confusion_matrix

from ferclean.mislabel.features import IMAGE_SIZE, load_one
from ferclean.mislabel.review_page import render_review_page, thumbnail_uri
from ferclean.mislabel.saved_probs import save_probs
from ferclean.outputs import write_csv, write_text
from ferclean.render.plots import plot_confusion

if TYPE_CHECKING:
    from ferclean.mislabel.pipeline import ReviewResult

REVIEW_COLUMNS: tuple[str, ...] = (
    "path", "split", "label", "suggested_label", "suggested_confidence", "label_quality",
)


def review_table(frame: pd.DataFrame, flagged: pd.Index) -> pd.DataFrame:
    """The rows the probe ``flagged``, most doubtful first (lowest label_quality, then path).

    Rows an earlier step sent to review (e.g. scan's not-a-face) are not label questions unless
    the probe flags them too."""
    flagged = frame.loc[flagged]
    flagged = flagged.sort_values(["label_quality", "path"], kind="stable")
    return flagged[list(REVIEW_COLUMNS)].reset_index(drop=True)


def pair_counts(review: pd.DataFrame) -> pd.Series:
    """Flagged images per ``given -> suggested`` pair, most frequent first."""
    if review.empty:
        return pd.Series(dtype=np.int64)
    counts = review.groupby(["label", "suggested_label"]).size()
    counts.index = [f"{given} -> {suggested}" for given, suggested in counts.index]
    return counts.sort_values(ascending=False, kind="stable")


def write_report(result: ReviewResult, report_dir: Path, page_limit: int = 2000) -> list[str]:
    """Write the report folder; returns the names of the files written.

    The page shows the ``page_limit`` most doubtful images: a page of tens of thousands of
    embedded thumbnails is too slow to review; review.csv lists them all.
    """
    written = []
    if not result.reused:
        save_probs(report_dir / "probs.npy", result.saved)
        written += ["probs.npy", "probs_index.csv", "probs_meta.json"]
    review = result.review
    write_csv(report_dir / "review.csv", review)
    page = review.head(page_limit)
    thumbs = []
    for path in page["path"]:
        array = result.images.get(path)
        if array is None:
            array = load_one(str(result.manifest.root / path))
        thumbs.append(thumbnail_uri(array if array is not None else np.zeros((IMAGE_SIZE, IMAGE_SIZE), np.uint8)))
    shown = f"the {len(page):,} most doubtful of " if len(page) < len(review) else ""
    title = f"ferclean mislabel review: {shown}{len(review):,} flagged image(s)"
    position = {path: i for i, path in enumerate(result.paths)}
    page_probs = result.probs[[position[path] for path in page["path"]]]
    html = render_review_page(page, thumbs, page_probs, result.classes, title, where=str(report_dir.resolve()))
    write_text(report_dir / "review.html", html)
    matrix = confusion_matrix(result.labels, result.probs.argmax(axis=1), labels=np.arange(len(result.classes)))
    plot_confusion(
        matrix, result.classes, report_dir / "confusion_matrix.png",
        f"Probe vs given labels (accuracy {result.accuracy:.1%})",
        xlabel="probe prediction", ylabel="given label",
    )
    return [*written, "review.csv", "review.html", "confusion_matrix.png"]
