"""Exact and near-duplicate images (mirrored copies too), cross-split leakage, label conflicts.

``find_duplicates`` runs the whole step on a manifest and returns a ``DedupeResult``;
``report.write_report`` writes its files. The pieces: ``hashing`` (packed hashes),
``search`` (pairs within a Hamming distance, with ``binary_index`` (faiss) and
``combo_index`` behind it), ``verify`` (pixel verification and groups without chaining),
``clusters`` (group ids), ``resolve`` (policies).
"""

from __future__ import annotations

import resource
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ferclean.dedupe.hashing import unique_keys
from ferclean.dedupe.resolve import (
    CANDIDATE_RADIUS,
    CONFLICT_ACTIONS,
    DEFAULT_THRESHOLD,
    MAX_NEIGHBOURS,
    MIN_CANDIDATE_RADIUS,
    POLICIES,
    assign_groups,
    candidate_radius,
    cluster_table,
    find_duplicate_pairs,
    leakage_table,
    resolve,
)
from ferclean.dedupe.verify import BASE, DEFAULT_MIN_SIMILARITY, features_of_pixels, load_features, verify_duplicates
from ferclean.manifest import Manifest, joined_paths
from ferclean.parallel import Backend, Progress, default_jobs, no_progress
from ferclean.scan import ensure_hashes

__all__ = [
    "BASE",
    "CANDIDATE_RADIUS",
    "CONFLICT_ACTIONS",
    "DEFAULT_MIN_SIMILARITY",
    "DEFAULT_THRESHOLD",
    "MAX_NEIGHBOURS",
    "MIN_CANDIDATE_RADIUS",
    "POLICIES",
    "DedupeResult",
    "find_duplicates",
    "timed",
]

#: (stage, wall seconds, CPU seconds including finished worker processes)
StageTime = tuple[str, float, float]


def _cpu_seconds() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


@contextmanager
def timed(stage: str, times: list[StageTime]) -> Iterator[None]:
    """Append ``(stage, wall, cpu)`` for the enclosed block to ``times``."""
    wall, cpu = time.perf_counter(), _cpu_seconds()
    yield
    times.append((stage, time.perf_counter() - wall, _cpu_seconds() - cpu))


@dataclass
class DedupeResult:
    """What ``find_duplicates`` found and changed.

    ``manifest`` is the resolved manifest (``group`` set, statuses changed by the policy);
    ``grouped`` the frame before resolution; ``pairs`` the hash candidates as row-position
    pairs with distance and kind (and ``similarity`` and ``verified`` when verified);
    ``clusters`` one row per group; ``leaks`` groups and images per split pair; ``actions``
    one row per image whose status changed; ``times`` wall and CPU seconds per stage.
    """

    manifest: Manifest
    grouped: pd.DataFrame
    pairs: pd.DataFrame
    clusters: pd.DataFrame
    leaks: pd.DataFrame
    actions: pd.DataFrame
    times: list[StageTime] = field(default_factory=list)

    @property
    def grouped_pairs(self) -> pd.DataFrame:
        """Pairs whose two images ended in the same group (verified and not cut from a chain)."""
        group = self.grouped["group"].to_numpy()
        ga, gb = group[self.pairs["a"].to_numpy()], group[self.pairs["b"].to_numpy()]
        same = pd.notna(ga) & pd.notna(gb)
        same[same] = ga[same] == gb[same]
        return self.pairs[same]


def find_duplicates(
    manifest: Manifest,
    threshold: int | None = None,
    policy: str = "report",
    on_conflict: str = "review",
    hash_method: str = "phash",
    jobs: int | None = None,
    on_progress: Progress | None = None,
    backend: Backend | None = None,
    verify: bool = True,
    min_similarity: float = DEFAULT_MIN_SIMILARITY,
    pixels: np.ndarray | None = None,
) -> DedupeResult:
    """Group duplicates of ``manifest`` and apply ``policy`` (``report`` changes nothing).

    Hashes missing from the manifest, or made with another ``hash_method``, are computed
    first, on ``backend`` when given (else ``jobs`` local processes). ``threshold`` is the
    largest Hamming distance (bits of 64) of a hash candidate (default with ``verify``:
    CANDIDATE_RADIUS, narrowed on sets so crowded that candidates would pass MAX_NEIGHBOURS
    per image (:func:`ferclean.dedupe.resolve.candidate_radius`); DEFAULT_THRESHOLD without). With ``verify`` each candidate is checked on the
    pixels (score at least ``min_similarity``) and groups are cut where they would chain
    different faces (:mod:`ferclean.dedupe.verify`); without it, groups are the connected
    components of the candidates. ``pixels`` are (n, BASE, BASE) uint8 copies of the
    manifest's rows from the decoding that hashed them (``scan_dataset(keep_pixels=BASE)``):
    verification then reads them instead of decoding the candidates' files again.
    """
    if policy not in POLICIES:
        raise ValueError(f"policy must be one of {POLICIES}, got {policy!r}")
    if on_conflict not in CONFLICT_ACTIONS:
        raise ValueError(f"on_conflict must be one of {CONFLICT_ACTIONS}, got {on_conflict!r}")
    if not 0.0 <= min_similarity <= 1.0:
        raise ValueError(f"min_similarity must be between 0 and 1, got {min_similarity}")
    if pixels is not None and np.shape(pixels) != (len(manifest.frame), BASE, BASE):
        raise ValueError(f"pixels must have shape ({len(manifest.frame)}, {BASE}, {BASE}), got {np.shape(pixels)}")
    report = on_progress or no_progress
    times: list[StageTime] = []
    with timed("hash", times):
        manifest = ensure_hashes(manifest, hash_method, jobs, on_progress, backend)
    with timed("search", times):
        report("Searching for duplicates", 0, 1)
        radius = threshold if threshold is not None else candidate_radius(manifest.frame) if verify else DEFAULT_THRESHOLD
        pairs = find_duplicate_pairs(manifest.frame, radius)
        report("Searching for duplicates", 1, 1)
    labels = None
    if verify:
        with timed("verify", times):
            rows = unique_keys(pairs[["a", "b"]].to_numpy())
            if pixels is not None:
                feats = features_of_pixels(pixels, rows)
            else:
                # The paths (a million strings) are not kept once decoded.
                feats = load_features(joined_paths(manifest.root, manifest.frame["path"].iloc[rows]),
                                      jobs or default_jobs(), on_progress, backend)
            pairs, labels = verify_duplicates(manifest.frame, pairs, feats, rows, min_similarity)
    with timed("group and resolve", times):
        grouped = assign_groups(manifest.frame, pairs[pairs["verified"]] if verify else pairs, labels)
        resolved, actions = resolve(grouped, policy, on_conflict)
        clusters, leaks = cluster_table(grouped), leakage_table(grouped)
    settings = {"threshold": radius, "verify": verify, "min_similarity": min_similarity if verify else None}
    return DedupeResult(
        manifest=manifest.with_frame(resolved, dedupe={**settings, "policy": policy, "on_conflict": on_conflict}),
        grouped=grouped,
        pairs=pairs,
        clusters=clusters,
        leaks=leaks,
        actions=actions,
        times=times,
    )
