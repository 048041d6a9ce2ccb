import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ferclean.dedupe.binary_index import faiss_pairs, multihash_layout
from ferclean.dedupe.combo_index import choose_chunks, combination_pairs
from ferclean.dedupe.search import brute_force_pairs, find_pairs


def _with_planted_neighbours(seed: int, n: int, flips: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = rng.integers(0, np.iinfo(np.uint64).max, size=n, dtype=np.uint64, endpoint=True)
    near = base[rng.integers(0, n, size=n // 3)] if n else base
    for _ in range(flips):
        near = near ^ (np.uint64(1) << rng.integers(0, 64, size=len(near)).astype(np.uint64))
    return np.concatenate([base, near, base[:5]])


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(0, 400), threshold=st.integers(0, 12), flips=st.integers(0, 8))
@pytest.mark.parametrize("method", ["flat", "multihash"])
def test_faiss_returns_exactly_the_brute_force_pairs(method, seed, n, threshold, flips):
    hashes = _with_planted_neighbours(seed, n, flips)
    np.testing.assert_array_equal(faiss_pairs(hashes, threshold, method), brute_force_pairs(hashes, threshold))


def test_flat_search_leaves_faiss_threads_as_it_found_them():
    import faiss

    before = faiss.omp_get_max_threads()
    hashes = _with_planted_neighbours(0, 3000, 3)
    np.testing.assert_array_equal(faiss_pairs(hashes, 6, "flat"), brute_force_pairs(hashes, 6))
    assert faiss.omp_get_max_threads() == before


@pytest.mark.parametrize("threshold", [0, 1, 4, 8, 12])
def test_multihash_layout_is_exact_by_pigeonhole(threshold):
    tables, bits, flips = multihash_layout(10_000_000, threshold)
    assert tables * bits <= 64 and tables * (flips + 1) > threshold


def test_find_pairs_auto_on_large_sets_agrees_with_brute_force():
    hashes = _with_planted_neighbours(9, 5000, 2)
    np.testing.assert_array_equal(find_pairs(hashes, 6), find_pairs(hashes, 6, method="brute"))


def test_rejects_unknown_method():
    with pytest.raises(ValueError, match="unknown faiss method"):
        faiss_pairs(np.arange(5, dtype=np.uint64), 2, "magic")


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(0, 400), threshold=st.integers(0, 8), flips=st.integers(0, 8))
def test_combination_index_returns_exactly_the_brute_force_pairs(seed, n, threshold, flips):
    hashes = _with_planted_neighbours(seed, n, flips)
    np.testing.assert_array_equal(combination_pairs(hashes, threshold), brute_force_pairs(hashes, threshold))


@pytest.mark.parametrize("chunks", [5, 6, 7, 9])
def test_every_combination_layout_agrees_with_brute_force(chunks):
    hashes = _with_planted_neighbours(4, 800, 3)
    np.testing.assert_array_equal(combination_pairs(hashes, 4, chunks=chunks), brute_force_pairs(hashes, 4))


def test_combination_index_is_chosen_only_where_it_pays():
    assert choose_chunks(10_000_000, 4) == 6
    assert choose_chunks(1_000_000, 12) is None  # keys too narrow: the multi-index's job
    with pytest.raises(ValueError, match="no chunk layout"):
        combination_pairs(np.arange(1_000_000, dtype=np.uint64), 12)


def test_find_pairs_combination_method_matches_brute_force():
    hashes = _with_planted_neighbours(2, 3000, 3)
    np.testing.assert_array_equal(find_pairs(hashes, 4, method="combination"), brute_force_pairs(hashes, 4))
