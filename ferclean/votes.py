"""Annotator vote files (FER+ style): one row per image, one count column per class.

A vote file gives each image a label that does not depend on one annotator: the class that
more than half of the annotators chose. Images without such a majority are left out of any
score computed against the votes, and counted, rather than guessed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ferclean.errors import FercleanError

#: FER+ vote columns of the seven FER2013 classes, and the class each one counts for.
VOTE_CLASSES: dict[str, str] = {
    "anger": "angry",
    "disgust": "disgust",
    "fear": "fear",
    "happiness": "happy",
    "sadness": "sad",
    "surprise": "surprise",
    "neutral": "neutral",
}

#: Columns that count towards the number of annotators but name no FER2013 class.
OTHER_VOTES: tuple[str, ...] = ("contempt", "unknown", "NF")


@dataclass(frozen=True)
class TruthMatch:
    """Vote-majority labels aligned to a manifest's rows ('' where there is none)."""

    labels: pd.Series
    rows: int
    without_votes: int
    without_majority: int

    @property
    def labelled(self) -> int:
        return self.rows - self.without_votes - self.without_majority


def read_votes(csv_path: str | Path) -> pd.DataFrame:
    """Read a vote file: ``path`` plus the seven class columns (others optional), counts >= 0."""
    csv_path = Path(csv_path)
    if not csv_path.is_file():
        raise FercleanError(f"Vote file {csv_path} does not exist.")
    try:
        votes = pd.read_csv(csv_path, dtype={"path": str})
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise FercleanError(f"Vote file {csv_path} is not a readable CSV: {exc}".splitlines()[0]) from exc
    missing = [c for c in ("path", *VOTE_CLASSES) if c not in votes.columns]
    if missing:
        raise FercleanError(f"Vote file {csv_path} lacks column(s) {', '.join(missing)}.")
    counts = votes[[c for c in (*VOTE_CLASSES, *OTHER_VOTES) if c in votes.columns]]
    numeric = counts.apply(pd.to_numeric, errors="coerce")
    bad = numeric.isna().any(axis=1) | (numeric < 0).any(axis=1) | (numeric % 1 != 0).any(axis=1)
    if bad.any():
        line = int(bad.to_numpy().argmax()) + 2
        raise FercleanError(f"Vote file {csv_path} line {line}: vote counts must be whole numbers >= 0.")
    if votes["path"].duplicated().any():
        raise FercleanError(f"Vote file {csv_path} lists {votes['path'][votes['path'].duplicated()].iloc[0]} twice.")
    votes[numeric.columns] = numeric.astype(int)
    return votes


def majority_labels(votes: pd.DataFrame) -> pd.Series:
    """Each image's class when one of the seven has more than half of all votes, else ''.

    All vote columns count towards the total (contempt, unknown and not-a-face included), so
    an image most annotators could not place has no majority.
    """
    classes = list(VOTE_CLASSES)
    counts = votes[classes].to_numpy()
    total = votes[[c for c in (*classes, *OTHER_VOTES) if c in votes.columns]].to_numpy().sum(axis=1)
    top = counts.argmax(axis=1)
    clear = counts[np.arange(len(votes)), top] * 2 > total
    names = np.array([VOTE_CLASSES[c] for c in classes], dtype=object)
    return pd.Series(np.where(clear, names[top], ""), index=votes.index, dtype=str)


def match_votes(paths: pd.Series, votes: pd.DataFrame) -> TruthMatch:
    """Majority labels for manifest ``paths``: matched on the relative path, else on the file name.

    File names are used only when the vote file's names are unique, so a folder scanned from
    another root still finds its votes without ever matching the wrong image.
    """
    majority = pd.Series(majority_labels(votes).to_numpy(), index=votes["path"].to_numpy())
    found = paths.map(majority)
    names = votes["path"].map(lambda p: Path(p).name)
    if found.isna().any() and not names.duplicated().any():
        by_name = pd.Series(majority.to_numpy(), index=names.to_numpy())
        found = found.fillna(paths.map(lambda p: Path(p).name).map(by_name))
    without_votes = int(found.isna().sum())
    labels = found.fillna("").astype(str)
    return TruthMatch(
        labels=labels,
        rows=len(paths),
        without_votes=without_votes,
        without_majority=int((labels == "").sum()) - without_votes,
    )
