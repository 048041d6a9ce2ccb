"""All pairs of 64-bit hashes within a Hamming distance: brute force or a multi-index.

Both paths are vectorised numpy. The brute-force path compares every pair block by block
(O(n^2) popcounts, fastest for small sets). The multi-index path splits each hash into
``m`` chunks: by the pigeonhole principle two hashes within distance ``t`` agree to within
``t // m`` bits on at least one chunk, so candidates come from sorted-key lookups of each
chunk and its few bit-flip neighbours, and only candidates get a full popcount. ``m`` is
picked by a cost model, which makes the search sub-quadratic on spread-out hashes.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations
from math import comb

import numpy as np

from ferclean.dedupe.binary_index import FLAT_MAX, faiss_pairs
from ferclean.dedupe.combo_index import choose_chunks as combination_chunks
from ferclean.dedupe.combo_index import combination_pairs
from ferclean.dedupe.hashing import unique_keys

#: Below this many hashes brute force beats building the index (measured in bench/dedupe_bench.py).
BRUTE_FORCE_MAX = 4096

_BLOCK_CANDIDATES = 8_000_000
_DENSE_TABLE_MAX_BITS = 24


def hamming(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Element-wise (broadcasting) Hamming distance between uint64 arrays."""
    return np.bitwise_count(np.bitwise_xor(a, b))


def _as_pairs(i: np.ndarray, j: np.ndarray) -> np.ndarray:
    pairs = np.stack([i, j], axis=1).astype(np.int64, copy=False)
    return pairs.reshape(-1, 2)


