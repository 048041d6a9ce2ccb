"""A reviewer's decisions (or the probe's own confident suggestions) written into a manifest."""

from __future__ import annotations

import csv
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from ferclean.errors import FercleanError
from ferclean.manifest import append_note, resolve_review
from ferclean.mislabel.annotate import REASON_PREFIX

DECISIONS: tuple[str, ...] = ("keep", "relabel", "drop")
DECISION_COLUMNS: tuple[str, ...] = ("path", "decision", "new_label")


def read_decisions(csv_path: str | Path, known_paths: Iterable[str], classes: Iterable[str]) -> pd.DataFrame:
    """Rows ``path, decision, new_label`` of a decisions file, each checked against the manifest.

    Any bad line is a FercleanError naming the file and line number, so a reviewer can fix it.
    """
    csv_path = Path(csv_path)
    if not csv_path.is_file():
        raise FercleanError(f"Decisions file {csv_path} does not exist.")
    known, allowed = set(known_paths), set(classes)
    with csv_path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in ("path", "decision") if c not in (reader.fieldnames or [])]
        if missing:
            raise FercleanError(
                f"Decisions file {csv_path} lacks column(s) {', '.join(missing)}; expected {', '.join(DECISION_COLUMNS)}."
            )
        rows, seen = [], {}
        for row in reader:
            line = reader.line_num
            path = (row.get("path") or "").strip()
            decision = (row.get("decision") or "").strip().lower()
            new_label = (row.get("new_label") or "").strip().lower()
            where = f"{csv_path} line {line}"
            if path not in known:
                raise FercleanError(f"{where}: path {path!r} is not in the manifest.")
            if decision not in DECISIONS:
                raise FercleanError(f"{where}: unknown decision {decision!r}; use one of {', '.join(DECISIONS)}.")
            if decision == "relabel":
                if not new_label:
                    raise FercleanError(f"{where}: decision relabel needs a new_label.")
                if new_label not in allowed:
                    raise FercleanError(
                        f"{where}: unknown label {new_label!r}; known: {', '.join(sorted(allowed))}."
                    )
            if path in seen:
                raise FercleanError(f"{where}: path {path!r} was already decided on line {seen[path]}.")
            seen[path] = line
            rows.append({"path": path, "decision": decision, "new_label": new_label if decision == "relabel" else ""})
    return pd.DataFrame(rows, columns=list(DECISION_COLUMNS))


def apply_decisions(frame: pd.DataFrame, decisions: pd.DataFrame, source: str) -> pd.DataFrame:
    """A copy of ``frame`` with each decided path's status (and new_label) set and the reason noted.

    A person's decision resolves a ``review`` whatever raised it, but never revives a
    ``drop`` (manifest.resolve_review).
    """
    by_path = decisions.set_index("path")
    hit = frame["path"].isin(by_path.index)
    index = frame.index[hit]
    chosen = by_path.reindex(frame.loc[hit, "path"]).set_axis(index)
    reasons = "reviewed (" + source + "): " + chosen["decision"] + chosen["new_label"].map(lambda l: f" -> {l}" if l else "")
    return resolve_review(frame, index, chosen["decision"], chosen["new_label"], reasons)


def probe_only_review(frame: pd.DataFrame) -> pd.Series:
    """Rows in ``review`` only because the probe flagged them: every entry of their note is the probe's.

    A review raised by any other step (a dedupe label conflict, a tiny image...) or a row
    carrying any other note is left for a person.
    """
    entries = frame["note"].str.split("; ")
    only_probe = entries.map(lambda parts: all(p.startswith(REASON_PREFIX) for p in parts if p))
    return (frame["status"] == "review") & only_probe


def auto_relabel(frame: pd.DataFrame, min_confidence: float) -> tuple[pd.DataFrame, int]:
    """Relabel flagged rows whose suggestion has at least ``min_confidence``.

    Only reviews the probe alone raised are resolved this way (probe_only_review): a row an
    earlier step sent to review stays there. Returns the new frame and how many rows were relabelled.
    """
    needed = [c for c in ("suggested_label", "suggested_confidence") if c not in frame.columns]
    if needed:
        raise FercleanError(
            f"The manifest has no {', '.join(needed)} column(s); run mislabel-review on it first."
        )
    frame = frame.copy()
    confidence = pd.to_numeric(frame["suggested_confidence"], errors="coerce")
    chosen = (
        probe_only_review(frame)
        & (frame["suggested_label"] != "")
        & (frame["suggested_label"] != frame["label"])
        & (confidence >= min_confidence)
    )
    if not chosen.any():
        return frame, 0
    frame.loc[chosen, "status"] = "relabel"
    frame.loc[chosen, "new_label"] = frame.loc[chosen, "suggested_label"]
    reasons = "auto-relabel: probe p=" + confidence[chosen].map(lambda p: f"{p:.2f}") + f" >= {min_confidence:g}"
    frame.loc[chosen, "note"] = append_note(frame.loc[chosen, "note"], reasons)
    return frame, int(chosen.sum())
