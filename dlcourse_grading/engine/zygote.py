"""A fork server for Jupyter kernels: pay the TensorFlow import once, not once per submission.

The zygote imports TensorFlow, Keras, IPython's kernel and the course's hidden checks, then
waits on a Unix socket. For each request it forks a fresh kernel process that applies the
submission's limits, drops privileges and runs ``ipykernel`` with the connection file it was
given. The zygote itself never runs a TensorFlow op (forking after that is not safe), and it
double-forks so that the kernel is adopted by the grading process (a child subreaper), which can
then wait for it and kill anything it leaves behind.

Forking is refused on a machine with an NVIDIA GPU: initializing CUDA in a forked child of a
process that loaded CUDA libraries is not safe, so there the grader starts kernels normally.
"""
from __future__ import annotations

import gc
import json
import os
import signal
import socket
import sys
from pathlib import Path

ENV_SOCKET = "COURSE_ZYGOTE_SOCKET"
#: How often the fork server checks that the grading worker that started it is still there.
PARENT_POLL_S = 1.0
_grader = 0  # the grading worker's pid, once serving


def gpu_present() -> bool:
    return Path("/dev/nvidiactl").exists() or Path("/dev/nvidia0").exists()


def preload() -> None:
    """Everything a grading kernel imports, loaded once. No TensorFlow op is run here."""
    import matplotlib

    matplotlib.use("agg")
    import matplotlib.pyplot  # noqa: F401
    import matplotlib_inline.backend_inline  # noqa: F401
    import ipykernel.kernelapp  # noqa: F401
    import ipykernel.ipkernel  # noqa: F401
    os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")  # debugpy's start-up note, on stderr
    import ipykernel.debugger  # noqa: F401  (debugpy: 45 ms a kernel otherwise)
    # What IPKernelApp.initialize still imported in each kernel (13 modules)
    import IPython.core.completerlib  # noqa: F401
    import IPython.core.debugger  # noqa: F401
    import IPython.core.logger  # noqa: F401
    import IPython.core.oinspect  # noqa: F401
    import IPython.extensions.storemagic  # noqa: F401
    import IPython.utils.wildcard  # noqa: F401
    import sqlite3  # noqa: F401  (IPython's history, kept in memory)
    import tornado.platform.asyncio  # noqa: F401
    from dlcourse_grading import checks, guard

    checks.load_all()
    guard.start()  # TensorFlow, Keras; and what "untampered" means (the checks included), before any student code
    started = tensorflow_threads()
    if started:
        raise RuntimeError(f"a preloaded module ran a TensorFlow op (threads {started}): forking is unsafe")


def tensorflow_threads() -> list[str]:
    """Names of TensorFlow's runtime threads in this process: none may exist before a fork."""
    names = []
    for task in os.listdir("/proc/self/task"):
        with open(f"/proc/self/task/{task}/comm") as fh:
            name = fh.read().strip()
        if name.startswith("tf_"):
            names.append(name)
    return names


def run_kernel(request: dict) -> None:
    """In the forked child: become the submission's kernel. Never returns."""
    from dlcourse_grading.engine import sandbox

    code = 1
    try:
        os.setsid()  # its own process group: interrupts and kills reach everything it starts
        limits = sandbox.Limits(**request["limits"])
        devnull = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(devnull, fd)
        os.environ.clear()
        os.environ.update(request["env"])
        os.chdir(request["cwd"])
        sandbox.apply_limits(limits)

        from ipykernel.kernelapp import IPKernelApp

        argv = request["argv"]
        args = argv[argv.index("ipykernel_launcher") + 1:] if "ipykernel_launcher" in argv else argv[1:]
        if _grader:  # ipykernel's own parent poller: the kernel ends when the grading worker does
            args = [*args, f"--IPKernelApp.parent_handle={_grader}"]
        app = IPKernelApp.instance()
        app.initialize(args)  # reads the connection file and binds the sockets, still privileged
        sandbox.isolate_network(limits)
        if sandbox.drop_privileges(limits, request.get("uid")):
            os.environ["HOME"] = request["cwd"]
        app.start()
        code = 0
    except BaseException:  # noqa: BLE001 - whatever happens, the child must not return into the server
        code = 1
    finally:
        os._exit(code)


def spawn(request: dict) -> int:
    """Double fork: returns the kernel's pid; its parent exits at once, so it is adopted."""
    read_end, write_end = os.pipe()
    middle = os.fork()
    if middle == 0:
        os.close(read_end)
        kernel = os.fork()
        if kernel == 0:
            os.close(write_end)
            run_kernel(request)
        os.write(write_end, str(kernel).encode())
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end) as fh:
        pid = int(fh.read())
    os.waitpid(middle, 0)
    return pid


def serve(path: str) -> None:
    import ctypes

    global _grader
    parent = _grader = os.getppid()  # the grading worker: it adopts the kernels (child subreaper)
    ctypes.CDLL(None).prctl(1, signal.SIGTERM, 0, 0, 0)  # PR_SET_PDEATHSIG: go when the grader goes
    preload()
    # The preloaded heap (400k objects) moves out of the collector's sight: a kernel's full
    # collections then neither walk it (0.1 s each) nor copy its pages on write.
    gc.collect()
    gc.freeze()
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    os.chmod(path, 0o600)
    server.listen(16)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    # PR_SET_PDEATHSIG follows the thread that started us, and was seen not to fire when a Dask
    # worker process died: the server also looks for its parent every second and goes with it.
    server.settimeout(PARENT_POLL_S)
    print("ready", flush=True)  # the parent waits for this line
    while True:
        try:
            conn, _ = server.accept()
        except TimeoutError:
            if os.getppid() != parent:
                sys.exit(0)
            continue
        conn.settimeout(None)
        with conn:
            try:
                pid = spawn(_receive(conn))
                conn.sendall(json.dumps({"pid": pid}).encode() + b"\n")
            except Exception as exc:  # noqa: BLE001 - report and keep serving
                conn.sendall(json.dumps({"error": repr(exc)}).encode() + b"\n")


def _receive(conn: socket.socket) -> dict:
    """One JSON message, newline-terminated (the protocol both ends speak)."""
    data = b""
    while not data.endswith(b"\n"):
        chunk = conn.recv(65536)
        if not chunk:
            break
        data += chunk
    return json.loads(data)


def request_kernel(path: str, argv: list[str], env: dict, cwd: str, limits: dict, uid: int | None) -> int:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.connect(path)
        message = {"argv": argv, "env": env, "cwd": cwd, "limits": limits, "uid": uid}
        conn.sendall(json.dumps(message).encode() + b"\n")
        reply = _receive(conn)
    if "error" in reply:
        raise RuntimeError(f"the kernel fork server failed: {reply['error']}")
    return int(reply["pid"])


if __name__ == "__main__":
    serve(sys.argv[1])
