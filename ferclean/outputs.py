"""Where ferclean may write, and how: the one rule that keeps source datasets and manifests safe.

Every file a command writes (manifest, companion JSON, report folder, plot, exported tree,
converted faces) goes through :func:`guard_output` first, and is written with
:func:`atomic_path` so an interrupted run never leaves half a file behind.

The CLI runs each command inside an :func:`output_session`, and each command claims its
outputs (:func:`claim`): a claim takes a lock beside the output, so a second run writing the
same manifest or folder is refused, and registers the folder, so that no write under it goes
through a symlink leading outside it. Inside a session the files of a claimed output are
renamed into place together when the command succeeds (:func:`commit`), with SIGINT and SIGTERM
held back for those few renames: an interrupted or failed command leaves the previous outputs,
a finished one the complete new ones. Checkpoints (``immediate``) land at once.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import signal
import socket
import stat
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ferclean.errors import FercleanError

if TYPE_CHECKING:  # pandas loads with the first table written: the CLI's entry stays light
    import pandas as pd

#: Marks ferclean's temporary files (``.<stem>.ferclean-<pid>-<random><suffix>``), so those of a
#: killed run can be recognised and swept by the next one.
TEMP_MARK = ".ferclean-"


def real(path: str | Path) -> Path:
    """The absolute path with every symlink resolved, even where the end does not exist yet."""
    return Path(os.path.realpath(os.path.abspath(path)))


def image_roots(paths: Iterable[str | Path], root: str | Path | None = None) -> list[Path]:
    """Source folders of a set of images: every folder ``paths`` resolve into, plus ``root`` if given.

    Nested folders are folded into the outermost one so the list stays short.
    """
    parents = {os.path.dirname(p) for p in paths}  # a few folders for many images: resolve each once
    folders = {os.path.realpath(os.path.abspath(parent)) for parent in parents}
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


def check_inside(folder: str | Path, target: str | Path, what: str = "Output folder") -> None:
    """Refuse ``target`` (a file or folder under ``folder``) whose real place is outside ``folder``.

    Every component between the two is resolved, so a symlink inside the output tree that leads
    elsewhere (to another dataset, a home folder) is named and refused, never written through.
    A symlink at ``target`` itself is not followed by ferclean's writes (they replace it).
    """
    folder, target = Path(os.path.abspath(folder)), Path(os.path.abspath(target))
    top = real(folder)
    current = folder
    for part in target.parent.relative_to(folder).parts:
        current = current / part
        if os.path.islink(current) and not real(current).is_relative_to(top):
            raise FercleanError(
                f"{what} {folder} holds a symlink {current} -> {os.readlink(current)} that leads outside it;"
                " ferclean never writes through it: remove the link or choose another folder."
            )


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# --- locks -----------------------------------------------------------------------------------


def lock_path(output: str | Path) -> Path:
    """``manifests/x.csv`` -> ``manifests/x.csv.lock``; ``reports/x_review`` -> ``reports/x_review.lock``."""
    output = Path(os.path.abspath(output))
    return output.with_name(output.name + ".lock")


def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (Linux), to tell a reused pid apart."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def pid_alive(pid: int, started: str | None = None) -> bool:
    """Whether process ``pid`` runs on this machine (and is the one that started at ``started``)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return started is None or _start_time(pid) in (None, started)


def _holder() -> dict:
    return {"pid": os.getpid(), "host": socket.gethostname(), "started": _start_time(os.getpid())}


