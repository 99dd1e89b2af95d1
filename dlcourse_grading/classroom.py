"""A classroom on one machine: real Unix accounts sharing nbgrader's exchange.

An instructor account owns an nbgrader course directory that uses the course's settings;
student accounts fetch, validate and submit through nbgrader's exchange; the class is graded
with `course grade-class` (as root, so student code runs unprivileged) and feedback travels
back through the exchange. `dlcourse_grading.hub` puts a JupyterHub in front of these accounts.
The same per-account settings are what an instructor sets up on a real hub (README).
"""
from __future__ import annotations

import json
import os
import pwd
import secrets
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from dlcourse.chapters import COURSE_ID, ROOT
from dlcourse_grading.paths import VENV_BIN

INSTRUCTOR = "course-instructor"
STUDENTS = ("course-alice", "course-bob", "course-carol")

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
        """Accounts, homes, the exchange and each account's nbgrader config (needs root)."""
        self.exchange.mkdir(parents=True, exist_ok=True)
        os.chmod(self.exchange, 0o1777)  # everyone may write, nobody may remove others' files
        os.chmod(self.base, 0o755)
        for user in (INSTRUCTOR, *STUDENTS):
            home = self.home(user)
            try:
                pwd.getpwnam(user)
                # The class's accounts belong to this classroom: end what an earlier one left running.
                subprocess.run(["pkill", "-KILL", "-u", user], capture_output=True)
                subprocess.run(["usermod", "-d", str(home), user], check=True, capture_output=True)
            except KeyError:
                subprocess.run(["useradd", "-d", str(home), "-s", "/bin/sh", user], check=True, capture_output=True)
            home.mkdir(parents=True, exist_ok=True)
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

    @staticmethod
    def give(user: str, path: Path) -> None:
        account = pwd.getpwnam(user)
        for folder, dirs, files in os.walk(path):
            for name in [folder] + [os.path.join(folder, n) for n in dirs + files]:
                os.chown(name, account.pw_uid, account.pw_gid)

    def run(self, user: str, *args: str, cwd: Path | None = None) -> str:
        """Run a command as `user` in their home (or cwd), with the course's tools on PATH."""
        home = self.home(user)
        env = {"HOME": str(home), "USER": user, "PATH": f"{VENV_BIN}:/usr/bin:/bin",
               "JUPYTER_CONFIG_DIR": str(home / ".jupyter"), "PYTHONHASHSEED": "0"}
        proc = subprocess.run(["runuser", "-u", user, "--", "env", "-i", *(f"{k}={v}" for k, v in env.items()), *args],
                              cwd=cwd or home, capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"{user}$ {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}")
        return proc.stdout + proc.stderr

    def nbgrader(self, user: str, *args: str) -> str:
        cwd = self.course if user == INSTRUCTOR else None
        return self.run(user, str(VENV_BIN / "nbgrader"), *args, cwd=cwd)
