"""Clusters of duplicate pairs (scipy's connected components), with order-independent ids."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd


def components(n: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The connected component (0, 1, ...) of each of ``n`` items under the edges (``a[k]``, ``b[k]``):
    scipy's vectorised union-find (scipy.sparse loads in 12 ms, unlike scipy.cluster)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    graph = coo_matrix((np.ones(len(a)), (np.asarray(a), np.asarray(b))), shape=(n, n))
    return connected_components(graph, directed=False)[1]


def cluster_ids(n: int, pairs: np.ndarray, sort_keys: Sequence[str]) -> np.ndarray:
    """Cluster id per item (-1 for items in no pair), numbered 0, 1, ... in order of each
    cluster's smallest ``sort_keys`` entry, so ids do not depend on row order."""
    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    labels = np.full(n, -1, dtype=np.int64)
    if len(pairs):
        component = components(n, pairs[:, 0], pairs[:, 1])
        members = np.zeros(n, dtype=bool)
        members[pairs.ravel()] = True
        labels[members] = component[members]
    return number_groups(labels, sort_keys)


def number_groups(labels: np.ndarray, sort_keys: Sequence[str]) -> np.ndarray:
    """Renumber arbitrary group labels (-1 for none) 0, 1, ... by each group's smallest ``sort_keys`` entry."""
    labels = np.asarray(labels, dtype=np.int64)
    ids = np.full(len(labels), -1, dtype=np.int64)
    members = np.flatnonzero(labels >= 0)
    if not len(members):
        return ids
    first = pd.Series(np.asarray(sort_keys, dtype=object)[members]).groupby(labels[members]).min()
    rank = pd.Series(np.arange(len(first)), index=first.sort_values(kind="stable").index)
    ids[members] = rank.loc[labels[members]].to_numpy()
    return ids
