import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ferclean.dedupe.resolve import CANDIDATE_RADIUS, MAX_NEIGHBOURS, MIN_CANDIDATE_RADIUS, candidate_radius, hex_to_uint64
from ferclean.dedupe.search import brute_force_pairs, choose_chunks, find_pairs, multi_index_pairs, neighbour_counts


def _with_planted_neighbours(seed: int, n: int, flips: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = rng.integers(0, np.iinfo(np.uint64).max, size=n, dtype=np.uint64, endpoint=True)
    sources = rng.integers(0, n, size=n // 3)
    near = base[sources].copy()
    for _ in range(flips):
        near ^= np.uint64(1) << rng.integers(0, 64, size=len(near)).astype(np.uint64)
    return np.concatenate([base, near, base[:5]])


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(0, 400), threshold=st.integers(0, 12), flips=st.integers(0, 8))
def test_index_returns_exactly_the_brute_force_pairs(seed, n, threshold, flips):
    hashes = _with_planted_neighbours(seed, n, flips)
    expected = brute_force_pairs(hashes, threshold)
    np.testing.assert_array_equal(multi_index_pairs(hashes, threshold), expected)


@pytest.mark.parametrize("chunks", [3, 4, 5, 9])
def test_every_chunk_count_agrees_with_brute_force(chunks):
    hashes = _with_planted_neighbours(3, 600, 3)
    np.testing.assert_array_equal(multi_index_pairs(hashes, 8, chunks=chunks), brute_force_pairs(hashes, 8))


def test_brute_force_matches_a_python_reference():
    hashes = _with_planted_neighbours(1, 60, 2)
    expected = [
        (i, j)
        for i in range(len(hashes))
        for j in range(i + 1, len(hashes))
        if bin(int(hashes[i]) ^ int(hashes[j])).count("1") <= 5
    ]
    assert [tuple(p) for p in brute_force_pairs(hashes, 5)] == expected


def test_find_pairs_auto_uses_the_index_on_large_sets_with_the_same_result():
    hashes = _with_planted_neighbours(9, 5000, 2)
    np.testing.assert_array_equal(find_pairs(hashes, 4), find_pairs(hashes, 4, method="brute"))


def test_cost_model_picks_exact_chunks_for_small_sets_and_fewer_for_large():
    assert choose_chunks(1_000_000, 4) == 3
    assert choose_chunks(100, 4) == 5


def test_rejects_bad_arguments():
    with pytest.raises(ValueError):
        find_pairs(np.zeros(3, dtype=np.uint64), -1)
    with pytest.raises(ValueError):
        find_pairs(np.zeros(3, dtype=np.uint64), 4, method="magic")


def _hash_frame(hashes: np.ndarray) -> pd.DataFrame:
    flipped = hashes ^ np.uint64(0xFFFF_0000_0000_0000)  # mirrors far from every direct hash
    return pd.DataFrame({"phash": [f"{h:016x}" for h in hashes], "phash_flip": [f"{h:016x}" for h in flipped]})


def test_candidate_radius_narrows_only_where_hashes_crowd():
    rng = np.random.default_rng(0)
    spread = rng.integers(0, 2**63, 2000, dtype=np.uint64)
    assert candidate_radius(_hash_frame(spread)) == CANDIDATE_RADIUS
    # 400 faces whose hashes differ from one layout in 4-5 random bits: every pair is within
    # 10 bits, so at 12 bits each image has hundreds of neighbours.
    base = np.uint64(0x0F0F_3C3C_5A5A_A5A5)
    bits = np.array([sum(1 << int(b) for b in rng.choice(64, int(rng.integers(4, 6)), replace=False)) for _ in range(400)],
                    dtype=np.uint64)
    crowded = base ^ bits
    counts = neighbour_counts(*(hex_to_uint64(_hash_frame(crowded)[c].to_numpy()) for c in ("phash", "phash_flip")),
                              [CANDIDATE_RADIUS, MIN_CANDIDATE_RADIUS], 100)
    assert counts[0] > MAX_NEIGHBOURS
    assert candidate_radius(_hash_frame(crowded)) == MIN_CANDIDATE_RADIUS
    # Half crowded: 60 such faces among 2,000 spread ones average few neighbours at 12 bits.
    assert candidate_radius(_hash_frame(np.concatenate([spread, crowded[:60]]))) == CANDIDATE_RADIUS
