"""How well scan's quality checks catch non-faces, and how many real faces they wrongly flag.

Realistic junk (``bench/junk.py``'s :func:`bench_junk`, 300 per class): speech bubbles with
dots, "no image" signs, pictograms on rounded tiles, banner lettering, road and no-entry
signs, abstract high-contrast graphics and shaded objects or body parts (and crops of object
photos), drawn large, then cropped, resized to 48x48, JPEG-compressed, blurred and noised as
a scraper would. The not-a-face classifier never saw these designs, fonts, words, pictures or
seeds (its negatives are ``training_negatives``: random compositions, other fonts, other
pictures). Simple fixtures (blank and noise frames, Pillow text and icons at 48x48,
scikit-image pictures; the classifier's training negatives crop most of these pictures too),
and held-out non-faces: crops of scikit-image pictures the classifier was not trained on and
the 100 non-face crops of ``skimage.data.lfw_subset`` (its 100 faces are a second real-face
check). Nothing here was fitted or chosen on any of them.

Real faces: every FER2013 face in ../shared/data/fer2013 (FER+ non-faces already removed
there, so a flag is a false positive; per split, since the classifier is trained on the
training split and its threshold set on the validation split: test is the honest figure)
and the AffectNet sample (never used in training).

    PYTHONPATH=$PWD python bench/quality_bench.py                 # catch and false-flag rates
    PYTHONPATH=$PWD python bench/quality_bench.py --signals       # FER2013 signal percentiles
    PYTHONPATH=$PWD python bench/quality_bench.py --haar 3000     # OpenCV Haar cascades, 1 in N faces
    PYTHONPATH=$PWD python bench/quality_bench.py --sheet /tmp/q/flagged.png
    PYTHONPATH=$PWD python bench/quality_bench.py --cost          # CPU per image of the batch checks
    PYTHONPATH=$PWD python bench/quality_bench.py --scan-cost 7   # ferclean scan against --no-quality, 7 runs each

Targets: >= 95 % of each realistic junk class caught, <= 1 % of FER2013 and AffectNet faces flagged.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from ferclean.cli.console import console, progress
from ferclean.images import open_gray
from ferclean.parallel import parallel_map
from ferclean.quality import MIN_FACE_LOGIT, REASONS, image_notes, quality_notes, quality_signals, quality_table, work_copy
from ferclean.render.contact_sheet import contact_sheet

from bench.junk import bench_junk, picture
from bench.measure import run_ferclean

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
#: scikit-image pictures that are neither fixtures nor in the classifier's TRAIN_PICTURES (the astronaut below her face).
OTHER_PICTURES = ("chelsea", "coffee", "rocket", "colorwheel", "shepp_logan_phantom", "binary_blobs", "stereo_motorcycle", "astronaut")
SKIMAGE_PICTURES = ("coins", "text", "brick", "camera", "checkerboard", "grass", "gravel", "moon", "page", "clock", "horse")
TEXTS = ("This photo has been moved", "404", "Image not available", "NO IMAGE", "deleted", "photo removed", "?", "LOGO")


def _font(size: int) -> ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def text_frames(rng: np.random.Generator) -> list[np.ndarray]:
    """Rendered placeholder texts: dark on light and light on dark, at 48x48 and as wide strips."""
    out = []
    for i, words in enumerate(TEXTS):
        for ink, paper in ((20, 235), (240, 30), (90, 200)):
            for size in ((48, 48), (160, 48)):
                image = Image.new("L", size, paper)
                draw = ImageDraw.Draw(image)
                lines = words.split(" ") if size[0] == 48 else [words]
                for k, line in enumerate(lines):
                    draw.text((2, 2 + k * 11), line, fill=ink, font=_font(10 if size[0] == 48 else 14))
                out.append(np.asarray(image))
    return out


def icons(rng: np.random.Generator) -> list[np.ndarray]:
    """Warning triangles, chat bubbles, circles, stars and ticks, flat-filled, at 48x48."""
    out = []
    for ink, paper in ((0, 255), (255, 40), (200, 90), (60, 180)):
        for shape in ("triangle", "bubble", "circle", "star", "tick", "square"):
            image = Image.new("L", (48, 48), paper)
            draw = ImageDraw.Draw(image)
            if shape == "triangle":
                draw.polygon([(24, 4), (44, 42), (4, 42)], fill=ink)
                draw.text((22, 18), "!", fill=paper, font=_font(18))
            elif shape == "bubble":
                draw.rounded_rectangle((4, 6, 44, 34), radius=8, fill=ink)
                draw.polygon([(12, 34), (20, 34), (10, 44)], fill=ink)
            elif shape == "circle":
                draw.ellipse((6, 6, 42, 42), outline=ink, width=5)
            elif shape == "star":
                points = [(24 + 20 * np.sin(a) * (1 if k % 2 == 0 else 0.4), 24 - 20 * np.cos(a) * (1 if k % 2 == 0 else 0.4))
                          for k, a in enumerate(np.linspace(0, 2 * np.pi, 11)[:-1])]
                draw.polygon(points, fill=ink)
            elif shape == "tick":
                draw.line([(8, 26), (20, 38), (40, 10)], fill=ink, width=6)
            else:
                draw.rectangle((10, 10, 38, 38), fill=ink)
            out.append(np.asarray(image))
    return out


def blank_and_noise(rng: np.random.Generator) -> dict[str, list[np.ndarray]]:
    """Uniform frames (some with slight sensor noise) and three kinds of pure noise, at 48x48."""
    blank = [np.full((48, 48), v, np.uint8) for v in (0, 8, 60, 128, 200, 250, 255)]
    blank += [np.clip(v + rng.normal(0, 2, (48, 48)), 0, 255).astype(np.uint8) for v in (10, 128, 245)]
    noise = [rng.integers(0, 256, (48, 48), dtype=np.uint8) for _ in range(4)]
    noise += [np.clip(rng.normal(128, 40, (48, 48)), 0, 255).astype(np.uint8) for _ in range(4)]
    noise += [(rng.random((48, 48)) > 0.5).astype(np.uint8) * 255 for _ in range(2)]
    return {"blank": blank, "noise": noise}


def pictures(rng: np.random.Generator) -> list[np.ndarray]:
    """scikit-image sample pictures: native size, squashed to 48x48, and three random 48x48 crops each."""
    from skimage import data

    out = []
    for name in SKIMAGE_PICTURES:
        picture = getattr(data, name)()
        image = Image.fromarray(picture).convert("L") if picture.dtype == np.uint8 else Image.fromarray((picture * 255).astype(np.uint8))
        array = np.asarray(image)
        out += [array, np.asarray(image.resize((48, 48), Image.Resampling.LANCZOS))]
        h, w = array.shape
        for _ in range(3):
            y, x = rng.integers(0, h - 48), rng.integers(0, w - 48)
            out.append(array[y : y + 48, x : x + 48].copy())
    return out


def fixtures(seed: int = 0) -> dict[str, list[np.ndarray]]:
    """Every non-face fixture by kind."""
    rng = np.random.default_rng(seed)
    return {**blank_and_noise(rng), "text": text_frames(rng), "icon": icons(rng), "picture": pictures(rng)}


def held_out(seed: int = 1) -> tuple[dict[str, list[np.ndarray]], np.ndarray]:
    """Non-faces that are not fixtures nor training negatives, and LFW's 100 faces.

    Each other scikit-image picture squashed to 48x48 and 300 random square crops of it
    (70 % of random size, box-filtered to 48x48), and lfw_subset's 100 non-face crops.
    """
    from skimage import data

    rng = np.random.default_rng(seed)
    crops = []
    for name in OTHER_PICTURES:
        array = picture(name)
        h, w = array.shape
        crops.append(np.asarray(Image.fromarray(array).resize((48, 48), Image.Resampling.BOX)))
        for _ in range(300):
            side = int(rng.integers(48, min(h, w) + 1)) if rng.random() < 0.7 else 48
            y, x = rng.integers(0, h - side + 1), rng.integers(0, w - side + 1)
            crops.append(np.asarray(Image.fromarray(array[y : y + side, x : x + side]).resize((48, 48), Image.Resampling.BOX)))
    lfw = [np.asarray(Image.fromarray((a * 255).astype(np.uint8)).resize((48, 48), Image.Resampling.BICUBIC)) for a in data.lfw_subset()]
    return {"other pictures": crops, "lfw non-faces": lfw[100:]}, np.stack(lfw[:100])


def held_out_report() -> None:
    negatives, lfw_faces = held_out()
    console.print("[bold]Held-out non-faces caught[/] (neither fixtures nor training negatives)")
    for kind, arrays in negatives.items():
        notes = image_notes(arrays)
        caught, by_face = sum(n != "" for n in notes), sum("not_a_face" in n for n in notes)
        by_verifier = sum("no_face_found" in n for n in notes)
        console.print(f"  {kind:15s} {caught:5d}/{len(arrays):5d} ({caught / len(arrays):.1%}), not_a_face {by_face / len(arrays):.1%},"
                      f" no_face_found {by_verifier / len(arrays):.1%}")
    flagged = sum(n != "" for n in image_notes(list(lfw_faces)))
    console.print(f"  lfw faces flagged {flagged}/{len(lfw_faces)}")


def cost_report(paths: list[str]) -> None:
    """CPU per image of the batch quality checks on FER2013, in scan's chunks of 512."""
    stack = np.stack([work_copy(np.asarray(open_gray(p))) for p in paths])
    sides = np.full(len(stack), 48)
    started = time.process_time()
    for i in range(0, len(stack), 512):
        quality_notes(quality_table(stack[i : i + 512], sides[i : i + 512], sides[i : i + 512]))
    per_image = (time.process_time() - started) / len(stack) * 1e6
    console.print(f"[bold]Cost[/]: quality_table + notes {per_image:.1f} µs CPU per image ({len(stack):,} FER2013 faces, chunks of 512)")


