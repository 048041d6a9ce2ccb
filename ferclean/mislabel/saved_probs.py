"""A probe's probabilities on disk: ``probs.npy`` plus the row order and classes beside it,
so scoring can be re-run (``--probs``) without training the probe again."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ferclean.errors import FercleanError
from ferclean.outputs import atomic_path, write_csv, write_text


@dataclass(frozen=True)
class SavedProbs:
    """Probabilities (n, k) for ``paths`` in that order, columns in ``classes`` order."""

    probs: np.ndarray
    paths: list[str]
    classes: list[str]
    meta: dict


def index_path(npy: Path) -> Path:
    """``report/probs.npy`` -> ``report/probs_index.csv``."""
    return npy.with_name(npy.stem + "_index.csv")


def meta_path(npy: Path) -> Path:
    """``report/probs.npy`` -> ``report/probs_meta.json``."""
    return npy.with_name(npy.stem + "_meta.json")


def save_probs(npy: Path, saved: SavedProbs) -> None:
    """Write the three files; the index holds each row's path."""
    with atomic_path(npy) as temp:
        np.save(temp, saved.probs.astype(np.float32))
    write_csv(index_path(npy), pd.DataFrame({"path": saved.paths}))
    write_text(meta_path(npy), json.dumps({**saved.meta, "classes": saved.classes}, indent=2) + "\n")


def load_probs(npy: Path) -> SavedProbs:
    """Read what ``save_probs`` wrote; a missing or inconsistent file is a FercleanError."""
    for path in (npy, index_path(npy), meta_path(npy)):
        if not path.is_file():
            raise FercleanError(f"{path} does not exist; --probs needs the probs.npy of an earlier run with its _index.csv and _meta.json.")
    try:
        probs = np.load(npy)
        index = pd.read_csv(index_path(npy), dtype={"path": str}, keep_default_na=False)
        meta = json.loads(meta_path(npy).read_text())
    except (ValueError, OSError, pd.errors.ParserError) as exc:
        raise FercleanError(f"Cannot read saved probabilities {npy}: {exc}.") from exc
    classes = list(meta.get("classes", []))
    if probs.ndim != 2 or probs.shape != (len(index), len(classes)):
        raise FercleanError(
            f"{npy} has shape {probs.shape} but its index lists {len(index)} rows and {len(classes)} classes."
        )
    if "path" not in index:
        raise FercleanError(f"{index_path(npy)} has no path column; --probs needs the index an earlier run wrote.")
    return SavedProbs(probs=probs.astype(np.float64), paths=index["path"].tolist(), classes=classes, meta=meta)


def align(saved: SavedProbs, paths: list[str], labels: list[str]) -> np.ndarray:
    """Probabilities in the order of ``paths``; every path and label must be covered."""
    position = {p: i for i, p in enumerate(saved.paths)}
    missing = [p for p in paths if p not in position]
    if missing:
        raise FercleanError(
            f"The saved probabilities do not cover {len(missing)} image(s) of the manifest, e.g. {missing[0]};"
            " run without --probs to train the probe again."
        )
    unknown = sorted(set(labels) - set(saved.classes))
    if unknown:
        raise FercleanError(
            f"The saved probabilities have no column for class(es) {', '.join(unknown)}; run without --probs."
        )
    order = np.array([position[p] for p in paths], dtype=np.int64)
    return saved.probs[order]
