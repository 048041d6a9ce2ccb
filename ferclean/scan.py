"""Index a ``<split>/<class>/<image>`` (or flat ``<class>/<image>``) tree into a manifest."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

from ferclean.errors import FercleanError
from ferclean.images import IMAGE_SUFFIXES, inspect_image, visible_dirs
from ferclean.labels import SPLIT_ALIASES, normalise_class, normalise_split
from ferclean.image_batch import decode_files_parallel, describe_batch
from ferclean.manifest import Manifest, joined_paths, mark, normalise_frame
from ferclean.parallel import Backend, Progress, default_jobs, parallel_map
from ferclean.quality import flag_invalid


#: Largest memory (bytes) scan spends keeping small grey copies of the images for a later
#: step (``keep_pixels``): 1 GiB holds 466k 48x48 copies; past it the step decodes again.
PIXELS_BUDGET = 1 << 30


@dataclass
class Listing:
    """Image files found under a root, with their split and class, and what scan kept of
    their pixels: ``pixels`` (n, side, side) uint8 per manifest row when ``keep_pixels``
    was asked for and fitted PIXELS_BUDGET (zeros for unreadable images), else None."""

    frame: pd.DataFrame
    ignored: list[str] = field(default_factory=list)
    pixels: np.ndarray | None = None


def _class_dir(folder: Path, root: Path, extra: Iterable[str]) -> str:
    label = normalise_class(folder.name, extra)
    if label is None:
        raise FercleanError(
            f"Unknown class folder '{folder.relative_to(root)}'; rename it or declare it with --classes {folder.name.lower()}."
        )
    return label


def list_images(root: str | Path, extra_classes: Iterable[str] = ()) -> Listing:
    """Find every image under ``root`` and read split and class from its folders.

    The layout is detected from the top-level folders: all split names (``train``,
    ``PublicTest``...) means ``<split>/<class>/``; all class names means a flat
    ``<class>/`` tree with an empty split. Files that are not images are listed in
    ``ignored``; images inside a class folder's sub-folders belong to that class.
    """
    root = Path(root)
    if not root.exists():
        raise FercleanError(f"Dataset folder {root} does not exist.")
    if not root.is_dir():
        raise FercleanError(f"{root} is not a folder; give a dataset folder or a manifest .csv.")
    extra = list(extra_classes)
    top = visible_dirs(root)
    if not top:
        raise FercleanError(f"Dataset folder {root} has no class or split sub-folders.")
    split_of = {d: normalise_split(d.name) for d in top}
    if all(split_of.values()):
        class_dirs = [(split_of[s], c) for s in top for c in visible_dirs(s)]
    else:
        stray = [d for d in top if split_of[d] is None and normalise_class(d.name, extra) is None]
        if stray or any(split_of.values()):
            bad = (stray or top)[0]
            raise FercleanError(
                f"Folder '{bad.name}' in {root} is neither a split ({', '.join(sorted(SPLIT_ALIASES))})"
                f" nor a known class; declare a class with --classes {bad.name.lower()}."
            )
        class_dirs = [("", c) for c in top]
    paths, splits, labels, ignored = [], [], [], []
    for split, folder in class_dirs:
        label = _class_dir(folder, root, extra)
        prefix = folder.relative_to(root).as_posix()
        for parts in sorted(_files_under(str(folder))):
            if parts[-1].startswith("."):
                continue
            relative = "/".join((prefix, *parts))
            if _suffix(parts[-1]).lower() in IMAGE_SUFFIXES:
                paths.append(relative)
            else:
                ignored.append(relative)
        splits += [split] * (len(paths) - len(splits))
        labels += [label] * (len(paths) - len(labels))
    if not paths:
        raise FercleanError(f"No images found under {root} (looked for {', '.join(sorted(IMAGE_SUFFIXES))}).")
    frame = pd.DataFrame({"path": paths, "split": splits, "label": labels})
    frame = frame.sort_values("path", kind="stable").reset_index(drop=True)
    return Listing(frame=frame, ignored=ignored)


def _files_under(folder: str) -> list[tuple[str, ...]]:
    """Every file below ``folder`` (hidden ones too) as its path parts under it, as
    ``Path(folder).rglob("*")`` finds them: symlinked sub-folders are not entered, unreadable
    ones are skipped. Plain ``os.scandir`` on strings: pathlib costs 10x more on 36k files."""
    found: list[tuple[str, ...]] = []
    pending: list[tuple[str, ...]] = [()]
    while pending:
        parts = pending.pop()
        try:
            with os.scandir(os.path.join(folder, *parts)) as listing:
                entries = list(listing)
        except PermissionError:
            continue
        for entry in entries:
            if _is(entry.is_dir) and not entry.is_symlink():
                pending.append((*parts, entry.name))
            elif _is(entry.is_file):
                found.append((*parts, entry.name))
    return found


def _is(test: Callable[[], bool]) -> bool:
    """A ``DirEntry`` type test that answers False where the entry cannot be stat'ed (a broken link)."""
    try:
        return test()
    except OSError:
        return False


