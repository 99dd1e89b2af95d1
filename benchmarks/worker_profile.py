"""Where a grading worker's time goes, step by step, for one submission at a time.

    .venv/bin/python benchmarks/worker_profile.py [--chapters 01_activations ...] [--rounds 2] [--cprofile FILE]

Builds the example class of each chapter (correct, untouched, partial, a deleted and an edited
cell), starts one grading Worker (its fork server included) and grades one submission of each
chapter to warm it up (templates, caches), then every submission `--rounds` times with timers around each step of
worker.py and of the nbgrader pipeline it runs: unpacking, the private course directory and
gradebook, every preprocessor, the kernel's start, its cells, its shutdown, nbconvert's HTML
export, reading the results back. Prints seconds per notebook by step (inclusive times; the
indented rows are parts of the row above them). With `--cprofile FILE` the timed rounds also run
under cProfile (slower; for finding the functions inside a step). A benchmark, not a test.
"""
from __future__ import annotations

import argparse
import cProfile
import functools
import gc
import inspect
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import dlcourse  # noqa: F401
from dlcourse.chapters import COURSE_ID, available_chapters, chapter as find_chapter
from dlcourse_grading import example_class
from dlcourse_grading.grading import prepare_course
from dlcourse_grading.settings import GradingSettings

TIMES: dict[str, float] = defaultdict(float)
COUNTS: dict[str, int] = defaultdict(int)


def timed(label: str, owner, name: str) -> None:
    """Wrap owner.name so that its inclusive time adds up under `label` (async functions too)."""
    original = inspect.getattr_static(owner, name)
    unwrap = isinstance(original, staticmethod)
    func = original.__func__ if unwrap else getattr(owner, name)

    if inspect.iscoroutinefunction(func):
        @functools.wraps(func)
        async def wrapper(*args, **kwargs):
            started = time.perf_counter()
            try:
                return await func(*args, **kwargs)
            finally:
                TIMES[label] += time.perf_counter() - started
                COUNTS[label] += 1
    else:
        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            started = time.perf_counter()
            try:
                return func(*args, **kwargs)
            finally:
                TIMES[label] += time.perf_counter() - started
                COUNTS[label] += 1
    setattr(owner, name, staticmethod(wrapper) if unwrap else wrapper)


#: (label, module, attribute path); indentation in the label shows what a step is part of.
STEPS = [
    ("grade (whole submission)", "dlcourse_grading.engine.worker", "Worker.grade"),
    ("  prepare: unpack + private gradebook", "dlcourse_grading.engine.worker", "Worker._prepare"),
    ("    unpack files", "dlcourse_grading.engine.worker", "write_tree"),
    ("  autograde + feedback converters", "dlcourse_grading.engine.converters", "run"),
    ("    converter set-up (config, coursedir, exporter)", "nbgrader.converters.base", "BaseConverter.__init__"),
    ("    nbgrader Gradebook() opened", "nbgrader.api", "Gradebook.__init__"),
    ("    Autograde.init_assignment (student, submission rows)", "nbgrader.converters.autograde",
     "Autograde.init_assignment"),
    ("    nbformat.read", "nbformat", "read"),
    ("    nbformat.validate", "nbformat", "validate"),
    ("    nbformat.write", "nbformat", "write"),
    ("    exporter: copy + preprocessors", "nbconvert.exporters.exporter", "Exporter.from_notebook_node"),
    ("      RepairStructure", "dlcourse_grading.engine.preprocessors", "RepairStructure.preprocess"),
    ("      ClearOutput", "nbgrader.preprocessors", "ClearOutput.preprocess"),
    ("      DeduplicateIds", "nbgrader.preprocessors", "DeduplicateIds.preprocess"),
    ("      OverwriteKernelspec", "nbgrader.preprocessors", "OverwriteKernelspec.preprocess"),
    ("      OverwriteCells", "nbgrader.preprocessors", "OverwriteCells.preprocess"),
    ("      CheckCellMetadata (x2)", "nbgrader.preprocessors", "CheckCellMetadata.preprocess"),
    ("      RobustExecute (kernel: start, cells, audits, stop)", "dlcourse_grading.engine.preprocessors",
     "RobustExecute.preprocess"),
    ("        kernel manager created", "nbclient.client", "NotebookClient.create_kernel_manager"),
    ("        kernel start (a spare adopted, or a fork)", "nbclient.client", "NotebookClient.start_new_kernel"),
    ("          zygote request (fork + reply; a spare's in its own thread)", "dlcourse_grading.engine.provisioner",
     "request_kernel"),
    ("        kernel client: channels + ready (exec_lines)", "nbclient.client",
     "NotebookClient.start_new_kernel_client"),
    ("        cells (kernel's own time, incl. audits)", "dlcourse_grading.engine.preprocessors",
     "RobustExecute._preprocess_cell"),
    ("        tamper audits", "dlcourse_grading.engine.preprocessors", "RobustExecute._audit"),
    ("        kernel shutdown + cleanup", "nbclient.client", "NotebookClient._cleanup_kernel"),
    ("      IgnorePattern", "nbgrader.preprocessors", "IgnorePattern.preprocess"),
    ("      ClearMetadataPreprocessor", "nbconvert.preprocessors", "ClearMetadataPreprocessor.preprocess"),
    ("      DropTestResults", "dlcourse_grading.engine.preprocessors", "DropTestResults.preprocess"),
    ("      LimitOutput", "nbgrader.preprocessors", "LimitOutput.preprocess"),
    ("      SaveAutoGrades", "nbgrader.preprocessors", "SaveAutoGrades.preprocess"),
    ("      AssignLatePenalties", "nbgrader.preprocessors", "AssignLatePenalties.preprocess"),
    ("      HideHiddenTests", "dlcourse_grading.engine.preprocessors", "HideHiddenTests.preprocess"),
    ("      GetGrades", "nbgrader.preprocessors", "GetGrades.preprocess"),
    ("      CSSHTMLHeaderPreprocessor", "nbconvert.preprocessors", "CSSHTMLHeaderPreprocessor.preprocess"),
    ("    HTML export (HTMLExporter, its preprocessors included)", "nbconvert.exporters.html",
     "HTMLExporter.from_notebook_node"),
    ("      Jinja template render", "jinja2.environment", "Template.render"),
    ("        code highlighting (Pygments)", "nbconvert.filters.highlight", "Highlight2HTML.__call__"),
    ("        markdown to HTML", "nbconvert.exporters.html", "HTMLExporter.markdown2html"),
    ("      BeautifulSoup pass: parse", "bs4", "BeautifulSoup.__init__"),
    ("      BeautifulSoup pass: serialize", "bs4", "BeautifulSoup.decode"),
    ("    nbformat.writes (autograded notebook JSON)", "nbformat", "writes"),
    ("    FilesWriter.write", "nbconvert.writers", "FilesWriter.write"),
    ("  kill strays", "dlcourse_grading.engine.worker", "kill_strays"),
    ("  read back + pack the Outcome", "dlcourse_grading.engine.worker", "Worker._read_back"),
]


