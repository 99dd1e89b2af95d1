"""Rows for the tables printed at the end of a test run, from whichever process measured them.

Under pytest-xdist the tests run in worker processes and the summary is printed by the
controller, so a row is appended as one JSON line to a file of the run's (a single write with
O_APPEND: lines from two workers never interleave), and the summary reads the files back.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

ENV_FOLDER = "COURSE_TEST_TABLES"


def start() -> None:
    """In the process that prints the summary, before any worker starts: a fresh folder."""
    os.environ[ENV_FOLDER] = tempfile.mkdtemp(prefix="course-test-tables-")


def add(table: str, *row) -> None:
    folder = os.environ.get(ENV_FOLDER)
    if not folder:
        return  # not a pytest run (a test module imported on its own)
    line = (json.dumps(list(row)) + "\n").encode()
    fd = os.open(Path(folder) / f"{table}.jsonl", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


def rows(table: str) -> list[list]:
    folder = os.environ.get(ENV_FOLDER)
    path = Path(folder) / f"{table}.jsonl" if folder else None
    if path is None or not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line]
