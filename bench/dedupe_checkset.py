"""Draw the dedupe check set: candidate pairs sampled per hash-distance band and per
verification-score band, on contact sheets to mark by eye as same photo or not.

Run by hand: ``python bench/dedupe_checkset.py MANIFEST OUT_DIR``. Writes ``pairs.csv``
(one row per sampled pair, with an id and the band population it stands for) and
``sheet_*.png``; copy the marked rows (``same`` = 1 or 0) into ``bench/dedupe_marks.csv``.
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


def sample_pairs(manifest, radius: int, per_cell: int, seed: int) -> pd.DataFrame:
    frame = manifest.frame
    pairs = find_duplicate_pairs(frame, radius)
    pairs = pairs[pairs["kind"] != "exact"].reset_index(drop=True)
    rows = np.unique(pairs[["a", "b"]].to_numpy())
    thumbs = load_features([str(manifest.root / p) for p in frame["path"].iloc[rows]], jobs=2)
    where = np.searchsorted(rows, pairs[["a", "b"]].to_numpy())
    pairs["similarity"] = pair_similarity(thumbs, where[:, 0], where[:, 1], pairs["kind"].eq("mirror").to_numpy())
    cells = []
    for lo, hi in DISTANCE_BANDS:
        for s_lo, s_hi in SCORE_BANDS:
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("manifest", type=Path)
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--radius", type=int, default=12)
    parser.add_argument("--per-cell", type=int, default=6)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    manifest = read_manifest(args.manifest)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    pairs = sample_pairs(manifest, args.radius, args.per_cell, args.seed)
    pairs.to_csv(args.out_dir / "pairs.csv", index=False)
    draw_sheets(manifest, pairs, args.out_dir)
    print(f"{len(pairs)} pairs on {-(-len(pairs) // 24)} sheets in {args.out_dir}")


if __name__ == "__main__":
    main()
