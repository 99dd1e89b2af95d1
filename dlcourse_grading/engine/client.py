"""A kernel client that knows a fresh kernel is ready as soon as it is.

jupyter_client's ``wait_for_ready`` waits on fixed timers: 0.2 s for IOPub after the first
``kernel_info`` reply (whose status messages a just-started kernel usually publishes before the
client's subscription has reached it), and then until IOPub has been silent for 0.2 s. ipykernel
announces each new IOPub subscriber with an ``iopub_welcome`` message, so this client waits for
events instead: the kernel's reply, the welcome, and the ``idle`` status of a ``kernel_info``
request sent while subscribed. Then IOPub is connected and holds nothing stale; nbclient reads only
messages that answer its own requests. It also carries the grader's tamper audit on a test
cell's own execute request (``next_user_expressions``). Used by ``course grade-class`` only.
"""
from __future__ import annotations

import time
from queue import Empty

from jupyter_client.asynchronous import AsyncKernelClient


class QuickStartClient(AsyncKernelClient):
    #: Expressions the kernel is to evaluate after the next execute request's code, answered in
    #: its reply (RobustExecute's tamper audit); used once.
    next_user_expressions: dict | None = None

    def execute(self, code, *args, user_expressions=None, **kwargs):
        extra, self.next_user_expressions = self.next_user_expressions, None
        if extra:
            user_expressions = {**(user_expressions or {}), **extra}
        return super().execute(code, *args, user_expressions=user_expressions, **kwargs)

    async def _async_wait_for_ready(self, timeout: float | None = None) -> None:
        deadline = time.monotonic() + (float("inf") if timeout is None else timeout)
        subscribed = False
        while time.monotonic() < deadline:
            request = self.kernel_info()
            reply = await self._shell_reply(request)
            if reply is None:
                if not await self._async_is_alive():
                    raise RuntimeError("Kernel died before replying to kernel_info")
                continue
            outcome = await self._iopub_until(request, stop_at_welcome=not subscribed)
            if outcome == "idle":
                self._handle_kernel_info_reply(reply)
                return
            subscribed = subscribed or outcome == "welcome"  # ask again: now its status will arrive
        raise RuntimeError(f"Kernel didn't respond in {timeout} seconds")

    wait_for_ready = _async_wait_for_ready  # jupyter_client binds the public name to the function

    async def _shell_reply(self, request: str, timeout: float = 1.0):
        try:
            while True:
                msg = await self.get_shell_msg(timeout=timeout)
                if msg["parent_header"].get("msg_id") == request:
                    return msg
        except Empty:
            return None

    async def _iopub_until(self, request: str, stop_at_welcome: bool, timeout: float = 1.0) -> str:
        try:
            while True:
                msg = await self.get_iopub_msg(timeout=timeout)
                if msg["msg_type"] == "iopub_welcome" and stop_at_welcome:
                    return "welcome"
                if (msg["parent_header"].get("msg_id") == request and msg["msg_type"] == "status"
                        and msg["content"].get("execution_state") == "idle"):
                    return "idle"
        except Empty:
            return "silent"