def install_timers() -> None:
    import importlib

    for label, module, path in STEPS:
        owner = importlib.import_module(module)
        *parents, name = path.split(".")
        for part in parents:
            owner = getattr(owner, part)
        timed(label, owner, name)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chapters", nargs="*", default=None)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--cprofile", default=None)
    args = parser.parse_args()
    chapters = [find_chapter(c) for c in args.chapters] if args.chapters else available_chapters()

    from dlcourse_grading.engine.recorder import Recorder
    from dlcourse_grading.engine.worker import CPU_OUTSIDE_CELLS, Worker

    with tempfile.TemporaryDirectory(prefix="worker-profile-") as tmp:
        root = Path(tmp)
        prepare_course(root, chapters)
        for ch in chapters:
            example_class.write_class(ch, root)
        settings = GradingSettings.load(root, workers=1)
        with Recorder(settings, COURSE_ID) as recorder:
            subs = [recorder.submission(ch.id, s) for ch in chapters for s in example_class.STUDENTS]
        worker = Worker(settings, 1, str(root / "worker"))
        try:
            for sub in {s.assignment: s for s in subs}.values():  # warm-up: templates, caches, imports
                worker.grade(sub)
            install_timers()
            gc_started = {}

            def gc_time(phase, info):  # time inside the garbage collector, by generation
                if phase == "start":
                    gc_started[0] = time.perf_counter()
                elif 0 in gc_started:
                    TIMES[f"  garbage collector, generation {info['generation']}"] += time.perf_counter() - gc_started.pop(0)
            gc.callbacks.append(gc_time)
            profile = cProfile.Profile() if args.cprofile else None
            kernel = cpu = 0.0
            if profile:
                profile.enable()
            for _ in range(args.rounds):
                for sub in subs:
                    outcome = worker.grade(sub)
                    if outcome.error:
                        print(f"  {sub.assignment}/{sub.student}: {outcome.error}")
                    kernel += outcome.kernel_seconds
                    cpu += outcome.steps[CPU_OUTSIDE_CELLS]
            if profile:
                profile.disable()
                profile.dump_stats(args.cprofile)
        finally:
            worker.close()
    n = args.rounds * len(subs)
    total = TIMES["grade (whole submission)"] / n
    print(f"{n} gradings ({len(subs)} submissions over {len(chapters)} chapter(s), {args.rounds} rounds), "
          f"seconds per notebook{' (under cProfile)' if profile else ''}:")
    for label, _module, _path in STEPS:
        print(f"  {label:<66} {TIMES[label] / n:6.3f}   ({COUNTS[label] / n:.1f} calls)")
    for label in sorted(k for k in TIMES if "garbage" in k):
        print(f"  {label:<66} {TIMES[label] / n:6.3f}")
    print(f"\n  whole submission {total:.3f} s = kernel running cells {kernel / n:.3f} s "
          f"+ grading overhead {total - kernel / n:.3f} s (the grading thread's CPU: {cpu / n:.3f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