def _unique_pairs(parts: list[np.ndarray], n: int) -> np.ndarray:
    if not parts:
        return np.empty((0, 2), dtype=np.int64)
    pairs = np.concatenate(parts)
    keys = unique_keys(pairs[:, 0] * n + pairs[:, 1])
    return _as_pairs(keys // n, keys % n)


def brute_force_pairs(hashes: np.ndarray, threshold: int, block: int = 1024) -> np.ndarray:
    """Every pair ``i < j`` with ``hamming(h[i], h[j]) <= threshold``, by blocked all-pairs popcount."""
    hashes = np.asarray(hashes, dtype=np.uint64)
    n = len(hashes)
    parts = []
    for start in range(0, n, block):
        rows = hashes[start : start + block]
        dist = hamming(rows[:, None], hashes[None, start:])
        i, j = np.nonzero(dist <= threshold)
        upper = j > i
        parts.append(_as_pairs(i[upper] + start, j[upper] + start))
    return _unique_pairs(parts, max(n, 1))


def _chunk_layout(m: int) -> list[tuple[int, int]]:
    """(shift, width) of ``m`` near-equal chunks covering 64 bits."""
    widths = [64 // m + (1 if k < 64 % m else 0) for k in range(m)]
    shifts = np.concatenate([[0], np.cumsum(widths)[:-1]]).tolist()
    return list(zip(shifts, widths))


def _flip_masks(width: int, radius: int) -> np.ndarray:
    """All ``width``-bit masks with at most ``radius`` bits set (0 first)."""
    masks = [0]
    for r in range(1, radius + 1):
        masks += [sum(1 << b for b in bits) for bits in combinations(range(width), r)]
    return np.array(masks, dtype=np.uint64)


def choose_chunks(n: int, threshold: int) -> int:
    """Chunk count minimising lookups plus expected candidates for ``n`` uniform hashes."""

    def cost(m: int) -> float:
        radius = threshold // m
        total = 0.0
        for _, width in _chunk_layout(m):
            masks = sum(comb(width, r) for r in range(radius + 1))
            total += masks * n * (1.0 + n / 2.0**width)
        return total

    return min(range(1, min(threshold + 1, 16) + 1), key=cost)


def _expand(lo: np.ndarray, hi: np.ndarray, order: np.ndarray, query: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Turn per-query ranges ``[lo, hi)`` into (query, candidate) index arrays."""
    counts = hi - lo
    total = int(counts.sum())
    qi = np.repeat(query, counts)
    starts = np.repeat(lo - (np.cumsum(counts) - counts), counts)
    return qi, order[starts + np.arange(total)]


def _bucket_lookup(sorted_keys: np.ndarray, width: int):
    """A function mapping keys to their ``[lo, hi)`` range in ``sorted_keys``.

    Narrow chunks use a dense table of bucket starts (O(1) per lookup); wide ones fall
    back to binary search.
    """
    if width <= _DENSE_TABLE_MAX_BITS:
        starts = np.zeros((1 << width) + 1, dtype=np.int64)
        np.cumsum(np.bincount(sorted_keys.astype(np.int64), minlength=1 << width), out=starts[1:])
        return lambda wanted: (starts[wanted.astype(np.int64)], starts[wanted.astype(np.int64) + 1])
    return lambda wanted: (
        np.searchsorted(sorted_keys, wanted, side="left"),
        np.searchsorted(sorted_keys, wanted, side="right"),
    )


def multi_index_pairs(hashes: np.ndarray, threshold: int, chunks: int | None = None) -> np.ndarray:
    """Same result as :func:`brute_force_pairs`, via a multi-index over hash chunks."""
    hashes = np.asarray(hashes, dtype=np.uint64)
    n = len(hashes)
    if n < 2:
        return np.empty((0, 2), dtype=np.int64)
    m = chunks or choose_chunks(n, threshold)
    radius = threshold // m
    index = np.arange(n)
    parts = []
    for shift, width in _chunk_layout(m):
        keys = (hashes >> np.uint64(shift)) & np.uint64((1 << width) - 1)
        order = np.argsort(keys, kind="stable")
        bucket_range = _bucket_lookup(keys[order], width)
        for mask in _flip_masks(width, radius):
            lo, hi = bucket_range(keys ^ mask)
            bounds = np.cumsum(hi - lo)
            cuts = np.searchsorted(bounds, np.arange(_BLOCK_CANDIDATES, bounds[-1] if n else 0, _BLOCK_CANDIDATES))
            for q in np.split(index, cuts):
                qi, cj = _expand(lo[q], hi[q], order, q)
                upper = qi < cj
                qi, cj = qi[upper], cj[upper]
                close = hamming(hashes[qi], hashes[cj]) <= threshold
                parts.append(_as_pairs(qi[close], cj[close]))
    return _unique_pairs(parts, n)


def find_pairs(hashes: np.ndarray, threshold: int, method: str = "auto") -> np.ndarray:
    """All index pairs ``(i, j)``, ``i < j``, whose hashes differ in at most ``threshold`` bits.

    ``method`` is ``faiss`` (its exhaustive binary index, :mod:`ferclean.dedupe.binary_index`),
    ``combination`` (sorting on chunk combinations, :mod:`ferclean.dedupe.combo_index`), ``brute``,
    ``index`` (the numpy paths) or ``auto``: numpy brute force for small sets, faiss up to
    ``FLAT_MAX`` hashes (any radius), and beyond that the combination index where the
    threshold allows it (bench/dedupe_bench.py: 10M hashes at 4 bits in 35 s of CPU against
    149 s for the multi-index; faiss's multi-hash index is slower still), else faiss's
    exhaustive search again: at wide radii the multi-index's buckets fill up on real
    perceptual hashes, which cluster (500k hashes of a generated face tree at 10 bits: 126 s
    against 26 s exhaustive). Rows are sorted by ``(i, j)``.
    """
    if threshold < 0 or threshold > 64:
        raise ValueError("threshold must be between 0 and 64 bits")
    if method == "auto":
        n = len(hashes)
        large = "combination" if combination_chunks(n, threshold) else "faiss"
        method = "brute" if n <= BRUTE_FORCE_MAX else "faiss" if n <= FLAT_MAX else large
    if method == "faiss":
        return faiss_pairs(hashes, threshold, "flat")
    if method == "combination":
        return combination_pairs(hashes, threshold)
    if method == "brute":
        return brute_force_pairs(hashes, threshold)
    if method == "index":
        return multi_index_pairs(hashes, threshold)
    raise ValueError(f"unknown search method {method!r}")


def mirror_pairs(direct: np.ndarray, flipped: np.ndarray, threshold: int, method: str = "auto") -> np.ndarray:
    """Position pairs ``i < j`` within ``threshold`` bits, directly or one seen through the
    other's mirror (``flipped`` holds each hash of the left-right flipped image).

    An image never pairs with its own mirror.
    """
    n = len(direct)
    found = find_pairs(np.concatenate([direct, flipped]), threshold, method) % max(n, 1)
    found = found[found[:, 0] != found[:, 1]]
    found.sort(axis=1)
    return _unique_pairs([found], max(n, 1))  # one sort of int64 keys, not a row sort


def neighbour_counts(direct: np.ndarray, flipped: np.ndarray, radii: Sequence[int], sample: int, seed: int = 0) -> np.ndarray:
    """Mean number of other hashes (direct or mirrored) within each of ``radii`` bits of a seeded
    sample of ``sample`` direct hashes: how many candidates per image a radius would give."""
    direct, flipped = np.asarray(direct, dtype=np.uint64), np.asarray(flipped, dtype=np.uint64)
    if len(direct) < 2:
        return np.zeros(len(radii))
    every = np.concatenate([direct, flipped])
    picked = np.random.default_rng(seed).choice(len(direct), min(sample, len(direct)), replace=False)
    counts = np.zeros(len(radii))
    for row in picked:
        distances = hamming(every, direct[row])
        counts += [np.count_nonzero(distances <= r) - 1 for r in radii]  # less the image itself
    return counts / len(picked)
