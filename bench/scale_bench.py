"""Scale-out benchmark: the commands end to end on a big tree, scan + hash on the local backend vs
a Dask LocalCluster, and the duplicate search at 1M and 10M hashes.

Run by hand:

    python bench/make_big.py 1000000 /big/faces          # the tree, with planted near-duplicates
    python bench/scale_bench.py --tree /big/faces --work /big/runs

``--tree`` runs ``scan``, ``dedupe``, ``mislabel-review --probe fast`` and ``stratify`` on the
tree as a user would, with the local backend and with ``--backend dask`` (embedded LocalCluster,
``--dask-workers``), and prints for each: wall, CPU (the whole process tree), peak resident memory
of the process tree (sampled every 0.1 s), images/s, and for dedupe the planted duplicates'
pair recall and group precision (``truth.csv``), the largest group, and whether the two backends
gave the same groups and statuses. ``--backends local`` and ``--steps dedupe,review`` run a part
(a step not run reads the manifest an earlier run left in ``--work``): a million images take hours.

``python bench/scale_bench.py [--count 50000] [--search 1000000,10000000]`` (without ``--tree``):
It makes ``--count`` 256x256 JPEG faces from the shared FER2013 faces (upscaled, each with its
own crop, tone and mirror, so no two are the same file), scans them with every backend and
prints images/s, then times the search core (``ferclean.dedupe.search.find_pairs``) on random
hashes, each size in a fresh process so that its peak RSS is the search alone. Needs the
``dask`` extra. Cluster start-up is timed apart from the scan.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageOps

from measure import run_ferclean

from ferclean.dedupe.resolve import DEFAULT_THRESHOLD
from ferclean.dedupe.search import find_pairs
from ferclean.images import inspect_image
from ferclean.parallel import DaskBackend, LocalBackend, parallel_map
from ferclean.scan import scan_dataset

ROOT = Path(__file__).resolve().parents[1]
SIZE = 256


def make_face(task: tuple[str, str, int]) -> None:
    """One 256x256 JPEG from a 48x48 FER2013 face: a seeded crop, tone and mirror."""
    source, dest, seed = task
    rng = np.random.default_rng(seed)
    face = Image.open(source).convert("L")
    left, top = rng.integers(0, 5, size=2)
    face = face.crop((left, top, left + 44, top + 44)).resize((SIZE, SIZE), Image.Resampling.BICUBIC)
    face = face.point(lambda v, g=rng.uniform(0.8, 1.2), b=rng.uniform(-20, 20): int(max(0, min(255, v * g + b))))
    if rng.random() < 0.5:
        face = ImageOps.mirror(face)
    face.convert("RGB").save(dest, quality=90)


def make_faces(data: Path, out: Path, count: int) -> float:
    """``count`` faces under ``out/train/<class>/``; returns the seconds it took."""
    sources = sorted((data / "train").glob("*/*.png"))
    if not sources:
        sys.exit(f"No faces under {data}/train; give --data.")
    tasks = []
    for i in range(count):
        source = sources[(i * 7919) % len(sources)]
        dest = out / "train" / source.parent.name / f"face_{i:07d}.jpg"
        tasks.append((str(source), str(dest), i))
    for folder in {Path(d).parent for _, d, _ in tasks}:
        folder.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    parallel_map(make_face, tasks, "faces")
    return time.perf_counter() - start


def _cpu(backend: LocalBackend | DaskBackend) -> float:
    """CPU seconds so far of this process, its reaped children (local pools) and Dask's workers."""
    own = time.process_time() + resource.getrusage(resource.RUSAGE_CHILDREN).ru_utime
    own += resource.getrusage(resource.RUSAGE_CHILDREN).ru_stime
    if isinstance(backend, DaskBackend):
        own += sum(backend.client.run(time.process_time).values())
    return own


