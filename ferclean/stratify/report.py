"""How good a re-split is: deviation from the target per class and split, the floor whole
images allow, leaks, and the before/after counts the split plot draws."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from ferclean.manifest import effective_labels
from ferclean.render.tables import split_class_counts
from ferclean.stratify.assign import StratifyResult, cross_split_groups, deviation_floor, deviation_table, max_deviation


@dataclass
class SplitReport:
    """``deviations``: points per class (rows) and re-split split (columns); ``before`` and
    ``after``: class x split counts of kept images (the plot's data)."""

    deviations: pd.DataFrame
    ratios: dict[str, float]
    max_deviation_pp: float
    deviation_floor_pp: float
    cross_split_groups: int
    before: pd.DataFrame
    after: pd.DataFrame


def split_report(before: pd.DataFrame, result: StratifyResult) -> SplitReport:
    """Measure ``result`` (from ``stratify_frame``) against its ratios; ``before`` is the input frame."""
    frame = result.frame
    assigned = result.assigned.to_numpy()
    ratios = {s: r for s, r in result.ratios.items() if s != result.keep_split}
    labels = effective_labels(frame)[assigned]
    deviations = deviation_table(labels, frame["split"][assigned], ratios)
    return SplitReport(
        deviations=deviations,
        ratios=ratios,
        max_deviation_pp=max_deviation(deviations),
        deviation_floor_pp=deviation_floor(labels, ratios),
        cross_split_groups=cross_split_groups(frame),
        before=split_class_counts(before),
        after=split_class_counts(frame),
    )
