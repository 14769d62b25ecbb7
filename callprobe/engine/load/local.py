"""Load workers as local processes: one event loop each, talking to the controller over a pipe.

Each worker process plays a ``LoadWorker``. Over its pipe the controller
sends ``("go", start_wall)``, ``"stop"`` (no new calls) or ``"abort"`` (cut
calls short); the worker sends ``{"ready": ...}`` once its media clips are
encoded, then one tick a second (``worker``), the last with ``done``. A
sender thread writes the ticks, so a slow pipe never stalls the worker's
event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import queue
import threading
import traceback
from multiprocessing.connection import Connection, wait
from typing import Any

from callprobe.engine.load.plan import WorkerPlan
from callprobe.engine.load.procs import run_loop, setup_child

JOIN_TIMEOUT_S = 10.0


class LocalWorkers:
    """``start(plans)`` spawns one process per plan; ``poll`` returns what they sent; always ``close()``."""

    kind = "process"

    def __init__(self) -> None:
        self._procs: list[multiprocessing.process.BaseProcess] = []
        self._conns: list[Connection] = []
        self._closed: set[int] = set()
        self._finished: set[int] = set()  # workers that sent their last tick

    def start(self, plans: list[WorkerPlan]) -> None:
        ctx = multiprocessing.get_context("spawn")
        for plan in plans:
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=_worker_main, args=(child, plan, os.getpid()),
                               name=f"callprobe-load-worker-{plan.index}", daemon=True)
            proc.start()
            child.close()
            self._procs.append(proc)
            self._conns.append(parent)

    def go(self, start_wall: float) -> None:
        self._send(("go", start_wall))

    def stop(self, abort: bool = False) -> None:
        self._send("abort" if abort else "stop")

    def _send(self, message: Any) -> None:
        for i, conn in enumerate(self._conns):
            if i not in self._closed:
                with contextlib.suppress(OSError, EOFError):
                    conn.send(message)

    def poll(self, timeout: float) -> list[dict[str, Any]]:
        """Messages that arrived within ``timeout`` s; a worker that died says so once (``error``)."""
        out: list[dict[str, Any]] = []
        live = [c for i, c in enumerate(self._conns) if i not in self._closed]
        if not live:
            return out
        for conn in wait(live, timeout):
            assert isinstance(conn, Connection)
            index = self._conns.index(conn)
            try:
                while conn.poll():
                    message: dict[str, Any] = conn.recv()
                    if message.get("done"):
                        self._finished.add(index)
                    out.append(message)
            except (EOFError, OSError):
                self._closed.add(index)
                if index not in self._finished:
                    proc = self._procs[index]
                    proc.join(1.0)
                    out.append({"worker": index, "done": True,
                                "error": f"worker process {proc.pid} ended (exit code {proc.exitcode})"})
        return out

    def describe(self) -> list[dict[str, Any]]:
        return [{"index": i, "pid": p.pid, "place": "process"} for i, p in enumerate(self._procs)]

    def close(self) -> None:
        """Wait for every worker to exit; kill those that do not."""
        for proc in self._procs:
            proc.join(JOIN_TIMEOUT_S)
        for proc in self._procs:
            if proc.is_alive():
                proc.kill()
                proc.join(JOIN_TIMEOUT_S)
        for conn in self._conns:
            conn.close()
        self._procs, self._conns = [], []


def _worker_main(conn: Connection, plan: WorkerPlan, parent: int) -> None:
    setup_child(parent)
    outbox: queue.Queue[Any] = queue.Queue()

    def sender() -> None:
        while True:
            item = outbox.get()
            if item is None:
                return
            try:
                conn.send(item)
            except (OSError, EOFError, ValueError):
                return

    thread = threading.Thread(target=sender, name="load-sender", daemon=True)
    thread.start()
    try:
        run_loop(_work(conn, plan, outbox.put))
    except BaseException as exc:  # the controller reports it; the process ends either way
        outbox.put({"worker": plan.index, "done": True, "error": f"{type(exc).__name__}: {exc}",
                    "traceback": traceback.format_exc(limit=8)})
    finally:
        outbox.put(None)
        thread.join(JOIN_TIMEOUT_S)
        conn.close()


async def _work(conn: Connection, plan: WorkerPlan, emit: Any) -> None:
    from callprobe.engine.load.worker import LoadWorker

    loop = asyncio.get_running_loop()
    worker = LoadWorker(plan, emit)
    started = asyncio.Event()

    def on_message() -> None:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            loop.remove_reader(conn.fileno())
            worker.abort()
            started.set()
            return
        if isinstance(message, tuple) and message[0] == "go":
            worker.go(float(message[1]))
            started.set()
        elif message == "stop":
            worker.stop()
            started.set()
        elif message == "abort":
            worker.abort()
            started.set()

    loop.add_reader(conn.fileno(), on_message)
    await worker.prepare()
    emit({"worker": plan.index, "ready": True, "pid": os.getpid(), "host": worker.host})
    await started.wait()
    await worker.run()
