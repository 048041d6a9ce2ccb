"""Dedupe benchmark: whole-FER2013 dedupe (stage times, largest group), its accuracy against
the hand-marked check set, and the search core on random hashes (numpy bit-flip multi-index,
numpy chunk-combination index, faiss IndexBinaryMultiHash), each in a fresh process.

Run by hand: ``python bench/dedupe_bench.py [--data ../shared/data/fer2013] [--search 1000000 10000000]``.

The check set ``bench/dedupe_marks.csv`` holds candidate pairs of FER2013 sampled per hash
distance band and per verification-score band (bench/dedupe_checkset.py draws them) and
marked by eye: ``same`` = 1 for the same photograph (re-encoded, re-lit, shifted, cropped,
watermarked), 0 for a different photo, including another frame of the same shoot. Each row's
``weight`` is the number of candidate pairs its band cell stands for, so weighted figures
estimate recall and precision over all candidates within 12 bits. ``source`` says which
sample a row came from: ``v1`` (211 pairs, per hash distance and the first score's bands),
``v2`` (45 pairs drawn at 8-12 bits from the bands around the threshold of the second score,
equalised and zoom-searched, where its verdicts differ most from the first; marked without
seeing the score, on the pair aligned by a small zoom and shift search with its difference
image beside it); five ``v1`` rows were re-marked 0 -> 1 on that aligned view (the aligned
difference showed only resampling edges or an overlay). The v1 and v2 weights come from
different samplings, so the weighted figures are approximate; the raw ones are the headline.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
MARKS = ROOT / "bench" / "dedupe_marks.csv"


def end_to_end(data: Path, workdir: Path) -> Path:
    """``ferclean dedupe DATASET --policy keep-one`` as a user runs it; prints its stage table,
    wall and CPU time, and the dataset facts the README quotes."""
    out = workdir / "x.csv"
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    run = subprocess.run(
        [sys.executable, "-m", "ferclean", "dedupe", str(data), "-o", str(out), "--policy", "keep-one"],
        capture_output=True,
        text=True,
        check=True,
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    stages = run.stdout[run.stdout.index("Stage times") :].split("Report in")[0]
    print(f"ferclean dedupe {data} -o {out}: {wall:.1f} s wall, {cpu:.1f} s CPU (target <= 6 s wall on a quiet 2-core machine)")
    print(stages.rstrip())
    summary = json.loads((workdir / "x_dedupe" / "summary.json").read_text())
    groups = pd.read_csv(workdir / "x_dedupe" / "groups.csv")
    kinds = summary["pairs_by_kind"]
    print(f"  candidates {summary['candidates']:,}; pairs in groups: {kinds.get('exact', 0):,} exact (pixel-identical),"
          f" {kinds.get('near', 0):,} near, {kinds.get('mirror', 0):,} mirror; {summary['groups']:,} groups,"
          f" {int(groups['cross_split'].sum()):,} across splits, {int(groups['conflict'].sum()):,} with a label conflict;"
          f" largest group {summary['largest_group']} (target <= 30)")
    return out


def accuracy(manifest_csv: Path) -> None:
    """Recall and precision of "in one group" against the hand marks (raw and band-weighted)."""
    marks = pd.read_csv(MARKS)
    group = pd.read_csv(manifest_csv, dtype=str, keep_default_na=False).set_index("path")["group"]
    ga, gb = group.loc[marks["path_a"]].to_numpy(), group.loc[marks["path_b"]].to_numpy()
    hit = (ga != "") & (ga == gb)
    same, weight = marks["same"].to_numpy() == 1, marks["weight"].to_numpy()
    print(f"check set: {len(marks)} marked pairs ({same.sum()} same photo, {(~same).sum()} different), within 12 bits")
    print(f"  raw:      recall {hit[same].mean():.3f}  precision {same[hit].mean():.3f}  (aims 0.95 / 0.97)")
    w_recall = (weight * hit)[same].sum() / weight[same].sum()
    w_precision = (weight * same)[hit].sum() / weight[hit].sum()
    print(f"  weighted: recall {w_recall:.3f}  precision {w_precision:.3f}")
    for band, rows in marks.assign(hit=hit).groupby("distance"):
        s = rows["same"] == 1
        print(f"    {band:2d} bits: {len(rows):3d} marked, same {s.sum():3d}, found {rows['hit'][s].sum():3d},"
              f" false {rows['hit'][~s].sum():2d}")


def search_core(method: str, n: int, threshold: int) -> None:
    """One search in this (fresh) process: prints time, peak RSS and a digest of the pairs."""
    from ferclean.dedupe.binary_index import faiss_pairs
    from ferclean.dedupe.combo_index import combination_pairs
    from ferclean.dedupe.search import multi_index_pairs

    search_fn = {
        "multi-index": multi_index_pairs,
        "combination": combination_pairs,
        "faiss-multihash": lambda h, t: faiss_pairs(h, t, "multihash"),
    }[method]

    rng = np.random.default_rng(0)
    hashes = rng.integers(0, np.iinfo(np.uint64).max, size=n, dtype=np.uint64, endpoint=True)
    # Plant neighbours so that there are pairs to agree on.
    planted = hashes[: n // 1000] ^ (np.uint64(1) << rng.integers(0, 64, n // 1000).astype(np.uint64))
    hashes = np.concatenate([hashes, planted])
    start, cpu = time.perf_counter(), time.process_time()
    pairs = search_fn(hashes, threshold)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    digest = hashlib.sha1(np.ascontiguousarray(pairs, dtype=np.int64).tobytes()).hexdigest()[:12]
    print(f"RESULT {method} n={len(hashes)} wall={wall:.1f} cpu={cpu:.1f} peak_mib={peak:.0f} pairs={len(pairs)} digest={digest}")


def search(sizes: list[int], threshold: int = 4) -> None:
    for n in sizes:
        digests = {}
        for method in ("multi-index", "combination", "faiss-multihash"):
            run = subprocess.run(
                [sys.executable, __file__, "--search-core", method, str(n), str(threshold)], capture_output=True, text=True
            )
            line = next((x for x in run.stdout.splitlines() if x.startswith("RESULT")), run.stderr.strip()[-200:])
            print(f"search, {n:,} random hashes, threshold {threshold}: {line}")
            match = re.search(r"digest=(\w+)", line)
            digests[method] = match.group(1) if match else None
        print(f"  identical pairs: {len(set(digests.values())) == 1 and None not in digests.values()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "fer2013")
    parser.add_argument("--search", type=int, nargs="*", default=[1_000_000, 10_000_000], help="Random-hash set sizes.")
    parser.add_argument("--no-dedupe", action="store_true", help="Only the search core.")
    parser.add_argument("--keep", type=Path, default=None, help="Keep the manifest and report in this folder (x.csv).")
    parser.add_argument("--search-core", nargs=3, metavar=("METHOD", "N", "THRESHOLD"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.search_core:
        search_core(args.search_core[0], int(args.search_core[1]), int(args.search_core[2]))
        return
    if not args.no_dedupe:
        with tempfile.TemporaryDirectory() as tmp:
            workdir = args.keep or Path(tmp)
            workdir.mkdir(parents=True, exist_ok=True)
            accuracy(end_to_end(args.data, workdir))
    search(args.search)


if __name__ == "__main__":
    main()