def _read_lock(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {}


def _stale(holder: dict) -> bool:
    """A lock whose process is gone (on this machine); a lock from another host is never stale."""
    if holder.get("host") != socket.gethostname() or not isinstance(holder.get("pid"), int):
        return False
    return not pid_alive(holder["pid"], holder.get("started"))


def acquire_lock(output: str | Path, what: str) -> tuple[Path, dict | None]:
    """Create ``output``'s lock file for this process; return it and the stale holder it replaced.

    A live holder is refused with one line; a dead one's lock (a killed run) is taken over.
    """
    path = lock_path(output)
    me = _holder()
    for _ in range(5):
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            handle = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            holder = _read_lock(path)
            if holder is None:
                continue  # released meanwhile
            if holder == me:
                return path, None
            if not _stale(holder):
                who = f"pid {holder.get('pid', '?')}" + (f" on {holder['host']}" if holder.get("host") else "")
                raise FercleanError(
                    f"{what} {output} is being written by another ferclean run ({who}); wait for it to finish,"
                    f" or delete {path} if that run is gone."
                ) from None
            # Move the stale lock aside and check it is still the one judged dead before dropping it.
            aside = path.with_name(f"{path.name}.{os.getpid()}.stale")
            try:
                os.rename(path, aside)
            except FileNotFoundError:
                continue
            if _read_lock(aside) == holder:
                aside.unlink(missing_ok=True)
                stale = holder
            else:  # another run took it over first: put its lock back
                try:
                    os.link(aside, path)
                finally:
                    aside.unlink(missing_ok=True)
                continue
            try:
                handle = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                continue
            _write_lock(handle, me)
            return path, stale
        except OSError as exc:
            raise FercleanError(f"Cannot write {path}: {exc.strerror or exc}.") from None
        _write_lock(handle, me)
        return path, None
    raise FercleanError(f"{what} {output}: could not take its lock {path}; try again.")


def _write_lock(handle: int, holder: dict) -> None:
    with os.fdopen(handle, "w") as out:
        out.write(json.dumps(holder))


def release_lock(path: Path) -> None:
    """Remove a lock this process holds (never another's)."""
    if _read_lock(path) == _holder():
        path.unlink(missing_ok=True)


def sweep_temporaries(output: str | Path) -> int:
    """Remove temporary files left under ``output`` (or beside it, for a file) by dead runs; return how many."""
    output = Path(output)
    if output.is_dir():
        candidates = output.rglob(f".*{TEMP_MARK}*")
    else:
        candidates = output.parent.glob(f".{output.stem}{TEMP_MARK}*") if output.parent.is_dir() else []
    removed = 0
    for temp in list(candidates):
        pid = temp.name.split(TEMP_MARK, 1)[1].split("-", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and not pid_alive(int(pid)):
            temp.unlink(missing_ok=True)
            removed += 1
    return removed


# --- the session the CLI opens around one command ----------------------------------------------


@dataclass
class Session:
    """One command's claimed outputs, its locks, and the files waiting to be renamed into place."""

    pid: int = field(default_factory=os.getpid)
    #: claimed output -> (what names it, its files wait for the commit)
    claims: dict[Path, tuple[str, bool]] = field(default_factory=dict)
    locks: list[Path] = field(default_factory=list)
    pending: dict[Path, Path] = field(default_factory=dict)
    created: list[Path] = field(default_factory=list)
    #: What an interrupted run should be resumed with (``--resume runs/x-1``), when it can be.
    resume_hint: str | None = None
    #: Lines for the user about what a claim found (a stale lock taken over).
    notes: list[str] = field(default_factory=list)
    #: Files to delete once the outputs are in place (checkpoints the new outputs make obsolete).
    obsolete: list[Path] = field(default_factory=list)
    #: Whether the outputs were renamed into place (an interrupt after that loses nothing).
    committed: bool = False
    #: Signals that arrived while outputs were being renamed into place, delivered afterwards.
    held_signals: list[int] | None = None


_session: Session | None = None


def current_session() -> Session | None:
    """The session of the command running in this process (None in a worker or from Python)."""
    return _session if _session is not None and _session.pid == os.getpid() else None


@contextmanager
def output_session() -> Iterator[Session]:
    """Run a command's writes as one unit: commit on success, roll back otherwise, release the locks."""
    global _session
    session = _session = Session()
    try:
        yield session
        commit(session)
    finally:
        try:
            rollback(session)
        finally:
            for lock in reversed(session.locks):
                release_lock(lock)
            _session = None


def claim(output: str | Path, what: str, deferred: bool = True, companions: Iterable[str | Path] = ()) -> Path:
    """Lock ``output`` (a manifest or a folder) for this command and check writes under it.

    ``deferred``: its files are renamed into place together at the end (:func:`commit`);
    otherwise each lands as soon as it is written (checkpoints, faces read back later).
    ``companions`` are files that go with it under the same lock (a manifest's .json).
    Outside a session (from Python) this does nothing.
    """
    session = current_session()
    key = Path(os.path.abspath(output))
    if session is None or key in session.claims:
        return Path(output)
    lock, stale = acquire_lock(output, what)
    session.locks.append(lock)
    session.claims[key] = (what, deferred)
    for companion in companions:
        session.claims[Path(os.path.abspath(companion))] = (what, deferred)
    if stale is not None:
        swept = sweep_temporaries(output)
        session.notes.append(
            f"Took over the lock of {what} {output} from a run that is gone (pid {stale.get('pid')})"
            + (f"; removed its {swept} temporary file(s)." if swept else ".")
        )
    return Path(output)


def _claim_of(target: Path) -> tuple[Path, str, bool] | None:
    session = current_session()
    if session is None:
        return None
    for output, (what, deferred) in session.claims.items():
        if target == output or target.is_relative_to(output):
            return output, what, deferred
    return None


@contextmanager
def holding_signals() -> Iterator[None]:
    """Hold SIGINT and SIGTERM back (the CLI's handler asks :func:`hold_signal`) for a few renames."""
    session = current_session()
    if session is None:
        yield
        return
    session.held_signals = []
    try:
        yield
    finally:
        held, session.held_signals = session.held_signals, None
        if held:
            signal.raise_signal(held[0])


def hold_signal(signum: int) -> bool:
    """True (and the signal kept for later) while outputs are being renamed into place."""
    session = current_session()
    if session is None or session.held_signals is None:
        return False
    session.held_signals.append(signum)
    return True


def commit(session: Session | None = None) -> None:
    """Rename every waiting file onto its target, with interrupts held back meanwhile."""
    session = session or current_session()
    if session is None:
        return
    with holding_signals():
        for target, temp in list(session.pending.items()):
            try:
                os.replace(temp, target)
            except OSError as exc:
                raise FercleanError(f"Cannot write {target}: {exc.strerror or exc}.") from None
            del session.pending[target]
        session.created.clear()
        session.committed = True
        for path in session.obsolete:
            path.unlink(missing_ok=True)


def will_exist(path: str | Path) -> bool:
    """Whether ``path`` is a file, or one this command wrote and renames into place when it commits
    (a page linking to a file written beside it in the same command)."""
    session = current_session()
    key = os.path.abspath(path)
    return Path(path).is_file() or (session is not None and any(os.path.abspath(t) == key for t in session.pending))


def discard(path: str | Path) -> None:
    """Delete ``path`` once the command's outputs are in place (at once outside a session), so an
    interrupt before that still finds it (a checkpoint the new report replaces)."""
    session = current_session()
    if session is None:
        Path(path).unlink(missing_ok=True)
    else:
        session.obsolete.append(Path(path))


def rollback(session: Session) -> None:
    """Remove waiting files, and folders this command created that stayed empty."""
    for temp in session.pending.values():
        temp.unlink(missing_ok=True)
    session.pending.clear()
    for folder in sorted(session.created, key=lambda p: len(p.parts), reverse=True):
        try:
            folder.rmdir()
        except OSError:
            pass
    session.created.clear()


def _make_parent(target: Path) -> None:
    """Create ``target``'s folder, noting (in a session) which folders are new."""
    session = current_session()
    missing = [p for p in [target.parent, *target.parent.parents] if not p.exists()]
    target.parent.mkdir(parents=True, exist_ok=True)
    if session is not None:
        session.created.extend(missing)


@contextmanager
def atomic_path(target: str | Path, immediate: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``target`` (same suffix) and rename it onto ``target`` on success.

    A crash or error leaves ``target`` as it was and removes the temporary file; a failure
    to create or write there is a FercleanError naming the path. Under a claimed output of
    the running session the target is first checked to lie inside it (:func:`check_inside`),
    and, unless ``immediate``, renamed only when the command commits.
    """
    target = Path(target)
    owner = _claim_of(Path(os.path.abspath(target)))
    if owner is not None and owner[0] != Path(os.path.abspath(target)):
        check_inside(owner[0], target, owner[1])
    try:
        _make_parent(target)
        handle, name = tempfile.mkstemp(
            prefix=f".{target.stem}{TEMP_MARK}{os.getpid()}-", suffix=target.suffix, dir=target.parent
        )
        os.close(handle)
    except OSError as exc:
        raise FercleanError(f"Cannot write {target}: {exc.strerror or exc}.") from None
    temp = Path(name)
    keep = False
    try:
        yield temp
        made = os.lstat(temp)
        if stat.S_ISREG(made.st_mode) and made.st_nlink == 1:  # never a link's source image
            os.chmod(temp, 0o666 & ~_umask())
        session = current_session()
        if owner is not None and owner[2] and not immediate and session is not None:
            earlier = session.pending.pop(target, None)
            if earlier is not None:
                earlier.unlink(missing_ok=True)
            session.pending[target] = temp
            keep = True
        else:
            os.replace(temp, target)
    except OSError as exc:
        raise FercleanError(f"Cannot write {target}: {exc.strerror or exc}.") from None
    finally:
        if not keep:
            temp.unlink(missing_ok=True)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text(target: str | Path, text: str, immediate: bool = False) -> Path:
    """Atomically write ``text`` (UTF-8) to ``target``."""
    with atomic_path(target, immediate) as temp:
        temp.write_text(text, encoding="utf-8")
    return Path(target)


def write_json(target: str | Path, data: object) -> Path:
    """Atomically write ``data`` as indented JSON."""
    return write_text(target, json.dumps(data, indent=2, default=str) + "\n")


def write_csv(target: str | Path, frame: pd.DataFrame, index: bool = False, index_label: str | None = None) -> Path:
    """Atomically write a table as CSV (:func:`csv_chunks`), with its index first when ``index``."""
    if index:
        frame = frame.rename_axis(index_label if index_label is not None else frame.index.name).reset_index()
    with atomic_path(target) as temp, open(temp, "w", encoding="utf-8") as file:
        file.writelines(csv_chunks(frame))
    return Path(target)


#: Rows formatted at a time: a million-row table is never held as strings whole.
CSV_CHUNK_ROWS = 50_000


def csv_chunks(frame: pd.DataFrame) -> Iterator[str]:
    """``frame.to_csv(index=False)``, byte for byte, in pieces of CSV_CHUNK_ROWS rows, in a fraction
    of its time where every column holds text, numbers or booleans (a dedupe's 255,000 candidate
    pairs: 0.37 s against 0.6 s); other tables go to pandas whole. Each column is formatted as
    pandas formats it (missing values empty); rows are joined directly unless a field needs
    quoting, which the csv module then does, as in pandas."""
    if not frame.shape[1] or not all(_csv_ready(frame.iloc[:, k]) for k in range(frame.shape[1])):
        yield frame.to_csv(index=False)
        return
    yield _csv_lines([[str(name)] for name in frame.columns])
    for start in range(0, len(frame), CSV_CHUNK_ROWS):
        rows = frame.iloc[start : start + CSV_CHUNK_ROWS]
        yield _csv_lines([_csv_fields(rows.iloc[:, k]) for k in range(rows.shape[1])])


def csv_text(frame: pd.DataFrame) -> str:
    """The whole of :func:`csv_chunks`."""
    return "".join(csv_chunks(frame))


def _csv_ready(column: pd.Series) -> bool:
    """Whether :func:`_csv_fields` formats this column as pandas would: numbers, booleans, text."""
    import numpy as np
    import pandas as pd

    dtype = column.dtype
    if isinstance(dtype, (pd.StringDtype, pd.Int64Dtype)):
        return True
    if not isinstance(dtype, np.dtype):
        return False
    return dtype.kind in "iubf" or (dtype.kind == "O" and pd.api.types.infer_dtype(column) in ("string", "empty"))


def _csv_fields(column: pd.Series) -> list[str]:
    """A :func:`_csv_ready` column's fields as ``to_csv`` writes them."""
    import numpy as np
    import pandas as pd

    values, missing = column.to_numpy(), column.isna().to_numpy()
    if isinstance(column.dtype, pd.Int64Dtype):
        text = np.full(len(values), "", dtype=object)
        text[~missing] = [str(v) for v in column.to_numpy(dtype=object)[~missing]]  # to_numpy() would give floats
    elif column.dtype.kind in "iub" or column.dtype == np.float64:
        text = np.array(list(map(repr, values.tolist())), dtype=object)  # Python's float repr is numpy's
    elif column.dtype.kind == "f":
        text = values.astype(str)  # numpy's shortest round-trip repr of float32 and float16, as in pandas
    else:
        text = values.astype(object)
    return np.where(missing, "", text).tolist() if missing.any() else text.tolist()


def _csv_lines(columns: list[list[str]]) -> str:
    """Rows of fields (given column by column) as CSV lines: joined, or through the csv module where a
    field needs quoting or a lone field may be empty (the csv module quotes an empty line)."""
    if len(columns) > 1 and not any(_needs_quotes(fields) for fields in columns):
        return "".join(",".join(row) + "\n" for row in zip(*columns))
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(zip(*columns))
    return buffer.getvalue()


def _needs_quotes(fields: list[str]) -> bool:
    """Whether any field holds a character that CSV quotes."""
    joined = "\x00".join(fields)
    return any(char in joined for char in (",", '"', "\n", "\r"))
