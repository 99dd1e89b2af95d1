"""A classroom on one machine: real Unix accounts sharing nbgrader's exchange.

An instructor account owns an nbgrader course directory that uses the course's settings;
student accounts fetch, validate and submit through nbgrader's exchange; the class is graded
with `course grade-class` (as root, so student code runs unprivileged) and feedback travels
back through the exchange. `dlcourse_grading.hub` puts a JupyterHub in front of these accounts.
The same per-account settings are what an instructor sets up on a real hub (README).

Students see nothing of the instructor's: their servers, kernels and tools run from the student
environment (`dlcourse_grading.student_env`: the requirements and `dlcourse`, no `dlcourse_grading`),
built under the classroom's base; every home is private to its account (the instructor's holds the
course's `source/` and `gradebook.db`); and while the classroom is up the repository itself (its
`source/`, hidden checks and `.venv`) is closed to the students' group `course-students`, their
primary group: the repository root's group becomes that group with no group permissions, so its
members are refused while every other account (the instructor, the grader's unprivileged uids) keeps
the access it had. `teardown()` (which `Hub.stop()` calls) restores the root's group and mode.
"""
from __future__ import annotations

import grp
import json
import os
import pwd
import secrets
import shutil
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path

from dlcourse.chapters import COURSE_ID, ROOT
from dlcourse_grading import student_env
from dlcourse_grading.paths import VENV_BIN

INSTRUCTOR = "course-instructor"
STUDENTS = ("course-alice", "course-bob", "course-carol")
#: The students' primary group: refused by the repository while a classroom is up.
STUDENTS_GROUP = "course-students"
#: The repository root's group and mode before a classroom closed it (kept until restored, so a
#: classroom that never reached its teardown is undone by the next one's).
REPOSITORY_STATE = ROOT / ".hub" / "repository-before-classroom.json"
SERVER_SETTINGS = ROOT / "classroom" / "server"

INSTRUCTOR_CONFIG = """\
# The course's settings, with this account's course directory and the shared exchange.
load_subconfig({grading_config!r})
c.CourseDirectory.root = {course!r}
c.CourseDirectory.db_url = "sqlite:///{course}/gradebook.db"
c.Exchange.root = {exchange!r}
"""
# JupyterLab for the class: every cell rendered (browser tests find cells by their text), and
# no news or update checks (no network, and no pop-up over the page).
LAB_SETTINGS = {
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"checkForUpdates": False, "fetchNews": "false"},
}
STUDENT_CONFIG = """\
c = get_config()
c.CourseDirectory.course_id = {course_id!r}
c.Exchange.root = {exchange!r}
"""


