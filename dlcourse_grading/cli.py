"""`course`: the instructor's command line.

    course release                      regenerate release/ from source/ with nbgrader
    course example-class                the README's main job (release, grade the example class, report)
    course grade NOTEBOOK ASSIGNMENT    grade one notebook, print a table per test cell (--json: JSON)
    course grade-class [ASSIGNMENT...]  grade submitted/ in parallel (nbgrader's gradebook, autograded/, feedback/)
    course manifest [--check]           print the exercise manifest (or check manifest.json)
    course report [--root DIR]          instructor report (HTML) and a grades file per exercise
    course hub [--base DIR] [--port P]  a real JupyterHub classroom on loopback (as root)
    course postgres start|stop          a throwaway PostgreSQL server for the gradebook (COURSE_DB_URL)
    course book [--executed DIR]        the course as a static HTML book in build/book/html/ (offline)
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import dlcourse  # noqa: F401  (quiet TensorFlow for everything below)
from dlcourse.chapters import ROOT, available_chapters
from dlcourse_grading.paths import MANIFEST

EXAMPLE_ROOT = ROOT / "build" / "example_class"


def cmd_manifest(args) -> int:
    from dlcourse_grading.manifest import manifest_json

    text = manifest_json()
    if args.write:
        MANIFEST.write_text(text)
        print(f"wrote {MANIFEST.relative_to(ROOT)}")
    elif args.check:
        if not MANIFEST.exists() or MANIFEST.read_text() != text:
            print("manifest.json is out of date: run `course manifest --write`", file=sys.stderr)
            return 1
        print("manifest.json is up to date")
    else:
        sys.stdout.write(text)
    return 0


def cmd_release(args) -> int:
    from dlcourse_grading.grading import release_all

    chapters = available_chapters()
    release_all(chapters)
    print("release/ regenerated for: " + ", ".join(ch.id for ch in chapters))
    return 0


def cmd_grade(args) -> int:
    from dlcourse_grading.grading import grade_notebook

    results = grade_notebook(Path(args.notebook).resolve(), args.assignment, student=args.student,
                             cell_timeout=args.cell_timeout, notebook_timeout=args.notebook_timeout)
    points, max_points = sum(r.points for r in results), sum(r.max_points for r in results)
    if args.json:  # interface 2, for scripts
        json.dump({"assignment": args.assignment, "notebook": str(args.notebook), "points": points,
                   "max_points": max_points, "cells": [r.to_dict() for r in results]}, sys.stdout, indent=2)
        print()
    else:
        print(grade_table(results, f"{args.notebook} ({args.assignment}): {points:g} of {max_points:g} points"))
    return 0


def grade_table(results, title: str, width: int = 100) -> str:
    """One row per test cell: the test, its points, its status and the first line of its message."""
    import textwrap

    rows = [(r.grade_id, f"{r.points:g}/{r.max_points:g}", r.status, (r.message.splitlines() or [""])[0])
            for r in results]
    widths = [max([len(h)] + [len(row[i]) for row in rows]) for i, h in enumerate(("test cell", "points", "status"))]
    lines = [title, "", "  ".join(h.ljust(w) for h, w in zip(("test cell", "points", "status"), widths)) + "  message"]
    indent = sum(widths) + 6
    for row in rows:
        head = "  ".join(value.ljust(w) for value, w in zip(row, widths))
        message = textwrap.wrap(row[3], max(width - indent, 30)) or [""]
        lines.append(f"{head}  {message[0]}")
        lines += [" " * indent + more for more in message[1:]]
    return "\n".join(lines)


def cmd_grade_class(args) -> int:
    import pandas as pd

    from dlcourse_grading.engine import classgrader, sandbox
    from dlcourse_grading.grading import class_results
    from dlcourse_grading.nbgrader_cli import nbgrader
    from dlcourse_grading.settings import GradingSettings

    settings = GradingSettings.load(args.root, workers=args.workers, fork=False if args.no_fork else None,
                                    scheduler=args.scheduler,
                                    cell_timeout=args.cell_timeout, notebook_timeout=args.notebook_timeout,
                                    memory_mb=args.memory_mb)
    root = settings.root
    assignments = args.assignments or [ch.id for ch in available_chapters()]
    run = classgrader.grade_class(settings, assignments, args.student or None)
    jobs = run.jobs
    if not jobs:
        print("no submissions found under submitted/STUDENT/ASSIGNMENT/")
        return 1
    results = class_results(root, jobs, settings.db_url)
    nbgrader("export", f"--CsvExportPlugin.to={root / 'grades.csv'}", root=root, db_url=settings.db_url)
    for warning in run.warnings:
        print(f"warning: {warning}")
    print(f"graded {len(jobs)} notebooks in {run.seconds:.1f} s ({run.seconds / len(jobs):.2f} s per notebook, "
          f"{run.workers} workers, kernels {'forked from a TensorFlow-loaded zygote' if run.fork else 'started normally'})")
    print("protections: " + "; ".join(sandbox.protections(run.limits, run.fork)))
    totals = results.groupby(["assignment", "student"])[["points", "max_points"]].sum()
    with pd.option_context("display.width", 200, "display.max_rows", 500, "display.max_colwidth", 90):
        print(f"\n{totals.to_string()}\n")
        problems = results[~results["status"].isin(["passed", "failed", "error"])]
        if len(problems) or (results["grader_error"] != "").any() or (results["notes"] != "").any():
            print("what went wrong where:")
            if len(problems):
                print(problems[["assignment", "student", "grade_id", "status", "points", "message"]].to_string(index=False))
            for (a, s), group in results.groupby(["assignment", "student"]):
                extra = "; ".join(x for x in {group["notes"].iloc[0], group["grader_error"].iloc[0]} if x)
                if extra:
                    print(f"  {a} / {s}: {extra}")
        else:
            print("every test cell ran to a pass or an ordinary failure")
    print(f"\ngradebook: {settings.db_url}\nfeedback:  {root / 'feedback'}\ngrades:    {root / 'grades.csv'}")
    return 0


def cmd_report(args) -> int:
    from dlcourse_grading.report import build_report

    html_path, csv_path = build_report(Path(args.root), Path(args.out))
    print(f"report: {html_path}\ngrades by exercise: {csv_path}")
    return 0


def cmd_postgres(args) -> int:
    from dlcourse_grading.pgserver import PostgresServer

    server = PostgresServer(Path(args.dir))
    if args.action == "start":
        server.start()
        print(f"PostgreSQL on 127.0.0.1:{server.port} (data {server.data}); use it with:\n"
              f"export COURSE_DB_URL={server.url}")
    else:
        server.stop()
        print("PostgreSQL stopped")
    return 0


def cmd_hub(args) -> int:
    from dlcourse_grading.classroom import INSTRUCTOR, STUDENTS, Classroom
    from dlcourse_grading.engine import sandbox
    from dlcourse_grading.hub import Hub

    if not sandbox.is_root():
        print("course hub runs as root: it creates the class's Unix accounts and spawns their servers", file=sys.stderr)
        return 1
    room = Classroom(Path(args.base).resolve())
    room.setup()
    hub = Hub(room, port=args.port) if args.port else Hub(room)
    hub.start()
    try:
        instructor = hub.user(INSTRUCTOR)
        for ch in available_chapters():  # what an instructor does first: generate and release
            instructor.formgrader("POST", f"assignment/{ch.id}/assign")
            instructor.formgrader("POST", f"assignment/{ch.id}/release")
        print(f"JupyterHub: {hub.url}/hub/login   (log: {room.hub_state / 'jupyterhub.log'})")
        print(f"instructor: {INSTRUCTOR}   students: {', '.join(STUDENTS)}   password: {room.password}")
        print(f"course directory: {room.course}   exchange: {room.exchange}")
        print("released: " + ", ".join(ch.id for ch in available_chapters()))
        print(f"grade what the instructor collected with: sudo .venv/bin/course grade-class --root {room.course}")
        print("Ctrl-C stops the hub and every user's server.", flush=True)
        while hub.process.poll() is None:
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        hub.stop()
    return 0


def cmd_book(args) -> int:
    from dlcourse_grading import book

    try:
        if args.install_mathjax:
            print(f"MathJax: {book.install_mathjax().relative_to(ROOT)}")
            return 0
        started = time.perf_counter()
        built = book.build(Path(args.out).resolve(), executed=Path(args.executed).resolve() if args.executed else None,
                           timeout=args.cell_timeout)
    except book.BookError as err:
        print(f"course book: {err}", file=sys.stderr)
        return 1
    for step, seconds in built.seconds.items():
        print(f"  {step:<40}{seconds:>7.1f} s")
    print(f"book: {built.index}   ({time.perf_counter() - started:.0f} s; it loads nothing from the network)")
    return 0


def cmd_example_class(args) -> int:
    import pandas as pd

    from dlcourse_grading.grading import expected_table, release_all, run_example_class

    chapters = available_chapters()
    started = time.perf_counter()
    print(f"1/3 regenerating release/ from source/ for {', '.join(ch.id for ch in chapters)}", flush=True)
    release_all(chapters)
    if EXAMPLE_ROOT.exists():
        shutil.rmtree(EXAMPLE_ROOT)
    EXAMPLE_ROOT.mkdir(parents=True)
    log = EXAMPLE_ROOT / "nbgrader.log"
    print(f"2/3 grading the example class with nbgrader autograde, generate_feedback, export "
          f"(course directory {EXAMPLE_ROOT.relative_to(ROOT)})", flush=True)
    table = run_example_class(EXAMPLE_ROOT, chapters, log=log)
    expected = expected_table(chapters)
    print("3/3 scores from nbgrader's gradebook (student x test cell):\n")
    with pd.option_context("display.width", 200, "display.max_columns", 50):
        for ch in chapters:
            part = table[ch.id].copy()
            part.columns = [c.removeprefix("test_") for c in part.columns]
            part["total"] = part.sum(axis=1)
            print(f"{ch.id}\n{part.to_string(float_format=lambda v: f'{v:g}')}\n")
    same = table.reindex_like(expected).equals(expected)
    print(f"scores match the expected example-class scores: {'yes' if same else 'NO'}")
    print(f"feedback:   {(EXAMPLE_ROOT / 'feedback').relative_to(ROOT)}/STUDENT/ASSIGNMENT/*.html")
    print(f"grades:     {(EXAMPLE_ROOT / 'grades.csv').relative_to(ROOT)}")
    print(f"gradebook:  {(EXAMPLE_ROOT / 'gradebook.db').relative_to(ROOT)}   nbgrader log: {log.relative_to(ROOT)}")
    print(f"done in {time.perf_counter() - started:.0f} s")
    return 0 if same else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="course", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("manifest", help="print the exercise manifest as JSON")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--write", action="store_true", help="write manifest.json")
    group.add_argument("--check", action="store_true", help="fail if manifest.json is out of date")
    p.set_defaults(func=cmd_manifest)
    sub.add_parser("release", help="regenerate release/ from source/").set_defaults(func=cmd_release)
    p = sub.add_parser("grade", help="grade one notebook, print a table (or JSON) per test cell")
    p.add_argument("notebook")
    p.add_argument("assignment")
    p.add_argument("--json", action="store_true", help="print JSON (interface 2) instead of a table")
    p.add_argument("--student", default="student", help="the student id its grades are recorded under")
    p.add_argument("--cell-timeout", type=int, default=None, help="seconds per cell (default: grading_config.py's)")
    p.add_argument("--notebook-timeout", type=int, default=None, help="seconds per notebook (default: grading_config.py's)")
    p.set_defaults(func=cmd_grade)
    p = sub.add_parser("grade-class", help="grade submitted/ in parallel into nbgrader's gradebook")
    p.add_argument("assignments", nargs="*", help="assignment ids (default: every chapter present)")
    p.add_argument("--student", action="append", help="regrade only this student (repeatable)")
    p.add_argument("--workers", type=int, default=None, help="parallel workers (default: one per core)")
    p.add_argument("--root", default=str(ROOT), help="nbgrader course directory (default: the repository)")
    p.add_argument("--cell-timeout", type=int, default=None, help="seconds per cell (default: grading_config.py's)")
    p.add_argument("--notebook-timeout", type=int, default=None,
                   help="seconds per notebook (default: grading_config.py's)")
    p.add_argument("--memory-mb", type=int, default=None, help="resident MiB per kernel (default: 1536)")
    p.add_argument("--no-fork", action="store_true", help="start every kernel normally (the safe, slow path)")
    p.add_argument("--scheduler", default=None,
                   help="grade on the Dask cluster of this scheduler (tcp://HOST:PORT) instead of local workers")
    p.set_defaults(func=cmd_grade_class)
    p = sub.add_parser("report", help="instructor report from the gradebook (HTML + grades per exercise)")
    p.add_argument("--root", default=str(ROOT), help="nbgrader course directory (default: the repository)")
    p.add_argument("--out", default=str(ROOT / "build" / "report"))
    p.set_defaults(func=cmd_report)
    p = sub.add_parser("postgres", help="a throwaway PostgreSQL server on loopback for the gradebook")
    p.add_argument("action", choices=["start", "stop"])
    p.add_argument("--dir", default="/tmp/course-postgres", help="its data directory and log")
    p.set_defaults(func=cmd_postgres)
    p = sub.add_parser("hub", help="start a real JupyterHub classroom on loopback (as root)")
    p.add_argument("--base", default="/srv/course-classroom", help="homes, exchange and hub state")
    p.add_argument("--port", type=int, default=None, help="public port (default: a free one)")
    p.set_defaults(func=cmd_hub)
    p = sub.add_parser("book", help="build the course as a static HTML book (executed lectures, release assignments)")
    p.add_argument("--executed", default=None, metavar="DIR",
                   help="take the executed lectures from DIR/NN_topic.ipynb instead of executing them")
    p.add_argument("--out", default=str(ROOT / "build" / "book"), help="the book's folder (the site is OUT/html)")
    p.add_argument("--cell-timeout", type=int, default=120, help="seconds per lecture cell")
    p.add_argument("--install-mathjax", action="store_true",
                   help="only install MathJax from the npm registry into .mathjax/ (once; the set-up step)")
    p.set_defaults(func=cmd_book)
    sub.add_parser("example-class", help="release, grade the example class, print the score table").set_defaults(func=cmd_example_class)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
