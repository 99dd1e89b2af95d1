"""A real JupyterHub on loopback in front of the classroom's Unix accounts (`course hub`).

The hub runs as root with `classroom/jupyterhub_config.py`: configurable-http-proxy from the npm
registry, a shared-password login for the class, and a local spawner that starts each user's
JupyterLab as their own account with nbgrader's extensions (Assignments, Formgrader, Validate).
`Hub.user(name)` gives a client that talks to that user's server through the hub's proxy with the
user's own API token, the way the browser does: tests drive nbgrader's server extensions with it,
and run code in a user's kernel (`UserServer.run_in_kernel`). Stopping the hub ends the classroom:
`Hub.stop()` also undoes what `Classroom.setup()` changed outside its base (the repository closed to
the students).
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import requests

from dlcourse.chapters import ROOT
from dlcourse_grading.classroom import Classroom
from dlcourse_grading.paths import VENV_BIN

HUB_CONFIG = ROOT / "classroom" / "jupyterhub_config.py"
PROXY_PACKAGE = "configurable-http-proxy@5.3.0"


def install_proxy(room: Classroom) -> Path:
    """configurable-http-proxy, from the npm registry into .hub/ (once)."""
    if not room.proxy_command.exists():
        prefix = room.proxy_command.parents[2]
        prefix.mkdir(parents=True, exist_ok=True)
        subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--prefix", str(prefix), PROXY_PACKAGE],
                       check=True, capture_output=True)
    return room.proxy_command


def free_port(span: int = 3) -> int:
    """A port p with p, p+1, p+2 free on loopback (public, hub API, proxy API)."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port + span < 65535 and all(_free(port + i) for i in range(span)):
            return port
    raise RuntimeError("no free ports on loopback")


def _interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


@dataclass
class UserServer:
    """One user's single-user server, reached through the hub's proxy with that user's token."""
    hub: "Hub"
    name: str
    token: str

    @property
    def url(self) -> str:
        return f"{self.hub.url}/user/{self.name}"

    def request(self, method: str, path: str, **kwargs) -> requests.Response:
        response = requests.request(method, self.url + path, timeout=kwargs.pop("timeout", 300),
                                    headers={"Authorization": f"token {self.token}"}, **kwargs)
        if response.status_code >= 400:
            raise RuntimeError(f"{self.name}: {method} {path} -> {response.status_code}: {response.text[:2000]}")
        return response

    # The notebook, as JupyterLab reads and saves it.
    def read_notebook(self, path: str) -> dict:
        return self.request("GET", f"/api/contents/{quote(path)}?content=1").json()["content"]

    def save_notebook(self, path: str, notebook: dict) -> None:
        self.request("PUT", f"/api/contents/{quote(path)}", json={"type": "notebook", "format": "json",
                                                                   "content": notebook})

    # nbgrader's server extensions: what the Assignments panel and Formgrader buttons call.
    def assignments(self, action: str, course_id: str, assignment_id: str):
        return self.request("POST", f"/assignments/{action}",
                            data={"course_id": course_id, "assignment_id": assignment_id}).json()

    def list_assignments(self, course_id: str) -> list[dict]:
        return self.request("GET", "/assignments", params={"course_id": course_id}).json()["value"]

    def validate(self, path: str) -> dict:
        return self.request("POST", "/assignments/validate", data={"path": path}).json()

    def formgrader(self, method: str, path: str, **kwargs):
        return self.request(method, "/formgrader/api/" + path, **kwargs).json()

    def run_in_kernel(self, code: str, timeout: float = 180) -> str:
        """Start a kernel on this user's server (REST), run `code` in it over the kernel's websocket
        (Jupyter's message protocol, as JupyterLab does), shut it down; return what it printed.
        Raises with the traceback if the code raised."""
        import websocket  # websocket-client

        kernel = self.request("POST", "/api/kernels", json={"name": "python3"}).json()["id"]
        try:
            ws = websocket.create_connection(
                self.url.replace("http://", "ws://", 1) + f"/api/kernels/{kernel}/channels",
                header=[f"Authorization: token {self.token}"], suppress_origin=True, timeout=timeout)
            try:
                msg_id = uuid.uuid4().hex
                ws.send(json.dumps({
                    "header": {"msg_id": msg_id, "msg_type": "execute_request", "username": self.name,
                               "session": uuid.uuid4().hex, "version": "5.3"},
                    "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
                    "content": {"code": code, "silent": False, "store_history": False, "user_expressions": {},
                                "allow_stdin": False, "stop_on_error": True}}))
                out, error, deadline = [], None, time.monotonic() + timeout
                while time.monotonic() < deadline:
                    raw = ws.recv()
                    if not isinstance(raw, str):  # binary frames carry buffers (widgets), not ours
                        continue
                    message = json.loads(raw)
                    if message.get("parent_header", {}).get("msg_id") != msg_id:
                        continue
                    kind, content = message["msg_type"], message["content"]
                    if kind == "stream" and content["name"] == "stdout":
                        out.append(content["text"])
                    elif kind == "error":
                        error = "\n".join(content["traceback"])
                    elif kind == "status" and content["execution_state"] == "idle":
                        break
                else:
                    raise TimeoutError(f"{self.name}: the kernel did not finish in {timeout:.0f} s")
            finally:
                ws.close()
        finally:
            self.request("DELETE", f"/api/kernels/{kernel}")
        if error:
            raise RuntimeError(f"{self.name}: the code raised in the kernel:\n{error}")
        return "".join(out)


