"""Run the real nbgrader commands against a course directory.

The course's nbgrader_config.py (which loads grading_config.py) lives in the repository root,
so the commands always run there; a different course directory (a temporary one in tests,
one per `course grade` call) is given with --CourseDirectory.root and its own gradebook.
"""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

from dlcourse.chapters import ROOT
from dlcourse_grading.paths import VENV_BIN
from dlcourse_grading.settings import default_db_url


class NbgraderError(RuntimeError):
    pass


def nbgrader(*args: str, root: Path = ROOT, db_url: str | None = None, log: Path | None = None) -> str:
    """Run `nbgrader ARGS` for the course at `root` (and its gradebook: `db_url`, by default
    COURSE_DB_URL or the SQLite file in `root`); return its log, raise if it fails."""
    root = Path(root).resolve()
    env = {**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    cmd = [str(VENV_BIN / "nbgrader"), *args,
           f"--CourseDirectory.root={root}", f"--CourseDirectory.db_url={db_url or default_db_url(root)}"]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    output = proc.stdout + proc.stderr
    if log is not None:
        with open(log, "a") as fh:
            fh.write(f"$ nbgrader {' '.join(args)}\n{output}\n")
    if proc.returncode != 0:
        raise NbgraderError(f"nbgrader {' '.join(args)} failed ({proc.returncode}):\n{output[-3000:]}")
    return output