def _suffix(name: str) -> str:
    """``Path(name).suffix``: from the last dot, unless the name starts or ends with it."""
    dot = name.rfind(".")
    return name[dot:] if 0 < dot < len(name) - 1 else ""


def describe_and_keep(
    frame: pd.DataFrame,
    root: Path,
    hash_method: str,
    jobs: int | None = None,
    on_progress: Progress | None = None,
    backend: Backend | None = None,
    invalid: str | None = None,
    keep_pixels: int | None = None,
) -> tuple[pd.DataFrame, np.ndarray | None]:
    """Decode every row's image (in parallel) and fill size and hashes.

    Unreadable files (bombs included) stay in the table with ``status=drop`` and the reason
    in ``note``, so that they are reported rather than silently lost; images too small to
    show a face go to ``review``. Other rows keep their status (``keep`` when they had none);
    no status is ever lowered (manifest.mark). ``backend`` (e.g. ``DaskBackend``) overrides ``jobs``.
    With ``invalid`` (``review`` or ``drop``) the quality checks of :mod:`ferclean.quality` run
    on the same decoded pixels and images that fail them are raised to that status with an
    ``invalid: <reasons>`` note. With ``keep_pixels`` (a side, phash only) the second value is
    a :func:`ferclean.image_batch.small_copy` of every row's image from the same decoding.
    """
    paths = joined_paths(root, frame["path"])
    quality = invalid is not None
    pixels = None
    if hash_method == "phash":  # the batch path: same values, hashed as one numpy stack
        batch = decode_files_parallel(
            paths, jobs or default_jobs(), on_progress, backend=backend, quality=quality, side=keep_pixels
        )
        described, pixels = describe_batch(batch), batch.pixels
        described.index = frame.index
    else:
        inspect = partial(inspect_image, hash_method=hash_method, quality=quality)
        infos = parallel_map(inspect, paths, "Reading images", jobs, on_progress, backend)
        described = pd.DataFrame(infos, index=frame.index)
    out = frame.copy()
    for column in ("width", "height", "sha256", "phash", "phash_flip"):
        out[column] = described[column] if column in described else pd.NA
    status = out["status"] if "status" in out else pd.Series("", index=out.index)
    out["status"] = status.where(status != "", "keep")
    if "note" not in out:
        out["note"] = ""
    errors = described["error"].fillna("")
    unreadable = errors != ""
    out = mark(out, unreadable, "drop", "unreadable: " + errors)
    review = described["review"].fillna("") if "review" in described else pd.Series("", index=out.index)
    out = mark(out, review != "", "review", review)
    if invalid is not None:
        out = flag_invalid(out, described["quality"].fillna(""), invalid)
    return out, pixels


def scan_dataset(
    root: str | Path,
    extra_classes: Iterable[str] = (),
    hash_method: str = "phash",
    jobs: int | None = None,
    on_progress: Progress | None = None,
    backend: Backend | None = None,
    invalid: str | None = "review",
    keep_pixels: int | None = None,
) -> tuple[Manifest, Listing]:
    """List and decode a dataset folder into a manifest whose paths are relative to ``root``.

    ``invalid`` is the status given to images failing the quality checks (``review`` or
    ``drop``); ``None`` skips the checks. ``keep_pixels`` (a side in pixels) keeps a small
    grey copy of every image in ``Listing.pixels`` where they fit PIXELS_BUDGET, for dedupe's
    verification to reuse.
    """
    root = Path(root).resolve()
    extra = sorted({c.strip().lower() for c in extra_classes})
    listing = list_images(root, extra)
    if keep_pixels is not None and len(listing.frame) * keep_pixels**2 > PIXELS_BUDGET:
        keep_pixels = None
    frame, listing.pixels = describe_and_keep(listing.frame, root, hash_method, jobs, on_progress, backend, invalid, keep_pixels)
    frame["source"] = root.name
    meta = {"hash": hash_method, "root": str(root), "quality": invalid or "off", **({"classes": extra} if extra else {})}
    manifest = Manifest(frame=normalise_frame(frame), root=root, meta=meta)
    return manifest, listing


def unreadable_mask(frame: pd.DataFrame) -> pd.Series:
    """Rows scan marked as unreadable."""
    return frame["note"].str.startswith("unreadable:")


def unreadable_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows scan marked as unreadable, for the report."""
    return frame[unreadable_mask(frame)]


def ensure_hashes(
    manifest: Manifest,
    hash_method: str,
    jobs: int | None = None,
    on_progress: Progress | None = None,
    backend: Backend | None = None,
) -> Manifest:
    """The manifest with perceptual hashes of ``hash_method`` for every readable row.

    Hashes already in the manifest are reused when they were made with the same method,
    so re-running dedupe after scan decodes nothing.
    """
    frame = manifest.frame
    readable = ~unreadable_mask(frame)
    stale = readable if manifest.meta.get("hash", "phash") != hash_method else readable & (frame["phash"] == "")
    if stale.any():
        refreshed = describe_and_keep(frame[stale], manifest.root, hash_method, jobs, on_progress, backend)[0]
        frame = frame.copy()
        frame.loc[stale, refreshed.columns] = refreshed
    return manifest.with_frame(normalise_frame(frame), hash=hash_method)