def scan_cost_report(data: Path, runs: int) -> None:
    """``ferclean scan DATA`` against the same with ``--no-quality`` (target: checks <= +25 % CPU),
    each from a fresh process, interleaved ``runs`` times; medians of the whole process tree's CPU and wall."""
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as work:
        timed: dict[str, list] = {"checks": [], "no-quality": []}
        for _ in range(runs):
            timed["checks"].append(run_ferclean("scan", data, "-o", Path(work) / "q.csv"))
            timed["no-quality"].append(run_ferclean("scan", data, "-o", Path(work) / "n.csv", "--no-quality"))
    cpu = {k: statistics.median(r.cpu for r in v) for k, v in timed.items()}
    wall = {k: statistics.median(r.wall for r in v) for k, v in timed.items()}
    console.print(f"[bold]Scan cost[/] ({runs} interleaved runs each, load average {load:.2f} before,"
                  f" {os.getloadavg()[0]:.2f} after): `ferclean scan {data}` median CPU {cpu['checks']:.1f} s,"
                  f" wall {wall['checks']:.1f} s; with --no-quality CPU {cpu['no-quality']:.1f} s, wall {wall['no-quality']:.1f} s:"
                  f" checks cost {cpu['checks'] / cpu['no-quality'] - 1:+.1%} CPU, {wall['checks'] / wall['no-quality'] - 1:+.1%} wall"
                  " (target <= +25 %)")


