"""Fit the eigenface space ``ferclean/face_space.npz`` that scan's not-a-face check projects onto.

Fitted on the FER2013 training faces' pixels only (no labels, no FER+ votes): the 16 top
principal components of their standardised 16x16 thumbnails. Re-run after changing
``face_thumbnail`` or the number of components:

    PYTHONPATH=$PWD python bench/build_face_space.py ../shared/data/fer2013/train
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from ferclean.images import open_gray
from ferclean.quality import FACE_SPACE_FILE, face_thumbnail, fit_face_space


def main(root: str) -> None:
    paths = sorted(Path(root).rglob("*.png"))
    if not paths:
        sys.exit(f"No .png images under {root}.")
    thumbs = np.stack([face_thumbnail(np.asarray(open_gray(p))) for p in paths])
    mean, components = fit_face_space(thumbs)
    np.savez_compressed(FACE_SPACE_FILE, mean=mean.astype(np.float32), components=components.astype(np.float32))
    print(f"Fitted {len(components)} components on {len(paths):,} faces -> {FACE_SPACE_FILE} ({FACE_SPACE_FILE.stat().st_size:,} bytes)")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "../shared/data/fer2013/train")
