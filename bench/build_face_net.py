"""Copy MTCNN's R-Net weights from the ``mtcnn`` wheel into ``ferclean/face_net.npz`` (scan's face verifier).

The mtcnn package (MIT licence, ``pip install mtcnn``; its wheel carries the weights, nothing is
downloaded) stores them as a joblib pickle of Keras arrays; ferclean keeps only the face /
non-face path (three convolutions with their PReLU slopes, the dense layer, the face head),
as a plain npz, so that scan reads them with numpy alone and never imports TensorFlow,
joblib or mtcnn. The licence travels beside them (``ferclean/face_net.LICENSE``). Then it
prints the face log-odds percentiles of the FER2013 validation faces the verifier would see
(``MIN_FACE_LOGIT`` in ferclean/quality.py flags 0.3 % of them):

    PYTHONPATH=$PWD python bench/build_face_net.py ../shared/data/fer2013
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path

import joblib
import numpy as np

from ferclean.face_net import WEIGHTS_FILE
from ferclean.images import open_gray
from ferclean.quality import quality_table, work_copy

#: Names of the kept arrays, in the order of the wheel's R-Net list (its box-regression head, 12 and 13, is dropped).
KEPT = {0: "conv1", 1: "conv1_bias", 2: "prelu1", 3: "conv2", 4: "conv2_bias", 5: "prelu2", 6: "conv3", 7: "conv3_bias",
        8: "prelu3", 9: "dense", 10: "dense_bias", 11: "prelu4", 14: "face", 15: "face_bias"}


def main(data: Path) -> None:
    spec = importlib.util.find_spec("mtcnn")  # locates the package without running its __init__ (TensorFlow)
    if spec is None or not spec.submodule_search_locations:
        sys.exit("pip install mtcnn first")
    package = Path(next(iter(spec.submodule_search_locations)))
    arrays = joblib.load(package / "assets" / "weights" / "rnet.lz4")
    np.savez_compressed(WEIGHTS_FILE, **{name: np.asarray(arrays[k], dtype=np.float32) for k, name in KEPT.items()})
    licence = next(package.parent.glob("mtcnn-*.dist-info/LICENSE*"))
    shutil.copyfile(licence, WEIGHTS_FILE.with_suffix(".LICENSE"))
    print(f"wrote {WEIGHTS_FILE} ({WEIGHTS_FILE.stat().st_size:,} bytes) and its licence, from {package}")
    paths = sorted(str(p) for p in (data / "validation").glob("*/*"))
    work = np.stack([work_copy(np.asarray(open_gray(p))) for p in paths])
    side = np.full(len(work), 48)
    face = quality_table(work, side, side)["face"]
    seen = face[np.isfinite(face)]
    print(f"validation faces the verifier sees: {len(seen):,} of {len(work):,}; face log-odds percentiles over all"
          f" validation faces (0.1, 0.3, 0.5, 1 %): {np.percentile(np.nan_to_num(face, nan=np.inf), [0.1, 0.3, 0.5, 1]).round(2)}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[2] / "shared" / "data" / "fer2013")
