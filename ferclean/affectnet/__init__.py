"""Bring AffectNet faces into a target dataset: read its layouts, map, convert, balance, merge.

``merge_affectnet`` is the whole step. It loads on first use, so importing a light
submodule (``ferclean.affectnet.codes``, which the CLI's shared options read) does not pull
in scikit-learn through the label check.
"""

from __future__ import annotations

from typing import Any

__all__ = ["MergeResult", "merge_affectnet"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from ferclean.affectnet import merge

        return getattr(merge, name)
    raise AttributeError(f"module 'ferclean.affectnet' has no attribute {name!r}")