def _reasons_of_file(path: str) -> tuple[str, ...]:
    note = image_notes([np.asarray(open_gray(path))])[0]
    return tuple(note.split(", ")) if note else ()


def _signals_of_file(path: str) -> dict[str, float]:
    return quality_signals(np.asarray(open_gray(path)))


def fixture_report(kinds: dict[str, list[np.ndarray]]) -> None:
    total = caught_total = 0
    console.print("[bold]Non-face fixtures caught[/]")
    for kind, arrays in kinds.items():
        results = [n.split(", ") if n else [] for n in image_notes(arrays)]
        caught = sum(bool(r) for r in results)
        total, caught_total = total + len(arrays), caught_total + caught
        by_reason = Counter(r for rs in results for r in rs)
        console.print(f"  {kind:8s} {caught:3d}/{len(arrays):3d} ({caught / len(arrays):.0%})  "
                      + ", ".join(f"{r} {n}" for r, n in by_reason.most_common()))
        missed = [i for i, r in enumerate(results) if not r]
        if missed:
            console.print(f"           missed: {missed}")
    console.print(f"  [bold]all      {caught_total}/{total} ({caught_total / total:.1%})[/]")


def junk_report(junk: dict[str, np.ndarray], sheet: Path | None) -> None:
    """Each realistic junk class: share caught (target 95 %), by reason; a contact sheet of the misses."""
    console.print("[bold]Realistic junk caught[/] (bench/junk.py; designs, fonts and pictures the classifier never saw)")
    misses: list[tuple[Image.Image, str]] = []
    total = caught_total = 0
    for kind, arrays in junk.items():
        notes = image_notes(list(arrays))
        caught = sum(n != "" for n in notes)
        total, caught_total = total + len(notes), caught_total + caught
        by_reason = Counter(r for n in notes if n for r in n.split(", "))
        console.print(f"  {kind:16s} {caught:4d}/{len(notes):4d} ({caught / len(notes):6.1%})  "
                      + ", ".join(f"{r} {n}" for r, n in by_reason.most_common()))
        misses += [(Image.fromarray(a), f"{kind} #{i}") for i, (a, n) in enumerate(zip(arrays, notes)) if not n][:24]
    console.print(f"  [bold]all              {caught_total}/{total} ({caught_total / total:.1%})[/]")
    if sheet and misses:
        path = sheet.with_name(f"{sheet.stem}_junk_missed.png")
        contact_sheet([misses[i : i + 12] for i in range(0, len(misses), 12)], path, title="realistic junk not caught")
        console.print(f"  missed junk: {path}")


