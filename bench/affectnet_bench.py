"""Speed of converting AffectNet faces for ``merge-affectnet``: one worker vs every core.

Run by hand: ``.venv/bin/python bench/affectnet_bench.py [--n 10000] [--sample DIR]``.

Builds a YOLO-layout tree of ``--n`` images in a temporary folder by copying the real
sample (``../shared/data/affectnet-yolo-sample``, 2,755 96x96 faces) under new names, reads
it with the layout reader, and converts every face to a 48x48 grey PNG with hashes
(``convert_face``: decode, crop to the box with margin, LANCZOS resize, PNG write, pHash of
the face and its mirror) with 1 worker and with all cores, printing images/s and the ratio.
A second, smaller run does the same on uncropped 640x480 JPEGs with a face box (the
official layout's case), where JPEG DCT-domain downscaling matters. CPU seconds (this
process plus its workers) are printed too: with other jobs on the machine the wall-clock
speed-up understates what idle cores give, and ``n x cores / CPU s`` estimates that.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from ferclean.affectnet.convert import ConvertTask, convert_face
from ferclean.affectnet.layouts import read_candidates
from ferclean.affectnet.merge import convert_tasks
from ferclean.parallel import default_jobs, parallel_map

SAMPLE = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "affectnet-yolo-sample"


def replicate_yolo(sample: Path, root: Path, n: int) -> None:
    """``n`` images (copies of the sample under distinct names) with their label files."""
    sources = sorted((sample / "test" / "images").iterdir())
    (root / "test" / "images").mkdir(parents=True)
    (root / "test" / "labels").mkdir(parents=True)
    shutil.copy(sample / "data.yaml", root / "data.yaml")
    for k in range(n):
        source = sources[k % len(sources)]
        stem = f"r{k // len(sources)}_{source.stem}"
        shutil.copy(source, root / "test" / "images" / f"{stem}{source.suffix}")
        shutil.copy(sample / "test" / "labels" / f"{source.stem}.txt", root / "test" / "labels" / f"{stem}.txt")


def uncropped_tasks(sample: Path, root: Path, n: int) -> list[ConvertTask]:
    """``n`` 640x480 JPEG scenes with a sample face pasted at a random place and scale."""
    rng = np.random.default_rng(0)
    sources = sorted((sample / "test" / "images").iterdir())
    root.mkdir(parents=True)
    backgrounds = [
        Image.fromarray(rng.integers(0, 255, (30, 40, 3), dtype=np.uint8)).resize((640, 480), Image.Resampling.BICUBIC)
        for _ in range(16)
    ]
    tasks = []
    for k in range(n):
        side = int(rng.integers(120, 300))
        x, y = int(rng.integers(0, 640 - side)), int(rng.integers(0, 480 - side))
        scene = backgrounds[k % len(backgrounds)].copy()
        with Image.open(sources[k % len(sources)]) as face:
            scene.paste(face.convert("RGB").resize((side, side)), (x, y))
        path = root / f"scene{k:05d}.jpg"
        scene.save(path, quality=90)
        tasks.append(ConvertTask(str(path), str(root / f"out{k:05d}.png"), (x, y, x + side, y + side), False, (48, 48)))
    return tasks


def _cpu_seconds() -> float:
    """User + system time of this process and its reaped children (the pool's workers)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def timed_convert(tasks: list[ConvertTask], jobs: int) -> tuple[float, float]:
    """Wall-clock and CPU seconds of converting ``tasks`` with ``jobs`` workers."""
    start, cpu = time.perf_counter(), _cpu_seconds()
    results = parallel_map(convert_face, tasks, f"Converting ({jobs} worker{'s' * (jobs > 1)})", jobs)
    elapsed, cpu = time.perf_counter() - start, _cpu_seconds() - cpu
    errors = sum(bool(r["error"]) for r in results)
    if errors:
        raise SystemExit(f"{errors} conversions failed")
    return elapsed, cpu


def compare(name: str, tasks: list[ConvertTask], cores: int) -> None:
    n = len(tasks)
    print(f"{name}: {n:,} images")
    (one, one_cpu), (many, many_cpu) = timed_convert(tasks, 1), timed_convert(tasks, cores)
    print(f"  1 worker : {one:6.1f} s wall {n / one:7.0f} images/s   ({one_cpu:5.1f} CPU s)")
    print(f"  {cores} workers: {many:6.1f} s wall {n / many:7.0f} images/s   ({many_cpu:5.1f} CPU s)   speed-up {one / many:.2f}x")
    print(f"  CPU-bound estimate on {cores} idle cores: {n * cores / many_cpu:7.0f} images/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000, help="images in the YOLO run")
    parser.add_argument("--uncropped", type=int, default=2_000, help="images in the uncropped-JPEG run (0 skips it)")
    parser.add_argument("--sample", type=Path, default=SAMPLE)
    args = parser.parse_args()
    cores = default_jobs()
    with tempfile.TemporaryDirectory() as tmp:
        root, out = Path(tmp) / "affectnet", Path(tmp) / "out"
        out.mkdir()
        replicate_yolo(args.sample, root, args.n)
        start = time.perf_counter()
        frame = read_candidates(root).frame
        print(f"Reading the YOLO layout ({len(frame):,} images + labels): {time.perf_counter() - start:.2f} s")
        frame["dest"] = [str(out / f"{Path(k).stem}.png") for k in frame["key"]]
        compare("YOLO sample faces 96x96 -> 48x48", convert_tasks(frame, (48, 48), 0.1, "phash"), cores)
        if args.uncropped:
            compare("Uncropped 640x480 JPEG scenes, face box -> 48x48", uncropped_tasks(args.sample, Path(tmp) / "scenes", args.uncropped), cores)
    print(f"(CPU cores available: {cores}; timings are noisy when other processes share the machine.)")


if __name__ == "__main__":
    main()
