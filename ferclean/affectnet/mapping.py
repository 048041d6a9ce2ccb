"""Map AffectNet expression names onto the target dataset's classes.

By default the map is name-based (``Happiness`` -> ``happy``, ``Anger`` -> ``angry``) via
the project's class aliases; overrides such as ``{"contempt": "drop", "disgust": "angry"}``
(the CLI's ``--map``) change single expressions. Faces whose class the target lacks are skipped and counted, never forced
into a wrong class.
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from ferclean.affectnet.codes import is_unusable
from ferclean.labels import normalise_class

DROP = "drop"

UNUSABLE = "unusable code"
UNMAPPED = "unmapped class"


def expression_key(name: str) -> str:
    """The key overrides are matched on: the canonical class, or the lower-cased name."""
    return normalise_class(name) or name.strip().lower()


def map_expressions(names: pd.Series, target_classes: Iterable[str], overrides: dict[str, str] | None = None) -> pd.DataFrame:
    """Per name: ``label`` (target class, or "") and ``reason`` it is skipped (or "")."""
    allowed = set(target_classes)
    overrides = overrides or {}
    unique = pd.Series(names.unique())

    def one(name: str) -> tuple[str, str]:
        if is_unusable(name):
            return "", UNUSABLE
        label = overrides.get(expression_key(name), normalise_class(name, allowed))
        if label in (None, DROP) or label not in allowed:
            return "", UNMAPPED
        return label, ""

    mapped = {name: one(name) for name in unique}
    return pd.DataFrame(
        {"label": [mapped[n][0] for n in names], "reason": [mapped[n][1] for n in names]}, index=names.index
    )
