"""One settings object for a grading run, built once and passed to whatever needs it.

The values come from the course's nbgrader settings (``grading_config.py``, through
``nbgrader_config.py``), then from the command line; nothing downstream reads either source
again. The workers receive the object itself (it is plain data), so what a kernel runs under
is what the run printed.
"""
from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from dlcourse.chapters import ROOT
from dlcourse_grading.engine.sandbox import Limits

#: The environment variable that points every course command at another gradebook (PostgreSQL).
ENV_DB_URL = "COURSE_DB_URL"


def sqlite_url(root: Path) -> str:
    return f"sqlite:///{Path(root).resolve() / 'gradebook.db'}"


def default_db_url(root: Path) -> str:
    """The gradebook of the course directory `root`: COURSE_DB_URL if set, else its SQLite file."""
    return os.environ.get(ENV_DB_URL) or sqlite_url(root)


@dataclass(frozen=True)
class GradingSettings:
    """Everything a grading run depends on: where, into which gradebook, under which limits."""
    root: Path
    db_url: str
    limits: Limits = field(default_factory=Limits)
    workers: int = 1
    fork: bool = True
    scheduler: str | None = None     # a Dask scheduler's address: grade on that cluster

    @classmethod
    def load(cls, root: Path | str = ROOT, *, db_url: str | None = None, workers: int | None = None,
             fork: bool | None = None, scheduler: str | None = None, **limits) -> "GradingSettings":
        """grading_config.py's values, overridden by every argument that is not None.

        `limits` are :class:`~dlcourse_grading.engine.sandbox.Limits` fields (cell_timeout,
        notebook_timeout, memory_mb, ...)."""
        from dlcourse_grading.engine.converters import course_config
        from dlcourse_grading.engine.zygote import gpu_present

        config = course_config()
        base = Limits(cell_timeout=int(config.RobustExecute.timeout),
                      notebook_timeout=int(config.RobustExecute.notebook_timeout))
        chosen = replace(base, **{k: v for k, v in limits.items() if v is not None})
        return cls(root=Path(root).resolve(), db_url=db_url or default_db_url(root), limits=chosen,
                   workers=max(1, workers or os.cpu_count() or 1),
                   fork=(not gpu_present()) if fork is None else fork, scheduler=scheduler)

    def to_dict(self) -> dict:
        data = asdict(self)
        data["root"] = str(self.root)
        return data
