"""The run folder: ``runs/<name>-<version>/`` and the files that describe what was trained.

A run folder is self-describing: ``model-details.json`` holds everything needed to re-evaluate,
predict with or resume the model (classes, image size, every hyper-parameter, the manifest and
its hash), so later commands take only the folder.
"""

from __future__ import annotations

import json
import platform
import re
import shutil
from pathlib import Path
from typing import Any

from ferclean.errors import FercleanError
from ferclean.outputs import file_sha256, write_text

DETAILS = "model-details.json"
MODEL = "model.keras"
LAST = "last.keras"
HISTORY = "history.csv"


def run_versions(runs_dir: Path, name: str) -> list[int]:
    """Versions already used by ``runs_dir/<name>-<n>`` folders."""
    if not runs_dir.is_dir():
        return []
    pattern = re.compile(rf"^{re.escape(name)}-(\d+)$")
    return sorted(int(m.group(1)) for p in runs_dir.iterdir() if p.is_dir() and (m := pattern.match(p.name)))


def new_run_dir(runs_dir: Path, name: str, version: int | None = None) -> Path:
    """Create ``runs_dir/<name>-<version>``; the version defaults to the next free number from 1."""
    if not re.fullmatch(r"[\w.-]+", name):
        raise FercleanError(f"Run name {name!r} may use only letters, digits, '.', '_' and '-'.")
    given = version is not None
    if version is None:
        version = max(run_versions(runs_dir, name), default=0) + 1
    while True:
        run_dir = runs_dir / f"{name}-{version}"
        try:
            run_dir.mkdir(parents=True)  # atomic: of two runs started together, each gets its own version
            return run_dir
        except FileExistsError:
            if given:
                raise FercleanError(
                    f"Run folder {run_dir} already exists; pick another --version or use --resume {run_dir}."
                ) from None
            version += 1


def discard_unfinished(run_dir: Path) -> bool:
    """Remove a run folder whose training failed before any model was saved, so a failed run
    leaves no empty folder and uses up no version; one holding a model stays for --resume.
    Returns whether it was removed."""
    if run_dir.is_dir() and not any(run_dir.rglob("*.keras")):
        shutil.rmtree(run_dir)
        return True
    return False


def library_versions() -> dict[str, str]:
    """Versions that decide whether a run can be reproduced bit for bit."""
    import keras
    import numpy
    import sklearn
    import tensorflow

    from ferclean import __version__

    return {
        "python": platform.python_version(),
        "ferclean": __version__,
        "tensorflow": tensorflow.__version__,
        "keras": keras.__version__,
        "numpy": numpy.__version__,
        "scikit-learn": sklearn.__version__,
    }


def write_json(path: Path, data: dict[str, Any]) -> Path:
    """Write ``data`` atomically (ferclean.outputs), so an interrupted run never leaves half a file."""
    return write_text(path, json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")


def read_details(run_dir: Path) -> dict[str, Any]:
    """The run's ``model-details.json``, or a clear error if the folder is not a run."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise FercleanError(f"Run folder {run_dir} does not exist.")
    path = run_dir / DETAILS
    if not path.is_file():
        raise FercleanError(f"{run_dir} is not a training run: it has no {DETAILS}.")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise FercleanError(f"{path} is not valid JSON: {exc}.") from exc


def model_path(run_dir: Path) -> Path:
    """The run's trained model, or a clear error if training never finished an epoch."""
    path = Path(run_dir) / MODEL
    if not path.is_file():
        raise FercleanError(f"{run_dir} has no trained model ({MODEL}); train it, or resume it with --resume.")
    return path
