"""Per-fold checkpoints of a long probe (the CNN's folds), kept in the report folder so that an
interrupted ``mislabel-review --probe cnn|ensemble`` resumes (``--resume``) at the first
unfinished fold and ends with the probabilities an uninterrupted run gives.

Each finished fold is one ``probe-fold-<fold>.npy`` (what that fold adds to the estimates)
beside ``probe-checkpoint.json``, which holds the fingerprint of everything the folds depend
on: images, labels, fold assignment, probe and options. A checkpoint with another fingerprint
is refused rather than mixed in.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from ferclean.errors import FercleanError
from ferclean.outputs import atomic_path, discard, write_text

STATE = "probe-checkpoint.json"


def fingerprint(images: np.ndarray, labels: np.ndarray, folds: np.ndarray, options: dict) -> str:
    """SHA-256 of the arrays a probe reads and of its options (a JSON-able dict)."""
    digest = hashlib.sha256(json.dumps(options, sort_keys=True, default=str).encode())
    for array in (images, labels, folds):
        array = np.ascontiguousarray(array)
        digest.update(f"{array.dtype}{array.shape}".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


class FoldCache:
    """Finished folds of one probe run in ``folder``; ``resume=False`` starts over."""

    def __init__(self, folder: Path, key: str, resume: bool, name: str = "cnn") -> None:
        self.folder, self.key, self.name = Path(folder), key, name
        state = self.folder / STATE
        self.done: list[int] = []
        if resume and state.is_file():
            try:
                recorded = json.loads(state.read_text())
            except (OSError, ValueError) as exc:
                raise FercleanError(f"Cannot read the probe checkpoint {state}: {exc}; rerun without --resume.") from None
            if recorded.get("fingerprint") != key:
                raise FercleanError(
                    f"The probe checkpoint in {self.folder} comes from other images, labels or options than this"
                    " run's; rerun without --resume to start over (or give the options it was made with)."
                )
            self.done = [f for f in recorded.get("folds", []) if self._path(f).is_file()]

    def _path(self, fold: int) -> Path:
        return self.folder / f"probe-fold-{self.name}-{fold}.npy"

    def load(self, fold: int) -> np.ndarray | None:
        """What ``fold`` added, when an earlier run finished it."""
        return np.load(self._path(fold)) if fold in self.done else None

    def save(self, fold: int, part: np.ndarray) -> None:
        """Keep a finished fold at once (not with the report at the end): it must outlive an interrupt."""
        with atomic_path(self._path(fold), immediate=True) as temp:
            np.save(temp, part)
        self.done.append(int(fold))
        write_text(self.folder / STATE, json.dumps({"fingerprint": self.key, "folds": self.done}) + "\n", immediate=True)

    def clear(self) -> None:
        """Drop the checkpoints once the report holds the finished probabilities (ferclean.outputs.discard)."""
        for fold in self.done:
            discard(self._path(fold))
        discard(self.folder / STATE)
