"""Everything the report reads: the manifest and its JSON, the report folders the commands wrote
beside it, saved probe probabilities, training run folders, and the faces as thumbnails.

A part that is not there is not an error: it is recorded as a one-line note and its section
is left out, since a report of a manifest that was only deduped is still worth reading.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from ferclean.errors import FercleanError
from ferclean.images import UnreadableImage, open_gray
from ferclean.manifest import Manifest, read_manifest
from ferclean.mislabel.review_page import thumbnail_uri
from ferclean.mislabel.saved_probs import SavedProbs, load_probs
from ferclean.parallel import Progress, no_progress

#: Report folder suffix each command gives ``<output stem>``, and the command's option naming it.
FOLDERS: dict[str, str] = {"scan": "_scan", "dedupe": "_dedupe", "review": "_review"}
#: Longest side of an embedded thumbnail, in pixels (FER2013's faces are 48).
THUMB_SIDE = 64
#: JPEG quality of the thumbnails: ~1 KB a face, so FER2013's ~5,000 shown faces make ~7 MB.
JPEG_QUALITY = 80


@dataclass
class Run:
    """One training run folder: its details, test metrics, evaluations and history."""

    name: str
    path: Path
    details: dict
    metrics: dict | None
    evaluations: dict[str, dict]
    history: pd.DataFrame | None


@dataclass
class Inputs:
    """What the report is built from; ``notes`` say which parts were missing and why."""

    manifest: Manifest
    manifest_path: Path
    folders: dict[str, Path] = field(default_factory=dict)
    probs: SavedProbs | None = None
    runs: list[Run] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    written: dict[str, str] = field(default_factory=dict)


def history_outputs(history: Iterable[str]) -> list[tuple[str, Path | None, Path | None]]:
    """(command, ``-o`` path, ``--report-dir`` path) of each recorded command line, newest first."""
    out = []
    for line in reversed(list(history)):
        try:
            words = shlex.split(line)
        except ValueError:
            continue
        command = words[1] if len(words) > 1 else ""
        values: dict[str, Path] = {}
        for flag, value in zip(words, words[1:]):
            if flag in ("-o", "--output", "--report-dir"):
                values[flag] = Path(value)
        out.append((command, values.get("-o") or values.get("--output"), values.get("--report-dir")))
    return out


def find_folders(manifest_path: Path, history: Iterable[str]) -> dict[str, Path]:
    """The newest report folder of each kind: ``<stem>_<kind>`` beside this manifest or beside
    an earlier manifest of its history, or a ``--report-dir`` the history names."""
    here = manifest_path.parent
    candidates: dict[str, list[Path]] = {kind: [here / f"{manifest_path.stem}{suffix}"] for kind, suffix in FOLDERS.items()}
    kinds = {"scan": "scan", "dedupe": "dedupe", "mislabel-review": "review"}
    for command, output, report_dir in history_outputs(history):
        kind = kinds.get(command)
        if kind is None:
            continue
        if report_dir is not None:
            candidates[kind] += [report_dir, here / report_dir.name]
        if output is not None:
            candidates[kind].append(here / f"{output.stem}{FOLDERS[kind]}")
    return {kind: next(p for p in paths if p.is_dir()) for kind, paths in candidates.items() if any(p.is_dir() for p in paths)}


def _when(path: Path) -> str:
    return datetime.fromtimestamp(path.stat().st_mtime, tz=timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def read_run(path: Path) -> Run | None:
    """A run folder (``model-details.json`` inside), or None if it is not one."""
    details = read_json(path / "model-details.json")
    if details is None:
        return None
    history = None
    if (path / "history.csv").is_file():
        try:
            history = pd.read_csv(path / "history.csv")
        except (OSError, ValueError):
            history = None
    evaluations = {}
    for folder in sorted(path.glob("eval-*")):
        metrics = read_json(folder / "metrics.json")
        if metrics is not None:
            evaluations[folder.name] = metrics
    return Run(path.name, path, details, read_json(path / "metrics.json"), evaluations, history)


def find_runs(runs: Path) -> list[Run]:
    """Run folders directly in ``runs`` (or ``runs`` itself when it is one), by name."""
    if not runs.is_dir():
        raise FercleanError(f"--runs {runs} is not a folder.")
    folders = [runs] if (runs / "model-details.json").is_file() else sorted(p for p in runs.iterdir() if p.is_dir())
    return [run for run in map(read_run, folders) if run is not None]


def gather(manifest_path: str | Path, runs: str | Path | None = None, folders: Mapping[str, Path] | None = None) -> Inputs:
    """Read the manifest and whatever parts of the report exist beside it; ``folders`` (kind ->
    folder, kinds of FOLDERS) names report folders that are not where the history says."""
    manifest_path = Path(manifest_path)
    if manifest_path.suffix.lower() != ".csv":
        raise FercleanError(f"MANIFEST {manifest_path} must be a manifest .csv (run ferclean scan on a dataset folder first).")
    manifest = read_manifest(manifest_path)
    inputs = Inputs(manifest, manifest_path)
    inputs.written["manifest"] = _when(manifest_path)
    unknown = sorted(set(folders or {}) - set(FOLDERS))
    if unknown:
        raise ValueError(f"unknown report folder kind(s) {', '.join(unknown)}; known: {', '.join(FOLDERS)}")
    found = find_folders(manifest_path, manifest.meta.get("history", []))
    inputs.folders = {**found, **{kind: Path(p) for kind, p in (folders or {}).items() if Path(p).is_dir()}}
    for kind, folder in inputs.folders.items():
        inputs.written[kind] = _when(folder)
    frame = manifest.frame
    if "review" in inputs.folders and (inputs.folders["review"] / "probs.npy").is_file():
        try:
            inputs.probs = load_probs(inputs.folders["review"] / "probs.npy")
        except FercleanError as exc:
            inputs.notes.append(f"Probe bars left out: {exc}")
    elif "label_quality" in frame:
        inputs.notes.append("Probe bars left out: no probs.npy found in a mislabel-review report folder beside the manifest.")
    if runs is not None:
        inputs.runs = find_runs(Path(runs))
        if not inputs.runs:
            inputs.notes.append(f"Training runs left out: no run folder (with model-details.json) in {runs}.")
    return inputs


def thumbnail(path: Path, side: int = THUMB_SIDE) -> str | None:
    """A face as a PNG data URI, at most ``side`` pixels a side; None if it cannot be read."""
    try:
        image = open_gray(path)
    except (UnreadableImage, OSError):
        return None
    if max(image.size) > side:
        image.thumbnail((side, side), Image.Resampling.LANCZOS)
    return thumbnail_uri(np.asarray(image), JPEG_QUALITY)


def thumbnails(manifest: Manifest, paths: Iterable[str], on_progress: Progress = no_progress) -> dict[str, str | None]:
    """Data URIs of the distinct ``paths`` (manifest paths), read once each."""
    unique = list(dict.fromkeys(paths))
    out: dict[str, str | None] = {}
    step = max(1, len(unique) // 50)
    for k, path in enumerate(unique):
        out[path] = thumbnail(manifest.root / path)
        if k % step == 0 or k + 1 == len(unique):
            on_progress("Embedding faces", k + 1, len(unique))
    return out
