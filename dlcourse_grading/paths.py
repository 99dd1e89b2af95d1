"""Where things live, in one place."""
from __future__ import annotations

import sys
from pathlib import Path

from dlcourse.chapters import ROOT

#: Folder of the interpreter running us: nbgrader shells out to `alembic` and `jupyter` from it.
VENV_BIN = Path(sys.executable).parent
GRADEBOOK = ROOT / "gradebook.db"
MANIFEST = ROOT / "manifest.json"



def venv_on_path() -> None:
    """nbgrader runs `alembic` from PATH when it creates a gradebook: make it this venv's."""
    import os

    entries = os.environ.get("PATH", "").split(os.pathsep)
    if str(VENV_BIN) not in entries:
        os.environ["PATH"] = os.pathsep.join([str(VENV_BIN), *entries])
