"""A fork server for Jupyter kernels: pay the TensorFlow import once, not once per submission.

The zygote imports TensorFlow, Keras, IPython's kernel and the course's hidden checks, then
waits on a Unix socket. For each request it forks a fresh kernel process that applies the
submission's limits and initializes ``ipykernel`` with the connection file it was given (its
sockets bound, no cell run), then waits on the request's own connection, which it inherited: it
says "bound" with its ports, and only when the grader answers "go" does it drop privileges and
start answering (:class:`Forked`). A kernel can so be started ahead, while the grader finishes the
submission before (provisioner.py), and no client ever connects before the sockets exist. The
zygote itself never runs a TensorFlow op (forking after that is not safe). A kernel is the
zygote's child, reaped as it ends (the zygote ignores SIGCHLD); what it leaves behind, once
orphaned, is adopted by the grading process (a child subreaper above it), which kills it.

Forking is refused on a machine with an NVIDIA GPU: initializing CUDA in a forked child of a
process that loaded CUDA libraries is not safe, so there the grader starts kernels normally.
"""
from __future__ import annotations

import contextlib
import gc
import importlib
import json
import os
import select
import signal
import socket
import sys
import tempfile
from pathlib import Path

ENV_SOCKET = "COURSE_ZYGOTE_SOCKET"
#: How often the fork server checks that the grading worker that started it is still there.
PARENT_POLL_S = 1.0
#: The kernel's sockets, as IPKernelApp names its ports.
PORTS = ("shell_port", "iopub_port", "stdin_port", "hb_port", "control_port")
_server = 0  # the fork server's pid, once serving: the kernels' parent


class Channel:
    """Newline-terminated JSON messages over a stream socket, both ways (the grader, the zygote
    and a forked kernel all speak it)."""

    def __init__(self, sock: socket.socket):
        self.sock, self._buffer = sock, b""

    def send(self, message: dict) -> None:
        self.sock.sendall(json.dumps(message).encode() + b"\n")

    def receive(self) -> dict:
        while b"\n" not in self._buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("the other end closed the connection")
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return json.loads(line)


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
    global _MODULE_FILES, _MODULE_NAMES
    _MODULE_FILES, _MODULE_NAMES = _module_files(sys.modules), set(sys.modules)


def tensorflow_threads() -> list[str]:
    """Names of TensorFlow's runtime threads in this process: none may exist before a fork."""
    names = []
    for task in os.listdir("/proc/self/task"):
        with open(f"/proc/self/task/{task}/comm") as fh:
            name = fh.read().strip()
        if name.startswith("tf_"):
            names.append(name)
    return names


#: What ipykernel and IPython take down about the loaded modules at each kernel's start (the
#: modules' files, for the debugger; their names, for %reset -aggressive), taken down here once.
#: Done in a forked kernel, it touched every module object and name (4,400 with TensorFlow), so
#: each of their pages was copied: ~6,500 of a kernel's 11,300 page faults before it is ready.
_MODULE_FILES: list[str] = []
_MODULE_NAMES: set[str] = set()


def _module_files(modules: dict) -> list[str]:
    # ipykernel's own expression (IPythonKernel.__init__)
    return [m.__file__ for m in modules.copy().values() if hasattr(m, "__file__") and m.__file__]


class _SysWithoutModules:
    """`sys`, as the two modules that list the loaded modules see it while a forked kernel
    initializes: no modules to list."""

    modules: dict = {}

    def __getattr__(self, name):
        return getattr(sys, name)

    def __setattr__(self, name, value):  # e.g. sys.argv, set around a start-up file
        setattr(sys, name, value)


def initialize_kernel(app, args: list[str]) -> None:
    """IPKernelApp.initialize, with the lists of loaded modules the fork server's (the same
    objects: a copy would touch every string again)."""
    import IPython.core.shellapp
    import ipykernel.ipkernel

    listing = (ipykernel.ipkernel, IPython.core.shellapp)
    for module in listing:
        module.sys = _SysWithoutModules()
    try:
        app.initialize(args)
    finally:
        for module in listing:
            module.sys = sys
    kernel = app.kernel
    kernel._kernel_modules = _MODULE_FILES
    if getattr(kernel, "debugger", None) is not None:
        kernel.debugger.kernel_modules = _MODULE_FILES
    app.shell._sys_modules_keys = _MODULE_NAMES


