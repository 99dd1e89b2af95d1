"""A throwaway PostgreSQL server on loopback for the gradebook (tests, and instructors trying it).

nbgrader's FAQ: with several graders, use a server database; PostgreSQL is the one it tests.
This starts Debian's PostgreSQL (installed with apt when missing, as root) in a data directory
of its own, on a free port of 127.0.0.1, with a role and a database for the course, and stops it
cleanly. Point the course at it with ``COURSE_DB_URL=<its url>``.

    course postgres start [--dir DIR]   # prints COURSE_DB_URL=...
    course postgres stop  [--dir DIR]
"""
from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

ROLE = DATABASE = "course"
#: Debian's server binaries (pg_ctl, initdb, postgres) live here, not on PATH.
BIN_GLOB = "/usr/lib/postgresql/*/bin"


def server_bin() -> Path:
    """Debian's PostgreSQL binaries; installed with apt (as root) when missing."""
    found = sorted(glob.glob(BIN_GLOB))
    if not found and os.geteuid() == 0:
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        if subprocess.run(["apt-get", "install", "-y", "-q", "postgresql"], env=env, capture_output=True).returncode:
            subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True, check=True)
            subprocess.run(["apt-get", "install", "-y", "-q", "postgresql"], env=env, capture_output=True, check=True)
        found = sorted(glob.glob(BIN_GLOB))
    if not found:
        raise RuntimeError("PostgreSQL's server is not installed (apt-get install postgresql, as root)")
    return Path(found[-1])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class PostgresServer:
    """One server: its data directory, port and the account it runs as."""
    directory: Path
    port: int = 0
    user: str = ""

    def __post_init__(self):
        self.directory = Path(self.directory).resolve()
        if not self.port and (self.directory / "port").exists():
            self.port = int((self.directory / "port").read_text())
        self.port = self.port or _free_port()
        # PostgreSQL refuses to run as root: as root it runs as Debian's `postgres` account.
        self.user = self.user or ("postgres" if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name)

    @property
    def data(self) -> Path:
        return self.directory / "data"

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://{ROLE}@127.0.0.1:{self.port}/{DATABASE}"

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        cmd = list(args)
        if os.geteuid() == 0 and self.user != "root":
            cmd = ["runuser", "-u", self.user, "--", *cmd]
        return subprocess.run(cmd, capture_output=True, text=True, check=check, cwd="/")

    def start(self, timeout: float = 60) -> "PostgresServer":
        bin_dir = server_bin()
        self.directory.mkdir(parents=True, exist_ok=True)
        (self.directory / "port").write_text(str(self.port))
        if os.geteuid() == 0:
            shutil.chown(self.directory, self.user)
        if not (self.data / "PG_VERSION").exists():
            # trust on loopback only: a throwaway server for one machine, never a shared one
            self._run(str(bin_dir / "initdb"), "-D", str(self.data), "-U", ROLE, "-A", "trust", "-E", "UTF8")
        self._run(str(bin_dir / "pg_ctl"), "-D", str(self.data), "-l", str(self.directory / "server.log"),
                  "-o", f"-h 127.0.0.1 -p {self.port} -k {self.directory}", "-w", "-t", str(int(timeout)), "start")
        if self._run(str(bin_dir / "psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", ROLE, "-d", "postgres",
                     "-tAc", f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE}'").stdout.strip() != "1":
            self._run(str(bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", ROLE, DATABASE)
        return self

    def running(self) -> bool:
        return self._run(str(server_bin() / "pg_ctl"), "-D", str(self.data), "status", check=False).returncode == 0

    def stop(self, mode: str = "fast") -> None:
        if self.data.exists() and self.running():
            self._run(str(server_bin() / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")

    def restart(self) -> None:
        self.stop()
        time.sleep(0.5)
        self.start()
