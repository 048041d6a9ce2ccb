import numpy as np
import pytest

from ferclean.face_net import SIDE, _conv, _max_pool3, face_logit
from ferclean.quality import MIN_FACE_LOGIT

from test_quality import MEAN_FACES, bubble_on_grey, face_like


def naive_pool(x: np.ndarray, pad: bool) -> np.ndarray:
    """3x3, stride 2 max pooling the way Keras defines it ('same' pads the overhang, the larger half at the end)."""
    n, h, w, c = x.shape
    out_h, out_w = ((-(-h // 2), -(-w // 2)) if pad else ((h - 3) // 2 + 1, (w - 3) // 2 + 1))
    extra_h, extra_w = max(2 * (out_h - 1) + 3 - h, 0), max(2 * (out_w - 1) + 3 - w, 0)
    padded = np.full((n, h + extra_h, w + extra_w, c), -np.inf, dtype=x.dtype)
    padded[:, extra_h // 2 : extra_h // 2 + h, extra_w // 2 : extra_w // 2 + w] = x
    out = np.empty((n, out_h, out_w, c), dtype=x.dtype)
    for i in range(out_h):
        for j in range(out_w):
            out[:, i, j] = padded[:, 2 * i : 2 * i + 3, 2 * j : 2 * j + 3].max(axis=(1, 2))
    return out


@pytest.mark.parametrize(("side", "pad"), [(22, True), (21, True), (9, False), (10, False)])
def test_max_pool_matches_the_keras_definition(side, pad):
    x = np.random.default_rng(side).normal(size=(3, side, side, 4)).astype(np.float32)
    np.testing.assert_array_equal(_max_pool3(x.copy(), pad), naive_pool(x, pad))


def test_convolution_matches_a_direct_sum():
    rng = np.random.default_rng(0)
    x, kernel, bias = rng.normal(size=(2, 7, 6, 3)), rng.normal(size=(3, 3, 3, 5)), rng.normal(size=5)
    expected = np.zeros((2, 5, 4, 5))
    for i in range(5):
        for j in range(4):
            expected[:, i, j] = np.einsum("nabc,abco->no", x[:, i : i + 3, j : j + 3], kernel) + bias
    np.testing.assert_allclose(_conv(x, kernel, bias), expected, rtol=1e-10)


def test_faces_are_faces_and_a_dotted_bubble_is_not():
    faces = np.stack([face_like(seed) for seed in range(2 * len(MEAN_FACES))])
    assert (face_logit(faces) > MIN_FACE_LOGIT).all()
    assert face_logit(bubble_on_grey()[None])[0] < MIN_FACE_LOGIT


def test_a_stack_of_another_size_is_refused():
    with pytest.raises(ValueError, match="work must have shape"):
        face_logit(np.zeros((2, 24, 24), np.uint8))


@pytest.mark.slow
def test_equals_the_mtcnn_packages_keras_model():
    """The numpy forward pass against the mtcnn wheel's own R-Net (TensorFlow), on faces and on noise."""
    from mtcnn.stages.stage_rnet import StageRNet

    rng = np.random.default_rng(1)
    work = np.concatenate([np.stack([face_like(seed) for seed in range(8)]), rng.integers(0, 256, (8, 48, 48), dtype=np.uint8)])
    halved = work.reshape(-1, SIDE, 2, SIDE, 2).astype(np.float32).mean(axis=(2, 4))
    colour = np.repeat(((halved - 127.5) / 128.0)[..., None], 3, axis=-1)
    probability = np.asarray(StageRNet()._model(colour)[-1])[:, 1]
    np.testing.assert_allclose(1.0 / (1.0 + np.exp(-face_logit(work))), probability, atol=1e-5)
