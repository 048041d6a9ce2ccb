"""Perceptual hashes as packed 64-bit integers, the form the pair search works on.

The hashes themselves are computed per image at scan time (``ferclean.images``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def hex_to_uint64(hexes: Sequence[str]) -> np.ndarray:
    """Pack 16-digit hex hashes into a uint64 array (the form the search works on)."""
    return np.fromiter((int(h, 16) for h in hexes), dtype=np.uint64, count=len(hexes))


def unique_keys(keys: np.ndarray) -> np.ndarray:
    """``np.unique`` of integer keys (flattened), by one sort: numpy 2's hashing ``np.unique``
    costs 50-100x more on a few 100k distinct int64 keys (FER2013's pair keys: 0.14 s against 2 ms)."""
    keys = np.sort(np.ravel(keys))
    return keys[np.concatenate(([True], keys[1:] != keys[:-1]))] if len(keys) else keys
