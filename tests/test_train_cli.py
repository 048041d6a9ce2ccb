"""``ferclean train|evaluate|predict`` end to end on small generated datasets (CPU)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from ferclean.cli import main
from ferclean.manifest import read_manifest, write_manifest

pytest.importorskip("tensorflow")

CLASSES = ("happy", "sad", "surprise", "neutral")
#: A small network so that the tests of resume, folds and determinism stay quick.
TINY = ["--arch", "bpp", "--filters", "4,8", "--dropouts", "0.1,0.1", "--dense-units", "8", "--batch-size", "16"]


def _dataset(make_dataset, root: Path, train: int = 40, val: int = 10, test: int = 10) -> Path:
    spec = {"train": dict.fromkeys(CLASSES, train), "val": dict.fromkeys(CLASSES, val), "test": dict.fromkeys(CLASSES, test)}
    return make_dataset(root, {split: counts for split, counts in spec.items() if sum(counts.values())})


def _scan(dataset: Path, out: Path) -> Path:
    result = CliRunner().invoke(main, ["scan", str(dataset), "-o", str(out), "--jobs", "1"])
    assert result.exit_code == 0, result.output
    return out


def _invoke(*args: str) -> str:
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result.output


def _fails(*args: str) -> str:
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert result.output.startswith("Error: ") or "\nError: " in result.output
    return result.output


@pytest.mark.slow
def test_smoke_train_evaluate_predict(tmp_path: Path, make_dataset) -> None:
    """The CI smoke test: the CPU default (compact), 2 epochs, then every file and figure must agree."""
    manifest = _scan(_dataset(make_dataset, tmp_path / "ds"), tmp_path / "m.csv")
    runs = tmp_path / "runs"
    output = _invoke("train", "-m", manifest, "--epochs", 2, "--runs-dir", runs)
    run = runs / "m-1"
    assert "Test split of m-1" in output
    for name in ("model-details.json", "model.keras", "history.csv", "curves.png", "metrics.json",
                 "classification_report.txt", "confusion_matrix.png", "confusion_matrix.csv", "predictions.csv"):
        assert (run / name).is_file(), name

    details = json.loads((run / "model-details.json").read_text())
    assert details["classes"] == list(CLASSES)
    assert details["arch"] == "compact" and details["config"]["schedule"] == "cosine"
    assert details["config"]["learning_rate"] == 3e-3 and details["config"]["filters"] == [64, 128, 256]
    assert details["config"]["tta"] and not details["config"]["class_weights"]
    assert details["manifest"]["images"] == {"train": 160, "val": 40, "test": 40}
    assert len(details["manifest"]["sha256"]) == 64 and details["versions"]["keras"]
    assert details["training"]["epochs_run"] == 2
    history = pd.read_csv(run / "history.csv")
    assert history["epoch"].tolist() == [0, 1]
    assert {"loss", "accuracy", "val_loss", "val_accuracy", "learning_rate", "images_per_s"} <= set(history.columns)
    assert history["learning_rate"].iloc[-1] == pytest.approx(details["config"]["min_learning_rate"])
    assert "img/s" in output

    # metrics.json, the confusion matrix and the report agree with the per-image predictions
    metrics = json.loads((run / "metrics.json").read_text())
    preds = pd.read_csv(run / "predictions.csv")
    assert len(preds) == metrics["images"] == 40
    probs = preds[[f"p_{c}" for c in CLASSES]].to_numpy()
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-4)
    assert (preds["predicted"] == [CLASSES[i] for i in probs.argmax(axis=1)]).all()
    assert metrics["accuracy"] == pytest.approx((preds["predicted"] == preds["label"]).mean())
    matrix = pd.crosstab(preds["label"], preds["predicted"]).reindex(index=CLASSES, columns=CLASSES, fill_value=0)
    assert metrics["confusion_matrix"] == matrix.to_numpy().tolist()
    assert pd.read_csv(run / "confusion_matrix.csv", index_col=0).to_numpy().tolist() == matrix.to_numpy().tolist()
    for c in CLASSES:
        recall = matrix.loc[c, c] / matrix.loc[c].sum()
        assert metrics["per_class"][c]["recall"] == pytest.approx(recall)
    assert f"{metrics['accuracy']:.4f}" in (run / "classification_report.txt").read_text()
    assert details["test"]["accuracy"] == metrics["accuracy"]

    # evaluate reloads model.keras and reproduces the training-time figures
    _invoke("evaluate", run, "--manifest", manifest, "--split", "test", "-o", tmp_path / "eval")
    again = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert again["accuracy"] == metrics["accuracy"] and again["confusion_matrix"] == metrics["confusion_matrix"]

    # --truth scores against the vote majority: votes that agree with every prediction give 100 %,
    # rows without votes or without a majority are left out and counted
    column = {"happy": "happiness", "sad": "sadness", "surprise": "surprise", "neutral": "neutral"}
    vote_columns = ["neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt", "unknown", "NF"]
    votes = pd.DataFrame(0, index=range(len(preds) - 4), columns=vote_columns)
    votes.insert(0, "path", preds["path"][4:].to_numpy())
    for i, predicted in enumerate(preds["predicted"][4:]):
        votes.loc[i, column[predicted]] = 7
        votes.loc[i, "unknown"] = 3
    votes.loc[0, ["unknown", "NF"]] = [0, 10]  # 7 of 17 votes: no majority
    votes.to_csv(tmp_path / "votes.csv", index=False)
    out = _invoke("evaluate", run, "--manifest", manifest, "--truth", tmp_path / "votes.csv", "-o", tmp_path / "truth")
    truth = json.loads((tmp_path / "truth" / "metrics.json").read_text())
    assert truth["accuracy"] == 1.0 and truth["images"] == 35
    assert truth["truth"] == {"file": str(tmp_path / "votes.csv"), "rows": 40, "without_votes": 4, "without_majority": 1, "scored": 35}
    assert "left out 4 without votes and 1 without a majority" in out
    # an evaluation report is never written into the source images
    before = sorted(p.name for p in (tmp_path / "ds" / "test").rglob("*"))
    assert "inside the source image folder" in _fails("evaluate", run, "-m", manifest, "-o", tmp_path / "ds" / "test" / "eval")
    assert sorted(p.name for p in (tmp_path / "ds" / "test").rglob("*")) == before

    # predict gives the same probabilities for the same files, and abstains under the floor
    from ferclean_train.predict import load_run, predict_images

    root = read_manifest(manifest).root
    files = [root / p for p in preds["path"][:5]]
    got, good, bad = predict_images(load_run(run), files)
    assert good == files and not bad
    np.testing.assert_allclose(got, probs[:5], atol=1e-4)
    assert "uncertain" in _invoke("predict", run, *files, "--min-confidence", 1.0)
    sure = _invoke("predict", run, files[0], "--min-confidence", 0.0)
    assert preds["predicted"].iloc[0] in sure and "uncertain" not in sure


@pytest.mark.slow
def test_resume_continues_history(tmp_path: Path, make_dataset) -> None:
    dataset = _dataset(make_dataset, tmp_path / "ds", train=12, val=4, test=4)
    runs = tmp_path / "runs"
    _invoke("train", "-m", dataset, "--epochs", 2, "--runs-dir", runs, "--name", "tiny", "--jobs", 1, *TINY)
    run = runs / "tiny-1"
    _fails("train", "--resume", run)  # already ran its 2 epochs
    output = _invoke("train", "--resume", run, "--epochs", 3)
    assert "3 epoch(s)" in output
    history = pd.read_csv(run / "history.csv")
    assert history["epoch"].tolist() == [0, 1, 2]
    details = json.loads((run / "model-details.json").read_text())
    assert details["training"]["resumed_at_epochs"] == [2] and details["config"]["epochs"] == 3
    assert details["config"]["filters"] == [4, 8]
    assert "already exists" in _fails("train", "-m", dataset, "--runs-dir", runs, "--name", "tiny", "--version", 1)


@pytest.mark.slow
def test_folds_report_mean_and_std(tmp_path: Path, make_dataset) -> None:
    manifest = _scan(_dataset(make_dataset, tmp_path / "ds", train=9, val=3, test=3), tmp_path / "m.csv")
    runs = tmp_path / "runs"
    output = _invoke("train", "-m", manifest, "--epochs", 1, "--folds", 2, "--runs-dir", runs, "--xla", *TINY)
    assert "mean ± std" in output
    summary = json.loads((runs / "m-1" / "folds.json").read_text())
    accuracy = summary["test_accuracy"]
    assert len(accuracy["per_fold"]) == 2
    assert accuracy["mean"] == pytest.approx(np.mean(accuracy["per_fold"]))
    assert accuracy["std"] == pytest.approx(np.std(accuracy["per_fold"], ddof=1))
    for i in (1, 2):
        fold = json.loads((runs / "m-1" / f"fold-{i}" / "model-details.json").read_text())
        assert fold["fold"] == {"index": i, "of": 2}
        assert fold["manifest"]["images"]["train"] + fold["manifest"]["images"]["val"] == 48
        # under XLA the augmentation runs in the input pipeline, not in the saved model
        assert fold["device"]["augmentation_in"] == "input pipeline"
    from ferclean_train.predict import load_run

    assert not any(layer.name.startswith("aug_") for layer in load_run(runs / "m-1" / "fold-1").model.layers)


@pytest.mark.slow
def test_same_seed_same_run(tmp_path: Path, make_dataset) -> None:
    """A manifest and the folder it was scanned from train the same model for the same seed."""
    dataset = _dataset(make_dataset, tmp_path / "ds", train=12, val=4, test=4)
    manifest = _scan(dataset, tmp_path / "m.csv")
    runs = tmp_path / "runs"
    _invoke("train", "-m", manifest, "--epochs", 2, "--runs-dir", runs, "--seed", 3, *TINY)
    _invoke("train", "-m", dataset, "--epochs", 2, "--runs-dir", runs, "--seed", 3, "--name", "m", "--version", 7, "--jobs", 1, *TINY)
    first, second = (pd.read_csv(runs / f"m-{v}" / "history.csv") for v in (1, 7))
    columns = ["loss", "accuracy", "val_loss", "val_accuracy"]
    pd.testing.assert_frame_equal(first[columns], second[columns])
    pd.testing.assert_frame_equal(pd.read_csv(runs / "m-1" / "predictions.csv"), pd.read_csv(runs / "m-7" / "predictions.csv"))


@pytest.mark.slow
def test_compact_same_seed_same_run(tmp_path: Path, make_dataset) -> None:
    """The CPU recipe (cosine schedule, translation, mixup, flip TTA) is deterministic for a seed."""
    dataset = _dataset(make_dataset, tmp_path / "ds", train=12, val=4, test=4)
    runs = tmp_path / "runs"
    small = ["--stem-filters", "4", "--filters", "8,16", "--dropouts", "0", "--batch-size", "16", "--mixup", "0.2"]
    for version in (1, 2):
        _invoke("train", "-m", dataset, "--epochs", 2, "--runs-dir", runs, "--seed", 5, "--version", version, "--jobs", 1, *small)
    first, second = (pd.read_csv(runs / f"ds-{v}" / "history.csv") for v in (1, 2))
    columns = ["loss", "accuracy", "val_loss", "val_accuracy", "learning_rate"]
    pd.testing.assert_frame_equal(first[columns], second[columns])
    pd.testing.assert_frame_equal(pd.read_csv(runs / "ds-1" / "predictions.csv"), pd.read_csv(runs / "ds-2" / "predictions.csv"))
    _invoke("train", "-m", dataset, "--epochs", 2, "--runs-dir", runs, "--seed", 6, "--version", 3, "--jobs", 1, *small)
    assert not np.allclose(first["loss"], pd.read_csv(runs / "ds-3" / "history.csv")["loss"])


def test_bad_input_is_a_clear_error(tmp_path: Path, make_dataset) -> None:
    """Every check runs before any training, so this test stays fast."""
    runs = tmp_path / "runs"
    no_test = _scan(_dataset(make_dataset, tmp_path / "a", train=3, val=1, test=0), tmp_path / "no-test.csv")
    assert "no kept 'test' rows" in _fails("train", "-m", no_test, "--runs-dir", runs)

    manifest_path = _scan(_dataset(make_dataset, tmp_path / "b", train=3, val=1, test=1), tmp_path / "m.csv")
    manifest = read_manifest(manifest_path)
    frame = manifest.frame
    frame.loc[(frame["split"] == "train") & (frame["label"] == "sad"), "status"] = "drop"
    write_manifest(manifest.with_frame(frame), tmp_path / "no-sad.csv")
    assert "sad have no training images" in _fails("train", "-m", tmp_path / "no-sad.csv", "--runs-dir", runs)

    frame = read_manifest(manifest_path).frame
    frame.loc[0, "path"] = "train/happy/gone.png"
    write_manifest(manifest.with_frame(frame), tmp_path / "gone.csv")
    assert "missing, e.g." in _fails("train", "-m", tmp_path / "gone.csv", "--runs-dir", runs)

    assert "one per block" in _fails("train", "-m", manifest_path, "--dropouts", "0.1,0.2", "--runs-dir", runs)
    assert "--stem-filters does not apply to --arch bpp" in _fails(
        "train", "-m", manifest_path, "--arch", "bpp", "--stem-filters", "8", "--runs-dir", runs
    )
    assert "too small for 5 pooling blocks" in _fails("train", "-m", manifest_path, "--arch", "five-block", "--image-size", 24)
    assert "Give --manifest" in _fails("train")
    assert "does not exist" in _fails("train", "-m", tmp_path / "nothing.csv")

    empty_run = tmp_path / "runs" / "empty"
    empty_run.mkdir(parents=True)
    assert "not a training run" in _fails("evaluate", empty_run)
    (empty_run / "model-details.json").write_text(json.dumps({"classes": ["happy"], "image_size": 48}))
    assert "no trained model" in _fails("predict", empty_run, manifest.root / frame.loc[1, "path"])
    assert "no trained model" in _fails("evaluate", empty_run, "--manifest", manifest_path)
    assert "does not exist" in _fails("predict", tmp_path / "nowhere", manifest.root / frame.loc[1, "path"])


def _striped(path: Path, horizontal: bool, rng: np.random.Generator) -> None:
    """Stripes whose orientation is the class, at a random phase and with noise."""
    from PIL import Image

    ramp = np.sin(np.arange(48) * 0.6 + rng.uniform(0, 6.3)) * 80 + 128
    image = np.tile(ramp, (48, 1)) if horizontal else np.tile(ramp[:, None], (1, 48))
    image = np.clip(image + rng.normal(0, 20, image.shape), 0, 255).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image, mode="L").save(path)


@pytest.mark.slow
@pytest.mark.parametrize(
    "arch_args",
    [
        ["--arch", "baseline", "--filters", "4,8,8", "--dense-units", "16", "--learning-rate", 3e-3],
        # a short compact run: its inference-time batch statistics must have caught up by the end
        ["--arch", "compact", "--stem-filters", "8", "--filters", "8,16"],
    ],
    ids=["baseline", "compact"],
)
def test_labels_reach_the_model(tmp_path: Path, arch_args: list) -> None:
    """An easy two-class task is learnt: images and labels stay paired through the pipeline."""
    rng = np.random.default_rng(0)
    for split, n in (("train", 48), ("val", 12), ("test", 20)):
        for label in ("happy", "sad"):
            for i in range(n):
                _striped(tmp_path / "ds" / split / label / f"{i}.png", label == "happy", rng)
    runs = tmp_path / "runs"
    _invoke("train", "-m", tmp_path / "ds", *arch_args, "--epochs", 6, "--batch-size", 16, "--runs-dir", runs, "--jobs", 1)
    assert json.loads((runs / "ds-1" / "metrics.json").read_text())["accuracy"] >= 0.9


@pytest.mark.slow
def test_soft_labels_reach_the_model(tmp_path: Path) -> None:
    """Every training label is wrong but its soft label is right: trained on the soft labels, the
    model learns the true classes (on the hard labels it would learn them swapped)."""
    rng = np.random.default_rng(1)
    for split, n in (("train", 48), ("val", 12), ("test", 20)):
        for label in ("happy", "sad"):
            for i in range(n):
                _striped(tmp_path / "ds" / split / label / f"{i}.png", label == "happy", rng)
    manifest = _scan(tmp_path / "ds", tmp_path / "m.csv")
    loaded = read_manifest(manifest)
    frame = loaded.frame.copy()
    train = frame["split"] == "train"
    frame["soft_label"] = np.where(train, np.where(frame["label"] == "happy", "happy:0.9 sad:0.1", "happy:0.1 sad:0.9"), "")
    frame.loc[train, "label"] = frame.loc[train, "label"].map({"happy": "sad", "sad": "happy"})
    write_manifest(loaded.with_frame(frame), manifest)
    runs = tmp_path / "runs"
    _invoke("train", "-m", manifest, "--arch", "baseline", "--filters", "4,8,8", "--dense-units", "16", "--learning-rate", 3e-3,
            "--soft-weight", 1, "--no-class-weights", "--epochs", 6, "--batch-size", 16, "--runs-dir", runs, "--jobs", 1)
    details = json.loads((runs / "m-1" / "model-details.json").read_text())
    assert details["manifest"]["soft_label_rows"] == 96 and details["config"]["soft_weight"] == 1
    assert details["test"]["accuracy"] >= 0.9
