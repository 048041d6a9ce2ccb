"""``ferclean report``: one self-contained HTML page of a dataset's health.

Built from a manifest, its companion JSON and the report folders the commands wrote beside
it (``<stem>_scan/``, ``<stem>_dedupe/``, ``<stem>_review/``), plus training runs. Sections:
overview, duplicates, suspect labels, invalid images, AffectNet merge, training runs; a part
that is missing is left out with a one-line note.

``write_report(manifest_path, out_path, runs=None)`` is the whole step; ``build_report``
returns the page without writing it; ``write_report_of`` pages a manifest still in memory (the
last step of ``ferclean clean``, whose outputs land together when it ends).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path


from ferclean.labels import class_order
from ferclean.manifest import Manifest, companion_path, effective_labels
from ferclean.mislabel.saved_probs import SavedProbs
from ferclean.outputs import guard_output, require_suffix, write_text
from ferclean.parallel import Progress, no_progress
from ferclean.report import data
from ferclean.report import sections as parts
from ferclean.report.load import Inputs, gather, thumbnails
from ferclean.report.page import Page, esc, num, render

__all__ = ["Report", "build_report", "write_report", "write_report_of"]


@dataclass
class Report:
    """The page and what it holds: faces per section, notes of the parts left out."""

    html: str
    faces: dict[str, int]
    titles: dict[str, str]
    notes: list[str]


def build_report(
    manifest_path: str | Path,
    runs: str | Path | None = None,
    *,
    folders: Mapping[str, Path] | None = None,
    top: int = data.TOP_SUSPECTS,
    link_from: str | Path | None = None,
    on_progress: Progress = no_progress,
) -> Report:
    """The report page of ``manifest_path`` (and the training runs in ``runs``).

    ``folders``: report folders by kind (``scan``, ``dedupe``, ``review``) where they are not
    ``<stem>_<kind>/`` beside this manifest or an earlier one of its history; ``top``: suspect
    labels shown; ``link_from``: the folder the page will be written to, so
    its link to the review page is relative (absolute when None).
    """
    return _build(gather(manifest_path, runs, folders), top, link_from, on_progress)


def _build(inputs: Inputs, top: int, link_from: str | Path | None, on_progress: Progress) -> Report:
    """The page of what ``gather`` read."""
    frame = inputs.manifest.frame
    on_progress("Choosing what to show", 0, 1)
    groups = data.duplicate_groups(frame)
    members = data.group_members(frame, groups.index) if len(groups) else {}
    suspects = data.suspects(frame, top)
    invalid = data.invalid_by_reason(frame)
    added = data.affectnet_added(frame)
    paths = [row[0] for rows in members.values() for row in rows]
    paths += list(suspects["path"]) + [p for *_, rows in invalid for p in rows["path"]] + [p for rows in added.values() for p in rows["path"]]
    on_progress("Choosing what to show", 1, 1)
    thumbs = thumbnails(inputs.manifest, paths, on_progress)
    link_base = Path(link_from) if link_from is not None else None
    sections = [
        parts.overview(inputs),
        parts.duplicates(frame, groups, members, thumbs, inputs),
        parts.suspects(frame, suspects, thumbs, inputs, link_base),
        parts.invalid(frame, invalid, thumbs, inputs),
        parts.affectnet(inputs, added, thumbs),
        parts.runs(inputs),
    ]
    sections = [s for s in sections if s is not None]
    labels = effective_labels(frame)
    page = Page(
        title=f"ferclean report: {inputs.manifest_path.name}",
        subtitle=(
            f"{num(len(frame))} images in {esc(inputs.manifest_path)} (root {esc(inputs.manifest.root)}),"
            f" {num((frame['status'] != 'drop').sum())} kept; manifest written {inputs.written['manifest']}."
        ),
        classes=class_order(set(labels) | set(frame["label"])),
        splits=data.split_order(set(frame["split"]) - {""}),
        notes=inputs.notes,
    )
    return Report(render(page, sections), {s.id: s.faces for s in sections}, {s.id: s.title for s in sections}, inputs.notes)


def write_report(
    manifest_path: str | Path,
    out_path: str | Path,
    runs: str | Path | None = None,
    *,
    folders: Mapping[str, Path] | None = None,
    top: int = data.TOP_SUSPECTS,
    on_progress: Progress = no_progress,
) -> Report:
    """Build the report of ``manifest_path`` and write it to ``out_path`` (an ``.html`` file
    outside the source images, not the manifest itself); nothing is written on an error."""
    out_path = Path(out_path)
    require_suffix(out_path, (".html", ".htm"), "-o")
    manifest_path = Path(manifest_path)
    guard_output(out_path, (), (manifest_path, companion_path(manifest_path)), "-o")
    inputs = gather(manifest_path, runs, folders)
    guard_output(out_path, inputs.manifest.source_roots(), (), "-o")
    report = _build(inputs, top, out_path.parent, on_progress)
    write_text(out_path, report.html)
    return report


def write_report_of(
    manifest: Manifest,
    manifest_path: str | Path,
    out_path: str | Path,
    *,
    folders: Mapping[str, Path],
    probs: SavedProbs | None = None,
    top: int = data.TOP_SUSPECTS,
    on_progress: Progress = no_progress,
) -> Report:
    """:func:`write_report` of ``manifest`` as it will be written to ``manifest_path``, with its
    report ``folders`` and the probe's ``probs`` from memory: a command that writes all of them
    (``ferclean clean``) pages them before any has landed."""
    out_path = Path(out_path)
    require_suffix(out_path, (".html", ".htm"), "-o")
    guard_output(out_path, manifest.source_roots(), (), "-o")
    now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    inputs = Inputs(manifest, Path(manifest_path), folders=dict(folders), probs=probs,
                    written={kind: now for kind in ("manifest", *folders)})
    if probs is None and "label_quality" in manifest.frame:
        inputs.notes.append("Probe bars left out: the probe's probabilities were not given.")
    report = _build(inputs, top, out_path.parent, on_progress)
    write_text(out_path, report.html)
    return report
