"""Where things live, in one place."""
from __future__ import annotations

import sys
from pathlib import Path

from dlcourse.chapters import ROOT

#: Folder of the interpreter running us: nbgrader shells out to `alembic` and `jupyter` from it.
VENV_BIN = Path(sys.executable).parent
GRADEBOOK = ROOT / "gradebook.db"
MANIFEST = ROOT / "manifest.json"


def db_url(root: Path) -> str:
    return f"sqlite:///{Path(root).resolve() / 'gradebook.db'}"
