import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from PIL import Image

from ferclean.cli import main
from ferclean.dedupe.clusters import cluster_ids, components, number_groups
from ferclean.dedupe.verify import (
    BASE,
    DEFAULT_MIN_SIMILARITY,
    GROUP_SLACK,
    complete_linkage_cut,
    features,
    features_of_pixels,
    pair_similarity,
    split_chains,
    verify_duplicates,
    window_spreads,
)


def _face(seed: int, size: int = 48) -> np.ndarray:
    """A textured random image: independent seeds share no detail."""
    rng = np.random.default_rng(seed)
    coarse = Image.fromarray(rng.integers(0, 256, (16, 16), dtype=np.uint8)).resize((size, size), Image.Resampling.BICUBIC)
    return np.asarray(coarse)


def _shift(image: np.ndarray, dx: int, dy: int) -> np.ndarray:
    return np.roll(np.roll(image, dy, axis=0), dx, axis=1)


def test_edited_copies_verify_and_different_faces_do_not():
    base = _face(0)
    brighter = np.clip(base.astype(int) * 0.6 + 80, 0, 255).astype(np.uint8)  # contrast down, brightness up
    shifted, odd_shift = _shift(base, 4, -2), _shift(base, 3, -3)
    mirrored = base[:, ::-1].copy()
    feats = features(np.stack([base, brighter, shifted, odd_shift, mirrored, _face(1), _face(2)]))
    a, b = np.zeros(6, dtype=int), np.arange(1, 7)
    scores = pair_similarity(feats, a, b, mirror=np.array([False, False, False, True, False, False]))
    assert scores[0] > 0.98  # brightness and contrast
    assert scores[1] > 0.98  # a few pixels of shift (a whole number of thumbnail pixels)
    assert scores[2] > DEFAULT_MIN_SIMILARITY  # half-pixel shifts of the thumbnail still pass
    assert scores[3] > 0.98  # the mirror, compared mirrored
    assert scores[4] < 0.3 and scores[5] < 0.3  # different images
    assert pair_similarity(feats, [0], [4])[0] < DEFAULT_MIN_SIMILARITY  # the mirror, compared directly


@pytest.mark.parametrize("held_whole", [True, False])
def test_features_held_as_thumbnails_score_as_the_float_features(monkeypatch, held_whole):
    """A million candidates keep uint8 thumbnails and high-pass each block of pairs: the same
    features, spreads and scores as the float32 array of every image."""
    monkeypatch.setattr("ferclean.dedupe.verify.HIGH_PASSED_BYTES", 2**30 if held_whole else 0)
    images = np.stack([_face(k, BASE) for k in range(6)] + [_shift(_face(0, BASE), 2, -2)])
    rows = np.array([0, 2, 3, 5, 6])
    lazy, whole = features_of_pixels(images, rows), features(images[rows])
    assert (lazy.high_passed is not None) == held_whole
    np.testing.assert_array_equal(lazy[np.array([4, 0]), 1:], whole[[4, 0], 1:])
    np.testing.assert_array_equal(window_spreads(lazy), window_spreads(whole))
    a, b, mirror = np.array([0, 0, 1, 4]), np.array([4, 1, 2, 3]), np.array([False, True, False, False])
    np.testing.assert_array_equal(pair_similarity(lazy, a, b, mirror), pair_similarity(whole, a, b, mirror))
    assert pair_similarity(lazy, [0], [4])[0] > 0.95  # the shifted copy


def test_flat_images_score_zero_not_nan():
    feats = features(np.stack([np.full((48, 48), 10, np.uint8), np.full((48, 48), 200, np.uint8)]))
    assert pair_similarity(feats, [0], [1])[0] == 0.0


def _chain() -> tuple[np.ndarray, np.ndarray]:
    """A and C are different faces; B is half of each, so A~B and B~C verify but A~C does not."""
    a, c = _face(10).astype(float), _face(11).astype(float)
    b = 0.5 * a + 0.5 * c
    images = np.stack([a, b, c]).astype(np.uint8)
    return images, features(images)


def test_a_chain_of_two_verified_pairs_is_cut_where_the_ends_differ():
    images, feats = _chain()
    ab, bc, ac = pair_similarity(feats, [0, 1, 0], [1, 2, 2])
    threshold = 0.6
    assert ab >= threshold and bc >= threshold and ac < threshold - GROUP_SLACK

    def score(i, j):
        return pair_similarity(feats, i, j)

    labels = split_chains(3, np.array([0, 1]), np.array([1, 2]), score, threshold)
    assert (labels >= 0).sum() == 2  # one pair stays a group, the third face is alone
    grouped = np.flatnonzero(labels >= 0)
    assert labels[grouped[0]] == labels[grouped[1]] and 1 in grouped


