"""A jupyter_client kernel provisioner that asks the zygote for a forked kernel.

Registered as the entry point ``course-fork`` (pyproject.toml). With no zygote running (the
environment variable below unset) it behaves exactly like jupyter_client's LocalProvisioner,
so plain nbgrader, JupyterLab and GPU machines are unaffected.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import tempfile
import threading

import psutil

from jupyter_client.provisioning import LocalProvisioner

from dlcourse_grading.engine.zygote import ENV_SOCKET, request_kernel

ENV_LIMITS = "COURSE_KERNEL_LIMITS"
ENV_UID = "COURSE_KERNEL_UID"
#: A folder where each running kernel leaves a file named by its pid: if the grading worker
#: dies, the coordinator kills what is listed there (kernels run in their own sessions).
ENV_PIDS = "COURSE_KERNEL_PIDS"


class ForkedKernel:
    """The small part of subprocess.Popen that LocalProvisioner uses, for an adopted process."""

    stdin = stdout = stderr = None

    def __init__(self, pid: int):
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is not None:
            return self.returncode
        try:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
        except ChildProcessError:  # not our child (no subreaper): fall back to a liveness probe
            try:
                os.kill(self.pid, 0)
                return None
            except ProcessLookupError:
                self.returncode = -1
                return self.returncode
        if pid == 0:
            return None
        self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self, timeout: float | None = None, interval: float = 0.02) -> int:
        import time

        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(self.pid)
            time.sleep(interval)
        return self.returncode  # type: ignore[return-value]

    def send_signal(self, signum: int) -> None:
        if self.poll() is None:
            os.kill(self.pid, signum)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)


def tree_rss(pid: int) -> int:
    """Resident bytes of a process and all its descendants."""
    root = psutil.Process(pid)
    total = 0
    for proc in [root] + root.children(recursive=True):
        try:
            total += proc.memory_info().rss
        except psutil.Error:
            pass
    return total


class MemoryWatch(threading.Thread):
    """Kill a kernel's process group once the resident memory of the kernel and everything it
    started passes the limit. (An address-space rlimit alone cannot do this: TensorFlow reserves
    far more address space than it ever touches.)"""

    def __init__(self, pid: int, limit_mb: int, interval: float = 0.1):
        super().__init__(daemon=True, name=f"memory-watch-{pid}")
        self.pid, self.limit, self.interval = pid, limit_mb * 2**20, interval
        self.tripped = False
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.wait(self.interval):
            try:
                if tree_rss(self.pid) > self.limit:
                    self.tripped = True
                    os.killpg(self.pid, signal.SIGKILL)
                    return
            except (psutil.Error, ProcessLookupError, PermissionError):
                return

    def stop(self) -> None:
        self._stop_event.set()


class ForkProvisioner(LocalProvisioner):
    async def launch_kernel(self, cmd: list[str], **kwargs):
        socket_path = os.environ.get(ENV_SOCKET)
        if not socket_path:
            return await super().launch_kernel(cmd, **kwargs)
        env = {k: v for k, v in (kwargs.get("env") or os.environ).items()
               if k not in (ENV_SOCKET, ENV_LIMITS, ENV_UID, ENV_PIDS)}  # student code never sees the grader's set-up
        uid = int(os.environ[ENV_UID]) if os.environ.get(ENV_UID) else None
        self._workdir = private_workdir(str(kwargs.get("cwd") or os.getcwd()), uid)
        env.update(TMPDIR=self._workdir, MPLCONFIGDIR=self._workdir)
        limits = json.loads(os.environ.get(ENV_LIMITS, "{}"))
        pid = request_kernel(socket_path, cmd, env, self._workdir, limits, uid)
        self.process = ForkedKernel(pid)
        self._pid_file = record_pid(pid)
        self.pid = self.pgid = pid  # the kernel called setsid(): its pid is its process group
        self.cwd = self._workdir
        self.memory_watch = MemoryWatch(pid, int(limits.get("memory_mb", 1536)))
        self.memory_watch.start()
        return self.connection_info

    async def kill(self, restart: bool = False) -> None:
        await super().kill(restart)
        # SIGKILL is final: the kernel counts as gone at once, or jupyter_client's shutdown finds
        # it still alive and sleeps 0.1 s before it looks again (waiting for the exit instead
        # cost ~22 ms a notebook: the kernel's memory being torn down). The worker reaps it
        # (kill_strays), as it does every orphan of student code.
        if isinstance(self.process, ForkedKernel) and self.process.returncode is None:
            self.process.returncode = -signal.SIGKILL

    @property
    def killed_reason(self) -> str | None:
        watch = getattr(self, "memory_watch", None)
        if watch is not None and watch.tripped:
            return f"it used more than {watch.limit // 2**20} MiB of memory and was stopped"
        return None

    async def cleanup(self, restart: bool = False) -> None:
        await super().cleanup(restart)
        if getattr(self, "memory_watch", None) is not None:
            self.memory_watch.stop()
        if getattr(self, "_pid_file", None) and not restart:
            with contextlib.suppress(OSError):
                os.remove(self._pid_file)
        workdir = getattr(self, "_workdir", None)
        if workdir and not restart:
            shutil.rmtree(workdir, ignore_errors=True)
            self._workdir = None


def record_pid(pid: int) -> str | None:
    folder = os.environ.get(ENV_PIDS)
    if not folder:
        return None
    path = os.path.join(folder, str(pid))
    with open(path, "w"):
        pass
    return path


def private_workdir(submission_dir: str, uid: int | None) -> str:
    """A fresh directory holding a copy of the submission's files (not the notebooks, which
    the kernel never reads), owned by the kernel's uid: student code sees nothing else."""
    workdir = tempfile.mkdtemp(prefix="course-kernel-")
    for name in os.listdir(submission_dir):
        src = os.path.join(submission_dir, name)
        if name.endswith(".ipynb") or name.startswith("."):
            continue
        if os.path.isdir(src):
            shutil.copytree(src, os.path.join(workdir, name), symlinks=False)
        elif os.path.isfile(src):
            shutil.copy(src, workdir)
    if uid is not None and os.geteuid() == 0:
        for folder, dirs, files in os.walk(workdir):
            for name in [folder] + [os.path.join(folder, n) for n in dirs + files]:
                os.chown(name, uid, uid)
    os.chmod(workdir, 0o700)
    return workdir