def faces_report(paths: list[str], name: str, sheet: Path | None) -> None:
    with progress() as on_progress:
        results = parallel_map(_reasons_of_file, paths, f"Checking {name}", on_progress=on_progress)
    flagged = [(p, r) for p, r in zip(paths, results) if r]
    console.print(f"[bold]{name}: {len(flagged):,} of {len(paths):,} real faces flagged ({len(flagged) / len(paths):.2%})[/]")
    splits = sorted({Path(p).parts[-3] for p in paths}) if name == "FER2013" else []
    for split in splits:
        in_split = [bool(r) for p, r in zip(paths, results) if Path(p).parts[-3] == split]
        console.print(f"  split {split:12s} {sum(in_split):5d} of {len(in_split):6,d} ({np.mean(in_split):.2%})")
    by_reason = Counter(r for _, rs in flagged for r in rs)
    for reason in REASONS:
        console.print(f"  {reason:16s} {by_reason.get(reason, 0):5d} ({by_reason.get(reason, 0) / len(paths):.2%})")
    if sheet and flagged:
        rows = [[(Path(p), ",".join(r)) for p, r in flagged[i : i + 12]] for i in range(0, min(len(flagged), 240), 12)]
        contact_sheet(rows, sheet, title=f"{name}: flagged real faces")
        console.print(f"  contact sheet: {sheet}")


