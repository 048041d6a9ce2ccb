"""How long ``ferclean report`` takes on all of FER2013, against ``ferclean dedupe`` timed in the same run.

Run by hand: ``.venv/bin/python bench/report_bench.py [--data ../shared/data/fer2013] [--runs 3]
[--review] [--work DIR]``. It runs, each as a user would from a fresh shell (a new process):

1. ``ferclean dedupe DATA --policy keep-one -o WORK/fer2013-dedup.csv`` (the reference, timed);
2. with ``--review``, once: ``ferclean mislabel-review WORK/fer2013-dedup.csv -o WORK/fer2013-review.csv``
   (the fast probe; its time is printed but is not the figure);
3. ``ferclean report <last manifest> -o WORK/report.html``, ``--runs`` times;

then a second dedupe, so the reference brackets the report runs. It prints each wall time, the
median report time, its ratio to the median dedupe time, the page's size and faces per section,
and the load average before and after. Target: the report in <= 10 s on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import tempfile
from pathlib import Path

from measure import Run, run_ferclean


def timed(args: list[str], label: str) -> Run:
    """One command in a new process (:func:`measure.run_ferclean`, tables 120 columns wide), its wall time printed."""
    run = run_ferclean(*args, columns=120)
    print(f"{label}: {run.wall:.2f} s", flush=True)
    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data" / "fer2013")
    parser.add_argument("--runs", type=int, default=3, help="report runs (median)")
    parser.add_argument("--review", action="store_true", help="add a fast mislabel-review first (about a minute)")
    parser.add_argument("--work", type=Path, default=None, help="folder for the manifests and the page [default: a temporary one]")
    options = parser.parse_args()
    work = options.work or Path(tempfile.mkdtemp(prefix="report-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; {os.cpu_count()} CPUs; work in {work}")
    dedup = work / "fer2013-dedup.csv"
    dedupe_args = ["dedupe", str(options.data), "--policy", "keep-one", "-o", str(dedup)]
    references = [timed(dedupe_args, "dedupe (reference)").wall]
    manifest = dedup
    if options.review:
        manifest = work / "fer2013-review.csv"
        timed(["mislabel-review", str(dedup), "-o", str(manifest)], "mislabel-review --probe fast (once)")
    page = work / "report.html"
    runs = [timed(["report", str(manifest), "-o", str(page)], f"report run {k + 1}") for k in range(options.runs)]
    reports, summary = [r.wall for r in runs], runs[-1].stdout
    references.append(timed(dedupe_args, "dedupe (reference, again)").wall)
    report, reference = statistics.median(reports), statistics.median(references)
    faces = re.findall(r"│ ([A-Za-z ]+?)\s+│\s+([\d,]+) │", summary)
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"page: {page.stat().st_size / 2**20:.1f} MiB; faces: " + ", ".join(f"{name} {count}" for name, count in faces))
    print(f"report_median_s={report:.2f} dedupe_median_s={reference:.2f} report_over_dedupe={report / reference:.2f}"
          f" (target report <= 10 s: {'met' if report <= 10 else 'NOT met'})")
    if options.work is None:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
