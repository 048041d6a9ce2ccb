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
#: every per-architecture hyper-parameter name
_ARCH_KEYS = {k for defaults in (*MODEL_DEFAULTS.values(), *COMPILE_DEFAULTS.values()) for k in defaults}


@dataclass(frozen=True)
class TrainConfig:
    arch: str = "bpp"
    image_size: int = 48
    batch_size: int = 64
    epochs: int = 100
    seed: int = 0
    class_weights: bool | None = None
    val_fraction: float = 0.1
    monitor: str = "val_accuracy"
    early_stopping_patience: int = 10
    reduce_lr_factor: float = 0.5
    reduce_lr_patience: int = 5
    min_learning_rate: float = 1e-6
    mixed_precision: bool | None = None
    xla: bool | None = None
    #: wall-clock budget: the epochs (and a cosine schedule) are sized to end inside it
    max_minutes: float | None = None
    #: mixup Beta(alpha, alpha) on training batches; 0 is off
    mixup: float = 0.0
    #: learn from a manifest's ``soft_label`` column (``ferclean clean``) where it has one, blended
    #: with the label: (1 - soft_weight) * label + soft_weight * soft_label
    soft_labels: bool = True
    soft_weight: float = 0.7
    #: average the predictions of each image and its mirror at evaluation (None: when flips augment)
    tta: bool | None = None
    # optimiser and loss (None: the arch's default)
    learning_rate: float | None = None
    loss: str | None = None
    focal_gamma: float | None = None
    focal_alpha: float | None = None
    label_smoothing: float | None = None
    schedule: str | None = None
    weight_decay: float | None = None
    warmup_fraction: float | None = None
    # architecture (None: the arch's default)
    filters: tuple[int, ...] | None = None
    stem_filters: tuple[int, ...] | None = None
    residual: bool | None = None
    dropouts: tuple[float, ...] | None = None
    dense_units: int | None = None
    dense_dropout: float | None = None
    l2: float | None = None
    augment: bool | None = None
    flip: bool | None = None
    rotation: float | None = None
    zoom: float | None = None
    translation: float | None = None
    contrast: float | None = None

    def soft_label_weight(self) -> float:
        """The weight a ``soft_label`` column gets in the training targets (0: labels alone)."""
        return self.soft_weight if self.soft_labels else 0.0

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
        if self.max_minutes is not None and self.max_minutes <= 0:
            raise ValueError(f"max_minutes must be positive, got {self.max_minutes}.")
        if self.mixup < 0:
            raise ValueError(f"mixup must be >= 0, got {self.mixup}.")
        if not 0 <= self.soft_weight <= 1:
            raise ValueError(f"soft_weight must be between 0 and 1, got {self.soft_weight}.")
        for key in _ARCH_KEYS - set(MODEL_DEFAULTS[self.arch]) - set(COMPILE_DEFAULTS[self.arch]):
            if getattr(self, key) is not None:
                raise ValueError(f"--{key.replace('_', '-')} does not apply to --arch {self.arch}.")
        model = model_hparams(self.arch, **self.model_kwargs())
        compiled = compile_hparams(self.arch, **self.compile_kwargs())
        check_image_size(self.image_size, len(model["filters"]))
        return replace(
            self,
            **model,
            **compiled,
            # the compact recipe optimises accuracy, which class balancing trades for macro-F1
            class_weights=self.arch != "compact" if self.class_weights is None else self.class_weights,
            tta=bool(model["augment"] and model["flip"]) if self.tta is None else self.tta,
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
