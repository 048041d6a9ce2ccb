"""ferclean: clean, de-duplicate, re-split and balance facial-expression image datasets.

From Python, each step is one function on a ``Manifest`` that returns a result object
(the same defaults as the CLI)::

    import ferclean
    from ferclean.dedupe import find_duplicates
    from ferclean.mislabel import review
    from ferclean.stratify import stratify

    manifest, _ = ferclean.scan_dataset("data/fer2013")
    manifest = find_duplicates(manifest, threshold=4, policy="keep-one").manifest
    manifest = review(manifest, probe="fast").manifest
    manifest = stratify(manifest, {"train": 0.8, "val": 0.1, "test": 0.1}, seed=42).manifest
    ferclean.write_manifest(manifest, "manifests/clean.csv")

The names below load on first use, so ``import ferclean`` (and the CLI's ``--help``) stays fast.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

#: public name -> module that defines it.
_API: dict[str, str] = {
    "Manifest": "ferclean.manifest",
    "read_manifest": "ferclean.manifest",
    "write_manifest": "ferclean.manifest",
    "scan_dataset": "ferclean.scan",
    "ensure_hashes": "ferclean.scan",
    "find_duplicates": "ferclean.dedupe",
    "review": "ferclean.mislabel",
    "merge_affectnet": "ferclean.affectnet.merge",
    "export_manifest": "ferclean.export",
    "FercleanError": "ferclean.errors",
    "LocalBackend": "ferclean.parallel",
    "DaskBackend": "ferclean.parallel",
}

__all__ = ["__version__", *_API]


def __getattr__(name: str) -> Any:
    if name in _API:
        return getattr(importlib.import_module(_API[name]), name)
    raise AttributeError(f"module 'ferclean' has no attribute {name!r}")