@dataclass
class Hub:
    room: Classroom
    port: int = field(default_factory=free_port)
    service_token: str = field(default_factory=lambda: secrets.token_hex(32))
    process: subprocess.Popen | None = None
    _handlers: dict = field(default_factory=dict, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60) -> "Hub":
        """Start the hub (as root) and wait until its API answers. If it cannot, the classroom is
        ended (`stop()`): nothing is left half up, the repository is reopened."""
        self._end_on_termination()
        try:
            return self._start(timeout)
        except BaseException:
            self.stop()
            raise

    def _end_on_termination(self) -> None:
        """`kill` (SIGTERM) or a closed terminal (SIGHUP) ends the classroom as Ctrl-C does: they
        raise KeyboardInterrupt in the main thread, so the caller's `finally: hub.stop()` runs and
        the repository is reopened (by default both would end Python at once, skipping it)."""
        if threading.current_thread() is not threading.main_thread():
            return
        for sig in (signal.SIGTERM, signal.SIGHUP):
            if signal.getsignal(sig) is signal.SIG_DFL:
                self._handlers[sig] = signal.signal(sig, _interrupt)

    def _start(self, timeout: float) -> "Hub":
        install_proxy(self.room)
        self.room.hub_state.mkdir(mode=0o700, parents=True, exist_ok=True)
        env = {"PATH": f"{VENV_BIN}:{os.path.dirname(shutil.which('node') or '/usr/bin/node')}:/usr/bin:/bin",
               "HOME": str(self.room.hub_state), "LANG": "C.UTF-8",
               "COURSE_CLASSROOM": str(self.room.base), "COURSE_HUB_PORT": str(self.port),
               "COURSE_HUB_SERVICE_TOKEN": self.service_token}
        log = open(self.room.hub_state / "jupyterhub.log", "ab")
        self.process = subprocess.Popen([str(VENV_BIN / "jupyterhub"), "-f", str(HUB_CONFIG)],
                                        cwd=self.room.hub_state, env=env, stdout=log, stderr=log,
                                        start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"jupyterhub exited ({self.process.returncode}):\n{self.log_tail()}")
            try:
                if requests.get(f"{self.url}/hub/api/", timeout=2).ok:
                    return self
            except requests.ConnectionError:
                pass
            time.sleep(0.3)
        raise RuntimeError(f"jupyterhub did not answer in {timeout:.0f} s:\n{self.log_tail()}")

    def stop(self) -> None:
        """Stop the hub (it stops the proxy and every user's server first), then end the classroom:
        `Classroom.teardown()` ends what students left running and reopens the repository."""
        main = threading.current_thread() is threading.main_thread()
        if main:
            for sig in self._handlers:  # a second signal must not cut the teardown short
                signal.signal(sig, signal.SIG_IGN)
        try:
            if self.process and self.process.poll() is None:
                self.process.send_signal(signal.SIGTERM)
                try:
                    self.process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    os.killpg(self.process.pid, signal.SIGKILL)
                    self.process.wait()
            self.room.teardown()
        finally:
            if main:
                while self._handlers:
                    sig, handler = self._handlers.popitem()
                    signal.signal(sig, handler)

    def log_tail(self, chars: int = 4000) -> str:
        path = self.room.hub_state / "jupyterhub.log"
        return path.read_text(errors="replace")[-chars:] if path.exists() else ""

    def api(self, method: str, path: str, **kwargs) -> requests.Response:
        response = requests.request(method, f"{self.url}/hub/api{path}", timeout=60,
                                    headers={"Authorization": f"token {self.service_token}"}, **kwargs)
        if response.status_code >= 400:
            raise RuntimeError(f"hub: {method} {path} -> {response.status_code}: {response.text[:1000]}")
        return response

    def user(self, name: str, timeout: float = 120) -> UserServer:
        """Start `name`'s server (if needed) and return a client holding a token of theirs."""
        status = self.api("GET", f"/users/{name}").json()
        if not status.get("servers", {}).get("", {}).get("ready"):
            if not status.get("servers", {}).get(""):
                self.api("POST", f"/users/{name}/server")
            deadline = time.monotonic() + timeout
            while not self.api("GET", f"/users/{name}").json().get("servers", {}).get("", {}).get("ready"):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{name}'s server did not start in {timeout:.0f} s:\n{self.log_tail()}")
                time.sleep(0.5)
        token = self.api("POST", f"/users/{name}/tokens", json={"note": "course tests", "expires_in": 3600}).json()["token"]
        return UserServer(self, name, token)
