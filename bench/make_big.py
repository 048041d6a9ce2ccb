"""Write a realistic N-image ``<split>/<class>/`` tree, with planted near-duplicates, for scale runs.

Run by hand: ``python bench/make_big.py 1000000 /big/faces [--seed 0] [--dup-share 0.05]``.

The faces come from ``../shared/data`` (FER2013's 35,710 and the AffectNet sample's 2,755). A tree
far larger than its sources must not be made of copies of them, or every image would be a
near-duplicate of twenty others: each *distinct* image is a new face, a 2x2 mosaic of the aligned
quarters of four source faces of one class (two distinct images share at most a quarter, far
from any duplicate threshold). Each is then written as a user's scraped data would hold it:
resized to 48-256 px, shifted, zoomed, mirrored, contrast-changed, grey or colour-cast, and saved
as PNG or JPEG at quality 60-95.

``--dup-share`` of the images are **planted near-duplicates** of an earlier distinct image: the
same face re-encoded, resized, shifted or zoomed by a few percent, mirrored or with a changed
contrast, in the same split or (``--cross-share`` of them) in another one, the leaks a dataset
holds. ``OUT/truth.csv`` lists every image with the distinct face it shows (``family``): two images
are duplicates exactly when their families match. The same N, seed and sources give the same tree,
byte for byte. Prints the tree's size on disk.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageOps

ROOT = Path(__file__).resolve().parents[1]
#: Source faces are held at this size (grey); a tree of 1M needs them once per worker process.
SOURCE_SIZE = 64
SPLITS = {"train": 0.8, "val": 0.1, "test": 0.1}
#: AffectNet's YOLO class order (data.yaml) mapped to FER2013's folder names; contempt has none.
AFFECTNET_CLASSES = {0: "angry", 2: "disgust", 3: "fear", 4: "happy", 5: "neutral", 6: "sad", 7: "surprise"}
CHUNK = 2000

_sources: dict[str, np.ndarray] = {}


def source_files(data: Path) -> dict[str, list[Path]]:
    """Every source face's file, by class (FER2013's folders, the AffectNet sample's label files)."""
    files: dict[str, list[Path]] = {}
    for path in sorted((data / "fer2013").glob("*/*/*.png")):
        files.setdefault(path.parent.name, []).append(path)
    affectnet = data / "affectnet-yolo-sample" / "test"
    for path in sorted((affectnet / "images").glob("*")):
        label_file = affectnet / "labels" / f"{path.stem}.txt"
        code = int(label_file.read_text().split()[0]) if label_file.exists() else -1
        if code in AFFECTNET_CLASSES:
            files.setdefault(AFFECTNET_CLASSES[code], []).append(path)
    if not files:
        sys.exit(f"No source faces under {data}: give --data (the folder holding fer2013/).")
    return dict(sorted(files.items()))


def load_sources(files: dict[str, list[Path]]) -> dict[str, np.ndarray]:
    """The source faces as SOURCE_SIZE grey pixels, by class."""

    def load(path: Path) -> np.ndarray:
        with Image.open(path) as image:
            return np.asarray(ImageOps.grayscale(image).resize((SOURCE_SIZE, SOURCE_SIZE), Image.Resampling.BILINEAR))

    return {label: np.stack([load(path) for path in paths]) for label, paths in files.items()}


def plan(n: int, classes: dict[str, int], seed: int, dup_share: float, cross_share: float) -> pd.DataFrame:
    """One row per image: path, split, label, family (the distinct face), dup (planted copy or not).

    Distinct faces take their class in the sources' proportions; a planted copy repeats an earlier
    distinct face, in its split or, for ``cross_share`` of the copies, another one.
    """
    rng = np.random.default_rng(seed)
    n_dup = int(round(n * dup_share))
    n_distinct = n - n_dup
    names = list(classes)
    weights = np.array([classes[c] for c in names], dtype=float)
    labels = rng.choice(len(names), size=n_distinct, p=weights / weights.sum())
    split_names = list(SPLITS)
    splits = rng.choice(len(split_names), size=n_distinct, p=list(SPLITS.values()))
    family = np.arange(n_distinct)
    copied = rng.integers(0, n_distinct, size=n_dup)
    copy_split = splits[copied].copy()
    cross = rng.random(n_dup) < cross_share
    copy_split[cross] = (copy_split[cross] + rng.integers(1, len(split_names), size=int(cross.sum()))) % len(split_names)
    frame = pd.DataFrame({
        "family": np.concatenate([family, copied]),
        "label": np.array(names)[np.concatenate([labels, labels[copied]])],
        "split": np.array(split_names)[np.concatenate([splits, copy_split])],
        "dup": np.r_[np.zeros(n_distinct, bool), np.ones(n_dup, bool)],
    })
    frame = frame.sample(frac=1.0, random_state=seed).reset_index(drop=True)  # copies among the originals
    frame["index"] = np.arange(n)
    ext = np.where(np.random.default_rng(seed + 1).random(n) < 0.5, "png", "jpg")
    frame["path"] = frame["split"] + "/" + frame["label"] + "/img_" + frame["index"].map("{:07d}".format) + "." + ext
    return frame[["path", "split", "label", "family", "dup", "index"]]


def face(family: int, label: str, seed: int) -> np.ndarray:
    """The distinct face of ``family``: aligned quarters of four sources of ``label`` (float, 0-255)."""
    rng = np.random.default_rng([seed, family])
    pool = _sources[label]
    picks = rng.choice(len(pool), size=4, replace=len(pool) < 4)
    half = SOURCE_SIZE // 2
    out = np.empty((SOURCE_SIZE, SOURCE_SIZE), np.float32)
    for k, (top, left) in enumerate(((0, 0), (0, half), (half, 0), (half, half))):
        quarter = pool[picks[k], top : top + half, left : left + half].astype(np.float32)
        out[top : top + half, left : left + half] = (quarter - quarter.mean()) / (quarter.std() + 1.0) * 50 + 128
    return np.clip(out, 0, 255)


