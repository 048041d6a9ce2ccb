"""Small keyed hashes that make choices reproducible and file names collision-free."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import numpy as np


def seeded_rank(keys: Iterable[object], seed: int) -> np.ndarray:
    """A reproducible pseudo-random uint64 per key, from the seed and the key alone.

    Sorting by it shuffles without looking at where keys sit in the input, so results do
    not depend on file listing order.
    """
    prefix = f"{seed}\x00".encode()
    return np.array(
        [int.from_bytes(hashlib.blake2b(prefix + str(k).encode(), digest_size=8).digest(), "big") for k in keys],
        dtype=np.uint64,
    )


def short_hash(text: str) -> str:
    """Eight hex digits of SHA-1: a file-name suffix that tells apart sources sharing a name."""
    return hashlib.sha1(text.encode()).hexdigest()[:8]
