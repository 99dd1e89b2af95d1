"""Benchmark: plain serial nbgrader against `course grade-class` on the same class.

    .venv/bin/python benchmarks/grading_benchmark.py [--per-chapter 40] [--chapters 01_activations ...]

Builds a class of at least 40 submissions per chapter present (correct, partly correct,
untouched, adversarial), grades one copy with plain serial `nbgrader autograde` and
`nbgrader generate_feedback` (the course's nbgrader config, one notebook after the other, a fresh
kernel each) and another copy with the course's parallel grader (which also writes feedback), checks that both give the same scores to the well-behaved submissions,
and prints wall time, seconds per notebook, peak memory of each grader's process tree and the
ratio. A benchmark, not a test: numbers depend on the machine.
"""
from __future__ import annotations

import argparse
import copy
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import nbformat
import pandas as pd
import psutil

import dlcourse  # noqa: F401
from dlcourse.chapters import available_chapters, chapter as find_chapter
from dlcourse_grading import example_class
from dlcourse_grading.engine.classgrader import grade_class
from dlcourse_grading.engine.provisioner import tree_rss
from dlcourse_grading.grading import prepare_course, score_table
from dlcourse_grading.nbgrader_cli import nbgrader
from dlcourse_grading.settings import GradingSettings
from dlcourse_grading.notebook import nbgrader_meta

#: Share of each kind of submission in a chapter's class (the rest are correct).
MIX = {"cam_partial": 0.25, "ben_untouched": 0.2}
ADVERSARIAL = {
    "adv_deleted_cell": "dee_deleted_cell",
    "adv_edited_cell": "eli_edited_cell",
    "adv_os_exit": None,
    "adv_invalid_json": None,
}


def write_class(ch, root: Path, size: int) -> set[str]:
    """Submissions for one chapter; returns the ids of the well-behaved students."""
    base = example_class.submissions(ch)
    kinds = []
    for kind, share in MIX.items():
        kinds += [kind] * int(size * share)
    kinds += ["ada_reference"] * (size - len(kinds) - len(ADVERSARIAL))
    well_behaved = set()
    for number, kind in enumerate(kinds):
        student = f"s{number:03d}_{kind.split('_')[1]}"
        _write(root, ch, student, copy.deepcopy(base[kind]))
        well_behaved.add(student)
    for student, kind in ADVERSARIAL.items():
        if kind:
            _write(root, ch, student, copy.deepcopy(base[kind]))
        elif student == "adv_os_exit":
            nb = copy.deepcopy(base["ada_reference"])
            solution = next(c for c in nb.cells if nbgrader_meta(c).get("solution") and c.cell_type == "code")
            solution.source = "import os\nos._exit(1)"
            _write(root, ch, student, nb)
        else:
            folder = root / "submitted" / student / ch.id
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"{ch.id}.ipynb").write_text('{"cells": [')
    return well_behaved


def two_copies(tmp: str, names: tuple[str, str], chapters, per_chapter: int):
    """The benchmark's class in two identical course directories under `tmp`: their roots, the
    well-behaved students per chapter, and the number of submissions."""
    first, second = Path(tmp, names[0]), Path(tmp, names[1])
    prepare_course(first, chapters)
    well_behaved = {ch.id: write_class(ch, first, per_chapter) for ch in chapters}
    shutil.copytree(first, second)
    return first, second, well_behaved, sum(1 for _ in (first / "submitted").glob("*/*/*.ipynb"))


def _write(root, ch, student, nb):
    folder = root / "submitted" / student / ch.id
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(folder / f"{ch.id}.ipynb"))


class PeakMemory(threading.Thread):
    """Peak resident memory of this process and all its descendants, sampled every 0.2 s."""

    def __init__(self):
        super().__init__(daemon=True)
        self.peak, self._halt = 0, threading.Event()

    def run(self):
        while not self._halt.wait(0.2):
            self.peak = max(self.peak, tree_rss(os.getpid()))

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self._halt.set()
        self.join()


def serial_nbgrader(root: Path, chapters) -> float:
    """The same work the course's grader does: autograde, then feedback, one notebook at a time."""
    started = time.perf_counter()
    for ch in chapters:
        for command in ("autograde", "generate_feedback"):
            try:
                nbgrader(command, ch.id, "--force", root=root)
            except Exception as exc:  # nbgrader exits non-zero when a submission fails (the invalid file)
                print(f"  nbgrader {command} {ch.id} reported failures: {str(exc).splitlines()[0]}")
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--per-chapter", type=int, default=40)
    parser.add_argument("--chapters", nargs="*", default=None)
    parser.add_argument("--workers", type=int, default=None)
    args = parser.parse_args()
    chapters = [find_chapter(c) for c in args.chapters] if args.chapters else available_chapters()

    with tempfile.TemporaryDirectory(prefix="grading-benchmark-") as tmp:
        serial_root, engine_root, well_behaved, count = two_copies(tmp, ("serial", "engine"), chapters,
                                                                   args.per_chapter)
        print(f"class: {count} submissions over {len(chapters)} chapter(s) "
              f"({args.per_chapter} per chapter: correct, partial, untouched, adversarial)")

        print("grading with plain serial `nbgrader autograde` + `nbgrader generate_feedback` ...", flush=True)
        with PeakMemory() as serial_mem:
            serial_s = serial_nbgrader(serial_root, chapters)
        print(f"  {serial_s:.1f} s", flush=True)
        print("grading with `course grade-class` ...", flush=True)
        with PeakMemory() as engine_mem:
            run = grade_class(GradingSettings.load(engine_root, workers=args.workers),
                              [ch.id for ch in chapters], progress=False)
        engine_s = run.seconds
        print(f"  {engine_s:.1f} s", flush=True)

        serial, engine = score_table(serial_root, chapters), score_table(engine_root, chapters)
        mismatches = []
        for ch in chapters:
            for student in sorted(well_behaved[ch.id]):
                a, b = serial.loc[student, ch.id], engine.loc[student, ch.id]
                if not a.equals(b):
                    mismatches.append(f"{ch.id}/{student}")
        rows = [("plain serial nbgrader autograde + generate_feedback", serial_s, serial_mem.peak),
                (f"course grade-class ({'forked kernels' if run.fork else 'normal kernels'})", engine_s, engine_mem.peak)]
        table = pd.DataFrame([{"grader": g, "wall s": round(s, 1), "s / notebook": round(s / count, 2),
                               "peak memory MiB": round(m / 2**20)} for g, s, m in rows])
        print("\n" + table.to_string(index=False))
        print(f"\nspeed-up (serial / course): {serial_s / engine_s:.1f}x   "
              f"workers: {args.workers or psutil.cpu_count()}   notebooks: {count}")
        total = sum(len(v) for v in well_behaved.values())
        print(f"scores on the {total} well-behaved submissions: "
              f"{'identical' if not mismatches else 'DIFFERENT for ' + ', '.join(mismatches)}")
        return 1 if mismatches else 0


if __name__ == "__main__":
    sys.exit(main())
