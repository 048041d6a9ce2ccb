"""The checkpoint of a long probe (the CNN's), kept in the report folder so that an interrupted
``mislabel-review --probe cnn|ensemble`` resumes (``--resume``) after its last finished epoch
and ends with the probabilities an uninterrupted run gives.

``probe-checkpoint.npz`` holds the run's state (the model's and optimiser's variables, what it
has gathered so far, the epoch) beside ``probe-checkpoint.json``, which holds the fingerprint of
everything the run depends on: images, labels, probe and options. A checkpoint with another
fingerprint is refused rather than continued.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from ferclean.errors import FercleanError
from ferclean.outputs import atomic_path, discard, write_text

STATE, ARRAYS = "probe-checkpoint.json", "probe-checkpoint.npz"


def fingerprint(images: np.ndarray, labels: np.ndarray, options: dict) -> str:
    """SHA-256 of the arrays a probe reads and of its options (a JSON-able dict)."""
    digest = hashlib.sha256(json.dumps(options, sort_keys=True, default=str).encode())
    for array in (images, labels):
        array = np.ascontiguousarray(array)
        digest.update(f"{array.dtype}{array.shape}".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


class Checkpoint:
    """The state of one probe run in ``folder``; ``resume=False`` starts over."""

    def __init__(self, folder: Path, key: str, resume: bool) -> None:
        self.folder, self.key = Path(folder), key
        state = self.folder / STATE
        self.found = False
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
            self.found = (self.folder / ARRAYS).is_file()

    def load(self) -> dict[str, np.ndarray] | None:
        """The state an earlier run of the same inputs saved, if any."""
        if not self.found:
            return None
        try:
            with np.load(self.folder / ARRAYS) as arrays:
                return dict(arrays)
        except (OSError, ValueError) as exc:
            raise FercleanError(f"Cannot read the probe checkpoint {self.folder / ARRAYS}: {exc};"
                                " rerun without --resume.") from None

    def save(self, state: dict[str, np.ndarray]) -> None:
        """Keep the state at once (not with the report at the end): it must outlive an interrupt.
        The arrays are replaced whole, then the fingerprint written, so a crash leaves either
        checkpoint complete."""
        with atomic_path(self.folder / ARRAYS, immediate=True) as temp:
            with open(temp, "wb") as handle:
                np.savez(handle, **state)
        self.found = True
        write_text(self.folder / STATE, json.dumps({"fingerprint": self.key}) + "\n", immediate=True)

    def clear(self) -> None:
        """Drop the checkpoint once the report holds the finished probabilities (ferclean.outputs.discard)."""
        discard(self.folder / ARRAYS)
        discard(self.folder / STATE)
