"""Load workers as Ray actors, across the machines of a Ray cluster (docs/load.md#across-machines-with-ray).

Each actor plays the same ``LoadWorker`` as a local worker process, on the
actor's own event loop; the controller polls every actor once a second for
the ticks it gathered, so the controller, the histograms and the report are
the same as with local processes.

Ray never reports usage outside (``RAY_USAGE_STATS_ENABLED=0``, set before
Ray is imported) and starts no dashboard. ``--ray auto`` joins the cluster
this machine belongs to, or, when there is none, starts a one-machine Ray
bound to 127.0.0.1 (``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` keeps every Ray
server on loopback) under a guard that stops its processes whatever ends
the run (``guard``). Actors of a cluster callprobe joined die with their
driver: Ray ends the actors of a driver that goes.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import tempfile
import time
from typing import Any

os.environ["RAY_USAGE_STATS_ENABLED"] = "0"

import ray

from callprobe.engine.load.guard import start_guard, stop_guard
from callprobe.engine.load.plan import WorkerPlan
from callprobe.engine.load.procs import quiet_logging, raise_fd_limit
from callprobe.errors import ConfigError

#: Environment of a Ray instance callprobe starts itself.
LOCAL_ENV = {"RAY_USAGE_STATS_ENABLED": "0", "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
RPC_TIMEOUT_S = 30.0


@ray.remote
class LoadActor:
    """One load worker in a Ray actor: ``start`` (clips encoded), ``go``, ``poll``, ``stop``."""

    def __init__(self) -> None:
        self._ticks: list[dict[str, Any]] = []
        self._worker: Any = None
        self._task: asyncio.Task[None] | None = None

    async def start(self, plan: WorkerPlan) -> dict[str, Any]:
        from callprobe.engine.load.worker import LoadWorker

        quiet_logging()
        raise_fd_limit()
        self._worker = LoadWorker(plan, self._emit)
        await self._worker.prepare()
        return {"worker": plan.index, "ready": True, "pid": os.getpid(), "host": self._worker.host}

    def _emit(self, tick: dict[str, Any]) -> None:
        self._ticks.append(tick)  # whichever list poll() left in place

    async def go(self, start_wall: float) -> None:
        self._worker.go(start_wall)
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        try:
            await self._worker.run()
        except Exception as exc:
            self._ticks.append({"worker": self._worker.plan.index, "done": True,
                                "error": f"{type(exc).__name__}: {exc}"})

    async def poll(self) -> list[dict[str, Any]]:
        out, self._ticks = self._ticks, []
        return out

    async def stop(self, abort: bool) -> None:
        if self._worker is not None:
            if abort:
                self._worker.abort()
            else:
                self._worker.stop()


class RayWorkers:
    """The same interface as ``local.LocalWorkers``, over Ray actors."""

    kind = "ray"

    def __init__(self, address: str) -> None:
        self.address = address
        self.started_here = False
        self._guard: Any = None
        self._temp_dir = ""
        self._actors: list[Any] = []
        self._info: list[dict[str, Any]] = []
        self._pending: list[dict[str, Any]] = []
        self._last_poll = 0.0
        self._dead: set[int] = set()
        self._connect()

    # ------------------------------------------------------------ cluster

    def _connect(self) -> None:
        if ray.is_initialized():
            return  # this process joined or started Ray already (a test, an embedding program)
        handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            self._init()
        finally:  # Ray installs its own handlers in the driver; the controller's stay in charge
            for sig, handler in handlers.items():
                with contextlib.suppress(ValueError, TypeError):
                    signal.signal(sig, handler)

    def _init(self) -> None:
        common: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "configure_logging": False,
                  "runtime_env": {"env_vars": {"RAY_USAGE_STATS_ENABLED": "0"}}}
        if self.address != "auto":
            try:
                ray.init(address=self.address, **common)
            except (ConnectionError, ValueError, RuntimeError) as exc:
                raise ConfigError(f"--ray {self.address}: cannot join that Ray cluster: {exc}",
                                  hint="start it with `ray start --head` and give its address") from None
            return
        try:
            ray.init(address="auto", **common)
            return
        except (ConnectionError, ValueError, RuntimeError):
            pass  # no cluster here: start one on this machine
        os.environ.update(LOCAL_ENV)
        self._temp_dir = tempfile.mkdtemp(prefix="cpray-", dir="/tmp")
        self._guard = start_guard(self._temp_dir)
        self.started_here = True
        try:
            ray.init(_temp_dir=self._temp_dir, **common)
        except Exception:
            self.close()
            raise

    def cpus(self) -> int:
        resources: dict[str, Any] = getattr(ray, "cluster_resources")()  # noqa: B009  (untyped in Ray)
        return max(1, int(resources.get("CPU", 1)))

    def nodes(self) -> int:
        nodes: list[dict[str, Any]] = getattr(ray, "nodes")()  # noqa: B009  (untyped in Ray)
        return len([n for n in nodes if n.get("Alive")])

    # ------------------------------------------------------------- workers

    def start(self, plans: list[WorkerPlan]) -> None:
        share = min(1.0, self.cpus() / max(1, len(plans)))
        self._actors = [LoadActor.options(num_cpus=share, scheduling_strategy="SPREAD").remote()  # type: ignore[attr-defined]
                        for _ in plans]
        refs = [actor.start.remote(plan) for actor, plan in zip(self._actors, plans, strict=True)]
        self._info = list(ray.get(refs, timeout=RPC_TIMEOUT_S * 4))
        self._pending.extend(self._info)

    def go(self, start_wall: float) -> None:
        ray.get([a.go.remote(start_wall) for a in self._actors], timeout=RPC_TIMEOUT_S)

    def stop(self, abort: bool = False) -> None:
        with contextlib.suppress(Exception):
            ray.get([a.stop.remote(abort) for a in self._actors], timeout=RPC_TIMEOUT_S)

    def poll(self, timeout: float) -> list[dict[str, Any]]:
        out, self._pending = self._pending, []
        wait = self._last_poll + min(1.0, timeout) - time.monotonic()
        if wait > 0 and not out:
            time.sleep(wait)
        self._last_poll = time.monotonic()
        live = [(i, a) for i, a in enumerate(self._actors) if i not in self._dead]
        refs = [actor.poll.remote() for _, actor in live]
        for (index, _), ref in zip(live, refs, strict=True):
            try:
                out.extend(ray.get(ref, timeout=RPC_TIMEOUT_S))
            except Exception as exc:  # an actor that died or a node that went
                self._dead.add(index)
                out.append({"worker": index, "done": True, "error": f"Ray actor lost: {type(exc).__name__}: {exc}"})
        return out

    def describe(self) -> list[dict[str, Any]]:
        return [{"index": i.get("worker"), "pid": i.get("pid"), "host": i.get("host"), "place": "ray"}
                for i in self._info]

    def close(self) -> None:
        for actor in self._actors:
            with contextlib.suppress(Exception):
                ray.kill(actor)
        self._actors = []
        if self.started_here:
            with contextlib.suppress(Exception):
                ray.shutdown()
            if self._guard is not None:
                stop_guard(self._guard)
                self._guard = None
