import os

import imagehash
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from ferclean.images import inspect_image
from ferclean import image_batch
from ferclean.image_batch import decode_files, describe_files, phash_pair, phash_stack, to_hex


def _imagehash_pair(gray: Image.Image) -> tuple[str, str]:
    return str(imagehash.phash(gray)), str(imagehash.phash(gray.transpose(Image.Transpose.FLIP_LEFT_RIGHT)))


def _thumbs(images: list[Image.Image]) -> tuple[np.ndarray, np.ndarray]:
    direct = np.stack([np.asarray(im.resize((32, 32), Image.Resampling.LANCZOS)) for im in images])
    flipped = np.stack(
        [np.asarray(im.transpose(Image.Transpose.FLIP_LEFT_RIGHT).resize((32, 32), Image.Resampling.LANCZOS)) for im in images]
    )
    return direct, flipped


@pytest.mark.parametrize("size", [(48, 48), (37, 53), (100, 80), (32, 32), (7, 9)])
def test_batch_phash_is_bit_identical_to_imagehash_on_random_images(size):
    rng = np.random.default_rng(sum(size))
    images = [Image.fromarray(rng.integers(0, 256, size[::-1], dtype=np.uint8)) for _ in range(60)]
    # Smooth images too (low-frequency content, like faces) and degenerate ones with exact ties.
    images += [im.resize((4, 4)).resize(size, Image.Resampling.BICUBIC) for im in images[:30]]
    images += [Image.new("L", size, 0), Image.new("L", size, 255), Image.new("L", size, 77)]
    images.append(Image.fromarray(np.tile(np.arange(size[0], dtype=np.uint8) * 3, (size[1], 1))))
    direct, mirrored = phash_pair(*_thumbs(images))
    expected = [_imagehash_pair(im) for im in images]
    assert to_hex(direct) == [e[0] for e in expected]
    assert to_hex(mirrored) == [e[1] for e in expected]
    assert to_hex(phash_stack(_thumbs(images)[0])) == [e[0] for e in expected]


def test_phash_stack_rejects_wrong_shape():
    with pytest.raises(ValueError, match="thumbs must have shape"):
        phash_stack(np.zeros((3, 16, 16), dtype=np.uint8))


def test_describe_files_matches_per_image_inspection_and_reports_bad_files(tmp_path, make_image):
    paths = [make_image(tmp_path / f"{k}.png", seed=k, size=40 + k) for k in range(5)]
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "junk.png").write_bytes(b"not an image")
    paths += [tmp_path / "empty.png", tmp_path / "junk.png"]
    table = describe_files([str(p) for p in paths], jobs=1)
    for row, path in zip(table.itertuples(), paths):
        want = inspect_image(path)
        assert row.error == want["error"]
        if not want["error"]:
            assert (row.width, row.height, row.sha256, row.phash, row.phash_flip) == (
                want["width"], want["height"], want["sha256"], want["phash"], want["phash_flip"]
            )
        else:
            assert row.phash == "" and row.sha256 == "" and pd.isna(row.width)


def test_parallel_decoding_gives_the_same_rows_in_order(tmp_path, make_image):
    paths = [str(make_image(tmp_path / f"{k:04d}.png", seed=k)) for k in range(1100)]
    serial = describe_files(paths, jobs=1)
    parallel = describe_files(paths, jobs=2)
    assert serial.equals(parallel)


@pytest.mark.slow
def test_batch_phash_matches_imagehash_on_real_fer2013(fer2013):
    files = sorted(fer2013.rglob("*.png"))[::40]
    batch = decode_files([str(f) for f in files])
    direct, mirrored = batch.phash, batch.phash_flip
    expected = [_imagehash_pair(Image.open(f).convert("L")) for f in files]
    assert to_hex(direct) == [e[0] for e in expected]
    assert to_hex(mirrored) == [e[1] for e in expected]


@pytest.mark.parametrize("size", [(48, 48), (37, 53), (53, 37), (7, 9), (2, 200), (96, 64), (32, 100), (130, 140)])
def test_decoding_thumbnails_and_hashes_are_pils_and_imagehashs_for_every_size(tmp_path, size):
    """Small images are thumbnailed in numpy batches (PIL's fixed-point Lanczos, in the pass
    order PIL picks for the size); big ones by PIL itself: the same pixels and hashes either way."""
    rng = np.random.default_rng(size[0] * 1000 + size[1])
    images = [rng.integers(0, 256, size[::-1], dtype=np.uint8) for _ in range(8)]
    images += [np.where(im > 127, 255, 0).astype(np.uint8) for im in images[:4]]  # hard edges: ringing clipped
    if size[0] * size[1] <= image_batch._BATCH_RESIZE_MAX:
        order = image_batch._pil_resize_order(*size)
        assert order is not None
        expected = [np.asarray(Image.fromarray(im).resize((32, 32), Image.Resampling.LANCZOS)) for im in images]
        assert np.array_equal(image_batch._thumbnails(np.stack(images), order), np.stack(expected))
    paths = []
    for k, im in enumerate(images):
        Image.fromarray(im).save(tmp_path / f"{k}.png")
        paths.append(str(tmp_path / f"{k}.png"))
    batch = decode_files(paths)
    pairs = [_imagehash_pair(Image.fromarray(im)) for im in images]
    assert to_hex(batch.phash) == [p[0] for p in pairs] and to_hex(batch.phash_flip) == [p[1] for p in pairs]


def test_stack_chunks_copies_each_chunk_as_it_arrives_and_lets_go_of_it() -> None:
    import weakref

    class Chunk(np.ndarray):
        """An ndarray that can be watched for being freed."""

    parts = [np.arange(6, dtype=np.uint8).reshape(3, 2).view(Chunk), np.full((2, 2), 9, np.uint8).view(Chunk)]
    expected = np.concatenate(parts)
    watchers = [weakref.ref(p) for p in parts]
    alive = []

    def arriving():
        for k in range(len(parts)):
            yield parts.pop(0)
            alive.append(watchers[k]() is not None)

    stacked = image_batch.stack_chunks(arriving(), rows=6)
    assert alive == [False, False]  # each chunk is gone before the next one comes
    np.testing.assert_array_equal(stacked, expected)  # fewer rows than room: trimmed
    assert stacked.dtype == np.uint8 and type(stacked) is np.ndarray
    with pytest.raises(ValueError, match="at least one"):
        image_batch.stack_chunks(iter([]), rows=3)
    with pytest.raises(ValueError, match="rows=4"):
        image_batch.stack_chunks(iter([np.zeros((3, 2)), np.zeros((3, 2))]), rows=4)


def test_map_chunks_reads_each_chunk_ahead_then_decodes_it_in_order(tmp_path, monkeypatch) -> None:
    files = []
    for k in range(5):
        (tmp_path / f"{k}.bin").write_bytes(b"x")
        files.append(str(tmp_path / f"{k}.bin"))
    files.insert(2, str(tmp_path / "missing.bin"))  # left for the decoding to report
    advised = []
    monkeypatch.setattr(os, "posix_fadvise", lambda fd, offset, length, advice: advised.append(advice), raising=False)
    monkeypatch.setattr(os, "POSIX_FADV_WILLNEED", 3, raising=False)
    parts = list(image_batch.map_chunks(list, files, jobs=1, chunk=4))
    assert parts == [files[:4], files[4:]]
    assert advised == [3] * 5
