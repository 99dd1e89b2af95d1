"""The course's nbgrader settings.

nbgrader reads ``nbgrader_config.py`` from the directory it runs in; that file only loads this
one, so plain ``nbgrader generate_assignment | autograde | generate_feedback | export`` run in
the repository root use these settings without extra flags.

Nothing here is typed twice: the course id and the assignment list come from the course
package's chapter list, and the points come from the nbgrader metadata of the source
notebooks (nbgrader reads them there; ``course manifest`` prints them).
"""
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
if str(ROOT) not in sys.path:  # the course package, even without `pip install -e .`
    sys.path.insert(0, str(ROOT))

from dlcourse import quiet  # noqa: E402,F401  (exports TF's quiet switches to every grading kernel)
from dlcourse.chapters import COURSE_ID, available_chapters  # noqa: E402

#: The assignments nbgrader knows about: one per chapter that has a source notebook.
ASSIGNMENTS = [chapter.id for chapter in available_chapters()]
#: Seconds one cell may run before nbgrader interrupts it. nbgrader's default (30 s) is too
#: tight for a Keras fit on a 1-core hub pod; each chapter's full run stays well under a minute.
CELL_TIMEOUT = 120

# Grading kernels inherit this process's environment: hash-seed for repeatable dict/set order.
os.environ.setdefault("PYTHONHASHSEED", "0")

c = get_config()  # noqa: F821 - provided by traitlets when it loads the file

c.CourseDirectory.root = str(ROOT)
c.CourseDirectory.course_id = COURSE_ID
c.CourseDirectory.db_url = os.environ.get("COURSE_DB_URL", f"sqlite:///{ROOT / 'gradebook.db'}")
# Only the notebook travels with an assignment; caches and checkpoints never do.
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", ".*"]

c.GenerateAssignment.create_assignment = True
c.Autograde.create_student = True

# Grade with the course's kernel whatever kernelspec a submission claims.
c.Execute.kernel_name = "python3"
c.Execute.timeout = CELL_TIMEOUT
c.Execute.startup_timeout = 120
c.Execute.interrupt_on_timeout = True

# A deleted grade cell is put back from source/ (nbgrader's default would score it as missing).
c.OverwriteCells.add_missing_cells = True

# stderr policy. nbgrader scores a test cell zero when it writes to stderr. The course makes
# every graded cell silent (``import dlcourse`` sets TensorFlow's switches, and the tests prove
# the reference solution is silent), and keeps nbgrader's rule for everything a student's own
# code writes there. The one exception is TensorFlow's C++ runtime log (absl format, e.g.
# "I0000 00:00:1700000000.000 123 port.cc:153] ..."), which a GPU or a different CPU can emit
# whatever the student does: such stream outputs are dropped before grading.
c.IgnorePattern.enabled = True
c.IgnorePattern.pattern = (
    r"(?m)^(WARNING: All log messages before absl::InitializeLog\(\)"
    r"|[IWE]\d{4} \d\d:\d\d:\d\d\.\d+\s+\d+ \S+\.(cc|h):\d+\])"
)

# The course's grading engine (dlcourse_grading/engine): submissions whose structure was broken
# (duplicated, reordered, retyped or deleted cells) are repaired first; a dying or hanging kernel
# costs the cells it could not run, never the submission; a test cell's output is never read
# as partial credit; feedback does not show the hidden tests' code.
from nbconvert.preprocessors import ClearMetadataPreprocessor, CSSHTMLHeaderPreprocessor  # noqa: E402
from nbgrader.preprocessors import (AssignLatePenalties, CheckCellMetadata, ClearOutput,  # noqa: E402
                                    DeduplicateIds, GetGrades, IgnorePattern, LimitOutput,
                                    OverwriteCells, OverwriteKernelspec, SaveAutoGrades)

from dlcourse_grading.engine.preprocessors import (DropTestResults, HideHiddenTests,  # noqa: E402
                                                   RepairStructure, RobustExecute)

NOTEBOOK_TIMEOUT = 600
c.Autograde.sanitize_preprocessors = [RepairStructure, ClearOutput, DeduplicateIds, OverwriteKernelspec,
                                      OverwriteCells, CheckCellMetadata]
c.Autograde.autograde_preprocessors = [RobustExecute, IgnorePattern, ClearMetadataPreprocessor, DropTestResults,
                                       LimitOutput, SaveAutoGrades, AssignLatePenalties, CheckCellMetadata]
c.RobustExecute.timeout = CELL_TIMEOUT
c.RobustExecute.notebook_timeout = NOTEBOOK_TIMEOUT
c.GenerateFeedback.preprocessors = [HideHiddenTests, GetGrades, CSSHTMLHeaderPreprocessor]
# A grading kernel's first line: import what the checks use and snapshot it for tamper detection.
c.Execute.extra_arguments = ["--HistoryManager.hist_file=:memory:",
                             "--IPKernelApp.exec_lines=['import dlcourse_grading.checks as _checks; _checks.load_all(); "
                             "import dlcourse_grading.guard as _guard; _guard.start()']"]