def scan_rate(name: str, root: Path, backend: LocalBackend | DaskBackend) -> float:
    """Scan + hash ``root`` on ``backend``; prints and returns images/s (start-up and first
    imports are warmed up outside the timing)."""
    start = time.perf_counter()
    first = [str(next(root.rglob("*.jpg")))]
    backend.map(inspect_image, first * 8, "warm-up", lambda *_: None)
    started = time.perf_counter() - start
    cpu = _cpu(backend)
    start = time.perf_counter()
    manifest, _ = scan_dataset(root, backend=backend)
    wall = time.perf_counter() - start
    cpu = _cpu(backend) - cpu
    n = len(manifest.frame)
    assert (manifest.frame["status"] == "keep").all(), "every generated face must decode"
    startup = f", cluster start {started:.1f} s" if isinstance(backend, DaskBackend) else ""
    print(f"  {name:<30} {n / wall:7.0f} images/s  ({n:,} in {wall:.1f} s; CPU {cpu:.1f} s = {n / cpu:.0f} images per CPU-second{startup})")
    return n / wall


def search_child(n: int) -> None:
    """One search in this (fresh) process; prints a JSON line."""
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    hashes = np.random.default_rng(0).integers(0, np.iinfo(np.uint64).max, size=n, dtype=np.uint64, endpoint=True)
    start = time.perf_counter()
    cpu = time.process_time()
    pairs = find_pairs(hashes, DEFAULT_THRESHOLD)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"n": n, "wall": wall, "cpu": cpu, "pairs": len(pairs), "peak_mib": peak, "base_mib": base}))


def search(sizes: list[int]) -> None:
    print(f"duplicate search core (find_pairs, random 64-bit hashes, threshold {DEFAULT_THRESHOLD}), one process each:")
    for n in sizes:
        out = subprocess.run([sys.executable, __file__, "--search-child", str(n)], check=True, capture_output=True, text=True)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        print(
            f"  {n:>12,} hashes: {r['wall']:.1f} s wall, {r['cpu']:.1f} s CPU, {r['pairs']:,} pairs,"
            f" peak RSS {r['peak_mib']:.0f} MiB ({r['peak_mib'] - r['base_mib']:.0f} MiB above the interpreter)"
        )


