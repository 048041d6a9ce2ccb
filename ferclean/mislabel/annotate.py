"""Scores written into manifest columns: what a later ``--apply`` or ``--auto-relabel`` reads."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ferclean.manifest import mark
from ferclean.mislabel.scoring import Scores

#: Start of the note this command writes on a flagged row.
REASON_PREFIX = "mislabel-review:"


def annotate(frame: pd.DataFrame, rows: np.ndarray, classes: Sequence[str], scores: Scores) -> pd.DataFrame:
    """A copy of ``frame`` with score columns for the probed ``rows`` (empty elsewhere).

    ``label_quality`` is the ranking score (by default the normalised margin of the given
    label over the likeliest other class), so the review orders by it.
    Flagged rows are raised to ``status=review`` with the reason in ``note`` (manifest.mark):
    a row an earlier step dropped or sent to review stays so, whatever the probe says.
    """
    frame = frame.copy()
    names = np.asarray(classes, dtype=object)
    quality = np.full(len(frame), np.nan)
    confidence = np.full(len(frame), np.nan)
    suggested = np.full(len(frame), "", dtype=object)
    quality[rows] = np.round(scores.label_quality, 4)
    confidence[rows] = np.round(scores.suggested_confidence, 4)
    suggested[rows] = names[scores.suggested]
    frame["label_quality"] = quality
    frame["suggested_label"] = suggested
    frame["suggested_confidence"] = confidence
    flagged = np.zeros(len(frame), dtype=bool)
    flagged[rows[scores.flagged]] = True
    reasons = pd.Series(
        [f"{REASON_PREFIX} suggested {s} (p={c:.2f})" for s, c in zip(suggested[flagged], confidence[flagged])],
        index=frame.index[flagged],
        dtype=object,
    )
    return mark(frame, frame.index[flagged], "review", reasons)
