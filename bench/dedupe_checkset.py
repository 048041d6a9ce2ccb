"""Draw the dedupe check set: candidate pairs sampled per hash-distance band and per
verification-score band, on contact sheets to mark by eye as same photo or not.

Run by hand: ``python bench/dedupe_checkset.py MANIFEST OUT_DIR``. Writes ``pairs.csv``
(one row per sampled pair, with an id and the band population it stands for) and
``sheet_*.png``; copy the marked rows (``same`` = 1 or 0) into ``bench/dedupe_marks.csv``.
The v2 rows of the marks were drawn per cell as ``--distances 8 10 12 --score-bands 0.6 0.68
0.75 0.85 --per-cell 5 --aligned`` draws them (by a one-off script that also left out pairs
already marked, so the same seed does not give the same rows): ``--aligned``
draws each pair as the first image, the second aligned to it by the best zoom and shift of a
small search, and their difference, without the score, which is what the marks were made on.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw, ImageFont

from ferclean.dedupe.resolve import find_duplicate_pairs
from ferclean.manifest import read_manifest
from ferclean.dedupe.verify import load_features, pair_similarity

DISTANCE_BANDS = [(0, 2), (4, 4), (6, 6), (8, 8), (10, 10), (12, 12)]
SCORE_BANDS = [(-1.0, 0.8), (0.8, 0.86), (0.86, 0.9), (0.9, 0.93), (0.93, 0.96), (0.96, 1.01)]


def sample_pairs(
    manifest, radius: int, per_cell: int, seed: int, distances=DISTANCE_BANDS, score_bands=SCORE_BANDS
) -> pd.DataFrame:
    frame = manifest.frame
    pairs = find_duplicate_pairs(frame, radius)
    pairs = pairs[pairs["kind"] != "exact"].reset_index(drop=True)
    rows = np.unique(pairs[["a", "b"]].to_numpy())
    thumbs = load_features([str(manifest.root / p) for p in frame["path"].iloc[rows]], jobs=2)
    where = np.searchsorted(rows, pairs[["a", "b"]].to_numpy())
    pairs["similarity"] = pair_similarity(thumbs, where[:, 0], where[:, 1], pairs["kind"].eq("mirror").to_numpy())
    cells = []
    for lo, hi in distances:
        for s_lo, s_hi in score_bands:
            cell = pairs[pairs["distance"].between(lo, hi) & (pairs["similarity"] >= s_lo) & (pairs["similarity"] < s_hi)]
            if len(cell):
                picked = cell.sample(min(per_cell, len(cell)), random_state=seed)
                cells.append(picked.assign(weight=len(cell) / len(picked)))
    out = pd.concat(cells, ignore_index=True)
    out = out.assign(path_a=frame["path"].iloc[out["a"]].to_numpy(), path_b=frame["path"].iloc[out["b"]].to_numpy())
    out = out.sample(frac=1.0, random_state=seed).reset_index(drop=True)  # marks must not see the bands
    out.insert(0, "id", np.arange(len(out)))
    return out[["id", "path_a", "path_b", "kind", "distance", "similarity", "weight"]]


def draw_sheets(manifest, pairs: pd.DataFrame, out_dir: Path, per_sheet: int = 24, size: int = 96) -> None:
    font = ImageFont.load_default()
    columns = 3
    for start in range(0, len(pairs), per_sheet):
        chunk = pairs.iloc[start : start + per_sheet]
        rows = -(-len(chunk) // columns)
        sheet = Image.new("RGB", (columns * (2 * size + 24), rows * (size + 18)), "white")
        draw = ImageDraw.Draw(sheet)
        for k, pair in enumerate(chunk.itertuples()):
            x, y = (k % columns) * (2 * size + 24), (k // columns) * (size + 18)
            a = Image.open(manifest.root / pair.path_a).convert("L").resize((size, size))
            b = Image.open(manifest.root / pair.path_b).convert("L").resize((size, size))
            if pair.kind == "mirror":
                b = b.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
            sheet.paste(a, (x, y))
            sheet.paste(b, (x + size + 2, y))
            draw.text((x, y + size + 2), f"#{pair.id}", fill="red", font=font)
        sheet.save(out_dir / f"sheet_{start // per_sheet:02d}.png")


def _equalise(image: np.ndarray) -> np.ndarray:
    counts = np.bincount(image.ravel(), minlength=256)
    return ((np.cumsum(counts) - counts / 2) * 255.0 / image.size)[image]


def draw_aligned(manifest, pairs: pd.DataFrame, out_dir: Path, per_sheet: int = 8, size: int = 200) -> None:
    """Per pair: image a, image b aligned to it (zoom 0.8-1.26, shift +-5 px, equalised), |a - b|."""
    from scipy.ndimage import affine_transform

    for start in range(0, len(pairs), per_sheet):
        chunk = pairs.iloc[start : start + per_sheet]
        sheet = Image.new("RGB", (3 * size + 8, len(chunk) * (size + 14)), "white")
        draw = ImageDraw.Draw(sheet)
        for k, pair in enumerate(chunk.itertuples()):
            a = _equalise(np.asarray(Image.open(manifest.root / pair.path_a).convert("L").resize((48, 48))))
            b = _equalise(np.asarray(Image.open(manifest.root / pair.path_b).convert("L").resize((48, 48))))
            b = b[:, ::-1] if pair.kind == "mirror" else b
            best = (np.inf, b)
            for zoom in np.arange(0.8, 1.26, 0.02):
                for dy in np.arange(-5, 5.1, 0.5):
                    for dx in np.arange(-5, 5.1, 0.5):
                        offset = [23.5 - 23.5 / zoom + dy, 23.5 - 23.5 / zoom + dx]
                        moved = affine_transform(b, [1 / zoom, 1 / zoom], offset=offset, order=1, mode="nearest")
                        error = np.abs(a[6:42, 6:42] - moved[6:42, 6:42]).mean()
                        if error < best[0]:
                            best = (error, moved)
            for j, image in enumerate([a, best[1], np.clip(np.abs(a - best[1]) * 2, 0, 255)]):
                tile = Image.fromarray(image.astype(np.uint8)).resize((size, size), Image.Resampling.NEAREST)
                sheet.paste(tile, (j * (size + 4), k * (size + 14)))
            draw.text((0, k * (size + 14) + size + 1), f"#{pair.id} {pair.distance} bits, aligned error {best[0]:.1f}", fill="red")
        sheet.save(out_dir / f"aligned_{start // per_sheet:02d}.png")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("manifest", type=Path)
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--radius", type=int, default=12)
    parser.add_argument("--per-cell", type=int, default=6)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--distances", type=int, nargs="+", help="Hash distances to sample (default: 0-2, 4, ..., 12).")
    parser.add_argument("--score-bands", type=float, nargs="+", help="Edges of the score bands (default: the v1 bands).")
    parser.add_argument("--aligned", action="store_true", help="Draw aligned sheets (slow: a zoom and shift search per pair).")
    args = parser.parse_args()
    manifest = read_manifest(args.manifest)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    distances = [(d, d) for d in args.distances] if args.distances else DISTANCE_BANDS
    edges = args.score_bands
    bands = list(zip(edges[:-1], edges[1:])) if edges else SCORE_BANDS
    pairs = sample_pairs(manifest, args.radius, args.per_cell, args.seed, distances, bands)
    pairs.to_csv(args.out_dir / "pairs.csv", index=False)
    (draw_aligned if args.aligned else draw_sheets)(manifest, pairs, args.out_dir)
    print(f"{len(pairs)} pairs on {-(-len(pairs) // 24)} sheets in {args.out_dir}")


if __name__ == "__main__":
    main()