def duplicate_quality(manifest: Path, truth: Path) -> dict[str, float]:
    """Pair recall and group precision of dedupe's groups against the planted families."""
    frame = pd.read_csv(manifest, usecols=["path", "group"], keep_default_na=False)
    families = pd.read_csv(truth, usecols=["path", "family"]).set_index("path")["family"]
    frame["family"] = frame["path"].map(families)
    pairs = lambda counts: float((counts * (counts - 1) // 2).sum())  # noqa: E731
    true_pairs = pairs(frame["family"].value_counts())
    grouped = frame[frame["group"] != ""]
    found_pairs = pairs(grouped["group"].value_counts())
    right = pairs(grouped.groupby(["group", "family"]).size())
    largest = int(grouped["group"].value_counts().max()) if len(grouped) else 0
    return {"recall": right / true_pairs if true_pairs else 1.0, "precision": right / found_pairs if found_pairs else 1.0,
            "largest": largest}


STEPS = ("scan", "dedupe", "review", "split")
#: The columns of each step's manifest that must not depend on the backend.
COMPARED = {"scan": ["path", "sha256", "phash", "status", "note"], "dedupe": ["path", "group", "status"],
            "review": ["path", "status", "label_quality", "suggested_label"]}


def tree_bench(tree: Path, work: Path, dask_workers: int, backends: list[str], steps: list[str]) -> None:
    """The commands ``steps`` of :data:`STEPS` on ``tree`` with each of ``backends``, measured;
    prints a table. A step not run reads the manifest an earlier run left in ``work``."""
    truth = tree / "truth.csv"
    if not truth.exists():
        sys.exit(f"{truth} not found: make the tree with bench/make_big.py")
    n = sum(1 for _ in open(truth)) - 1
    work.mkdir(parents=True, exist_ok=True)
    print(f"{n:,} images in {tree}; {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start")
    print(f"{'backend':<8} {'command':<26} {'wall s':>8} {'CPU s':>8} {'peak GiB':>9} {'images/s':>9}  duplicates")
    for backend in backends:
        extra = ["--backend", "dask", "--workers", str(dask_workers)] if backend == "dask" else []
        out = {step: work / f"{backend}-{step}.csv" for step in STEPS}
        commands = [
            ("scan", ["scan", str(tree), "-o", str(out["scan"]), *extra]),
            ("dedupe", ["dedupe", str(out["scan"]), "--policy", "keep-one", "-o", str(out["dedupe"]), *extra]),
            ("mislabel-review --probe fast", ["mislabel-review", str(out["dedupe"]), "--probe", "fast", "-o", str(out["review"]), *extra]),
            ("stratify", ["stratify", str(out["review"]), "--ratios", "80/10/10", "-o", str(out["split"])]),
        ]
        for step, (name, args) in zip(STEPS, commands):
            if step not in steps or (backend == "dask" and step == "split"):
                continue  # the split reads no image: the backend plays no part
            r = run_ferclean(*args, sample_memory=True)
            # the stage bars' elapsed times: where a step's wall went
            (work / f"{backend}-{step}.log").write_text(r.stdout + r.stderr)
            quality = ""
            if name == "dedupe":
                q = duplicate_quality(out["dedupe"], truth)
                quality = f"recall {q['recall']:.3f}, group precision {q['precision']:.3f}, largest group {q['largest']}"
            print(f"{backend:<8} {name:<26} {r.wall:8.1f} {r.cpu:8.1f} {r.peak / 2**30:9.2f} {n / r.wall:9.0f}  {quality}",
                  flush=True)
    for step, columns in COMPARED.items():  # this run's manifests, or those an earlier run left
        paths = [work / f"{b}-{step}.csv" for b in ("local", "dask")]
        if step in steps and all(path.exists() for path in paths):
            local, dask = (pd.read_csv(path, usecols=columns, keep_default_na=False).sort_values("path", ignore_index=True)
                           for path in paths)
            print(f"local and dask {step} manifests identical ({', '.join(columns)}): {local.equals(dask)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "fer2013")
    parser.add_argument("--count", type=int, default=5000, help="Faces to generate (the issue's figure is 50,000).")
    parser.add_argument("--workers", default="1,2", help="LocalCluster sizes to time.")
    parser.add_argument("--search", default="1000000,10000000", help="Hash counts for the search core ('' skips).")
    parser.add_argument("--search-child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--tree", type=Path, default=None, help="A bench/make_big.py tree: run the commands on it.")
    parser.add_argument("--work", type=Path, default=Path("runs/scale"), help="With --tree: where the manifests go.")
    parser.add_argument("--dask-workers", type=int, default=2, help="With --tree: LocalCluster workers.")
    parser.add_argument("--backends", default="local,dask", help="With --tree: the backends to run, in order.")
    parser.add_argument("--steps", default=",".join(STEPS), help=f"With --tree: the steps to run, of {','.join(STEPS)}.")
    args = parser.parse_args()
    if args.search_child:
        search_child(args.search_child)
        return
    if args.tree:
        backends, steps = args.backends.split(","), args.steps.split(",")
        if not set(backends) <= {"local", "dask"} or not set(steps) <= set(STEPS):
            sys.exit(f"--backends takes local,dask and --steps {','.join(STEPS)}.")
        tree_bench(args.tree, args.work, args.dask_workers, backends, steps)
        return
    load = os.getloadavg()[0]
    print(f"{os.cpu_count()} CPUs, load average {load:.1f} at start (rates on a shared machine are lower bounds)")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "faces"
        made = make_faces(args.data, root, args.count)
        print(f"made {args.count:,} {SIZE}x{SIZE} JPEG faces from {args.data} in {made:.1f} s")
        print("scan + hash (decode, size, sha256, phash and mirrored phash):")
        scan_rate("local, 1 process", root, LocalBackend(1))
        scan_rate(f"local, {os.cpu_count()} processes", root, LocalBackend())
        for workers in [int(w) for w in args.workers.split(",") if w]:
            with DaskBackend(workers=workers) as backend:
                scan_rate(f"dask LocalCluster, {workers} worker(s)", root, backend)
    if args.search:
        search([int(float(n)) for n in args.search.split(",")])


if __name__ == "__main__":
    main()
