"""The CSV manifest every subcommand reads and writes, and its companion JSON.

A manifest ``NAME.csv`` holds one row per image. Its ``path`` column is relative to the
dataset root recorded in ``NAME.json`` beside it (absolute paths are allowed too, e.g. for
images brought in from elsewhere). Columns ferclean does not know pass through untouched.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ferclean import __version__
from ferclean.errors import FercleanError

#: Column order of every manifest ferclean writes; unknown columns follow these.
COLUMNS: tuple[str, ...] = (
    "path",
    "split",
    "label",
    "source",
    "width",
    "height",
    "sha256",
    "phash",
    "phash_flip",
    "group",
    "status",
    "new_label",
    "note",
)

#: Columns a manifest must have to be read; the rest are created empty when absent.
REQUIRED: tuple[str, ...] = ("path", "split", "label", "status")

STATUSES: tuple[str, ...] = ("keep", "drop", "relabel", "review")

_INT_COLUMNS = ("width", "height", "group")


@dataclass
class Manifest:
    """A manifest table plus the root its relative paths are resolved against."""

    frame: pd.DataFrame
    root: Path
    meta: dict = field(default_factory=dict)

    def abspaths(self) -> list[Path]:
        """Absolute path of every row, in row order."""
        return [self.root / p for p in self.frame["path"]]

    def with_frame(self, frame: pd.DataFrame, **meta: object) -> Manifest:
        """A copy holding ``frame``, with ``meta`` merged into the metadata."""
        return Manifest(frame=frame, root=self.root, meta={**self.meta, **meta})


def normalise_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Standard columns first, with stable dtypes: text as str, sizes and group as Int64."""
    frame = frame.copy()
    for column in COLUMNS:
        if column not in frame.columns:
            frame[column] = pd.NA if column in _INT_COLUMNS else ""
    for column in COLUMNS:
        if column in _INT_COLUMNS:
            frame[column] = pd.to_numeric(frame[column], errors="coerce").astype("Int64")
        else:
            frame[column] = frame[column].fillna("").astype(str)
    extras = [c for c in frame.columns if c not in COLUMNS]
    return frame[list(COLUMNS) + extras].reset_index(drop=True)


def companion_path(csv_path: Path) -> Path:
    """``manifests/x.csv`` -> ``manifests/x.json``."""
    return Path(csv_path).with_suffix(".json")


def read_manifest(csv_path: str | Path) -> Manifest:
    """Read a manifest and its companion JSON; raise FercleanError on anything malformed."""
    csv_path = Path(csv_path)
    if not csv_path.is_file():
        raise FercleanError(f"Manifest {csv_path} does not exist.")
    try:
        frame = pd.read_csv(csv_path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise FercleanError(f"Manifest {csv_path} is not a readable CSV: {exc}".splitlines()[0]) from exc
    missing = [c for c in REQUIRED if c not in frame.columns]
    if missing:
        raise FercleanError(f"Manifest {csv_path} lacks column(s) {', '.join(missing)}.")
    bad_status = sorted(set(frame["status"]) - set(STATUSES))
    if bad_status:
        raise FercleanError(
            f"Manifest {csv_path} has unknown status value(s) {', '.join(map(repr, bad_status))};"
            f" allowed: {', '.join(STATUSES)}."
        )
    meta_path = companion_path(csv_path)
    meta: dict = {}
    if meta_path.is_file():
        try:
            meta = json.loads(meta_path.read_text())
        except json.JSONDecodeError as exc:
            raise FercleanError(f"Companion file {meta_path} is not valid JSON: {exc}.") from exc
    root = Path(meta.get("root") or csv_path.parent.resolve())
    return Manifest(frame=normalise_frame(frame), root=root, meta=meta)


def write_manifest(manifest: Manifest, csv_path: str | Path, command: str | None = None) -> Path:
    """Write ``NAME.csv`` and ``NAME.json``; ``command`` is appended to the history."""
    csv_path = Path(csv_path)
    csv_path.parent.mkdir(parents=True, exist_ok=True)
    frame = normalise_frame(manifest.frame)
    frame.to_csv(csv_path, index=False)
    meta = {**manifest.meta, "root": str(Path(manifest.root).resolve()), "ferclean_version": __version__}
    if command:
        meta["history"] = [*meta.get("history", []), command]
    companion_path(csv_path).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    return csv_path


def effective_labels(frame: pd.DataFrame) -> pd.Series:
    """The label each row trains with: ``new_label`` for relabelled rows, else ``label``."""
    relabelled = (frame["status"] == "relabel") & (frame["new_label"] != "")
    return frame["label"].where(~relabelled, frame["new_label"])


def kept(frame: pd.DataFrame) -> pd.Series:
    """Boolean mask of rows still in the dataset (everything but ``status == drop``)."""
    return frame["status"] != "drop"


def group_keys(frame: pd.DataFrame) -> pd.Series:
    """A key per row that is shared by duplicates: the ``group`` id, or a unique key for singletons."""
    singles = "row" + frame.index.astype(str)
    return frame["group"].astype("string").fillna(pd.Series(singles, index=frame.index))


def append_note(notes: pd.Series, text: pd.Series | str) -> pd.Series:
    """``notes`` with ``text`` added after a ``"; "`` (or alone where a note was empty)."""
    return notes.where(notes == "", notes + "; ") + text
