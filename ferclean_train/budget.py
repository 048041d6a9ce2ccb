"""``--max-minutes``: how many epochs fit a wall-clock budget, from a few timed steps.

``plan_epochs`` is the pure arithmetic; ``time_training`` times a throw-away copy of the model
on the real input pipeline, so the run itself starts from untouched weights and its schedule
(sized to the planned epochs) ends inside the budget instead of being cut off mid-way.
"""

from __future__ import annotations

import math
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import keras
import tensorflow as tf

from ferclean.errors import FercleanError

#: share of the budget the plan fills: the rest absorbs the noise of a shared machine
MARGIN = 0.9
WARMUP_STEPS = 3
TIMED_STEPS = 20


@dataclass(frozen=True)
class StepTimes:
    """Measured costs: seconds per train step, per predicted image, per model save, one-off
    tracing of training and of prediction, and per image decoded from its file (the test split
    is read at the end)."""

    train_step_s: float
    predict_image_s: float
    save_s: float
    trace_s: float
    predict_trace_s: float = 0.0
    decode_image_s: float = 0.0


@dataclass(frozen=True)
class BudgetPlan:
    """The epochs planned, from the budget, the set-up already spent, the expected cost of an
    epoch and the time kept for the end of the run (tracing, test evaluation)."""

    budget_s: float
    spent_before_s: float
    epoch_s: float
    reserve_s: float
    epochs: int
    times: StepTimes

    def to_dict(self) -> dict:
        """Flat and JSON-ready, for ``model-details.json``."""
        flat = {k: v for k, v in asdict(self).items() if k != "times"} | asdict(self.times)
        return {k: round(v, 4) if isinstance(v, float) else v for k, v in flat.items()}


class _BatchClock(keras.callbacks.Callback):
    def __init__(self) -> None:
        super().__init__()
        self.ends: list[float] = []

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self.ends.append(time.perf_counter())


def time_training(
    make_model: Callable[[], keras.Model],
    train_ds: tf.data.Dataset,
    predict_ds: tf.data.Dataset,
    batch_size: int,
    decode_image_s: float = 0.0,
) -> StepTimes:
    """Time ``TIMED_STEPS`` train steps after ``WARMUP_STEPS`` (which pay the tracing), a few
    predict batches, and one save (each epoch saves ``last.keras`` and maybe the best model).

    ``make_model`` returns a compiled model like the run's; it is discarded afterwards.
    """
    model = make_model()
    clock = _BatchClock()
    started = time.perf_counter()
    model.fit(train_ds.repeat().take(WARMUP_STEPS + TIMED_STEPS), epochs=1, callbacks=[clock], shuffle=False, verbose=0)
    ends = clock.ends
    step_s = (ends[-1] - ends[WARMUP_STEPS - 1]) / (len(ends) - WARMUP_STEPS)
    trace_s = max(ends[WARMUP_STEPS - 1] - started - WARMUP_STEPS * step_s, 0.0)
    images = predict_ds.repeat().take(4)
    started = time.perf_counter()
    model.predict(images.take(1), verbose=0)  # traces
    predict_trace_s = time.perf_counter() - started
    started = time.perf_counter()
    model.predict(images, verbose=0)
    image_s = (time.perf_counter() - started) / (4 * batch_size)
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        model.save(f"{tmp}/timing.keras")
        save_s = time.perf_counter() - started
    return StepTimes(step_s, image_s, save_s, trace_s, predict_trace_s, decode_image_s)


def plan_epochs(
    budget_s: float,
    spent_s: float,
    times: StepTimes,
    steps_per_epoch: int,
    val_images: int,
    test_images: int,
    tta: bool,
    max_epochs: int,
    margin: float = MARGIN,
) -> BudgetPlan:
    """The most epochs (at most ``max_epochs``) whose training, validation and the final test
    evaluation fit in ``margin`` of the budget left after ``spent_s``; pure.

    Raises FercleanError when not even one epoch fits.
    """
    epoch_s = steps_per_epoch * times.train_step_s + val_images * times.predict_image_s + 2 * times.save_s
    # the end: tracing and running prediction on the test split, saving the model and the figures
    final_s = times.predict_trace_s + test_images * (times.predict_image_s * (2 if tta else 1) + times.decode_image_s)
    final_s += 2 * times.save_s
    # the timed copy paid the process's first tracing, which costs more than the run's own
    reserve_s = times.trace_s + final_s
    room = budget_s * margin - spent_s - reserve_s
    epochs = min(max_epochs, math.floor(room / epoch_s))
    if epochs < 1:
        needed = (spent_s + reserve_s + epoch_s) / margin / 60
        raise FercleanError(
            f"--max-minutes {budget_s / 60:g} leaves no time for one epoch on this machine: set-up took"
            f" {spent_s:.0f} s, an epoch takes about {epoch_s:.0f} s and the final evaluation {reserve_s:.0f} s"
            f" (about {needed:.1f} minutes in all); raise it or use a smaller --arch."
        )
    return BudgetPlan(budget_s, spent_s, epoch_s, reserve_s, epochs, times)


class BudgetGuard(keras.callbacks.Callback):
    """A safety net for a machine that slows down mid-run: stops before an epoch that would
    overrun the budget (the plan normally ends the run first).

    The next epoch is expected to last as long as the planned one or the last one, whichever
    is longer; the first epoch, which also pays the tracing, is not taken as typical.
    """

    def __init__(self, deadline: float, plan: BudgetPlan) -> None:
        super().__init__()
        self.deadline = deadline
        self.expected_s = plan.epoch_s
        # the run's own tracing is paid in its first epoch; the end gets half again, as it is measured once
        self.final_s = 1.5 * (plan.reserve_s - plan.times.trace_s)
        self.stopped = False
        self._epoch_started = 0.0
        self._first = True

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._epoch_started = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        now = time.perf_counter()
        last_s = 0.0 if self._first else now - self._epoch_started
        self._first = False
        is_last = epoch + 1 >= self.params.get("epochs", epoch + 1)
        if not is_last and now + max(self.expected_s, last_s) + self.final_s > self.deadline:
            self.stopped = True
            self.model.stop_training = True
