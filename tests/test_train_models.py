"""The architectures build, compile, and honour their hyper-parameters; the shape of the cosine schedule."""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from ferclean_train.models import ARCHS, build_model, compile_hparams, compile_model, make_optimizer, model_hparams  # noqa: E402


@pytest.mark.parametrize("arch,size", [("bpp", 48), ("five-block", 96), ("baseline", 48)])
def test_build_and_predict_shape(arch: str, size: int) -> None:
    model = build_model(arch, 4, image_size=size)
    assert model.input_shape == (None, size, size, 1)
    assert model.output_shape == (None, 4)
    compile_model(model, arch)
    probs = model.predict(np.random.default_rng(0).random((3, size, size, 1), dtype=np.float32), verbose=0)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)


def test_bpp_recipe() -> None:
    model = build_model("bpp", 7)
    names = [layer.name for layer in model.layers]
    assert names[1:5] == ["aug_flip", "aug_rotation", "aug_zoom", "aug_contrast"]
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert [c.filters for c in convs] == [64, 64, 128, 128, 256, 256]
    assert all(c.kernel_regularizer is not None for c in convs)
    drops = [layer.rate for layer in model.layers if isinstance(layer, keras.layers.Dropout)]
    assert drops == [0.25, 0.30, 0.40, 0.50]
    compile_model(model, "bpp")
    assert isinstance(model.loss, keras.losses.CategoricalFocalCrossentropy)
    assert float(model.optimizer.learning_rate) == pytest.approx(5e-4)


def test_five_block_and_baseline_shapes() -> None:
    five = build_model("five-block", 7, image_size=96)
    assert [c.filters for c in five.layers if isinstance(c, keras.layers.Conv2D)] == [16, 16, 32, 32, 64, 64, 128, 128, 256, 256]
    assert five.get_layer("bottleneck").units == 16
    base = build_model("baseline", 4)
    assert [c.filters for c in base.layers if isinstance(c, keras.layers.Conv2D)] == [32, 64, 128]
    assert base.get_layer("dense").units == 256


def test_overrides_and_errors() -> None:
    model = build_model("bpp", 3, filters=(8, 16), dropouts=0.1, dense_units=32, augment=False)
    assert [c.filters for c in model.layers if isinstance(c, keras.layers.Conv2D)] == [8, 8, 16, 16]
    assert not any(layer.name.startswith("aug_") for layer in model.layers)
    assert model_hparams("bpp", dense_units=None)["dense_units"] == 512
    assert compile_hparams("baseline", learning_rate=0.01)["learning_rate"] == 0.01
    with pytest.raises(ValueError, match="Unknown architecture"):
        build_model("resnet", 3)
    with pytest.raises(ValueError, match="Unknown model hyper-parameter"):
        build_model("bpp", 3, filterz=(8,))
    with pytest.raises(ValueError, match="one per block"):
        build_model("bpp", 3, dropouts=(0.1, 0.2))
    assert set(ARCHS) == {"bpp", "five-block", "baseline", "compact"}


@pytest.mark.parametrize("size,classes", [(48, 7), (48, 4), (96, 7), (96, 4)])
def test_compact_builds_for_48_and_96_px_and_4_or_7_classes(size: int, classes: int) -> None:
    model = build_model("compact", classes, image_size=size)
    assert model.input_shape == (None, size, size, 1) and model.output_shape == (None, classes)
    # global average pooling: the parameter count does not grow with the input size
    assert model.count_params() == build_model("compact", classes, image_size=48).count_params()
    assert model.get_layer("gap").output.shape[-1] == 256
    probs = model.predict(np.random.default_rng(0).random((2, size, size, 1), dtype=np.float32), verbose=0)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)


def test_compact_recipe() -> None:
    model = build_model("compact", 7)
    names = [layer.name for layer in model.layers]
    assert names[1:3] == ["aug_flip", "aug_translation"]
    assert model.get_layer("aug_translation").height_factor == 0.08
    assert [c.filters for c in model.layers if isinstance(c, keras.layers.SeparableConv2D)] == [64, 64, 128, 128, 256, 256]
    assert [layer.name for layer in model.layers if isinstance(layer, keras.layers.Add)] == ["stage1_add", "stage2_add", "stage3_add"]
    assert [layer.rate for layer in model.layers if isinstance(layer, keras.layers.Dropout)] == [0.3]
    assert {layer.momentum for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)} == {0.9}
    plain = build_model("compact", 7, residual=False, stem_filters=(32, 32), augment=False)
    assert not any(isinstance(layer, keras.layers.Add) for layer in plain.layers)
    assert [c.filters for c in plain.layers if type(c) is keras.layers.Conv2D] == [32, 32]
    compile_model(model, "compact", total_steps=100)
    assert isinstance(model.optimizer, keras.optimizers.AdamW)
    assert model.loss.get_config()["label_smoothing"] == 0.1
    with pytest.raises(ValueError, match="total number of steps"):
        compile_model(build_model("compact", 7), "compact")


def test_cosine_schedule_warms_up_then_ends_at_the_final_rate() -> None:
    optimizer = make_optimizer("cosine", 3e-3, 0.01, 0.15, total_steps=200, min_learning_rate=1e-5)
    schedule = optimizer._learning_rate
    lrs = np.array([float(schedule(step)) for step in range(0, 201)])
    assert lrs[0] == pytest.approx(3e-5)
    assert lrs.argmax() == 30 and lrs.max() == pytest.approx(3e-3)  # 15 % of 200 steps
    assert np.all(np.diff(lrs[:31]) > 0) and np.all(np.diff(lrs[30:]) <= 1e-12)
    assert lrs[200] == pytest.approx(1e-5) and float(schedule(500)) == pytest.approx(1e-5)
    assert isinstance(make_optimizer("plateau", 5e-4, 0.0, 0.0, None, 1e-6), keras.optimizers.Adam)