def signal_percentiles(paths: list[str]) -> None:
    with progress() as on_progress:
        signals = parallel_map(_signals_of_file, paths, "Signals", on_progress=on_progress)
    console.print("[bold]FER2013 signal percentiles[/]  (0, 0.1, 1, 50, 99, 99.9, 100)")
    for key in signals[0]:
        values = np.array([s[key] for s in signals])
        console.print(f"  {key:14s}", "  ".join(f"{v:8.3f}" for v in np.nanpercentile(values, [0, 0.1, 1, 50, 99, 99.9, 100])))
    split = np.array([Path(p).parts[-3] for p in paths])
    for name in sorted(set(split)):
        in_split = split == name
        unsure = np.array([np.isfinite(s["face"]) for s in signals])[in_split]
        under = np.array([s["face"] < MIN_FACE_LOGIT for s in signals])[in_split]
        console.print(f"  {name:12s} face verifier run on {unsure.mean():.1%} of the faces; face log-odds under"
                      f" MIN_FACE_LOGIT {MIN_FACE_LOGIT:g}: {under.mean():.2%}")


def _haar_hits(gray: np.ndarray, cascades: list) -> list[bool]:
    import cv2

    upscaled = cv2.resize(gray, (144, 144), interpolation=cv2.INTER_CUBIC)
    padded = cv2.copyMakeBorder(upscaled, 24, 24, 24, 24, cv2.BORDER_REPLICATE)
    return [len(c.detectMultiScale(padded, scaleFactor=1.1, minNeighbors=3, minSize=(60, 60))) > 0 for c in cascades]


def haar_report(paths: list[str], kinds: dict[str, list[np.ndarray]]) -> None:
    """OpenCV's bundled face cascades on 48x48 crops upscaled 3x with a replicated border."""
    import cv2

    names = ["haarcascade_frontalface_default.xml", "haarcascade_frontalface_alt2.xml", "haarcascade_profileface.xml"]
    cascades = [cv2.CascadeClassifier(cv2.data.haarcascades + n) for n in names]
    started = time.process_time()
    faces = np.array([_haar_hits(np.asarray(open_gray(p)), cascades) for p in paths])
    per_image = (time.process_time() - started) / len(paths) * 1000
    others = np.array([_haar_hits(np.asarray(Image.fromarray(a).resize((48, 48))), cascades) for arrays in kinds.values() for a in arrays])
    console.print(f"[bold]Haar cascades[/] ({len(paths):,} FER2013 faces, {per_image:.1f} ms CPU per face for all three)")
    for k, name in enumerate(names + ["any of the three"]):
        hit_faces = faces[:, k].mean() if k < len(names) else faces.any(axis=1).mean()
        hit_others = others[:, k].mean() if k < len(names) else others.any(axis=1).mean()
        console.print(f"  {name:38s} no face found in {1 - hit_faces:.1%} of faces, in {1 - hit_others:.1%} of fixtures and junk")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--signals", action="store_true", help="print FER2013 signal percentiles")
    parser.add_argument("--haar", type=int, default=0, metavar="N", help="also measure Haar cascades on 1 in N faces")
    parser.add_argument("--sheet", type=Path, default=None, help="contact sheet of the flagged FER2013 faces")
    parser.add_argument("--cost", action="store_true", help="only time the batch checks on FER2013 (CPU per image)")
    parser.add_argument("--scan-cost", type=int, default=0, metavar="RUNS",
                        help="only time `ferclean scan` on FER2013 against --no-quality, RUNS interleaved runs each")
    args = parser.parse_args()
    kinds = fixtures()
    junk = bench_junk()
    fer = sorted(str(p) for p in (DATA / "fer2013").glob("*/*/*.png"))
    affectnet = sorted(str(p) for p in (DATA / "affectnet-yolo-sample").glob("test/images/*"))
    if args.cost:
        cost_report(fer)
        return
    if args.scan_cost:
        scan_cost_report(DATA / "fer2013", args.scan_cost)
        return
    junk_report(junk, args.sheet)
    fixture_report(kinds)
    held_out_report()
    if args.signals:
        signal_percentiles(fer)
    faces_report(fer, "FER2013", args.sheet)
    if affectnet:
        faces_report(affectnet, "AffectNet sample", None)
    if args.haar:
        haar_report(fer[:: args.haar], {**kinds, **junk})


if __name__ == "__main__":
    main()
