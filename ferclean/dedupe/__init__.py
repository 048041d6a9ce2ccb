"""Exact and near-duplicate images (mirrored copies too), cross-split leakage, label conflicts.

``find_duplicates`` runs the whole step on a manifest and returns a ``DedupeResult``;
``report.write_report`` writes its files. The pieces: ``hashing`` (packed hashes),
``search`` (pairs within a Hamming distance), ``clusters`` (groups), ``resolve`` (policies).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from ferclean.dedupe.resolve import (
    CONFLICT_ACTIONS,
    DEFAULT_THRESHOLD,
    POLICIES,
    assign_groups,
    cluster_table,
    find_duplicate_pairs,
    leakage_table,
    resolve,
)
from ferclean.manifest import Manifest
from ferclean.parallel import Backend, Progress, no_progress
from ferclean.scan import ensure_hashes

__all__ = ["CONFLICT_ACTIONS", "DEFAULT_THRESHOLD", "POLICIES", "DedupeResult", "find_duplicates"]


@dataclass
class DedupeResult:
    """What ``find_duplicates`` found and changed.

    ``manifest`` is the resolved manifest (``group`` set, statuses changed by the policy);
    ``grouped`` the frame before resolution; ``pairs`` row-position pairs with distance and
    kind; ``clusters`` one row per group; ``leaks`` groups and images per split pair;
    ``actions`` one row per image whose status changed.
    """

    manifest: Manifest
    grouped: pd.DataFrame
    pairs: pd.DataFrame
    clusters: pd.DataFrame
    leaks: pd.DataFrame
    actions: pd.DataFrame


def find_duplicates(
    manifest: Manifest,
    threshold: int = DEFAULT_THRESHOLD,
    policy: str = "report",
    on_conflict: str = "review",
    hash_method: str = "phash",
    jobs: int | None = None,
    on_progress: Progress | None = None,
    backend: Backend | None = None,
) -> DedupeResult:
    """Group duplicates of ``manifest`` and apply ``policy`` (``report`` changes nothing).

    Hashes missing from the manifest, or made with another ``hash_method``, are computed
    first, on ``backend`` when given (else ``jobs`` local processes). ``threshold`` is the
    largest Hamming distance (bits of 64) for a near duplicate.
    """
    if policy not in POLICIES:
        raise ValueError(f"policy must be one of {POLICIES}, got {policy!r}")
    if on_conflict not in CONFLICT_ACTIONS:
        raise ValueError(f"on_conflict must be one of {CONFLICT_ACTIONS}, got {on_conflict!r}")
    report = on_progress or no_progress
    manifest = ensure_hashes(manifest, hash_method, jobs, on_progress, backend)
    report("Searching for duplicates", 0, 1)
    pairs = find_duplicate_pairs(manifest.frame, threshold)
    report("Searching for duplicates", 1, 1)
    grouped = assign_groups(manifest.frame, pairs)
    resolved, actions = resolve(grouped, policy, on_conflict)
    return DedupeResult(
        manifest=manifest.with_frame(resolved, dedupe={"threshold": threshold, "policy": policy, "on_conflict": on_conflict}),
        grouped=grouped,
        pairs=pairs,
        clusters=cluster_table(grouped),
        leaks=leakage_table(grouped),
        actions=actions,
    )