def render(pixels: np.ndarray, rng: np.random.Generator, strength: float) -> Image.Image:
    """``pixels`` as a user's file would hold them; ``strength`` scales the shift, zoom and contrast
    changes (1 for a distinct image's own look, small for a planted copy's departure from it)."""
    image = Image.fromarray(pixels.astype(np.uint8))
    full = image.width
    side = full * (1.0 - strength * rng.uniform(0.0, 0.15))
    dx, dy = strength * rng.uniform(-0.06, 0.06, size=2) * full
    left, top = (full - side) / 2 + dx, (full - side) / 2 + dy
    size = int(rng.integers(48, 257))
    image = image.transform((size, size), Image.Transform.EXTENT, (left, top, left + side, top + side), Image.Resampling.BILINEAR)
    if rng.random() < 0.5:
        image = ImageOps.mirror(image)
    gain, offset = 1.0 + strength * rng.uniform(-0.25, 0.25), strength * rng.uniform(-20, 20)
    image = image.point(lambda v: int(max(0.0, min(255.0, (v - 128) * gain + 128 + offset))))
    if rng.random() < 0.3:  # a colour cast: the file is RGB, the face still grey underneath
        cast = rng.uniform(0.85, 1.15, size=3)
        image = Image.merge("RGB", [band.point(lambda v, c=c: int(min(255.0, v * c))) for band, c in zip([image] * 3, cast)])
    return image


def write_chunk(task: tuple[Path, pd.DataFrame, int]) -> int:
    """Write one chunk of the plan; returns the bytes written."""
    out, rows, seed = task
    written = 0
    for path, label, family, dup, index in zip(rows["path"], rows["label"], rows["family"], rows["dup"], rows["index"]):
        look = np.random.default_rng([seed, family, 1])  # a family's own look, shared by its copies
        image = render(face(family, label, seed), look, 1.0)
        if dup:
            nudge = np.random.default_rng([seed, index, 2])
            image = render(np.asarray(image.convert("L")), nudge, 0.25)
        buffer = io.BytesIO()
        if path.endswith(".png"):
            image.save(buffer, format="PNG", compress_level=6)
        else:
            image.save(buffer, format="JPEG", quality=int(np.random.default_rng([seed, index, 3]).integers(60, 96)))
        target = out / path
        target.write_bytes(buffer.getvalue())
        written += buffer.tell()
    return written


def _init(files: dict[str, list[Path]]) -> None:
    global _sources
    _sources = load_sources(files)


def make_big(n: int, out: Path, data: Path, seed: int = 0, dup_share: float = 0.05, cross_share: float = 0.3,
             jobs: int | None = None) -> tuple[pd.DataFrame, int]:
    """Write the tree and ``truth.csv``; return the plan and the bytes written.

    Only the workers decode the sources; the plan needs their counts alone."""
    files = source_files(data)
    frame = plan(n, {label: len(paths) for label, paths in files.items()}, seed, dup_share, cross_share)
    for split in SPLITS:
        for label in files:
            (out / split / label).mkdir(parents=True, exist_ok=True)
    chunks = [(out, frame.iloc[i : i + CHUNK], seed) for i in range(0, n, CHUNK)]
    total = 0
    with ProcessPoolExecutor(jobs or os.cpu_count(), initializer=_init, initargs=(files,)) as pool:
        for done, written in enumerate(pool.map(write_chunk, chunks), 1):
            total += written
            print(f"\r{min(done * CHUNK, n):,} / {n:,} images", end="", flush=True)
    print()
    frame.drop(columns="index").to_csv(out / "truth.csv", index=False)
    return frame, total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("n", type=int, help="Images to write.")
    parser.add_argument("out", type=Path, help="New folder for the tree (must not exist or be empty).")
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data", help="Folder holding fer2013/ and affectnet-yolo-sample/.")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dup-share", type=float, default=0.05, help="Share of the images that are planted near-duplicates.")
    parser.add_argument("--cross-share", type=float, default=0.3, help="Share of the planted copies placed in another split.")
    parser.add_argument("--jobs", type=int, default=None, help="Worker processes [default: all CPUs].")
    args = parser.parse_args()
    if args.n < 1:
        parser.error("n must be at least 1")
    if not 0.0 <= args.dup_share < 1.0 or not 0.0 <= args.cross_share <= 1.0:
        parser.error("--dup-share must be in [0, 1) and --cross-share in [0, 1]")
    if args.out.exists() and any(args.out.iterdir()):
        parser.error(f"{args.out} is not empty: give a new folder")
    start = time.perf_counter()
    frame, written = make_big(args.n, args.out, args.data, args.seed, args.dup_share, args.cross_share, args.jobs)
    wall = time.perf_counter() - start
    copies = int(frame["dup"].sum())
    original_split = frame[~frame["dup"]].set_index("family")["split"]
    copies_frame = frame[frame["dup"]]
    cross = int((copies_frame["split"].to_numpy() != original_split.loc[copies_frame["family"]].to_numpy()).sum())
    print(f"wrote {args.n:,} images ({copies:,} planted near-duplicates, {cross:,} of them in another split)"
          f" to {args.out} in {wall:.0f} s: {written / 2**20:,.0f} MiB of image files,"
          f" {written / args.n / 1024:.1f} KiB per image (1M images: about {written / args.n * 1e6 / 2**30:.1f} GiB)")


if __name__ == "__main__":
    main()
