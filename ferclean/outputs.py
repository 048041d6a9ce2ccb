"""Where ferclean may write, and how: the one rule that keeps source datasets and manifests safe.

Every file a command writes (manifest, companion JSON, report folder, plot, exported tree,
converted faces) goes through :func:`guard_output` first, and is written with
:func:`atomic_path` so an interrupted run never leaves half a file behind.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

from ferclean.errors import FercleanError


def real(path: str | Path) -> Path:
    """The absolute path with every symlink resolved, even where the end does not exist yet."""
    return Path(os.path.realpath(os.path.abspath(path)))


def image_roots(paths: Iterable[str | Path], root: str | Path | None = None) -> list[Path]:
    """Source folders of a set of images: every folder ``paths`` resolve into, plus ``root`` if given.

    Nested folders are folded into the outermost one so the list stays short.
    """
    parents = {os.path.dirname(os.path.abspath(p)) for p in paths}
    folders = {os.path.realpath(parent) for parent in parents}
    if root is not None:
        folders.add(os.path.realpath(root))
    outermost: list[Path] = []
    for folder in sorted(folders, key=len):
        path = Path(folder)
        if not any(path.is_relative_to(o) for o in outermost):
            outermost.append(path)
    return outermost


def guard_output(
    path: str | Path, roots: Iterable[Path] = (), inputs: Iterable[str | Path] = (), what: str = "Output"
) -> Path:
    """Refuse an output inside a source image folder or equal to an input file; return ``path``.

    ``what`` names the option (``-o``, ``--report-dir``...) in the one-line error.
    """
    target = real(path)
    for root in roots:
        if target == root or target.is_relative_to(root):
            raise FercleanError(
                f"{what} {path} lies inside the source image folder {root}; ferclean never writes into a"
                " source dataset, choose a folder outside it."
            )
    for given in inputs:
        if target == real(given):
            raise FercleanError(f"{what} {path} is the input {given} itself; give the output a new name.")
    return Path(path)


def guard_outputs(
    outputs: Mapping[str, str | Path | None], roots: Iterable[Path] = (), inputs: Iterable[str | Path] = ()
) -> None:
    """:func:`guard_output` for every named output (``{"-o": path, "--plot": path}``), and no two the same file."""
    roots, inputs = list(roots), list(inputs)
    seen: dict[Path, str] = {}
    for what, path in outputs.items():
        if path is None:
            continue
        guard_output(path, roots, inputs, what)
        key = real(path)
        if key in seen:
            raise FercleanError(f"{what} {path} is the same file as {seen[key]}; give each output its own name.")
        seen[key] = f"{what} {path}"


def require_suffix(path: Path, suffixes: tuple[str, ...], what: str) -> None:
    """Refuse a file name whose suffix is not one of ``suffixes`` (so a CSV never lands on a .json)."""
    if path.suffix.lower() not in suffixes:
        raise FercleanError(f"{what} {path} must end in {' or '.join(suffixes)}.")


@contextmanager
def atomic_path(target: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``target`` (same suffix) and rename it onto ``target`` on success.

    A crash or error leaves ``target`` as it was and removes the temporary file; a failure
    to create or write there is a FercleanError naming the path.
    """
    target = Path(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, name = tempfile.mkstemp(prefix=f".{target.stem}-", suffix=target.suffix, dir=target.parent)
        os.close(handle)
    except OSError as exc:
        raise FercleanError(f"Cannot write {target}: {exc.strerror or exc}.") from None
    temp = Path(name)
    try:
        yield temp
        os.chmod(temp, 0o666 & ~_umask())
        os.replace(temp, target)
    except OSError as exc:
        raise FercleanError(f"Cannot write {target}: {exc.strerror or exc}.") from None
    finally:
        temp.unlink(missing_ok=True)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text(target: str | Path, text: str) -> Path:
    """Atomically write ``text`` (UTF-8) to ``target``."""
    with atomic_path(target) as temp:
        temp.write_text(text, encoding="utf-8")
    return Path(target)


def write_json(target: str | Path, data: object) -> Path:
    """Atomically write ``data`` as indented JSON."""
    return write_text(target, json.dumps(data, indent=2, default=str) + "\n")


def write_csv(target: str | Path, frame: pd.DataFrame, **kwargs: object) -> Path:
    """Atomically write a table as CSV (``index=False`` unless given)."""
    kwargs.setdefault("index", False)
    with atomic_path(target) as temp:
        frame.to_csv(temp, **kwargs)
    return Path(target)
