"""All pairs of 64-bit hashes within a small Hamming distance, by sorting on chunk combinations.

Split each hash into ``m`` chunks. Two hashes within ``t`` bits differ in at most ``t``
chunks, so they agree exactly on at least ``m - t`` of them (pigeonhole). For every
combination of ``m - t`` chunks the hashes are sorted on those chunks together, and only
neighbours in a run of equal keys are compared. With wide keys (six chunks, pairs of them
for ``t = 4``) runs are short, so the work is ``C(m, m - t)`` sorts and a few linear scans:
10M random hashes at 4 bits in well under a minute, where the bit-flip multi-index of
:mod:`ferclean.dedupe.search` spends minutes expanding candidates (bench/dedupe_bench.py).
"""

from __future__ import annotations

from itertools import combinations
from math import comb, log2

import numpy as np

from ferclean.dedupe.hashing import unique_keys

_MAX_COMBINATIONS = 64
_MAX_CANDIDATES = 256


def _layout(m: int) -> list[tuple[int, int]]:
    """(shift, width) of ``m`` near-equal chunks covering 64 bits."""
    widths = [64 // m + (1 if k < 64 % m else 0) for k in range(m)]
    shifts = np.concatenate([[0], np.cumsum(widths)[:-1]]).tolist()
    return list(zip(shifts, widths))


def _candidates_per_hash(n: int, threshold: int, m: int) -> float:
    """Expected comparisons per hash with ``m`` chunks, for uniform hashes (the narrowest keys dominate)."""
    key_bits = sum(sorted(w for _, w in _layout(m))[: m - threshold])
    return comb(m, m - threshold) * n / 2.0 ** (key_bits + 1)


def combination_cost(n: int, threshold: int, m: int) -> float:
    """Expected work (sort steps plus candidate comparisons) with ``m`` chunks, for uniform hashes."""
    return comb(m, m - threshold) * n * max(log2(max(n, 2)), 1.0) + n * _candidates_per_hash(n, threshold, m)


def choose_chunks(n: int, threshold: int) -> int | None:
    """Chunk count with the least expected work, or None where this index does not pay: every
    layout needs over 64 sorts or compares each hash with over 256 others (wide thresholds)."""
    options = [
        m
        for m in range(threshold + 1, min(threshold + 9, 64) + 1)
        if comb(m, m - threshold) <= _MAX_COMBINATIONS and _candidates_per_hash(n, threshold, m) <= _MAX_CANDIDATES
    ]
    return min(options, key=lambda m: combination_cost(n, threshold, m)) if options else None


def combination_pairs(hashes: np.ndarray, threshold: int, chunks: int | None = None) -> np.ndarray:
    """Every pair ``i < j`` with ``hamming(h[i], h[j]) <= threshold``, sorted by ``(i, j)``."""
    hashes = np.asarray(hashes, dtype=np.uint64)
    n = len(hashes)
    m = chunks or choose_chunks(max(n, 2), threshold)
    if m is None or m <= threshold:
        raise ValueError(f"no chunk layout pays for threshold {threshold} on {n} hashes; use the multi-index")
    if n < 2:
        return np.empty((0, 2), dtype=np.int64)
    parts = [np.empty(0, dtype=np.int64)]
    layout = _layout(m)
    for chosen in combinations(range(m), m - threshold):
        mask = np.uint64(sum(((1 << width) - 1) << shift for shift, width in (layout[c] for c in chosen)))
        key = hashes & mask
        order = np.argsort(key, kind="stable")
        key = key[order]
        for gap in range(1, n):
            run = np.flatnonzero(key[gap:] == key[:-gap])
            if not len(run):
                break
            i, j = order[run], order[run + gap]
            close = np.bitwise_count(hashes[i] ^ hashes[j]) <= threshold
            lo, hi = np.minimum(i[close], j[close]), np.maximum(i[close], j[close])
            parts.append(lo.astype(np.int64) * n + hi)
    keys = unique_keys(np.concatenate(parts))
    return np.stack([keys // n, keys % n], axis=1)
