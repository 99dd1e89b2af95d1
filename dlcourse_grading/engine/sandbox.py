"""Limits and privileges for one student's kernel, applied in the kernel process itself."""
from __future__ import annotations

import ctypes
import os
import resource
from dataclasses import asdict, dataclass, replace

#: Student code runs as uid STUDENT_UID_BASE + worker number when the grader is root:
#: ids no account owns, so they can read only what is world-readable.
STUDENT_UID_BASE = 61000
CLONE_NEWNET = 0x40000000


@dataclass(frozen=True)
class Limits:
    """Per-submission limits. Memory is what the kernel may add to what it inherited."""
    cell_timeout: int = 120          # seconds, per cell (interrupt, then kill)
    notebook_timeout: int = 600      # seconds, whole notebook
    memory_mb: int = 1536            # resident memory of a kernel and its children (a hub pod has 2 GiB)
    max_processes: int = 512         # threads count too: TensorFlow starts many
    max_file_mb: int = 256           # largest file student code may write
    drop_privileges: bool = True     # run as an unprivileged uid when the grader is root
    isolate_network: bool = True     # a private network namespace with no interfaces up

    def to_dict(self) -> dict:
        return asdict(self)


def usable(limits: Limits) -> tuple[Limits, list[str]]:
    """The limits this machine can apply, and warnings for what it cannot."""
    warnings = []
    if limits.drop_privileges and is_root():
        path = unreadable_python()
        if path:
            warnings.append(f"{path} is not readable by other users, so student code cannot run as an "
                            "unprivileged uid; use a world-readable Python (e.g. /usr/bin/python3.11)")
            limits = replace(limits, drop_privileges=False)
    return limits, warnings


def is_root() -> bool:
    return os.geteuid() == 0


def _vm_size_bytes() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[0]) * resource.getpagesize()


def apply_limits(limits: Limits) -> None:
    """Resource limits for the calling process (a fresh kernel, before it runs any cell).

    Resident memory is watched from outside (provisioner.MemoryWatch); the address-space limit
    here, several times larger because TensorFlow reserves much more than it touches, makes a
    single huge allocation fail at once with MemoryError."""
    memory = _vm_size_bytes() + max(8192, 4 * limits.memory_mb) * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_FSIZE, (limits.max_file_mb * 2**20,) * 2)
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def isolate_network(limits: Limits) -> bool:
    """Move the calling process into a new network namespace with no interface up.

    Called after the kernel has bound its own sockets (they stay reachable to the grader);
    every socket student code creates afterwards lives in the empty namespace."""
    if not (limits.isolate_network and is_root()):
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    return libc.unshare(CLONE_NEWNET) == 0


def drop_privileges(limits: Limits, uid: int | None) -> bool:
    """Become `uid` (an id no account owns, one per grading worker) when running as root."""
    if not (limits.drop_privileges and is_root() and uid):
        return False
    # RLIMIT_NPROC counts every process of the user, so it only means something after the switch.
    resource.setrlimit(resource.RLIMIT_NPROC, (limits.max_processes,) * 2)
    os.setgroups([])
    os.setgid(uid)
    os.setuid(uid)
    return True


def unreadable_python(uid: int = STUDENT_UID_BASE) -> str | None:
    """The Python installation must be readable by the unprivileged uid (a Python under /root,
    e.g. pyenv's, is not). Returns the unreadable path, or None when all is well."""
    import sys

    paths = [os.__file__, os.path.join(os.path.dirname(os.__file__), "encodings", "cp437.py"), sys.executable]
    pid = os.fork()
    if pid == 0:
        try:
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
            for index, path in enumerate(paths):
                try:
                    with open(path, "rb"):
                        pass
                except OSError:
                    os._exit(10 + index)
            os._exit(0)
        except BaseException:  # noqa: BLE001
            os._exit(99)
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    return None if code == 0 else (paths[code - 10] if 10 <= code < 10 + len(paths) else "setuid")


def protections(limits: Limits, forked: bool) -> list[str]:
    """What a grading run applies, in words, for the summary and the README."""
    applied = [f"per-cell timeout {limits.cell_timeout} s (interrupt, then kill)",
               f"notebook timeout {limits.notebook_timeout} s"]
    if forked:
        applied += [f"memory limit {limits.memory_mb} MiB resident per kernel (and a single allocation "
                    "past the address-space limit fails at once)",
                    f"file size limit {limits.max_file_mb} MiB",
                    "leftover processes killed after each submission"]
        if is_root():
            if limits.drop_privileges:
                applied.append(f"unprivileged uid per worker (from {STUDENT_UID_BASE}), private working directory")
            else:
                applied.append("student code runs as root (no unprivileged uid: see the warning above)")
            if limits.isolate_network:
                applied.append("no network (empty network namespace)")
        else:
            applied.append("NOT isolated from the grader's files or network (run as root for that)")
    else:
        applied.append("kernels started normally (no fork server): no memory limit or user isolation")
    return applied