@dataclass
class Classroom:
    base: Path

    @property
    def exchange(self) -> Path:
        return self.base / "exchange"

    @property
    def course(self) -> Path:
        return self.home(INSTRUCTOR) / "course"

    def home(self, user: str) -> Path:
        return self.base / "homes" / user

    @property
    def student_env(self) -> Path:
        """The students' Python environment (requirements + `dlcourse`), built by setup()."""
        return self.base / "student-env"

    def tools(self, user: str) -> Path:
        """The folder of `user`'s Python and Jupyter tools: the instructor's venv or the student env."""
        return VENV_BIN if user == INSTRUCTOR else self.student_env / "bin"

    def server_command(self, user: str) -> list[str]:
        """`user`'s single-user server (JupyterHub's Spawner.cmd)."""
        if user == INSTRUCTOR:
            return [str(VENV_BIN / "jupyterhub-singleuser")]
        return [str(self.tools(user) / "python"), "-m", "jupyterhub.singleuser"]

    def server_environment(self, user: str) -> dict[str, str]:
        """`user`'s server environment (Spawner.environment). The student env carries its own copy of
        classroom/server/'s settings in etc/jupyter/; the instructor's server reads them from here."""
        env = {"PATH": f"{self.tools(user)}:/usr/bin:/bin", "PYTHONHASHSEED": "0"}
        if user == INSTRUCTOR:
            env["JUPYTER_CONFIG_PATH"] = str(SERVER_SETTINGS)  # lets Formgrader show inside JupyterLab
        return env

    @property
    def hub_state(self) -> Path:
        """The hub's database, cookie secret, pid files and the class password (root only)."""
        return self.base / "hub"

    @property
    def proxy_command(self) -> Path:
        return ROOT / ".hub" / "node_modules" / ".bin" / "configurable-http-proxy"

    @property
    def password(self) -> str:
        """The class's shared password, made once per classroom."""
        path = self.hub_state / "password"
        if not path.exists():
            self.hub_state.mkdir(mode=0o700, parents=True, exist_ok=True)
            path.write_text(secrets.token_urlsafe(12))
            path.chmod(0o600)
        return path.read_text()

    def setup(self) -> None:
        """Accounts, homes, the exchange, each account's nbgrader config, the student environment,
        and the repository closed to the students (needs root; `teardown()` reopens it)."""
        base = Path(self.base).resolve()
        if base == ROOT or ROOT in base.parents:
            raise ValueError(f"the classroom must live outside the repository ({ROOT}), which students cannot read")
        self.exchange.mkdir(parents=True, exist_ok=True)
        os.chmod(self.exchange, 0o1777)  # everyone may write, nobody may remove others' files
        os.chmod(self.base, 0o755)
        student_env.build(self.student_env)  # cached: rebuilt only when what it is made from changed
        try:
            grp.getgrnam(STUDENTS_GROUP)
        except KeyError:
            subprocess.run(["groupadd", STUDENTS_GROUP], check=True, capture_output=True)
        for user in (INSTRUCTOR, *STUDENTS):
            home = self.home(user)
            group = [] if user == INSTRUCTOR else ["-g", STUDENTS_GROUP]
            try:
                pwd.getpwnam(user)
                # The class's accounts belong to this classroom: end what an earlier one left running.
                subprocess.run(["pkill", "-KILL", "-u", user], capture_output=True)
                subprocess.run(["usermod", "-d", str(home), *group, user], check=True, capture_output=True)
            except KeyError:
                subprocess.run(["useradd", "-d", str(home), "-s", "/bin/sh", *group, user], check=True, capture_output=True)
            home.mkdir(parents=True, exist_ok=True)
            home.chmod(0o700)  # private: the instructor's holds source/ and gradebook.db
            config = home / ".jupyter" / "nbgrader_config.py"
            config.parent.mkdir(parents=True, exist_ok=True)
            if user == INSTRUCTOR:
                (home / "course").mkdir(exist_ok=True)
                shutil.copytree(ROOT / "source", home / "course" / "source", dirs_exist_ok=True)
                text = INSTRUCTOR_CONFIG.format(grading_config=str(ROOT / "grading_config.py"),
                                                course=str(self.course), exchange=str(self.exchange))
                (home / "course" / "nbgrader_config.py").write_text("c = get_config()\n" + text)
                config.write_text("c = get_config()\n" + text)  # Formgrader reads it from here
            else:
                config.write_text(STUDENT_CONFIG.format(course_id=COURSE_ID, exchange=str(self.exchange)))
            for name, settings in LAB_SETTINGS.items():
                path = home / ".jupyter" / "lab" / "user-settings" / name
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(json.dumps(settings))
            self.give(user, home)
        if INSTRUCTOR in grp.getgrnam(STUDENTS_GROUP).gr_mem:
            subprocess.run(["gpasswd", "-d", INSTRUCTOR, STUDENTS_GROUP], check=True, capture_output=True)
        self.hide_repository()

    def teardown(self) -> None:
        """Undo what setup() changed outside the classroom's base: end whatever the students left
        running, then give the repository back its group and mode."""
        for user in STUDENTS:
            try:
                pwd.getpwnam(user)
            except KeyError:
                continue
            subprocess.run(["pkill", "-KILL", "-u", user], capture_output=True)
        self.restore_repository()

    @staticmethod
    def hide_repository() -> None:
        """Close the repository to the students: its root's group becomes theirs, with no group
        permissions (a group's members get the group's bits, never the others'). Owner and other
        bits stay as they were, so the instructor and the grader read it as before."""
        gid = grp.getgrnam(STUDENTS_GROUP).gr_gid
        before = ROOT.stat()
        REPOSITORY_STATE.parent.mkdir(parents=True, exist_ok=True)
        if not REPOSITORY_STATE.exists():  # else an earlier classroom's record of the original stands
            REPOSITORY_STATE.write_text(json.dumps({"gid": before.st_gid, "mode": stat.S_IMODE(before.st_mode)}))
        os.chown(ROOT, -1, gid)
        os.chmod(ROOT, stat.S_IMODE(before.st_mode) & ~0o070)

    @staticmethod
    def restore_repository() -> None:
        """The repository root's group and mode as they were before the first unrestored hide."""
        if not REPOSITORY_STATE.exists():
            return
        saved = json.loads(REPOSITORY_STATE.read_text())
        os.chown(ROOT, -1, saved["gid"])
        os.chmod(ROOT, saved["mode"])
        REPOSITORY_STATE.unlink()

    @staticmethod
    def give(user: str, path: Path) -> None:
        account = pwd.getpwnam(user)
        for folder, dirs, files in os.walk(path):
            for name in [folder] + [os.path.join(folder, n) for n in dirs + files]:
                os.chown(name, account.pw_uid, account.pw_gid)

    def run(self, user: str, *args: str, cwd: Path | None = None) -> str:
        """Run a command as `user` in their home (or cwd), with their tools on PATH (a student's
        from the student environment)."""
        home = self.home(user)
        env = {"HOME": str(home), "USER": user, "PATH": f"{self.tools(user)}:/usr/bin:/bin",
               "JUPYTER_CONFIG_DIR": str(home / ".jupyter"), "PYTHONHASHSEED": "0"}
        proc = subprocess.run(["runuser", "-u", user, "--", "env", "-i", *(f"{k}={v}" for k, v in env.items()), *args],
                              cwd=cwd or home, capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"{user}$ {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}")
        return proc.stdout + proc.stderr

    def nbgrader(self, user: str, *args: str) -> str:
        cwd = self.course if user == INSTRUCTOR else None
        return self.run(user, str(self.tools(user) / "nbgrader"), *args, cwd=cwd)
