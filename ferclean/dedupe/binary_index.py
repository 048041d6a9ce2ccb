"""All pairs of 64-bit hashes within a Hamming distance, by faiss's binary indexes.

faiss compares packed codes with SIMD popcounts on every core: its exhaustive
``IndexBinaryFlat`` finds all pairs of FER2013 and its mirrors (71k hashes) at any radius
in about 0.9 s of CPU (each pair compared once), where numpy's brute force takes 10 s and its multi-index more at
wide radii (bench/dedupe_bench.py). Its ``IndexBinaryMultiHash`` (tables and bit flips
chosen so that the pigeonhole principle makes it exact) loses to the numpy multi-index on
large sparse sets (1M random hashes at 4 bits: 42 s against 7 s), so
:func:`ferclean.dedupe.search.find_pairs` uses faiss only up to ``FLAT_MAX`` hashes.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from math import comb

import faiss
import numpy as np

from ferclean.dedupe.hashing import unique_keys
from ferclean.parallel import default_jobs

#: Up to this many hashes the exhaustive index is the fastest exact search at any radius.
FLAT_MAX = 300_000
#: The exhaustive search runs in this many query blocks, each against the codes from its own
#: block on, so each pair is compared about once (17/32 of all against all), the blocks on
#: a pool of threads (faiss releases the GIL) with faiss's own OpenMP threads off: on a busy
#: machine OpenMP's barriers made FER2013's search take 7-15 s of wall for 2 s of CPU.
_FLAT_BLOCKS = 16


def _codes(hashes: np.ndarray) -> np.ndarray:
    """uint64 hashes as faiss's (n, 8) uint8 codes (byte order is irrelevant to Hamming distance)."""
    return np.ascontiguousarray(np.asarray(hashes, dtype=np.uint64)).view(np.uint8).reshape(-1, 8)


def multihash_layout(n: int, threshold: int) -> tuple[int, int, int]:
    """(tables, bits per table, bit flips) of an exact multi-hash search with the fewest expected operations.

    With ``tables`` disjoint substrings each probed with up to ``flips`` flipped bits, any
    pair within ``threshold`` bits is found when ``tables * (flips + 1) > threshold``.
    """
    best: tuple[float, tuple[int, int, int]] | None = None
    for tables in range(1, 9):
        bits = min(64 // tables, 30)
        for flips in range(0, 4):
            if tables * (flips + 1) <= threshold:
                continue
            probes = tables * sum(comb(bits, k) for k in range(flips + 1))
            cost = n * probes * (1.0 + n / 2.0**bits)
            if best is None or cost < best[0]:
                best = (cost, (tables, bits, flips))
    if best is None:
        raise ValueError(f"no exact multi-hash layout for threshold {threshold}")
    return best[1]


def faiss_pairs(hashes: np.ndarray, threshold: int, method: str = "auto") -> np.ndarray:
    """Every pair ``i < j`` with ``hamming(h[i], h[j]) <= threshold``, sorted by ``(i, j)``.

    ``method`` is ``flat`` (exhaustive), ``multihash`` or ``auto`` (flat up to FLAT_MAX).
    """
    codes = _codes(hashes)
    n = len(codes)
    if n < 2:
        return np.empty((0, 2), dtype=np.int64)
    if method == "auto":
        method = "flat" if n <= FLAT_MAX else "multihash"
    if method == "flat":
        return _flat_pairs(codes, threshold)
    if method == "multihash":
        tables, bits, flips = multihash_layout(n, threshold)
        index = faiss.IndexBinaryMultiHash(64, tables, bits)
        index.nflip = flips
    else:
        raise ValueError(f"unknown faiss method {method!r}")
    index.add(codes)
    return _pair_keys(index, codes, 0, threshold, n)


def _pair_keys(index: faiss.IndexBinary, queries: np.ndarray, offset: int, threshold: int, n: int) -> np.ndarray:
    """Pairs ``i < j`` within ``threshold`` of ``queries`` (positions from ``offset``) in ``index`` (positions
    from ``offset`` too), as sorted ``(i, j)`` rows."""
    limits, _, found = index.range_search(queries, threshold + 1)  # faiss returns distances < radius
    query = np.repeat(np.arange(offset, offset + len(queries), dtype=np.int64), np.diff(limits.astype(np.int64)))
    found = found.astype(np.int64) + offset
    upper = query < found
    keys = unique_keys(query[upper] * n + found[upper])
    return np.stack([keys // n, keys % n], axis=1)


def _flat_pairs(codes: np.ndarray, threshold: int) -> np.ndarray:
    """The exhaustive search, block by block against the codes from the block on."""
    n = len(codes)
    step = -(-n // _FLAT_BLOCKS)

    def block(start: int) -> np.ndarray:
        index = faiss.IndexBinaryFlat(64)
        index.add(codes[start:])
        return _pair_keys(index, codes[start : start + step], start, threshold, n)

    omp_threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        with ThreadPoolExecutor(max_workers=default_jobs()) as pool:
            parts = list(pool.map(block, range(0, n, step)))
    finally:
        faiss.omp_set_num_threads(omp_threads)
    return np.concatenate(parts)  # blocks in order of i, each sorted: sorted by (i, j)
