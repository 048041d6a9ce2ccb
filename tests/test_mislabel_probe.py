"""Probes: probabilities are well-formed, deterministic, and learn something."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ferclean.errors import FercleanError
from ferclean.mislabel.features import cell_histograms, fast_features, hog, lbp_histograms, mirror, pool_cells
from ferclean.mislabel import probe
from ferclean.mislabel.probe import (MEMBER_WEIGHTS, average_members, dynamics_probs, fast_batch_size, member_probs,
                                     members, snapshot_epochs, whiten_files, whiten_images)


def stripes(n_per_class: int = 30, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Noisy horizontal (class 0) and vertical (class 1) stripes."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:48, 0:48].astype(float)
    images, labels = [], []
    for label, axis in enumerate((yy, xx)):
        for _ in range(n_per_class):
            wave = 128 + 80 * np.sin(rng.uniform(0.35, 0.5) * axis + rng.uniform(0, 6.3))
            images.append(np.clip(wave + rng.normal(0, 25, (48, 48)), 0, 255).astype(np.uint8))
            labels.append(label)
    return np.stack(images), np.array(labels)


def test_hog_sees_orientation_and_is_mirror_aware() -> None:
    images, labels = stripes(5)
    features = hog(images)
    assert features.shape == (10, 7 * 7 * 36)
    assert np.isfinite(features).all()
    within = np.linalg.norm(features[0] - features[1])
    across = np.linalg.norm(features[0] - features[5])
    assert within < across
    np.testing.assert_allclose(hog(mirror(mirror(images))), features)


def test_fast_features_of_mirrors_come_from_reflection_exactly() -> None:
    images, _ = stripes(4)
    features, reflected = fast_features(images)
    direct, _ = fast_features(mirror(images))
    assert features.shape == (8, 7 * 7 * 36 + 3 * 3 * 36 + 4 * 4 * 10 + 24 * 24)
    np.testing.assert_allclose(reflected, direct, atol=1e-4)
    assert not np.allclose(reflected, features, atol=1e-2)


def test_coarse_cells_are_sums_of_fine_ones_and_lbp_histograms_are_distributions() -> None:
    images, _ = stripes(3)
    np.testing.assert_allclose(pool_cells(cell_histograms(images, cell=6), 2), cell_histograms(images, cell=12), rtol=1e-4)
    lbp = lbp_histograms(images)
    assert lbp.shape == (6, 4, 4, 10)
    np.testing.assert_allclose(lbp.sum(axis=-1), 1.0, rtol=1e-6)


def test_fast_probe_is_deterministic_accurate_and_reports_its_stages() -> None:
    images, labels = stripes()
    stages: dict[str, tuple[int, int]] = {}
    probs = member_probs(images, labels, 3, "fast", seed=0,
                         on_progress=lambda stage, done, total: stages.__setitem__(stage, (done, total)))["fast"]
    assert probs.shape == (60, 3)
    assert len(stages) == 2 and all(done == total for done, total in stages.values())
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-6)
    assert (probs[:, 2] < probs[:, :2].max(axis=1) / 4).all()  # a class no image has stays improbable
    assert (probs.argmax(axis=1) == labels).mean() > 0.9
    np.testing.assert_array_equal(member_probs(images, labels, 3, "fast", seed=0)["fast"], probs)


def test_fast_probe_doubts_a_wrong_label_among_right_ones() -> None:
    images, labels = stripes()
    wrong = labels.copy()
    wrong[[3, 40]] = 1 - wrong[[3, 40]]
    probs = member_probs(images, wrong, 2, "fast", seed=0)["fast"]
    given = probs[np.arange(60), wrong]
    assert given[[3, 40]].max() < np.delete(given, [3, 40]).min()


def test_fast_probe_from_files_equals_the_stack_skips_unreadable_files_and_trains_in_chunks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    images, labels = stripes(15)
    paths = []
    for i, image in enumerate(images):
        paths.append(str(tmp_path / f"{i:02d}.png"))
        Image.fromarray(image).save(paths[-1])
    (tmp_path / "broken.png").write_bytes(b"not an image")
    paths.insert(7, str(tmp_path / "broken.png"))
    monkeypatch.setattr(probe, "FEATURE_CHUNK", 4)  # chunks of files and of images, decoded apart
    ok, views = whiten_files(paths, seed=0, jobs=2)
    assert ok.tolist() == [i != 7 for i in range(31)]
    assert views.dtype == np.float16 and views.shape[:3] == (30, 2, 2)
    np.testing.assert_array_equal(views, whiten_images(images, seed=0))
    ticks: list[int] = []
    whole = dynamics_probs(views, labels, 2, seed=0, on_progress=lambda stage, done, total: ticks.append(done))
    assert ticks[-1] == 2 * probe.FAST_EPOCHS  # the views' epochs, counted across the forked workers
    # the views' perceptrons side by side in two processes, or one after the other here: the same
    np.testing.assert_array_equal(whole, dynamics_probs(views, labels, 2, seed=0, jobs=1))
    monkeypatch.setattr(probe, "TRAIN_CHUNK", 8)  # an epoch in four seeded chunks
    chunked = dynamics_probs(views, labels, 2, seed=0)
    np.testing.assert_array_equal(chunked, dynamics_probs(views, labels, 2, seed=0))
    assert (chunked.argmax(axis=1) == labels).mean() > 0.9 and (whole.argmax(axis=1) == labels).mean() > 0.9


def test_fast_batches_keep_ten_to_an_epoch_on_small_sets() -> None:
    assert fast_batch_size(35_710) == 200 and fast_batch_size(60) == 12 and fast_batch_size(2) == 1


def test_area_resize_averages_the_pixels_each_output_covers() -> None:
    images, _ = stripes(2)
    half = probe.area_resize(images, 24)[..., 0]
    blocks = images.reshape(4, 24, 2, 24, 2).mean(axis=(2, 4)) / 255.0
    np.testing.assert_allclose(half, blocks, atol=1e-5)
    # 48 -> 32: each output pixel covers 1.5 x 1.5 input pixels, i.e. 3 x 3 of the image doubled.
    doubled = images.repeat(2, axis=1).repeat(2, axis=2).astype(np.float64)
    third = doubled.reshape(4, 32, 3, 32, 3).mean(axis=(2, 4)) / 255.0
    np.testing.assert_allclose(probe.area_resize(images, 32)[..., 0], third, atol=1e-5)


def tiny_cnn(k: int, image_size: int, total_steps: int):  # noqa: ANN201 - a compiled keras.Model
    """A CNN small enough for a test: one convolution, pooled, and a softmax."""
    import keras

    tiny_cnn.total_steps = total_steps
    model = keras.Sequential([keras.Input((image_size, image_size, 1)), keras.layers.RandomFlip("horizontal"),
                              keras.layers.Conv2D(16, 5, activation="relu"), keras.layers.GlobalAveragePooling2D(),
                              keras.layers.Dense(k, activation="softmax")])
    model.compile(keras.optimizers.Adam(0.02), keras.losses.CategoricalCrossentropy())
    return model


def test_cnn_probe_averages_what_the_model_says_while_training() -> None:
    pytest.importorskip("keras")
    images, labels = stripes()
    stages: list[tuple[str, int, int]] = []
    probs = probe.cnn_probs(images, labels, 2, 0, tiny_cnn, epochs=40, on_progress=lambda *a: stages.append(a))
    assert probs.shape == (60, 2)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    assert [done for _, done, _ in stages] == list(range(41)) and stages[0][2] == 40 and "32 px" in stages[0][0]
    assert tiny_cnn.total_steps == 40 * -(-60 // probe.CNN_BATCH)  # the schedule spans the whole run
    assert (probs.argmax(axis=1) == labels).mean() > 0.9
    np.testing.assert_allclose(probe.cnn_probs(images, labels, 2, 0, tiny_cnn, epochs=40), probs, atol=1e-6)
    short = probe.cnn_probs(images, labels, 2, 0, tiny_cnn, epochs=1)  # fewer epochs than CNN_FIRST_EPOCH
    np.testing.assert_allclose(short.sum(axis=1), 1.0, rtol=1e-5)


@pytest.mark.slow
def test_cnn_probe_with_the_trainers_recipe_doubts_a_wrong_label() -> None:
    pytest.importorskip("keras")
    from ferclean_train.models import probe_cnn

    images, labels = stripes()
    wrong = labels.copy()
    wrong[[3, 40]] = 1 - wrong[[3, 40]]
    probs = member_probs(images, wrong, 2, "cnn", seed=0, epochs=8, build_cnn={"cnn": probe_cnn})["cnn"]
    assert (probs.argmax(axis=1) == labels).mean() > 0.9
    given = probs[np.arange(60), wrong]
    assert given[[3, 40]].max() < np.median(np.delete(given, [3, 40]))


class RecordingCnn:
    """A stand-in for a compiled Keras model: remembers what it trained on, calls the callbacks at
    each epoch's end as Keras does, and predicts one distribution for the images it trains on and
    another for the rest, so the probe's plumbing is tested without training a CNN."""

    built: list["RecordingCnn"] = []

    def __init__(self, k: int, image_size: int, total_steps: int) -> None:
        self.k, self.total_steps, self.seen = k, total_steps, np.empty((0, image_size, image_size, 1))
        self.epoch, self.predicted_at = 0, []
        RecordingCnn.built.append(self)

    def fit(self, x: np.ndarray, y: np.ndarray, epochs: int, batch_size: int, callbacks=(), **_: object) -> None:
        self.seen = x
        for self.epoch in range(epochs):
            for callback in callbacks:
                callback.on_epoch_end(self.epoch, {})

    def predict(self, x: np.ndarray, **_: object) -> np.ndarray:
        self.predicted_at.append(self.epoch + 1)
        trained = np.array([any(np.array_equal(row, s) for s in self.seen) for row in x])
        return np.where(trained[:, None], TRAINED_PROBS[: self.k], HELD_PROBS[: self.k])


