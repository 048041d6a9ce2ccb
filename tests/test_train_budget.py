"""``--max-minutes``: the plan's arithmetic, and a budgeted run that ends inside its budget."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

pytest.importorskip("tensorflow")

from ferclean.cli import main  # noqa: E402
from ferclean.errors import FercleanError  # noqa: E402
from ferclean_train.budget import MARGIN, StepTimes, plan_epochs  # noqa: E402

TIMES = StepTimes(train_step_s=0.1, predict_image_s=0.001, save_s=0.5, trace_s=5.0, predict_trace_s=1.0, decode_image_s=0.0005)


def test_plan_fills_the_budget_left_after_set_up() -> None:
    # an epoch: 100 steps x 0.1 s + 1000 val images x 1 ms + 2 saves x 0.5 s = 12 s
    # reserve: tracing 5 + 1 s + 2000 test images x (1 ms x 2 (flip TTA) + 0.5 ms decoding) + 2 saves = 12 s
    plan = plan_epochs(600, 20, TIMES, 100, 1000, 2000, tta=True, max_epochs=100)
    assert plan.epoch_s == pytest.approx(12.0) and plan.reserve_s == pytest.approx(12.0)
    assert plan.epochs == int((600 * MARGIN - 20 - 12) // 12)
    assert plan.epochs * plan.epoch_s + plan.reserve_s + 20 <= 600 * MARGIN
    assert plan.to_dict()["predict_trace_s"] == 1.0
    assert plan_epochs(600, 20, TIMES, 100, 1000, 2000, tta=False, max_epochs=100).reserve_s == pytest.approx(10.0)
    assert plan_epochs(600, 20, TIMES, 100, 1000, 2000, tta=True, max_epochs=5).epochs == 5
    assert plan.to_dict()["train_step_s"] == 0.1 and plan.to_dict()["epochs"] == plan.epochs


def test_a_budget_too_small_for_one_epoch_is_a_clear_error() -> None:
    with pytest.raises(FercleanError, match="--max-minutes 0.5 leaves no time for one epoch"):
        plan_epochs(30, 20, TIMES, 100, 1000, 2000, tta=True, max_epochs=100)


@pytest.mark.slow
def test_max_minutes_ends_inside_its_budget_with_the_schedule_complete(tmp_path: Path, make_dataset) -> None:
    spec = {split: dict.fromkeys(("happy", "sad", "surprise", "neutral"), n) for split, n in (("train", 24), ("val", 6), ("test", 6))}
    dataset = make_dataset(tmp_path / "ds", spec)
    runs = tmp_path / "runs"
    budget_min = 1.5
    args = ["train", "-m", dataset, "--max-minutes", budget_min, "--epochs", 10_000, "--runs-dir", runs, "--jobs", 1,
            "--stem-filters", "4", "--filters", "8,16", "--dropouts", "0", "--batch-size", "16"]
    started = time.perf_counter()
    result = CliRunner().invoke(main, [str(a) for a in args])
    wall = time.perf_counter() - started
    assert result.exit_code == 0, result.output + repr(result.exception)
    details = json.loads((runs / "ds-1" / "model-details.json").read_text())
    budget = details["budget"]
    assert details["arch"] == "compact"
    # the whole command (scan and start-up included, which the budget does not count) with a generous margin
    assert wall < budget_min * 60 + 45, budget
    assert budget["finished_s_before_deadline"] > 0, budget
    assert budget["budget_s"] == 90 and budget["epochs"] == details["config"]["epochs"] < 10_000
    assert budget["epochs"] >= 2 and budget["seconds_per_epoch"] > 0
    history = pd.read_csv(runs / "ds-1" / "history.csv")
    assert budget["epochs_run"] == len(history)
    assert history["learning_rate"].max() > 0.5 * details["config"]["learning_rate"]  # it warmed up
    if budget["stopped_by_guard"]:  # the shared machine slowed down mid-run: stopped before overrunning
        assert len(history) < budget["epochs"], budget
    else:  # the planned epochs all ran, and the cosine schedule reached its final rate on the last one
        assert len(history) == budget["epochs"], budget
        assert history["learning_rate"].iloc[-1] == pytest.approx(details["config"]["min_learning_rate"])
    assert "img/s" in result.output and f"Budget 1.5 min: {budget['epochs']} epoch(s) planned" in result.output

    too_short = CliRunner().invoke(main, [str(a) for a in [*args[:4], 0.01, *args[5:]]])
    assert too_short.exit_code == 1 and "leaves no time for one epoch" in too_short.output


def test_accuracy_against_minutes_plot(tmp_path: Path) -> None:
    from PIL import Image

    from ferclean.render.plots import plot_accuracy_vs_minutes

    curve = pd.DataFrame({"minutes": [1.0, 2.0, 3.0], "val_accuracy": [0.3, 0.4, 0.5], "test_accuracy": 0.5, "finished_minutes": 3.5})
    out = plot_accuracy_vs_minutes({"compact": curve, "bpp": curve.assign(test_accuracy=0.3)}, tmp_path / "a.png", target=0.67)
    assert out == tmp_path / "a.png" and Image.open(out).size[0] > 500
