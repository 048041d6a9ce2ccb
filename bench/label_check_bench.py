"""How to set ``merge-affectnet --check-labels``'s thresholds: measured, not guessed.

Run by hand: ``.venv/bin/python bench/label_check_bench.py [--classes happy,neutral,sad,surprise]``.

The label check turns an AffectNet face away when the fast probe, trained on the target's
kept images, gives its label probability < X and another class >= Y. AffectNet has no
truth to measure against, so this measures two things:

1. On FER2013 itself, where FER+ annotator votes are the truth (benchmark only): the probe
   is trained on 80 % of the training images of ``--classes`` and scores the other 20 %;
   for each (X, Y) it prints how many of the clear label errors (>= 6 of 10 votes for
   another class) it rejects, how many correctly labelled faces it wrongly rejects, and the
   precision of its rejections.
2. On the real AffectNet sample (converted exactly as merge-affectnet converts it): the
   share of each class's faces each (X, Y) would reject.

A good setting rejects faces several times more likely to be wrong than the average one
while costing few correct faces, and leaves each AffectNet class most of its faces.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from ferclean.affectnet.convert import convert_face
from ferclean.affectnet.label_check import label_doubts, train_label_probe
from ferclean.affectnet.layouts import read_candidates
from ferclean.affectnet.mapping import map_expressions
from ferclean.affectnet.merge import convert_tasks, output_names
from ferclean.keys import seeded_rank
from ferclean.mislabel.features import load_images
from ferclean.parallel import parallel_map

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
#: FER+ vote columns -> FER2013 class names.
VOTES = {"neutral": "neutral", "happiness": "happy", "surprise": "surprise", "sadness": "sad", "anger": "angry",
         "disgust": "disgust", "fear": "fear"}
GRID_GIVEN = (0.05, 0.10, 0.15, 0.20, 0.30)
GRID_OTHER = (0.40, 0.50, 0.60, 0.70, 0.80)


def fer_truth(votes_csv: Path, paths: list[str]) -> pd.Series:
    """FER+ majority class (>= 6 of 10 votes) per ``train/<class>/<file>`` path, '' where none."""
    votes = pd.read_csv(votes_csv).set_index("path")
    counts = votes[list(VOTES)].rename(columns=VOTES)
    truth = counts.idxmax(axis=1).where(counts.max(axis=1) >= 6, "")
    return truth.reindex(paths).fillna("")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--classes", default="happy,neutral,sad,surprise")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    classes = args.classes.split(",")
    fer = SHARED / "fer2013"

    rel = [f"train/{c}/{p.name}" for c in classes for p in sorted((fer / "train" / c).iterdir())]
    labels = np.array([r.split("/")[1] for r in rel])
    images, ok = load_images([fer / r for r in rel], args.jobs)
    held = seeded_rank(pd.Series(rel), args.seed) % 5 == 0
    fit = ~held & ok
    start, cpu = time.perf_counter(), time.process_time()
    probe = train_label_probe(images[fit], labels[fit], classes, args.seed)
    print(f"probe trained on {fit.sum():,} FER2013 train images ({', '.join(classes)}):"
          f" {time.perf_counter() - start:.1f} s wall, {time.process_time() - cpu:.1f} s CPU (machine shared)")

    test = held & ok
    probs = probe.probabilities(images[test])
    truth = fer_truth(SHARED / "ferplus" / "train_votes.csv", [r for r, t in zip(rel, test) if t]).to_numpy()
    given = labels[test]
    accuracy = (np.array(classes)[probs.argmax(axis=1)] == given).mean()
    correct, wrong = truth == given, (truth != "") & (truth != given)
    print(f"held-out: {test.sum():,} images, probe agrees with the FER2013 label on {100 * accuracy:.1f} %;"
          f" FER+ truth: {correct.sum():,} correct labels, {wrong.sum():,} clear errors"
          f" ({100 * wrong.sum() / (correct.sum() + wrong.sum()):.1f} % of those with a truth)")

    sample = SHARED / "affectnet-yolo-sample"
    candidates = read_candidates(sample, None).frame
    mapped = map_expressions(candidates["name"], classes, {})
    candidates = candidates.assign(label=mapped["label"]).loc[mapped["reason"] == ""]
    with tempfile.TemporaryDirectory() as tmp:
        candidates = candidates.assign(dest=[str(Path(tmp) / n) for n in output_names(candidates["key"])])
        results = parallel_map(convert_face, convert_tasks(candidates, (48, 48), 0.1, "phash"), "Converting", args.jobs)
        readable = np.array([not r.get("error") for r in results])
        candidates = candidates.loc[readable]
        faces, _ = load_images([Path(d) for d in candidates["dest"]], args.jobs)
    an_probs = probe.probabilities(faces)
    an_labels = candidates["label"].to_numpy()
    ffhq = candidates["key"].str.contains("ffhq").to_numpy()
    agree = np.array(classes)[an_probs.argmax(axis=1)] == an_labels
    print(f"AffectNet sample: {len(an_labels):,} faces of these classes; probe agrees with AffectNet's label on"
          f" {100 * agree.mean():.1f} % (AffectNet's own {100 * agree[~ffhq].mean():.1f} %, FFHQ {100 * agree[ffhq].mean():.1f} %)")

    rows = []
    for max_given in GRID_GIVEN:
        for min_other in GRID_OTHER:
            if min_other <= max_given:
                continue
            rejected = label_doubts(probs, given, classes, max_given, min_other)["doubted"].to_numpy()
            an = label_doubts(an_probs, an_labels, classes, max_given, min_other)["doubted"].to_numpy()
            known = rejected & (correct | wrong)
            row = {
                "X (p label <)": max_given,
                "Y (other >=)": min_other,
                "FER rejected": int(rejected.sum()),
                "errors caught %": 100 * (rejected & wrong).sum() / max(wrong.sum(), 1),
                "correct lost %": 100 * (rejected & correct).sum() / max(correct.sum(), 1),
                "precision %": 100 * (rejected & wrong).sum() / max(known.sum(), 1),
                "AN rejected %": 100 * an.mean(),
                "AN FFHQ %": 100 * an[ffhq].mean(),
                "AN own %": 100 * an[~ffhq].mean(),
            }
            for c in classes:
                row[f"AN {c} %"] = 100 * an[an_labels == c].mean()
            rows.append(row)
    with pd.option_context("display.width", 250, "display.max_columns", 30, "display.float_format", "{:.2f}".format):
        print(pd.DataFrame(rows).to_string(index=False))


if __name__ == "__main__":
    main()
