"""Options shared by the commands, and the click ParamTypes that parse option text.

Parsing belongs here, at the edge: the core takes parsed values (a ratios dict, a number,
a dict of quotas or overrides). Errors here name the command-line flag.
"""

from __future__ import annotations

import abc
import functools
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import click
import numpy as np

from ferclean.affectnet.codes import OFFICIAL_CODES, is_unusable
from ferclean.affectnet.balance import FEASIBLE
from ferclean.affectnet.mapping import DROP, expression_key
from ferclean.dedupe.resolve import DEFAULT_THRESHOLD, MAX_THRESHOLD
from ferclean.errors import FercleanError
from ferclean.images import HASH_METHODS
from ferclean.labels import SPLITS, canonical_split, normalise_class
from ferclean.outputs import require_suffix
from ferclean.parallel import BACKENDS, open_backend

#: File types a figure can be written as (matplotlib picks the format from the suffix).
FIGURE_SUFFIXES: tuple[str, ...] = (".png", ".svg", ".pdf")

jobs_option = click.option(
    "--jobs", "-j", type=click.IntRange(min=1), default=None, help="Worker processes [default: all cores]."
)


def backend_options(command: Callable[..., None]) -> Callable[..., None]:
    """``--backend``/``--workers``/``--scheduler``, handed to ``command`` as one ``backend``
    object (with ``--jobs``), which is closed (its embedded cluster stopped) when the command ends."""

    @click.option(
        "--backend",
        "backend_name",
        type=click.Choice(BACKENDS),
        default="local",
        show_default=True,
        help="Where images are read: local processes (--jobs), or a Dask cluster (needs ferclean[dask]).",
    )
    @click.option(
        "--workers",
        type=click.IntRange(min=1),
        default=None,
        help="With --backend dask: worker processes of the embedded cluster [default: all cores].",
    )
    @click.option(
        "--scheduler",
        default=None,
        metavar="tcp://HOST:8786",
        help="With --backend dask: join this running Dask cluster instead of starting one.",
    )
    @functools.wraps(command)
    def with_backend(*args: object, backend_name: str, workers: int | None, scheduler: str | None, **kwargs: object) -> None:
        if backend_name == "local" and (workers is not None or scheduler is not None):
            flag = "--workers" if workers is not None else "--scheduler"
            raise click.UsageError(f"{flag} needs --backend dask (the local backend takes --jobs).")
        if backend_name == "dask" and kwargs.get("jobs") is not None:
            raise click.UsageError("--jobs sizes the local backend; with --backend dask use --workers.")
        if workers is not None and scheduler is not None:
            raise click.UsageError("--workers sizes an embedded cluster; leave it out with --scheduler.")
        backend = open_backend(backend_name, kwargs.get("jobs"), workers, scheduler)  # type: ignore[arg-type]
        if hasattr(backend, "close"):
            click.get_current_context().call_on_close(backend.close)
        return command(*args, backend=backend, **kwargs)

    return with_backend


classes_option = click.option(
    "--classes", default=None, metavar="A,B", help="Extra class folder names to accept besides the known emotions."
)
hash_option = click.option(
    "--hash",
    "hash_method",
    type=click.Choice(sorted(HASH_METHODS)),
    default="phash",
    show_default=True,
    help="Perceptual hash used for near-duplicate search.",
)


def _csv_name(ctx: click.Context, param: click.Parameter, value: Path | None) -> Path | None:
    if value is not None and value.suffix.lower() != ".csv":
        raise click.BadParameter(f"{value} must end in .csv (its companion .json is written beside it).")
    return value


def output_option(help_text: str = "Manifest to write, a new .csv (a companion .json is written beside it).") -> click.Option:
    return click.option(
        "--output", "-o", type=click.Path(dir_okay=False, path_type=Path), required=True, help=help_text,
        callback=_csv_name,
    )


def threshold_option(help_text: str, default: int | None = DEFAULT_THRESHOLD) -> Callable:
    """``--threshold``: one rule (0..MAX_THRESHOLD bits of a 64-bit hash) for every command that matches duplicates.

    ``default=None`` lets the command pick (dedupe's depends on --verify; ``help_text`` says how).
    """
    return click.option(
        "--threshold",
        type=click.IntRange(0, MAX_THRESHOLD),
        default=default,
        show_default=default is not None,
        help=help_text,
    )


PER_CLASS_FORM = "CLASS=N"
MAP_FORM = "EXPRESSION=CLASS or EXPRESSION=drop"


class _Parsed(click.ParamType, abc.ABC):
    """A ParamType whose parser raises FercleanError: the message (which names the flag) is
    shown as click's one-line ``Error: ...`` with exit status 1, as for every input error."""

    def convert(self, value, param, ctx):  # noqa: ANN001, ANN201 - click's own signature
        if not isinstance(value, str):
            return value
        try:
            return self.parse(value)
        except FercleanError as exc:
            raise click.ClickException(str(exc)) from None

    @abc.abstractmethod
    def parse(self, text: str):  # noqa: ANN201 - each type returns its own value
        """The option's value from its text; raise FercleanError naming the flag if it is bad."""


