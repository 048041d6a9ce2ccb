"""Leak-free, class-stratified re-splitting of a manifest.

``stratify`` is the whole step; ``assign`` holds the algorithm, ``report`` its measures.
"""

from __future__ import annotations

from dataclasses import dataclass

from ferclean.errors import FercleanError
from ferclean.manifest import Manifest
from ferclean.stratify.assign import StratifyResult, check_min_per_class, stratify_frame
from ferclean.stratify.report import SplitReport, split_report

__all__ = ["Stratified", "SplitReport", "StratifyResult", "stratify"]


@dataclass
class Stratified:
    """The re-split manifest (its meta records ratios, seed and quality), the assignment
    details and the quality report."""

    manifest: Manifest
    result: StratifyResult
    report: SplitReport


def stratify(
    manifest: Manifest,
    ratios: dict[str, float],
    seed: int = 42,
    keep_split: str | None = None,
    min_per_class: int = 0,
) -> Stratified:
    """Re-split every kept image of ``manifest`` in ``ratios`` (``{"train": 0.8, "val": 0.1,
    "test": 0.1}``), keeping duplicate groups whole; ``keep_split`` stays as it is.

    Raises FercleanError when a split would hold fewer than ``min_per_class`` images of a class.
    """
    result = stratify_frame(manifest.frame, ratios, seed, keep_split)
    splits = list(dict.fromkeys([*ratios, *([result.keep_split] if result.keep_split else [])]))
    check_min_per_class(result.frame, splits, min_per_class)
    report = split_report(manifest.frame, result)
    if report.cross_split_groups:
        raise FercleanError(
            f"Internal error: {report.cross_split_groups} duplicate group(s) would straddle splits; nothing was written."
        )
    stats = {
        "ratios": ratios,
        "seed": seed,
        "keep_split": result.keep_split,
        "max_deviation_pp": round(report.max_deviation_pp, 4),
        "deviation_floor_pp": round(report.deviation_floor_pp, 4),
        "cross_split_groups": report.cross_split_groups,
    }
    return Stratified(manifest=manifest.with_frame(result.frame, stratify=stats), result=result, report=report)
