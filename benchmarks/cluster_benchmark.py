"""Benchmark: the same class graded by local workers and on a two-worker loopback Dask cluster.

    .venv/bin/python benchmarks/cluster_benchmark.py [--per-chapter 15] [--workers 2]

Builds the grading benchmark's class (correct, partial, untouched, adversarial submissions),
grades one copy with `course grade-class` on local workers and one on a real `dask scheduler`
with the same number of `dask worker` processes on 127.0.0.1, checks that the well-behaved
submissions get identical scores, and prints the throughput of each (submissions per
worker-minute), the cluster path's overhead against the local one, per notebook the kernel's
own execution time against everything else grading spends on it (by step of the worker), and
how many workers grade 2,000 submissions of each chapter in 15 minutes. All chapters present
unless `--chapters` names some. A benchmark, not a test: numbers depend on the machine.
"""
from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import pandas as pd  # noqa: E402

from grading_benchmark import two_copies  # noqa: E402  (the same class as the grading benchmark)

from dlcourse.chapters import available_chapters, chapter as find_chapter  # noqa: E402
from dlcourse_grading.engine.classgrader import grade_class  # noqa: E402
from dlcourse_grading.engine.cluster import LoopbackCluster  # noqa: E402
from dlcourse_grading.engine.worker import CPU_OUTSIDE_CELLS  # noqa: E402
from dlcourse_grading.grading import score_table  # noqa: E402
from dlcourse_grading.settings import GradingSettings  # noqa: E402

#: The sizing question of a large class: every submission of a chapter graded within this.
SIZING_SUBMISSIONS, SIZING_MINUTES = 2000, 15


#: The rows of the per-notebook breakdown: (label, the worker's step names it adds up).
BREAKDOWN = [
    ("private course dir + gradebook copy", ("prepare",)),
    ("assignment set-up (once per worker)", ("assignment set-up",)),
    ("kernel start (fork from the zygote)", ("kernel start",)),
    ("kernel ready (client, start-up line)", ("kernel ready",)),
    ("tamper audits after test cells", ("tamper audits",)),
    ("kernel shutdown", ("kernel shutdown",)),
    ("rest of autograde (sanitize, gradebook)", ()),  # autograde minus the rows above and the cells
    ("feedback (grades, HTML)", ("feedback",)),
    ("kill strays + read back the results", ("kill strays", "read back")),
]
KERNEL_STEPS = ("kernel start", "kernel ready", "tamper audits", "kernel shutdown")


def breakdown(run) -> dict:
    """Seconds per graded notebook by step, the kernel's own cell time apart."""
    jobs = [j for j in run.jobs if j.status == "graded" and j.steps]
    mean = lambda f: sum(f(j) for j in jobs) / len(jobs)  # noqa: E731
    rows = {"kernel running cells": mean(lambda j: j.kernel_seconds)}
    for label, names in BREAKDOWN:
        if names:
            rows[label] = mean(lambda j: sum(j.steps.get(n, 0.0) for n in names))
        else:
            rows[label] = mean(lambda j: j.steps.get("autograde", 0.0) - j.kernel_seconds
                               - sum(j.steps.get(n, 0.0) for n in KERNEL_STEPS))
    rows["unaccounted"] = mean(lambda j: j.seconds) - sum(rows.values())  # before the CPU row below
    rows["grading overhead (all but the cells)"] = mean(lambda j: j.seconds - j.kernel_seconds)
    rows["  of which the grading thread's CPU"] = mean(lambda j: j.steps.get(CPU_OUTSIDE_CELLS, 0.0))
    return rows


def summary(name: str, run, workers: int) -> dict:
    jobs = [j for j in run.jobs if j.status == "graded"]
    kernel = sum(j.kernel_seconds for j in jobs) / len(jobs)
    in_worker = sum(j.seconds for j in jobs) / len(jobs)
    return {"grader": name, "wall s": run.seconds, "per worker-minute": len(run.jobs) / (workers * run.seconds / 60),
            "kernel s/nb": kernel, "worker overhead s/nb": in_worker - kernel,
            "all overhead s/nb": workers * run.seconds / len(run.jobs) - kernel}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--per-chapter", type=int, default=15)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--chapters", nargs="*", default=None)
    args = parser.parse_args()
    chapters = [find_chapter(c) for c in args.chapters] if args.chapters else available_chapters()
    ids = [ch.id for ch in chapters]

    with tempfile.TemporaryDirectory(prefix="cluster-benchmark-") as tmp:
        local_root, cluster_root, well_behaved, count = two_copies(tmp, ("local", "cluster"), chapters,
                                                                   args.per_chapter)
        print(f"class: {count} submissions over {len(chapters)} chapter(s), {args.workers} workers each way", flush=True)

        print("local workers ...", flush=True)
        local = grade_class(GradingSettings.load(local_root, workers=args.workers), ids, progress=False)
        print(f"  {local.seconds:.1f} s", flush=True)
        print("loopback Dask cluster (scheduler + workers started first, not timed) ...", flush=True)
        with LoopbackCluster(Path(tmp, "dask"), workers=args.workers) as cluster:
            started = time.perf_counter()
            remote = grade_class(GradingSettings.load(cluster_root, scheduler=cluster.address), ids, progress=False)
            print(f"  {remote.seconds:.1f} s ({time.perf_counter() - started:.1f} s with the client)", flush=True)

        a, b = score_table(local_root, chapters), score_table(cluster_root, chapters)
        same = all(a.loc[s, ch].equals(b.loc[s, ch]) for ch in ids for s in sorted(well_behaved[ch]))
        table = pd.DataFrame([summary("local workers", local, args.workers),
                              summary("Dask cluster", remote, args.workers)]).set_index("grader")
        print()
        print(table.to_string(float_format=lambda v: f"{v:.2f}"))
        overhead = remote.seconds / local.seconds - 1
        print(f"\ncluster path against local: {overhead:+.1%} wall time (target: within 10%)")
        steps = pd.DataFrame({"local workers": breakdown(local), "Dask cluster": breakdown(remote)})
        print("\nper notebook, in a worker (s):")
        print(steps.to_string(float_format=lambda v: f"{v:.3f}"))
        print(f"scores on the {sum(map(len, well_behaved.values()))} well-behaved submissions: "
              f"{'identical' if same else 'DIFFERENT'}")
        print(f"\nsizing: workers (one core each) to grade {SIZING_SUBMISSIONS} submissions of a chapter "
              f"in {SIZING_MINUTES} minutes, from the cluster run's seconds per submission")
        for ch in ids:
            jobs = [j for j in remote.jobs if j.assignment == ch]
            seconds = sum(j.seconds for j in jobs) / len(jobs)
            kernel = sum(j.kernel_seconds for j in jobs) / len(jobs)
            print(f"  {ch:<22} {seconds:5.2f} s per submission (kernel {kernel:4.2f} + overhead "
                  f"{seconds - kernel:4.2f}) -> {math.ceil(SIZING_SUBMISSIONS * seconds / (SIZING_MINUTES * 60))} workers")
        return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
