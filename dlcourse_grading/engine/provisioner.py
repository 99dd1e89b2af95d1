"""A jupyter_client kernel provisioner that asks the zygote for a forked kernel.

Registered as the entry point ``course-fork`` (pyproject.toml). With no zygote running (the
environment variable below unset) it behaves exactly like jupyter_client's LocalProvisioner,
so plain nbgrader, JupyterLab and GPU machines are unaffected.

When a kernel is done, the next one is forked at once (a :class:`Spare`): it initializes while
the grader saves the grades and writes the feedback, and the next submission adopts it if it
would be launched exactly alike (command, environment, limits, uid, transport). A spare runs no
cell before it is adopted, and it gets its submission's files and its unprivileged uid only
then, after the kernel before it and everything that kernel left behind are gone.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import tempfile
import threading
import time
from dataclasses import dataclass

import psutil

from jupyter_client.provisioning import LocalProvisioner

from dlcourse_grading.engine.zygote import ENV_SOCKET, Forked, ProcessEnd, request_kernel

ENV_LIMITS = "COURSE_KERNEL_LIMITS"
ENV_UID = "COURSE_KERNEL_UID"
#: A folder where each running kernel leaves a file named by its pid: if the grading worker
#: dies, the coordinator kills what is listed there (kernels run in their own sessions).
ENV_PIDS = "COURSE_KERNEL_PIDS"


class ForkedKernel:
    """The small part of subprocess.Popen that LocalProvisioner uses, for a kernel the fork server
    forked (its child, not ours: its end is seen through a pidfd, and its exit status stays the
    fork server's)."""

    stdin = stdout = stderr = None

    def __init__(self, pid: int):
        self.pid = pid
        self.returncode: int | None = None
        self.end = ProcessEnd(pid)

    def poll(self) -> int | None:
        if self.returncode is None and self.end.wait():
            self.returncode = -1
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is None and not self.end.wait(timeout):
            raise TimeoutError(self.pid)
        return self.poll()  # type: ignore[return-value]

    def send_signal(self, signum: int) -> None:
        self.end.send(signum)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)


class ProcessTree:
    """The resident memory of a process and all its descendants, for a watch that looks often.
    Finding the descendants reads every process on the machine (psutil: ~1.3 ms with 80 of them,
    ten times a second); it is done again only when a process has started or ended since the last
    look (the listing of /proc changed, which every change of the tree does: a start adds a pid,
    and a process changes parents only when its parent ends), and at least every `rescan_s`."""

    def __init__(self, pid: int, rescan_s: float = 1.0):
        self.root, self.rescan_s = psutil.Process(pid), rescan_s
        self._listing: list[str] | None = None
        self._members: list[psutil.Process] = []
        self._scanned = 0.0

    def rss(self) -> int:
        """Resident bytes now. Raises psutil.NoSuchProcess once the process itself is gone."""
        listing, now = os.listdir("/proc"), time.monotonic()
        if listing != self._listing or now - self._scanned >= self.rescan_s:
            self._members = self.root.children(recursive=True)
            self._listing, self._scanned = listing, now
        total = self.root.memory_info().rss
        for proc in self._members:
            try:
                total += proc.memory_info().rss
            except psutil.Error:  # ended since: the next look finds the listing changed
                pass
        return total