def run_kernel(request: dict, channel: Channel) -> None:
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
        # The preload asked for the temporary directory (TensorFlow's import does) and Python keeps
        # the answer: forgotten, so that the kernel's own TMPDIR, its private folder, is used (else
        # TensorFlow's generated code and the student's temporary files stay behind in /tmp).
        tempfile.tempdir = None
        os.chdir(request["cwd"])
        sandbox.apply_limits(limits)

        from ipykernel.kernelapp import IPKernelApp

        argv = request["argv"]
        args = argv[argv.index("ipykernel_launcher") + 1:] if "ipykernel_launcher" in argv else argv[1:]
        if _server:  # ipykernel's own parent poller: the kernel ends when the fork server does (and
            # so when the grading worker does)
            args = [*args, f"--IPKernelApp.parent_handle={_server}"]
        app = IPKernelApp.instance()
        initialize_kernel(app, args)  # reads the connection file and binds the sockets, still privileged
        channel.send({"bound": {name: getattr(app, name) for name in PORTS}})
        if channel.receive().get("go") is not True:  # the grader closing the connection: never used
            raise SystemExit(1)
        channel.sock.close()
        # The submission's files may have arrived in the working directory after start-up's imports
        # listed it (a kernel started ahead): the import system looks again.
        importlib.invalidate_caches()
        sandbox.isolate_network(limits)
        if sandbox.drop_privileges(limits, request.get("uid")):
            os.environ["HOME"] = request["cwd"]
        app.start()
        code = 0
    except BaseException:  # noqa: BLE001 - whatever happens, the child must not return into the server
        code = 1
    finally:
        os._exit(code)


def spawn(request: dict, channel: Channel, server: socket.socket) -> int:
    """Fork a kernel; returns its pid. It keeps the request's connection (`channel`), and not the
    server's listening socket. One fork (a double fork, for the grader to adopt the kernel, cost
    another ~25 ms of CPU: a fork and an exit of a 700 MB process)."""
    pid = os.fork()
    if pid == 0:
        server.close()
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # the kernel waits for its own children
        run_kernel(request, channel)
    return pid


def serve(path: str) -> None:
    import ctypes

    global _server
    parent, _server = os.getppid(), os.getpid()  # the grading worker (a child subreaper), and us
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
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # an ended kernel is reaped at once, by the system
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
        with conn:  # the server's copy; the kernel keeps its own
            channel = Channel(conn)
            try:
                pid = spawn(channel.receive(), channel, server)
                channel.send({"pid": pid})
            except Exception as exc:  # noqa: BLE001 - report and keep serving
                channel.send({"error": repr(exc)})


class ProcessEnd:
    """Whether a process that is not our child (a kernel: the fork server's) has ended, through a
    pidfd: never mistaken for a later process that got the same pid."""

    def __init__(self, pid: int):
        try:
            self._fd: int | None = os.pidfd_open(pid)
        except ProcessLookupError:
            self._fd = None

    def wait(self, timeout: float | None = 0.0) -> bool:
        """Whether it has ended, waiting up to `timeout` seconds (None: until it has)."""
        if self._fd is not None and select.select([self._fd], [], [], timeout)[0]:
            self.close()
        return self._fd is None

    def send(self, signum: int) -> None:
        if self._fd is not None:
            with contextlib.suppress(ProcessLookupError):
                signal.pidfd_send_signal(self._fd, signum)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __del__(self):
        self.close()


class Forked:
    """A kernel the zygote forked, held before its start: it initializes (sockets bound, still
    privileged, no cell run) and then waits for :meth:`release`."""

    #: Seconds a kernel may take to initialize (nbclient's startup_timeout in grading_config.py).
    START_TIMEOUT_S = 120

    def __init__(self, pid: int, channel: Channel):
        self.pid, self.channel = pid, channel
        self.ports: dict | None = None

    def release(self) -> dict:
        """Wait until the kernel has bound its sockets, then let it start; returns its ports."""
        self.channel.sock.settimeout(self.START_TIMEOUT_S)
        try:
            while self.ports is None:
                self.ports = self.channel.receive().get("bound")
            self.channel.send({"go": True})
        except (EOFError, OSError, ValueError) as exc:
            raise RuntimeError(f"the kernel failed while starting ({type(exc).__name__})") from None
        finally:
            self.channel.sock.close()
        return self.ports

    def discard(self, timeout: float = 10.0) -> None:
        """Never used: it exits when its connection closes, and is killed in case it does not;
        returns once it has ended."""
        end = ProcessEnd(self.pid)
        self.channel.sock.close()
        try:
            os.killpg(self.pid, signal.SIGKILL)  # it called setsid(): its pid is its process group
        except (ProcessLookupError, PermissionError):
            pass
        end.wait(timeout)
        end.close()


def request_kernel(path: str, argv: list[str], env: dict, cwd: str, limits: dict, uid: int | None) -> Forked:
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.connect(path)
        channel = Channel(conn)
        channel.send({"argv": argv, "env": env, "cwd": cwd, "limits": limits, "uid": uid})
        ports = None
        while True:  # the kernel's "bound" may overtake the server's reply on the shared connection
            reply = channel.receive()
            if "bound" in reply:
                ports = reply["bound"]
            elif "error" in reply:
                raise RuntimeError(f"the kernel fork server failed: {reply['error']}")
            else:
                break
    except (EOFError, ValueError) as exc:
        conn.close()
        raise RuntimeError(f"the kernel fork server did not answer ({type(exc).__name__})") from None
    except BaseException:
        conn.close()
        raise
    forked = Forked(int(reply["pid"]), channel)
    forked.ports = ports
    return forked


if __name__ == "__main__":
    serve(sys.argv[1])
