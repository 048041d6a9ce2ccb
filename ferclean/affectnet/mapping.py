"""Map AffectNet expression names onto the target dataset's classes.

By default the map is name-based (``Happiness`` -> ``happy``, ``Anger`` -> ``angry``) via
the project's class aliases; ``--map contempt=drop,disgust=angry`` overrides single
expressions. Faces whose class the target lacks are skipped and counted, never forced
into a wrong class.
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from ferclean.affectnet.codes import OFFICIAL_CODES, is_unusable
from ferclean.errors import FercleanError
from ferclean.labels import normalise_class

DROP = "drop"

UNUSABLE = "unusable code"
UNMAPPED = "unmapped class"


def parse_assignments(text: str | None, option: str, form: str) -> list[tuple[str, str]]:
    """``"a=1, b=2"`` -> ``[("a", "1"), ("b", "2")]``; an item without both sides is an error
    that names the option, the item and the ``form`` it should have."""
    pairs = []
    for item in (text or "").split(","):
        key, sep, value = (part.strip() for part in item.partition("="))
        if not sep or not key or not value:
            raise FercleanError(f"{option} item {item.strip()!r} is not {form}.")
        pairs.append((key, value))
    return pairs


def _expression_key(name: str) -> str:
    """The key overrides are matched on: the canonical class, or the lower-cased name."""
    return normalise_class(name) or name.strip().lower()


def parse_map(text: str | None, target_classes: Iterable[str]) -> dict[str, str]:
    """``"contempt=drop,disgust=angry"`` -> ``{"contempt": "drop", "disgust": "angry"}``.

    Keys may be any spelling of an expression (``Happiness``, ``happy``); values must be
    ``drop`` or a class the target has.
    """
    if not text:
        return {}
    allowed = set(target_classes)
    overrides: dict[str, str] = {}
    for source, target in parse_assignments(text, "--map", "EXPRESSION=CLASS or EXPRESSION=drop"):
        if normalise_class(source) is None and not is_unusable(source):
            raise FercleanError(
                f"--map names an unknown expression {source!r}; use an AffectNet expression such as"
                f" {', '.join(name for code, name in sorted(OFFICIAL_CODES.items()) if code < 8)}."
            )
        target = target.lower()
        if target != DROP:
            target = normalise_class(target, allowed) or target
            if target not in allowed:
                raise FercleanError(
                    f"--map sends {source} to {target!r}, which the target dataset does not have;"
                    f" use one of {', '.join(sorted(allowed))} or drop."
                )
        overrides[_expression_key(source)] = target
    return overrides


def map_expressions(names: pd.Series, target_classes: Iterable[str], overrides: dict[str, str] | None = None) -> pd.DataFrame:
    """Per name: ``label`` (target class, or "") and ``reason`` it is skipped (or "")."""
    allowed = set(target_classes)
    overrides = overrides or {}
    unique = pd.Series(names.unique())

    def one(name: str) -> tuple[str, str]:
        if is_unusable(name):
            return "", UNUSABLE
        label = overrides.get(_expression_key(name), normalise_class(name, allowed))
        if label in (None, DROP) or label not in allowed:
            return "", UNMAPPED
        return label, ""

    mapped = {name: one(name) for name in unique}
    return pd.DataFrame(
        {"label": [mapped[n][0] for n in names], "reason": [mapped[n][1] for n in names]}, index=names.index
    )