def tree_rss(pid: int) -> int:
    """Resident bytes of a process and all its descendants."""
    return ProcessTree(pid).rss()


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
        try:
            tree = ProcessTree(self.pid)
        except psutil.Error:
            return
        while not self._stop_event.wait(self.interval):
            try:
                if tree.rss() > self.limit:
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
        limits = json.loads(os.environ.get(ENV_LIMITS, "{}"))
        submission_dir = str(kwargs.get("cwd") or os.getcwd())
        self._launch = Launch.of(cmd, env, limits, uid, self.connection_info, self.parent.connection_file)
        spare = take_spare(socket_path, self._launch)
        if spare is not None:
            try:
                connection_info = self._adopt(spare, submission_dir)
            except RuntimeError:  # it died while it waited: start one as if there had been none
                spare.discard()
                spare = None
        if spare is None:
            self._workdir = new_workdir()
            fill_workdir(self._workdir, submission_dir, uid)
            env.update(TMPDIR=self._workdir, MPLCONFIGDIR=self._workdir)
            forked = None
            try:
                forked = request_kernel(socket_path, cmd, env, self._workdir, limits, uid)
                self._pid_file = record_pid(forked.pid)
                forked.release()
            except BaseException:  # no kernel started: nothing of it stays behind
                if forked is not None:
                    forked.discard()
                self._remove_files()
                raise
            pid, connection_info = forked.pid, self.connection_info
        else:
            pid = spare.forked.pid
        self.process = self._forked = ForkedKernel(pid)  # jupyter_client drops self.process once it has ended
        self.pid = self.pgid = pid  # the kernel called setsid(): its pid is its process group
        self.cwd = self._workdir
        self.memory_watch = MemoryWatch(pid, int(limits.get("memory_mb", 1536)))
        self.memory_watch.start()
        return connection_info

    def _remove_files(self) -> None:
        """The kernel's pid file, a spare's connection file and the private working directory."""
        for name in ("_pid_file", "_spare_file"):
            if getattr(self, name, None):
                with contextlib.suppress(OSError):
                    os.remove(getattr(self, name))
                setattr(self, name, None)
        if getattr(self, "_workdir", None):
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None

    def _adopt(self, spare: "Spare", submission_dir: str) -> dict:
        """The spare becomes this launch's kernel: the submission's files, then its start."""
        self._workdir, self._pid_file, self._spare_file = spare.workdir, spare.pid_file, spare.connection_file
        fill_workdir(spare.workdir, submission_dir, self._launch.uid)
        ports = spare.forked.release()
        return {**self.connection_info, **ports, "key": spare.key}

    async def kill(self, restart: bool = False) -> None:
        await super().kill(restart)
        # SIGKILL is final: the kernel counts as gone at once, or jupyter_client's shutdown finds
        # it still alive and sleeps 0.1 s before it looks again (waiting for the exit instead
        # cost ~22 ms a notebook: the kernel's memory being torn down). The worker waits for its
        # end only before it looks for what the kernel left behind (await_shut_down_kernels).
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
        if getattr(self, "_forked", None) is not None:
            with _SPARES_LOCK:
                _ENDING.append(self._forked.end)
            self._forked = None
        if restart:
            return
        self._remove_files()
        socket_path = os.environ.get(ENV_SOCKET)
        if getattr(self, "_launch", None) is not None and socket_path:
            start_spare(socket_path, self._launch)  # the next submission's kernel, started now


def record_pid(pid: int) -> str | None:
    folder = os.environ.get(ENV_PIDS)
    if not folder:
        return None
    path = os.path.join(folder, str(pid))
    with open(path, "w"):
        pass
    return path


def new_workdir() -> str:
    """A fresh, private directory for one kernel: owned by the grader until filled."""
    workdir = tempfile.mkdtemp(prefix="course-kernel-")
    os.chmod(workdir, 0o700)
    return workdir


def fill_workdir(workdir: str, submission_dir: str, uid: int | None) -> None:
    """A copy of the submission's files (not the notebooks, which the kernel never reads), all
    then owned by the kernel's uid: student code sees nothing else."""
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


# ---------------------------------------------------------------------- kernels started ahead

@dataclass(frozen=True)
class Launch:
    """Everything a kernel is started with but its submission's files and its connection: two
    launches equal here get interchangeable kernels."""

    argv: tuple[str, ...]  # the connection file as {connection_file}
    env: tuple[tuple[str, str], ...]
    limits: str
    uid: int | None
    session: tuple  # transport, ip, signature scheme; None with CurveZMQ keys (not started ahead)

    @classmethod
    def of(cls, cmd, env, limits, uid, connection_info, connection_file) -> "Launch":
        curve = "curve_publickey" in connection_info
        session = None if curve else tuple(connection_info.get(k) for k in ("transport", "ip", "signature_scheme"))
        return cls(tuple(a.replace(connection_file, "{connection_file}") for a in cmd),
                   tuple(sorted(env.items())), json.dumps(limits, sort_keys=True), uid, session)


