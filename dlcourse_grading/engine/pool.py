"""Local grading workers: one process per core, each holding one submission at a time.

Unlike ``concurrent.futures.ProcessPoolExecutor``, whose whole pool breaks when one worker
dies, a worker that dies here (killed, out of memory) costs only the submission it held: the
kernels it left behind are killed, a fresh worker takes its place, and the submission is graded
once more; if that worker dies too, the submission comes back as "lost" with the reason, and
the rest of the class is graded. Workers send back :class:`~.protocol.Outcome` objects; they
never write the gradebook or the course directory (the coordinator does).
"""
from __future__ import annotations

import multiprocessing as mp
import os
import shutil
import signal
import tempfile
from collections import deque
from dataclasses import dataclass
from multiprocessing.connection import wait
from pathlib import Path
from typing import Callable, Iterable

from dlcourse_grading.engine.protocol import MAX_ATTEMPTS, Outcome, Submission

#: A worker that dies before it is ready this many times in a row means the machine cannot
#: run one (a broken install, no memory): the run stops instead of restarting it forever.
MAX_FAILED_STARTS = 3


def _serve(conn, settings, number: int, home: str) -> None:
    """A worker process: grade what the coordinator sends until it says stop."""
    from dlcourse_grading.engine.worker import Worker

    worker = Worker(settings, number, home)
    try:
        conn.send(("ready", worker.zygote is not None))
        while True:
            message = conn.recv()
            if message[0] != "grade":
                break
            conn.send(("outcome", worker.grade(message[1])))
    except (EOFError, KeyboardInterrupt, BrokenPipeError):
        pass
    finally:
        worker.close()


@dataclass
class _Slot:
    number: int
    process: mp.Process
    conn: object
    home: Path
    task: Submission | None = None
    ready: bool = False


def kill_kernels(home: Path) -> None:
    """Kill the kernels a dead worker left running (each one leads its own process group)."""
    folder = home / "kernels"
    for entry in folder.iterdir() if folder.is_dir() else []:
        try:
            os.killpg(int(entry.name), signal.SIGKILL)
        except (ValueError, ProcessLookupError, PermissionError):
            pass


def death_reason(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        return f"killed by {signal.Signals(-exitcode).name}"
    return f"exited with status {exitcode}"


class LocalPool:
    def __init__(self, settings, on_dispatch: Callable[[Submission, int], None] | None = None):
        self.settings = settings
        self.on_dispatch = on_dispatch
        self.context = mp.get_context("spawn")
        self.forked: bool | None = None  # whether the workers' kernels are forked (their report)

    def _start(self, number: int) -> _Slot:
        ours, theirs = self.context.Pipe()
        home = Path(tempfile.mkdtemp(prefix=f"course-worker-{number}-"))
        process = self.context.Process(target=_serve, args=(theirs, self.settings, number, str(home)),
                                       name=f"grading-worker-{number}", daemon=True)
        process.start()
        theirs.close()
        return _Slot(number, process, ours, home)

    def run(self, submissions: Iterable[Submission], on_outcome: Callable[[Outcome], None]) -> None:
        pending = deque(submissions)
        count = min(self.settings.workers, len(pending))
        slots = {n: self._start(n) for n in range(1, count + 1)}
        failed_starts = 0
        try:
            while slots and (pending or any(s.task for s in slots.values())):
                for slot in slots.values():
                    if slot.ready and slot.task is None and pending:
                        slot.task = pending.popleft()
                        slot.conn.send(("grade", slot.task))
                        if self.on_dispatch:
                            self.on_dispatch(slot.task, slot.process.pid)
                ready = wait([s.conn for s in slots.values()] + [s.process.sentinel for s in slots.values()])
                for slot in list(slots.values()):
                    if slot.conn in ready and self._receive(slot, on_outcome):
                        continue
                    if slot.process.sentinel in ready or (slot.conn in ready and not slot.process.is_alive()):
                        failed_starts = 0 if slot.ready else failed_starts + 1
                        self._buried(slot, pending, on_outcome)
                        del slots[slot.number]
                        if pending or slot.task:
                            if failed_starts < MAX_FAILED_STARTS:
                                slots[slot.number] = self._start(slot.number)
        finally:
            for slot in slots.values():
                self._stop(slot)
        for sub in pending:  # only when workers could not even start
            on_outcome(Outcome(sub.assignment, sub.student, status="lost", attempts=sub.attempt - 1,
                               error=f"no grading worker could start ({MAX_FAILED_STARTS} tried)"))

    def _receive(self, slot: _Slot, on_outcome) -> bool:
        """Handle one message; False when the pipe is closed (the worker died)."""
        try:
            kind, payload = slot.conn.recv()
        except (EOFError, OSError):
            slot.process.join(5)
            return False
        if kind == "ready":
            slot.ready, self.forked = True, payload
        elif kind == "outcome":
            slot.task = None
            on_outcome(payload)
        return True

    def _buried(self, slot: _Slot, pending: deque, on_outcome) -> None:
        """A worker died: its kernels go too; its submission is retried once, then reported lost."""
        slot.process.join(5)
        kill_kernels(slot.home)
        shutil.rmtree(slot.home, ignore_errors=True)
        sub, slot.task = slot.task, None
        if sub is None:
            return
        reason = death_reason(slot.process.exitcode)
        if sub.attempt < MAX_ATTEMPTS:
            sub.attempt += 1
            pending.appendleft(sub)
        else:
            on_outcome(Outcome(sub.assignment, sub.student, status="lost", attempts=sub.attempt,
                               error=f"the grading worker died while grading this submission, "
                                     f"{sub.attempt} times (last: {reason}); its grades are zero and it "
                                     "needs a look (out of memory? a kernel that brought down its worker?)"))

    @staticmethod
    def _stop(slot: _Slot) -> None:
        try:
            slot.conn.send(("stop", None))
        except (OSError, ValueError):
            pass
        slot.process.join(30)
        if slot.process.is_alive():
            slot.process.kill()
            slot.process.join(5)
        kill_kernels(slot.home)
        shutil.rmtree(slot.home, ignore_errors=True)
