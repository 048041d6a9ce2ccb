"""Union-find over duplicate pairs, giving order-independent cluster ids."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


class UnionFind:
    """Disjoint sets over ``0..n-1`` with path halving and union by size."""

    def __init__(self, n: int) -> None:
        self.parent = np.arange(n)
        self.size = np.ones(n, dtype=np.int64)

    def find(self, x: int) -> int:
        parent = self.parent
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return int(x)

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return
        if self.size[ra] < self.size[rb]:
            ra, rb = rb, ra
        self.parent[rb] = ra
        self.size[ra] += self.size[rb]

    def roots(self) -> np.ndarray:
        return np.array([self.find(i) for i in range(len(self.parent))], dtype=np.int64)


def cluster_ids(n: int, pairs: np.ndarray, sort_keys: Sequence[str]) -> np.ndarray:
    """Cluster id per item (-1 for items in no pair), numbered 0, 1, ... in order of each
    cluster's smallest ``sort_keys`` entry, so ids do not depend on row order."""
    forest = UnionFind(n)
    for a, b in pairs:
        forest.union(int(a), int(b))
    roots = forest.roots()
    members = np.zeros(n, dtype=bool)
    members[np.asarray(pairs, dtype=np.int64).ravel()] = True
    ids = np.full(n, -1, dtype=np.int64)
    if not members.any():
        return ids
    keys = np.asarray(sort_keys, dtype=object)
    first_key: dict[int, str] = {}
    for i in np.flatnonzero(members):
        root = int(roots[i])
        if root not in first_key or keys[i] < first_key[root]:
            first_key[root] = keys[i]
    numbering = {root: k for k, root in enumerate(sorted(first_key, key=first_key.__getitem__))}
    ids[members] = [numbering[int(r)] for r in roots[members]]
    return ids
