"""The gradebook's one writer: the coordinator's side of a grading run.

It packs each submission with what a worker needs (:meth:`Recorder.submission`) and writes each
:class:`~.protocol.Outcome` back (:meth:`Recorder.record`): the student, the submission and
every grade, comment and late penalty in **one transaction**, then the autograded notebook and
feedback into the course directory. Workers run in parallel; this runs in one process, so two
submissions of the same new student can never race to create it, and a failure while writing
one submission rolls back that submission alone.
"""
from __future__ import annotations

import shutil
import time
from pathlib import Path

from sqlalchemy.exc import OperationalError

from nbgrader import utils
from nbgrader.api import (Comment, Grade, Gradebook, MissingEntry, Student, SubmittedAssignment,
                          SubmittedNotebook)

from dlcourse_grading.engine.protocol import Outcome, Submission, read_tree, write_tree

#: How long a lost database server may take to come back before a submission's grades are
#: reported unrecorded: a PostgreSQL restart takes a few seconds, a failover up to a minute.
RECONNECT_PATIENCE_S = 120


class Recorder:
    def __init__(self, settings, course_id: str):
        self.root = Path(settings.root)
        self.gb = Gradebook(settings.db_url, course_id)

    def close(self) -> None:
        self.gb.close()

    def __enter__(self) -> "Recorder":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------------ what a task carries

    def submission(self, assignment: str, student: str) -> Submission:
        record = self.gb.find_assignment(assignment)
        manual, extension = {}, None
        try:
            existing = self.gb.find_submission(assignment, student)
        except MissingEntry:
            existing = None
        if existing is not None:
            extension = existing.extension
            for nb in existing.notebooks:
                for grade in nb.grades:
                    if grade.manual_score is not None:
                        manual.setdefault(nb.name, {}).setdefault(grade.name, {})["score"] = grade.manual_score
                for comment in nb.comments:
                    if comment.manual_comment is not None:
                        manual.setdefault(nb.name, {}).setdefault(comment.name, {})["comment"] = comment.manual_comment
        duedate = record.duedate.isoformat() if record.duedate else None
        self.gb.db.rollback()  # end the read transaction: nothing held open between submissions
        return Submission(assignment, student,
                          files=read_tree(self.root / "submitted" / student / assignment),
                          source=read_tree(self.root / "source" / assignment),
                          duedate=duedate, extension=extension, manual=manual)

    # ------------------------------------------------------------------ writing an outcome

    def record(self, outcome: Outcome, patience: float = RECONNECT_PATIENCE_S) -> None:
        """The outcome's rows in one transaction, then its files. A database server that went
        away (restarted, network) rolls the transaction back; it is tried again until the
        server answers, for up to `patience` seconds."""
        deadline = time.monotonic() + patience
        while True:
            try:
                self._transaction(outcome)
                break
            except OperationalError:
                if time.monotonic() > deadline:
                    raise
                self.gb.engine.dispose()  # drop the dead connections; the next try opens new ones
                time.sleep(1)
        self._files(outcome)

    def _transaction(self, outcome: Outcome) -> None:
        db = self.gb.db
        try:
            submission = self._find_or_mirror(outcome.assignment, outcome.student)
            if outcome.timestamp:
                submission.timestamp = utils.parse_utc(outcome.timestamp)
            for nb in submission.notebooks:
                self._notebook(nb, outcome)
            db.commit()
        except BaseException:
            try:
                db.rollback()
            except OperationalError:  # the connection is gone: nothing of this one was committed
                pass
            raise

    def _find_or_mirror(self, assignment_id: str, student_id: str) -> SubmittedAssignment:
        """The submission, or a new one shaped like the assignment (as nbgrader's
        ``add_submission`` makes it), inside the current transaction."""
        db = self.gb.db
        student = db.get(Student, student_id)
        if student is None:
            student = Student(id=student_id)
            db.add(student)
        try:
            return self.gb.find_submission(assignment_id, student_id)
        except MissingEntry:
            pass
        assignment = self.gb.find_assignment(assignment_id)
        with db.no_autoflush:  # the new rows are flushed together, once they are complete
            submission = SubmittedAssignment(assignment=assignment, student=student)
            rows = [submission]
            for notebook in assignment.notebooks:
                nb = SubmittedNotebook(notebook=notebook, assignment=submission)
                rows.append(nb)
                rows += [Grade(cell_id=cell.id, notebook=nb) for cell in notebook.grade_cells]
                rows += [Comment(cell_id=cell.id, notebook=nb) for cell in notebook.solution_cells]
                for cell in notebook.task_cells:
                    rows += [Comment(cell_id=cell.id, notebook=nb), Grade(cell_id=cell.id, notebook=nb)]
            db.add_all(rows)  # each one: SQLAlchemy 2 no longer cascades them in along back-references
        db.flush()
        db.expire(submission)  # reload with the cells' names, still inside this transaction
        return submission

    @staticmethod
    def _notebook(nb: SubmittedNotebook, outcome: Outcome) -> None:
        got = outcome.notebooks.get(nb.name)
        lost = outcome.status != "graded"
        if got is not None or lost:
            nb.late_submission_penalty = None if lost else got.late_penalty
        for grade in nb.grades:
            if lost:
                grade.auto_score = 0.0
            elif got is not None:
                grade.auto_score = got.grades.get(grade.name)
            else:
                continue
            # nbgrader's rule (SaveAutoGrades): a grader's score, or no autograder score, needs review
            grade.needs_manual_grade = lost or grade.manual_score is not None or grade.auto_score is None
        if got is not None and not lost:
            for comment in nb.comments:
                comment.auto_comment = got.comments.get(comment.name)

    def _files(self, outcome: Outcome) -> None:
        for folder, files in (("autograded", outcome.autograded), ("feedback", outcome.feedback)):
            target = self.root / folder / outcome.student / outcome.assignment
            if target.exists():
                shutil.rmtree(target)
            if files:
                write_tree(target, files)
