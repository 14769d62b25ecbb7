"""The embedded server of a load run (or a repeated run), in a process of its own.

A load run must not measure the server's work as its own, nor let calls queue
behind it in one event loop (docs/aiortc-notes.md#one-event-loop-per-core):
the server runs in its own process, reached through the family's registry
entry (``family(name).module("server").embedded(config)``) like every other
use of an embedded server. For load runs it is started with
``EmbeddedConfig.load``: the family lifts the limits its ``LOAD_LIMITS``
names, and the report lists them.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import time
from multiprocessing.connection import Connection
from typing import Any

from callprobe.backends.base import EmbeddedConfig, Endpoints
from callprobe.backends.registry import family
from callprobe.engine.load.procs import cpu_seconds, setup_child
from callprobe.errors import ServerStartError

#: How long the server process may take to import, bind and answer.
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 10.0


class ServerProcess:
    """``start()`` returns the endpoints; always ``stop()`` (returns the process's CPU seconds)."""

    def __init__(self, family_name: str, config: EmbeddedConfig) -> None:
        self.family = family_name
        self.config = config
        self.endpoints = Endpoints("")
        self.limits: dict[str, Any] = {}
        self.faults: list[str] = []
        self._process: multiprocessing.process.BaseProcess | None = None
        self._conn: Connection | None = None
        self.cpu_s: float | None = None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def start(self) -> Endpoints:
        ctx = multiprocessing.get_context("spawn")
        parent, child = ctx.Pipe()
        self._conn = parent
        self._process = ctx.Process(target=_serve, args=(child, self.family, self.config, os.getpid()),
                                    name=f"callprobe-{self.family}-server", daemon=True)
        self._process.start()
        child.close()
        if not parent.poll(START_TIMEOUT_S):
            self.stop()
            raise ServerStartError(f"the embedded {self.family} server did not start within {START_TIMEOUT_S:g} s")
        try:
            reply = parent.recv()
        except EOFError:
            reply = {"error": "the server process exited"}
        if "error" in reply:
            self.stop()
            raise ServerStartError(f"the embedded {self.family} server did not start: {reply['error']}")
        self.endpoints = Endpoints(reply["server"], reply["api"])
        self.limits = dict(reply.get("limits", {}))
        self.faults = list(reply.get("faults", []))
        return self.endpoints

    def cpu_now(self) -> float | None:
        return cpu_seconds(self.pid) if self.pid is not None else None

    def stop(self) -> float | None:
        """Stop the server (its connections closed) and the process; safe to call twice."""
        process, conn = self._process, self._conn
        if process is None:
            return self.cpu_s
        if conn is not None and process.is_alive():
            with contextlib.suppress(OSError, EOFError):
                self.cpu_s = self.cpu_now()
                conn.send("stop")
                if conn.poll(STOP_TIMEOUT_S):
                    reply = conn.recv()
                    self.cpu_s = float(reply.get("cpu_s", self.cpu_s or 0.0))
        process.join(STOP_TIMEOUT_S)
        if process.is_alive():
            process.kill()
            process.join(STOP_TIMEOUT_S)
        if conn is not None:
            conn.close()
        self._process = self._conn = None
        return self.cpu_s

    def describe(self) -> dict[str, Any]:
        return {"embedded": True, "family": self.family, "server": self.endpoints.server,
                "api": self.endpoints.api or None, "process": "own", "limits_raised": self.limits,
                "faults": self.faults, "cpu_s": None if self.cpu_s is None else round(self.cpu_s, 3)}


def _serve(conn: Connection, family_name: str, config: EmbeddedConfig, parent: int) -> None:
    setup_child(parent)
    try:
        # the server's own loop: a family's server may rely on the standard event loop (KKIM's guarded listener does)
        asyncio.run(_serve_async(conn, family_name, config))
    finally:
        with contextlib.suppress(OSError):
            conn.close()


async def _serve_async(conn: Connection, family_name: str, config: EmbeddedConfig) -> None:
    fam = family(family_name)
    module = fam.module("server")
    try:
        server = module.embedded(config)
        await server.start()
    except Exception as exc:  # reported to the controller, which raises ServerStartError
        conn.send({"error": f"{type(exc).__name__}: {exc}"})
        return
    limits = dict(getattr(module, "LOAD_LIMITS", {})) if config.load else {}
    conn.send({"server": server.endpoints.server, "api": server.endpoints.api, "limits": limits,
               "faults": server.active_faults()})
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_reader(conn.fileno(), stop.set)
    try:
        await stop.wait()
    finally:
        loop.remove_reader(conn.fileno())
        with contextlib.suppress(Exception):
            await server.stop()
        with contextlib.suppress(OSError, EOFError):
            if conn.poll(0):
                conn.recv()
            conn.send({"cpu_s": time.process_time()})
