"""The instructor report: what nbgrader's export leaves out, from the gradebook itself.

    course report [--root DIR] [--out build/report]

Writes ``report.html`` (score distributions per exercise, the most common failure messages per
test cell, students not yet graded) and ``grades_by_exercise.csv`` (one row per student, one
column per test cell and written answer, plus totals).
"""
from __future__ import annotations

import base64
import html
import io
from pathlib import Path

import matplotlib

matplotlib.use("agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from nbgrader.api import Gradebook, MissingEntry  # noqa: E402

from dlcourse.chapters import chapter as find_chapter  # noqa: E402
from dlcourse_grading.settings import default_db_url  # noqa: E402
from dlcourse_grading.results import collect  # noqa: E402


def gradebook_scores(root: Path) -> pd.DataFrame:
    """One row per (assignment, student, cell) for every graded cell in the gradebook."""
    rows = []
    with Gradebook(default_db_url(root)) as gb:
        for assignment in gb.assignments:
            for submission in gb.assignment_submissions(assignment.name):
                for nb in submission.notebooks:
                    for grade in nb.grades:
                        rows.append({"assignment": assignment.name, "student": submission.student_id,
                                     "cell": grade.name, "kind": "test" if grade.cell_type == "code" else "written",
                                     "points": grade.score, "max_points": grade.max_score,
                                     "needs_manual_grade": grade.needs_manual_grade})
    return pd.DataFrame(rows)


def not_graded(root: Path) -> pd.DataFrame:
    """Submissions in submitted/ that have no autograded version (yet)."""
    rows = []
    with Gradebook(default_db_url(root)) as gb:
        assignments = [a.name for a in gb.assignments]
        for folder in sorted((root / "submitted").glob("*/*")):
            if folder.name not in assignments or not folder.is_dir():
                continue
            try:
                gb.find_submission(folder.name, folder.parent.name)
                graded = (root / "autograded" / folder.parent.name / folder.name).exists()
            except MissingEntry:
                graded = False
            if not graded:
                rows.append({"assignment": folder.name, "student": folder.parent.name})
        for student in gb.students:  # known students who have not submitted at all
            for name in assignments:
                if not (root / "submitted" / student.id / name).exists():
                    rows.append({"assignment": name, "student": student.id, "note": "no submission"})
    return pd.DataFrame(rows, columns=["assignment", "student", "note"]).fillna("not autograded")


def failure_messages(root: Path, scores: pd.DataFrame, top: int = 3) -> pd.DataFrame:
    """The most common messages of test cells that lost points, per test cell."""
    rows = []
    for (assignment, student), _ in scores[scores.kind == "test"].groupby(["assignment", "student"]):
        try:
            ch = find_chapter(assignment)
        except KeyError:
            continue
        for r in collect(root, default_db_url(root), assignment, student, ch.id, ch.source):
            if r.points < r.max_points:
                rows.append({"assignment": assignment, "test cell": r.grade_id, "status": r.status,
                             "message": (r.message.splitlines() or [""])[0][:160]})
    if not rows:
        return pd.DataFrame(columns=["assignment", "test cell", "status", "message", "students"])
    table = pd.DataFrame(rows).value_counts().rename("students").reset_index()
    return table.sort_values(["assignment", "test cell", "students"], ascending=[True, True, False]) \
        .groupby(["assignment", "test cell"]).head(top)


def grades_by_exercise(scores: pd.DataFrame) -> pd.DataFrame:
    order = list(dict.fromkeys(zip(scores.assignment, scores.cell)))  # notebook order, not alphabetical
    wide = scores.pivot_table(index="student", columns=["assignment", "cell"], values="points",
                              aggfunc="first", dropna=False).reindex(columns=order)
    wide.columns = [f"{a}:{c}" for a, c in wide.columns]  # an empty written cell: not graded by hand yet
    for assignment in sorted(scores.assignment.unique()):
        cols = [c for c in wide.columns if c.startswith(f"{assignment}:")]
        wide[f"{assignment}:total"] = wide[cols].sum(axis=1, min_count=1)
    return wide.sort_index()


def _figure(scores: pd.DataFrame, assignment: str) -> str:
    part = scores[(scores.assignment == assignment) & (scores.kind == "test")]
    cells = list(dict.fromkeys(part.cell))
    fig, axes = plt.subplots(1, len(cells), figsize=(1.6 * len(cells) + 1, 2.4), sharey=True, squeeze=False)
    for ax, cell in zip(axes[0], cells):
        data = part[part.cell == cell]
        top = float(data.max_points.iloc[0])
        counts = data.points.fillna(0).value_counts().reindex([0.0, top], fill_value=0)
        ax.bar(["0", f"{top:g}"], counts.values, color=["#d9534f", "#5cb85c"])
        ax.set_title(cell.removeprefix("test_"), fontsize=7)
        ax.tick_params(labelsize=7)
    axes[0][0].set_ylabel("students")
    fig.suptitle(f"{assignment}: points per test cell", fontsize=9)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90)
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode()


def build_report(root: Path, out: Path) -> tuple[Path, Path]:
    root, out = Path(root).resolve(), Path(out)
    out.mkdir(parents=True, exist_ok=True)
    scores = gradebook_scores(root)
    grades = grades_by_exercise(scores) if len(scores) else pd.DataFrame()
    csv_path = out / "grades_by_exercise.csv"
    grades.to_csv(csv_path)
    parts = ["<html><head><meta charset='utf-8'><title>Course report</title>"
             "<style>body{font-family:sans-serif;margin:2em} table{border-collapse:collapse;font-size:12px}"
             "td,th{border:1px solid #ccc;padding:2px 6px}</style></head><body>",
             f"<h1>Course report</h1><p>Course directory: {html.escape(str(root))}</p>"]
    for assignment in sorted(scores.assignment.unique()) if len(scores) else []:
        part = scores[scores.assignment == assignment]
        summary = part.groupby(["kind", "cell"], sort=False).agg(
            mean=("points", "mean"), max_points=("max_points", "first"),
            full_marks=("points", lambda p: int((p == part.loc[p.index, "max_points"]).sum())),
            waiting_for_manual_grade=("needs_manual_grade", "sum"))
        parts += [f"<h2>{html.escape(assignment)}</h2>",
                  f"<img alt='score distributions' src='data:image/png;base64,{_figure(scores, assignment)}'>",
                  summary.round(2).to_html()]
    parts += ["<h2>Most common failure messages</h2>", failure_messages(root, scores).to_html(index=False)
              if len(scores) else "<p>nothing graded yet</p>",
              "<h2>Students not yet graded</h2>", not_graded(root).to_html(index=False),
              f"<h2>Grades by exercise</h2><p>Also in {html.escape(csv_path.name)}.</p>", grades.to_html(),
              "</body></html>"]
    html_path = out / "report.html"
    html_path.write_text("\n".join(parts))
    return html_path, csv_path
