"""Dedupe benchmark: whole FER2013 end to end, and the search core on 1,000,000 hashes.

Run by hand: ``python bench/dedupe_bench.py [--data ../shared/data/fer2013]``.
Prints wall times, peak memory, the index's speed-up over brute force and the distance
histogram that justifies the default threshold.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from ferclean.dedupe.resolve import DEFAULT_THRESHOLD, find_duplicate_pairs
from ferclean.scan import scan_dataset
from ferclean.dedupe.search import brute_force_pairs, multi_index_pairs

ROOT = Path(__file__).resolve().parents[1]


def end_to_end(data: Path, keep: Path | None = None) -> None:
    """``ferclean dedupe DATASET`` as a user runs it: scan, hash, search, report, manifest.

    Prints the wall time, then the dataset facts the README quotes, read from the report.
    ``keep``: a folder to keep the manifest and report in (e.g. for bench/stratify_bench.py).
    """
    with tempfile.TemporaryDirectory() as tmp:
        out = keep or Path(tmp)
        start = time.perf_counter()
        cpu = resource.getrusage(resource.RUSAGE_CHILDREN)
        subprocess.run(
            [sys.executable, "-m", "ferclean", "dedupe", str(data), "-o", f"{out}/fer.csv", "--policy", "keep-one"],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wall = time.perf_counter() - start
        used = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu_s = used.ru_utime + used.ru_stime - cpu.ru_utime - cpu.ru_stime
        print(f"ferclean dedupe on {data} (scan + hash + search + report): {wall:.1f} s wall, {cpu_s:.1f} s CPU (target < 30 s)")
        summary = json.loads((out / "fer_dedupe" / "summary.json").read_text())
        groups = pd.read_csv(out / "fer_dedupe" / "groups.csv")
        kinds = summary["pairs_by_kind"]
        print(
            f"  pairs: {kinds.get('exact', 0):,} exact (pixel-identical), {kinds.get('near', 0):,} near,"
            f" {kinds.get('mirror', 0):,} mirror; {len(groups):,} groups, {int(groups['cross_split'].sum()):,}"
            f" across splits, {int(groups['conflict'].sum()):,} with a label conflict"
        )


def hashing_cores(data: Path) -> None:
    for jobs in (1, 2):
        start = time.perf_counter()
        manifest, _ = scan_dataset(data, jobs=jobs)
        print(f"  scan + hash {len(manifest.frame):,} images with {jobs} worker(s): {time.perf_counter() - start:.1f} s")
    histogram(manifest.frame)


def histogram(frame) -> None:
    pairs = find_duplicate_pairs(frame, threshold=10)
    counts = pairs.groupby("distance").size()
    print("  pairs by phash distance (image or mirror), threshold default", DEFAULT_THRESHOLD)
    for distance, n in counts.items():
        print(f"    {distance:2d} bits: {n:7,}")


def search_core() -> None:
    rng = np.random.default_rng(0)
    hashes = rng.integers(0, np.iinfo(np.uint64).max, size=1_000_000, dtype=np.uint64, endpoint=True)
    start = time.perf_counter()
    pairs = multi_index_pairs(hashes, 4)
    elapsed = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"search core, 1,000,000 random hashes, threshold 4: {elapsed:.1f} s, {len(pairs)} pairs,"
          f" peak RSS {peak:.0f} MiB (targets < 60 s, < 2 GB)")
    subset = hashes[:50_000]
    start = time.perf_counter()
    brute = brute_force_pairs(subset, 4)
    t_brute = time.perf_counter() - start
    start = time.perf_counter()
    index = multi_index_pairs(subset, 4)
    t_index = time.perf_counter() - start
    assert np.array_equal(brute, index)
    print(f"50,000-hash subset: brute force {t_brute:.2f} s, index {t_index:.3f} s, speed-up {t_brute / t_index:.0f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "fer2013")
    parser.add_argument("--core-only", action="store_true", help="Only the search core (run in a fresh process).")
    parser.add_argument("--end-to-end-only", action="store_true", help="Only the end-to-end run and the dataset facts.")
    parser.add_argument("--keep", type=Path, default=None, help="Keep the manifest and report in this folder.")
    args = parser.parse_args()
    if args.core_only:
        search_core()
        return
    end_to_end(args.data, args.keep)
    if args.end_to_end_only:
        return
    hashing_cores(args.data)
    # A fresh process so that its peak RSS is the search alone.
    subprocess.run([sys.executable, __file__, "--core-only"], check=True)


if __name__ == "__main__":
    main()