TRAINED_PROBS, HELD_PROBS = np.array([0.9, 0.1]), np.array([0.2, 0.8])


#: The compact CNN's two folds of the stripes: runs of 7 images.
STRIPE_FOLDS = (np.arange(60) // 7) % 2


def recorded_members(probe: str, epochs: int) -> dict[str, np.ndarray]:
    """:func:`member_probs` of the stripes with :class:`RecordingCnn` as the compact CNN (its
    models recorded afresh in ``RecordingCnn.built``), folds ``STRIPE_FOLDS``."""
    images, labels = stripes()
    RecordingCnn.built = []
    return member_probs(images, labels, 2, probe, seed=0, epochs=epochs, build_cnn={"compact": RecordingCnn},
                        folds=STRIPE_FOLDS)


def test_compact_cnn_averages_held_out_and_in_training_snapshots() -> None:
    pytest.importorskip("keras")
    probs = recorded_members("compact", epochs=10)["compact"]
    # Every image: half what the model that never saw it says, half what the one training on it says.
    np.testing.assert_allclose(probs, np.tile((HELD_PROBS + TRAINED_PROBS) / 2, (60, 1)))
    assert snapshot_epochs(10) == [5, 7, 9, 10] and snapshot_epochs(1) == [1]
    for model in RecordingCnn.built:  # held out with its mirror, then the training images
        assert model.predicted_at == [e for e in snapshot_epochs(10) for _ in range(3)]


def test_ensemble_weighs_its_members() -> None:
    pytest.importorskip("keras")
    images, labels = stripes()
    by_member = recorded_members("ensemble", epochs=3)
    assert list(by_member) == ["fast", "compact"]
    np.testing.assert_array_equal(by_member["fast"], member_probs(images, labels, 2, "fast", seed=0)["fast"])
    np.testing.assert_allclose(average_members(by_member),
                               (MEMBER_WEIGHTS["fast"] * by_member["fast"] + MEMBER_WEIGHTS["compact"] * by_member["compact"]) / 3)
    # One CNN per fold, each trained only on the other fold's images, its schedule sized to them.
    first, second = RecordingCnn.built[:2]
    x = images[..., None].astype(np.float32) / 255.0
    np.testing.assert_array_equal(first.seen, x[STRIPE_FOLDS == 1])
    np.testing.assert_array_equal(second.seen, x[STRIPE_FOLDS == 0])
    assert first.total_steps == 3 * -(-int((STRIPE_FOLDS == 1).sum()) // 64)


def test_members_name_the_trained_probes() -> None:
    assert members("ensemble") == ("fast", "compact") and members("cnn") == ("cnn",)
    assert members("fast") == ("fast",)
    with pytest.raises(ValueError, match="probe must be one of"):
        members("svm")
    with pytest.raises(FercleanError, match="needs build_cnn"):
        member_probs(*stripes(3), 2, "ensemble", seed=0, folds=np.arange(6) % 2)
    with pytest.raises(FercleanError, match="needs build_cnn"):
        member_probs(*stripes(3), 2, "cnn", seed=0, build_cnn={"compact": RecordingCnn})
    with pytest.raises(FercleanError, match="needs folds"):
        member_probs(*stripes(3), 2, "ensemble", seed=0, build_cnn={"compact": RecordingCnn})


@pytest.mark.parametrize("member", ["fast", "cnn"])
def test_labels_outside_fit_never_reach_the_probabilities(member: str) -> None:
    """A probe limited to ``fit`` rows gives the same probabilities whatever the other rows' labels
    (an evaluation label cannot leak into what is built from them), and still judges those rows."""
    if member == "cnn":
        pytest.importorskip("keras")
    images, labels = stripes()
    fit = np.ones(60, dtype=bool)
    fit[::5] = False
    other = labels.copy()
    other[~fit] = 1 - other[~fit]

    def probs(given: np.ndarray, mask: np.ndarray | None = fit) -> np.ndarray:
        return member_probs(images, given, 2, member, seed=0, epochs=40, build_cnn={"cnn": tiny_cnn}, fit=mask)[member]

    limited = probs(labels)
    np.testing.assert_allclose(probs(other), limited, atol=1e-6)
    np.testing.assert_allclose(limited.sum(axis=1), 1.0, rtol=1e-5)
    assert (limited.argmax(axis=1)[~fit] == labels[~fit]).mean() > 0.9
    assert not np.allclose(probs(other, None), probs(labels, None), atol=1e-3)  # unlimited, they do
    with pytest.raises(FercleanError, match="no images to learn from"):
        probs(labels, np.zeros(60, dtype=bool))


def test_compact_cnn_trains_only_on_fit_rows_and_judges_the_rest_held_out() -> None:
    pytest.importorskip("keras")
    images, labels = stripes()
    fit = np.arange(60) >= 10
    RecordingCnn.built = []
    probs = member_probs(images, labels, 2, "compact", seed=0, epochs=3, build_cnn={"compact": RecordingCnn},
                         folds=STRIPE_FOLDS, fit=fit)["compact"]
    x = images[..., None].astype(np.float32) / 255.0
    first, second = RecordingCnn.built
    np.testing.assert_array_equal(first.seen, x[(STRIPE_FOLDS == 1) & fit])
    np.testing.assert_array_equal(second.seen, x[(STRIPE_FOLDS == 0) & fit])
    np.testing.assert_allclose(probs[~fit], np.tile(HELD_PROBS, (10, 1)))  # never trained on: held out only
    np.testing.assert_allclose(probs[fit], np.tile((HELD_PROBS + TRAINED_PROBS) / 2, (50, 1)))


def test_whitened_views_do_not_depend_on_blas_threads() -> None:
    """Local worker processes and Dask workers (one BLAS thread each) must agree: a million images'
    review differed between the backends when each used its own thread count."""
    from threadpoolctl import threadpool_limits

    images, _ = stripes(600, seed=3)
    whitener = probe.fit_whitener(images[:400], len(images), seed=0)
    with threadpool_limits(limits=2, user_api="blas"):
        threaded = whitener(images)
    with threadpool_limits(limits=1, user_api="blas"):
        single = whitener(images)
    np.testing.assert_array_equal(threaded, single)