class Ratios(_Parsed):
    """``80/10/10`` -> ``{"train": 0.8, "val": 0.1, "test": 0.1}``."""

    name = "ratios"

    def parse(self, text: str) -> dict[str, float]:
        return parse_ratios(text)


class Target(_Parsed):
    """``max`` -> None, ``feasible`` -> FEASIBLE, ``5000`` -> 5000."""

    name = "max|feasible|N"

    def parse(self, text: str) -> int | str | None:
        return parse_target(text)


class Assignments(_Parsed):
    """``a=1,b=2`` -> ``[("a", "1"), ("b", "2")]``; the values are checked against the dataset later."""

    name = "assignments"

    def __init__(self, option: str, form: str) -> None:
        self.option, self.form = option, form

    def parse(self, text: str) -> list[tuple[str, str]]:
        return parse_assignments(text, self.option, self.form)


class FigurePath(_Parsed):
    """A figure's file name, refused unless its suffix is one the figure can be written as."""

    name = "path"

    def __init__(self, option: str) -> None:
        self.option = option

    def parse(self, text: str) -> Path:
        path = Path(text)
        require_suffix(path, FIGURE_SUFFIXES, self.option)
        return path


class Split(_Parsed):
    """Any spelling of a split (``PrivateTest``, ``validation``) -> its canonical name."""

    name = "split"

    def __init__(self, option: str) -> None:
        self.option = option

    def parse(self, text: str) -> str:
        return canonical_split(text, self.option)


def parse_ratios(text: str) -> dict[str, float]:
    """``"80/10/10"`` -> ``{"train": 0.8, "val": 0.1, "test": 0.1}``; ``"80/20"`` has no test.

    Numbers may be percentages (sum 100) or fractions (sum 1). A zero ratio leaves that
    split out, so ``"90/0/10"`` is a train/test split.
    """
    parts = [p.strip() for p in str(text).split("/")]
    if len(parts) not in (2, 3):
        raise FercleanError(f"--ratios {text!r} needs two or three numbers separated by '/', e.g. 80/10/10 or 80/20.")
    try:
        values = [float(p) for p in parts]
    except ValueError:
        raise FercleanError(f"--ratios {text!r} holds something that is not a number; e.g. 80/10/10.") from None
    if any(not np.isfinite(v) or v < 0 for v in values):
        raise FercleanError(f"--ratios {text!r} must hold non-negative numbers.")
    total = sum(values)
    if abs(total - 100) < 1e-6:
        scale = 100.0
    elif abs(total - 1) < 1e-6:
        scale = 1.0
    else:
        raise FercleanError(f"--ratios {text!r} sums to {total:g}; the numbers must sum to 100 (or to 1).")
    ratios = {split: v / scale for split, v in zip(SPLITS, values) if v > 0}
    if not ratios:
        raise FercleanError(f"--ratios {text!r} gives no split a positive share.")
    if "train" not in ratios:
        raise FercleanError(f"--ratios {text!r} gives the train split no share; a model needs training images.")
    return ratios



def parse_target(text: str | int | None) -> int | str | None:
    """``"max"`` -> None (up to the largest class), ``"feasible"`` -> FEASIBLE (the highest
    count every class can reach), ``"5000"`` -> 5000."""
    if text is None or str(text).strip().lower() == "max":
        return None
    if str(text).strip().lower() == FEASIBLE:
        return FEASIBLE
    try:
        value = int(str(text).strip())
    except ValueError:
        raise FercleanError(f"--target {text!r} must be 'max', 'feasible' or a whole number of images per class.") from None
    if value < 0:
        raise FercleanError(f"--target {text!r} must not be negative.")
    return value


def parse_per_class(text: str | Sequence[tuple[str, str]] | None, target_classes: Iterable[str]) -> dict[str, int]:
    """``"happy=0,surprise=1700"`` -> images to add per named class (others follow --target); ``text`` may be already split into pairs."""
    if not text:
        return {}
    allowed = set(target_classes)
    quotas: dict[str, int] = {}
    items = parse_assignments(text, "--per-class", "CLASS=N") if isinstance(text, str) else text
    for name, number in items:
        label = normalise_class(name, allowed)
        if label not in allowed:
            raise FercleanError(f"--per-class names {name!r}; the dataset's classes are {', '.join(sorted(allowed))}.")
        if not number.isdigit():
            raise FercleanError(f"--per-class {name}={number}: N must be a whole number >= 0.")
        quotas[label] = int(number)
    return quotas


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


def parse_map(text: str | Sequence[tuple[str, str]] | None, target_classes: Iterable[str]) -> dict[str, str]:
    """``"contempt=drop,disgust=angry"`` -> ``{"contempt": "drop", "disgust": "angry"}``.

    Keys may be any spelling of an expression (``Happiness``, ``happy``); values must be
    ``drop`` or a class the target has.
    """
    if not text:
        return {}
    allowed = set(target_classes)
    overrides: dict[str, str] = {}
    items = parse_assignments(text, "--map", MAP_FORM) if isinstance(text, str) else text
    for source, target in items:
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
        overrides[expression_key(source)] = target
    return overrides
