"""Write ``tests/data/mean_faces.npz``: a few average faces that the fast tests use as real-ish faces.

Each is the mean of one cluster (k-means on 16x16 thumbnails, seeded) of FER2013 training
faces, so it has a face's structure (eyes, nose, mouth, a pose and lighting) but is nobody's
picture; conftest's synthetic images are random blobs, which a face detector rightly rejects.
Deterministic:

    PYTHONPATH=$PWD python bench/build_face_fixtures.py ../shared/data/fer2013
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from sklearn.cluster import KMeans

from ferclean.images import open_gray

OUT = Path(__file__).resolve().parents[1] / "tests" / "data" / "mean_faces.npz"
CLUSTERS = 12


def main(root: str) -> None:
    paths = sorted((Path(root) / "train").rglob("*.png"))
    faces = np.stack([np.asarray(open_gray(p), dtype=np.float64) for p in paths])
    thumbs = faces.reshape(len(faces), 16, 3, 16, 3).mean(axis=(2, 4)).reshape(len(faces), -1)
    thumbs = (thumbs - thumbs.mean(axis=1, keepdims=True)) / (thumbs.std(axis=1, keepdims=True) + 1e-9)
    labels = KMeans(CLUSTERS, n_init=4, random_state=0).fit_predict(thumbs)
    means = []
    for k in range(CLUSTERS):
        mean = faces[labels == k].mean(axis=0)
        means.append(((mean - mean.min()) / np.ptp(mean) * 255).round().astype(np.uint8))  # averaging flattens contrast
    OUT.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(OUT, faces=np.stack(means))
    print(f"{CLUSTERS} mean faces of {len(faces):,} training faces -> {OUT} ({OUT.stat().st_size:,} bytes)")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "../shared/data/fer2013")