class Spare:
    """A kernel forked for the next submission, in a thread of its own (the fork and the zygote's
    reply take ~25 ms): it initializes with a connection file of its own (random ports) in a
    working directory that stays the grader's, and waits for :meth:`Forked.release`."""

    def __init__(self, socket_path: str, launch: Launch):
        self.socket_path, self.launch = socket_path, launch
        self.forked: Forked | None = None
        self.workdir = self.connection_file = self.pid_file = None
        self.key = b""
        self._thread = threading.Thread(target=self._fork, daemon=True, name="spare-kernel")
        self._thread.start()

    def _fork(self) -> None:
        from jupyter_client.session import new_id_bytes
        from jupyter_core.paths import jupyter_runtime_dir

        transport, ip, scheme = self.launch.session
        self.key = new_id_bytes()
        os.makedirs(jupyter_runtime_dir(), mode=0o700, exist_ok=True)
        self.connection_file = os.path.join(jupyter_runtime_dir(), f"kernel-spare-{os.getpid()}-{id(self)}.json")
        with open(os.open(self.connection_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as fh:
            # no ports: the kernel binds random ones and reports them (no race for a port)
            json.dump({"transport": transport, "ip": ip, "signature_scheme": scheme, "key": self.key.decode()}, fh)
        self.workdir = new_workdir()
        argv = [a.replace("{connection_file}", self.connection_file) for a in self.launch.argv]
        env = {**dict(self.launch.env), "TMPDIR": self.workdir, "MPLCONFIGDIR": self.workdir}
        try:
            self.forked = request_kernel(self.socket_path, argv, env, self.workdir, json.loads(self.launch.limits),
                                         self.launch.uid)
            self.pid_file = record_pid(self.forked.pid)
        except (OSError, RuntimeError):
            self.forked = None

    def ready(self) -> bool:
        """Whether it was forked and is still there (waits for the fork to be answered)."""
        self._thread.join()
        return self.forked is not None and ForkedKernel(self.forked.pid).poll() is None

    def discard(self) -> None:
        self._thread.join()
        if self.forked is not None:
            self.forked.discard()
        for path in (self.pid_file, self.connection_file):
            if path:
                with contextlib.suppress(OSError):
                    os.remove(path)
        if self.workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)


#: At most one spare per fork server (a Dask worker process may hold several grading Workers).
_SPARES: dict[str, Spare] = {}
#: The ends of the kernels shut down here, not yet awaited (await_shut_down_kernels).
_ENDING: list[ProcessEnd] = []
_SPARES_LOCK = threading.Lock()


def start_spare(socket_path: str, launch: Launch) -> None:
    if launch.session is None:
        return
    with _SPARES_LOCK:
        if socket_path not in _SPARES:
            _SPARES[socket_path] = Spare(socket_path, launch)


def take_spare(socket_path: str, launch: Launch) -> Spare | None:
    """The spare kernel for this launch, if one is ready and was started exactly alike."""
    with _SPARES_LOCK:
        spare = _SPARES.pop(socket_path, None)
    if spare is None:
        return None
    if spare.launch == launch and spare.ready():
        return spare
    spare.discard()
    return None


def spare_pids() -> set[int]:
    """The spare kernels' pids."""
    with _SPARES_LOCK:
        spares = list(_SPARES.values())
    return {s.forked.pid for s in spares if s.ready()}


def await_shut_down_kernels(timeout: float = 10.0) -> None:
    """Wait until every kernel shut down here has ended (~0-25 ms after a kill, while its memory
    is torn down): only then are the processes it started in other sessions orphans, adopted by
    the grading worker (a child subreaper) for it to kill; until then they are the kernel's."""
    with _SPARES_LOCK:
        ends = list(_ENDING)
        _ENDING.clear()
    deadline = time.monotonic() + timeout
    for end in ends:
        end.wait(max(0.0, deadline - time.monotonic()))
        end.close()


def discard_spares(socket_path: str | None = None) -> None:
    with _SPARES_LOCK:
        paths = [p for p in _SPARES if socket_path in (None, p)]
        spares = [_SPARES.pop(p) for p in paths]
    for spare in spares:
        spare.discard()
