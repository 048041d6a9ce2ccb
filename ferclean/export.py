"""Materialise a manifest as a ``<split>/<class>/<file>`` folder tree that any trainer can read.

Planning (which source goes where) is pure and checked in full before a single file is
written; writing never opens a source for writing: each file is made beside its destination
and renamed over it, so a hard link or symlink left by an earlier export is replaced, never
written through, and a symlinked folder inside the output tree that leads out of it is refused.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import pandas as pd

from ferclean.errors import FercleanError
from ferclean.keys import short_hash
from ferclean.manifest import Manifest, effective_labels, kept
from ferclean.outputs import atomic_path, check_inside, image_roots
from ferclean.parallel import Progress, no_progress

MODES: tuple[str, ...] = ("copy", "hardlink", "symlink")

_PLAN_COLUMNS = {"source": str, "dest": str, "split": str, "label": str, "renamed": bool}


def plan_export(manifest: Manifest) -> pd.DataFrame:
    """Where each kept image goes: columns ``source`` (absolute), ``dest`` (relative), ``split``,
    ``label`` and ``renamed``.

    Relabelled images go under their new class; flat manifests (empty split) give
    ``<class>/<file>``. Files that would share a name in one folder all get a short hash of
    their source path appended to the stem, so the names do not depend on row order.
    """
    frame = manifest.frame
    keep = kept(frame)
    rows = frame.loc[keep]
    labels = effective_labels(frame)[keep]
    if (labels == "").any():
        unlabelled = int((labels == "").sum())
        raise FercleanError(f"{unlabelled} kept image(s) have no label; label or drop them before exporting.")
    if rows.empty:
        return pd.DataFrame({c: pd.Series(dtype=t) for c, t in _PLAN_COLUMNS.items()})
    sources = [str(Path(manifest.root) / p) for p in rows["path"]]
    names = [PurePosixPath(str(p).replace("\\", "/")).name for p in rows["path"]]
    folders = [f"{s}/{c}" if s else c for s, c in zip(rows["split"], labels)]
    plan = pd.DataFrame(
        {
            "source": sources,
            "folder": folders,
            "name": names,
            "split": rows["split"].to_numpy(),
            "label": labels.to_numpy(),
        }
    )
    clash = plan.duplicated(["folder", "name"], keep=False)
    stems = plan["name"].map(lambda n: PurePosixPath(n).stem)
    suffixes = plan["name"].map(lambda n: PurePosixPath(n).suffix)
    hashed = stems + "-" + plan["source"].map(short_hash) + suffixes
    plan["name"] = plan["name"].where(~clash, hashed)
    plan["renamed"] = clash
    plan["dest"] = plan["folder"] + "/" + plan["name"]
    still = plan["dest"][plan["dest"].duplicated()]
    if not still.empty:
        raise FercleanError(
            f"Two kept rows export to the same file {still.iloc[0]} (the manifest lists one source twice?);"
            " drop one of them first."
        )
    return plan[list(_PLAN_COLUMNS)].reset_index(drop=True)


def check_sources(plan: pd.DataFrame, out_dir: Path, roots: Sequence[Path] = ()) -> None:
    """Refuse missing sources, any destination folder reached through a symlink that leads out of
    ``out_dir``, and any destination whose real path lies in a source folder.

    Destination folders are resolved through every symlink first, so an ``OUT/train/happy``
    that links to a source class folder (or anywhere else) is refused rather than written through. ``roots``
    are the source folders (ferclean.manifest.Manifest.source_roots); each source's own
    folder is one too.
    """
    missing = [s for s in plan["source"] if not os.path.isfile(s)]
    if missing:
        raise FercleanError(f"{len(missing)} source image(s) are missing, e.g. {missing[0]}; nothing was exported.")
    sources = {os.path.realpath(s) for s in plan["source"]}
    forbidden = image_roots(plan["source"], None) + [Path(os.path.realpath(r)) for r in roots]
    # Resolve the folders but not the file itself: a symlink left by an earlier export is
    # replaced, not followed.
    folders = {f: Path(os.path.realpath(out_dir / f)) for f in {str(PurePosixPath(d).parent) for d in plan["dest"]}}
    for folder, real_folder in sorted(folders.items()):
        inside = next((r for r in forbidden if real_folder == r or real_folder.is_relative_to(r)), None)
        if inside is not None:
            raise FercleanError(
                f"--out {out_dir / folder} resolves to {real_folder}, inside the source image folder {inside};"
                " nothing was exported, choose another --out."
            )
        check_inside(out_dir, out_dir / folder / "-", "--out")
    for dest in plan["dest"]:
        target = folders[str(PurePosixPath(dest).parent)] / PurePosixPath(dest).name
        if str(target) in sources:
            raise FercleanError(
                f"Exporting into {out_dir} would overwrite the source image {target}; choose another --out."
            )


def existing_files(out_dir: Path) -> list[Path]:
    """Every file or link under ``out_dir`` (empty when it does not exist)."""
    if not out_dir.exists():
        return []
    if not out_dir.is_dir():
        raise FercleanError(f"--out {out_dir} exists and is not a folder.")
    return [p for p in out_dir.rglob("*") if p.is_file() or p.is_symlink()]


def _place(source: str, dest: Path, mode: str) -> None:
    """Make ``dest`` beside itself and rename it into place (ferclean.outputs.atomic_path)."""
    with atomic_path(dest) as temp:
        if mode == "copy":
            shutil.copy2(source, temp)
            return
        temp.unlink()
        if mode == "symlink":
            os.symlink(os.path.realpath(source), temp)
            return
        try:
            os.link(source, temp)
        except OSError as exc:
            raise FercleanError(
                f"Cannot hard-link {source} into {dest.parent} ({exc.strerror}); hard links need one file system:"
                " use --mode copy or --mode symlink."
            ) from None


def export_tree(plan: pd.DataFrame, out_dir: Path, mode: str, on_progress: Progress | None = None) -> tuple[int, int]:
    """Write every planned file under ``out_dir``; return how many were written and how many of
    those replaced a file (or link) already there.

    Only the planned destinations are written (replacing what is there); other files in
    ``out_dir`` are left alone. Symlinks point to the source's absolute real path.
    """
    if mode not in MODES:
        raise FercleanError(f"Unknown export mode {mode!r}; use one of {', '.join(MODES)}.")
    report = on_progress or no_progress
    stage = f"Exporting ({mode})"
    report(stage, 0, len(plan))
    replaced = 0
    for done, (source, dest) in enumerate(zip(plan["source"], plan["dest"]), 1):
        replaced += os.path.lexists(out_dir / dest)
        _place(source, out_dir / dest, mode)
        report(stage, done, len(plan))
    return len(plan), replaced


@dataclass
class ExportResult:
    """The plan that was carried out, files written, and files that were already in the folder:
    ``replaced`` (at an exported name) and ``untouched`` (any other)."""

    plan: pd.DataFrame
    written: int
    replaced: int
    untouched: int


def export_manifest(manifest: Manifest, out_dir: Path, mode: str = "copy", on_progress: Progress | None = None) -> ExportResult:
    """Plan, check every source, then write ``manifest``'s kept images under ``out_dir``."""
    plan = plan_export(manifest)
    if plan.empty:
        raise FercleanError("The manifest has no kept image to export.")
    present = existing_files(out_dir)
    check_sources(plan, out_dir, manifest.source_roots())
    written, replaced = export_tree(plan, out_dir, mode, on_progress)
    return ExportResult(plan=plan, written=written, replaced=replaced, untouched=max(len(present) - replaced, 0))
