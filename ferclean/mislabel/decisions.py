"""A reviewer's decisions (or the probe's own confident suggestions) written into a manifest."""

from __future__ import annotations

import csv
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from ferclean.errors import FercleanError
from ferclean.manifest import append_note

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
    """A copy of ``frame`` with each decided path's status (and new_label) set and the reason noted."""
    frame = frame.copy()
    by_path = decisions.set_index("path")
    hit = frame["path"].isin(by_path.index)
    chosen = by_path.reindex(frame.loc[hit, "path"])
    frame.loc[hit, "status"] = chosen["decision"].to_numpy()
    frame.loc[hit, "new_label"] = chosen["new_label"].to_numpy()
    reasons = ("reviewed (" + source + "): " + chosen["decision"] + chosen["new_label"].map(lambda l: f" -> {l}" if l else "")).to_numpy()
    frame.loc[hit, "note"] = append_note(frame.loc[hit, "note"], pd.Series(reasons, index=frame.index[hit]))
    return frame


def auto_relabel(frame: pd.DataFrame, min_confidence: float) -> tuple[pd.DataFrame, int]:
    """Relabel flagged rows (status=review) whose suggestion has at least ``min_confidence``.

    Returns the new frame and how many rows were relabelled.
    """
    needed = [c for c in ("suggested_label", "suggested_confidence") if c not in frame.columns]
    if needed:
        raise FercleanError(
            f"The manifest has no {', '.join(needed)} column(s); run mislabel-review on it first."
        )
    frame = frame.copy()
    confidence = pd.to_numeric(frame["suggested_confidence"], errors="coerce")
    chosen = (
        (frame["status"] == "review")
        & (frame["suggested_label"] != "")
        & (frame["suggested_label"] != frame["label"])
        & (confidence >= min_confidence)
    )
    frame.loc[chosen, "status"] = "relabel"
    frame.loc[chosen, "new_label"] = frame.loc[chosen, "suggested_label"]
    reasons = "auto-relabel: probe p=" + confidence[chosen].map(lambda p: f"{p:.2f}") + f" >= {min_confidence:g}"
    frame.loc[chosen, "note"] = append_note(frame.loc[chosen, "note"], reasons)
    return frame, int(chosen.sum())