def test_verify_duplicates_scores_candidates_and_groups_without_chaining():
    _, feats = _chain()
    frame = pd.DataFrame({"path": ["a.png", "b.png", "c.png", "d.png"], "sha256": ["1", "2", "3", "3"]})
    candidates = pd.DataFrame({"a": [0, 1, 0, 2], "b": [1, 2, 2, 3], "distance": [8, 8, 10, 0], "kind": ["near", "near", "near", "exact"]})
    rows = np.array([0, 1, 2, 3])
    all_feats = np.concatenate([feats, feats[2:3]])
    scored, labels = verify_duplicates(frame, candidates, all_feats, rows, 0.6)
    assert scored["verified"].tolist() == [True, True, False, True]
    assert scored["similarity"].iloc[3] == 1.0
    ids = number_groups(labels, frame["path"].tolist())
    # C and its exact copy D hold together; B joins one side only; A~C never shares a group.
    assert ids[2] == ids[3] != -1
    assert ids[0] == -1 or ids[0] != ids[2]
    with pytest.raises(ValueError, match="min_similarity"):
        verify_duplicates(frame, candidates, all_feats, rows, 1.5)


def test_cluster_ids_are_connected_components_numbered_by_smallest_key():
    pairs = np.array([[0, 1], [1, 2], [4, 5]])
    keys = ["z", "y", "x", "w", "a", "b"]
    assert cluster_ids(6, pairs, keys).tolist() == [1, 1, 1, -1, 0, 0]
    perm = np.array([5, 3, 1, 0, 4, 2])  # same items, other row order
    inverse = np.argsort(perm)
    ids = cluster_ids(6, inverse[pairs], [keys[p] for p in perm])
    assert ids[inverse].tolist() == [1, 1, 1, -1, 0, 0]


def test_components_match_scipy_numbered_by_smallest_member():
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    rng = np.random.default_rng(0)
    for _ in range(200):
        n, m = int(rng.integers(1, 50)), int(rng.integers(0, 70))
        a, b = rng.integers(0, n, m), rng.integers(0, n, m)
        expected = connected_components(coo_matrix((np.ones(m), (a, b)), shape=(n, n)), directed=False)[1]
        assert components(n, a, b).tolist() == expected.tolist()
    order = rng.permutation(10_000)  # one long chain in shuffled order: many hooks, one component
    assert (components(10_000, order[:-1], order[1:]) == 0).all()


def test_cli_verify_options(tmp_path, make_dataset):
    root = make_dataset(tmp_path / "data", {"train": {"happy": 6}, "test": {"sad": 6}})
    original = Image.open(root / "train" / "happy" / "happy_train_0000.png")
    Image.fromarray(np.clip(np.asarray(original) * 0.7 + 40, 0, 255).astype(np.uint8)).save(root / "test" / "sad" / "dim.png")
    for flag in ("--verify", "--no-verify"):
        out = tmp_path / flag / "d.csv"
        result = CliRunner().invoke(main, ["dedupe", str(root), "-o", str(out), flag, "--min-similarity", "0.8"])
        assert result.exit_code == 0, result.output
        assert "Stage times" in result.output
        pairs = pd.read_csv(out.with_name("d_dedupe") / "pairs.csv")
        assert ("similarity" in pairs) == (flag == "--verify")
        assert len(pairs[pairs["group"].notna()]) == 1
    bad = CliRunner().invoke(main, ["dedupe", str(root), "-o", str(tmp_path / "x.csv"), "--min-similarity", "2"])
    assert bad.exit_code != 0 and "--min-similarity" in bad.output


def test_components_too_big_for_all_pairs_are_peeled_into_stars(monkeypatch):
    import ferclean.dedupe.verify as verify

    monkeypatch.setattr(verify, "_LINKAGE_MAX", 4)
    # Two clusters of identical items (0-4 and 5-9) joined by one false link 4~5.
    truth = np.array([0] * 5 + [1] * 5)

    def score(i, j):
        return np.where(truth[i] == truth[j], 1.0, 0.0)

    a = np.array([0, 1, 2, 3, 4, 5, 6, 7, 8])
    b = np.array([1, 2, 3, 4, 5, 6, 7, 8, 9])
    labels = split_chains(10, a, b, score, 0.9)
    grouped = labels >= 0
    assert grouped.sum() >= 8
    for x in np.flatnonzero(grouped):
        for y in np.flatnonzero(grouped):
            if labels[x] == labels[y]:
                assert truth[x] == truth[y]


def _same_partition(x: np.ndarray, y: np.ndarray) -> bool:
    return len(set(zip(x.tolist(), y.tolist()))) == len(set(x.tolist())) == len(set(y.tolist()))


def test_complete_linkage_cut_is_scipys_partition_ties_included():
    from scipy.cluster.hierarchy import fcluster, linkage

    rng = np.random.default_rng(0)
    for trial in range(600):
        n = int(rng.integers(2, 40))
        levels = int(rng.choice([2, 3, 6, 0]))  # few levels: many ties, which the merge order must break as scipy does
        m = n * (n - 1) // 2
        distances = rng.integers(0, levels, m) / (levels - 1) if levels else rng.random(m)
        cut = float(rng.choice([0.0, 0.5, 0.67, rng.random()]))
        expected = fcluster(linkage(distances, method="complete"), t=cut, criterion="distance")
        assert _same_partition(complete_linkage_cut(distances, n, cut), expected), trial
