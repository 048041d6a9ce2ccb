"""Every hyper-parameter of a training run, in one dataclass that is saved with the run.

Fields left as None take the architecture's default (``models.MODEL_DEFAULTS`` and
``COMPILE_DEFAULTS``); ``resolved()`` fills them in, so a run's ``model-details.json``
records the values actually used and ``--resume`` can rebuild the same model.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from ferclean_train.hparams import COMPILE_DEFAULTS, MODEL_DEFAULTS, check_image_size, compile_hparams, model_hparams

MONITORS: tuple[str, ...] = ("val_accuracy", "val_loss")


@dataclass(frozen=True)
class TrainConfig:
    arch: str = "bpp"
    image_size: int = 48
    batch_size: int = 64
    epochs: int = 100
    seed: int = 0
    class_weights: bool = True
    val_fraction: float = 0.1
    monitor: str = "val_accuracy"
    early_stopping_patience: int = 10
    reduce_lr_factor: float = 0.5
    reduce_lr_patience: int = 5
    min_learning_rate: float = 1e-6
    mixed_precision: bool | None = None
    xla: bool | None = None
    # optimiser and loss (None: the arch's default)
    learning_rate: float | None = None
    loss: str | None = None
    focal_gamma: float | None = None
    focal_alpha: float | None = None
    label_smoothing: float | None = None
    # architecture (None: the arch's default)
    filters: tuple[int, ...] | None = None
    dropouts: tuple[float, ...] | None = None
    dense_units: int | None = None
    dense_dropout: float | None = None
    l2: float | None = None
    augment: bool | None = None
    flip: bool | None = None
    rotation: float | None = None
    zoom: float | None = None
    contrast: float | None = None

    def model_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``build_model``."""
        return {k: getattr(self, k) for k in MODEL_DEFAULTS[self.arch]}

    def compile_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``compile_model`` (bar ``jit_compile``)."""
        return {k: getattr(self, k) for k in COMPILE_DEFAULTS[self.arch]}

    def resolved(self, gpu: bool) -> TrainConfig:
        """A copy with arch defaults filled in and mixed precision/XLA decided by the device.

        Raises ValueError on an unknown arch, loss or inconsistent block settings.
        """
        if self.monitor not in MONITORS:
            raise ValueError(f"Unknown monitor {self.monitor!r}; choose one of {', '.join(MONITORS)}.")
        if not 0 < self.val_fraction < 1:
            raise ValueError(f"val_fraction must be between 0 and 1, got {self.val_fraction}.")
        model = model_hparams(self.arch, **self.model_kwargs())
        compiled = compile_hparams(self.arch, **self.compile_kwargs())
        check_image_size(self.image_size, len(model["filters"]))
        return replace(
            self,
            **model,
            **compiled,
            mixed_precision=gpu if self.mixed_precision is None else self.mixed_precision,
            xla=gpu if self.xla is None else self.xla,
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: tuples become lists."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """Inverse of ``to_dict``; keys this version does not know are ignored."""
        known = {f.name for f in fields(cls)}
        values = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items() if k in known}
        return cls(**values)
