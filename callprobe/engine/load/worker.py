"""A load worker: one event loop placing its share of the calls and reporting every second.

A worker is the same code in a local worker process (``local``) and in a Ray
actor (``ray_workers``): it is given a ``WorkerPlan`` and a function to emit
messages with, and it emits one *tick* per second of the run
(docs/load.md#workers-and-the-controller):

``{"worker", "second", "agg", "active_calls", "active_agents", "cpu_s", "rss_mb",
"kept", "failed_seen", "measured", "host", "pid", "done"}``

``agg`` is the ``Aggregate`` of the calls that ended in that second, in its
wire form (HDR histograms encoded), so the controller can merge it exactly.
Nothing else of a call outlives it: the timeline of a failed call (and of a
sample of good ones) travels in ``kept``; the rest is dropped at once, so a
worker's memory stays flat however long the run.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
from collections.abc import Callable
from typing import Any

from callprobe.analysis.diagnostics.findings import Severity
from callprobe.analysis.diagnostics.run_rules import findings_for_run
from callprobe.analysis.load.aggregate import Aggregate
from callprobe.engine.load.call import CallRun, record_call
from callprobe.engine.load.plan import WorkerPlan, arrival_time, numbered, pair_start, user_number
from callprobe.scenario.model import Action

Emit = Callable[[dict[str, Any]], None]

#: Closed model: after a failed call a pair waits this long before its next one.
FAILED_PAUSE_S = 1.0


class LoadWorker:
    """Places one worker's calls. ``await run()``; ``stop()`` or ``abort()`` from the same loop."""

    def __init__(self, plan: WorkerPlan, emit: Emit) -> None:
        self.plan = plan
        self._emit = emit
        self._interval = Aggregate()
        self._active: dict[int, CallRun] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._stopping = asyncio.Event()
        self._aborting = asyncio.Event()
        self._kept: list[dict[str, Any]] = []
        self._kept_failed = self._kept_good = self._failed_seen = 0
        self._measured: set[str] = set()
        self._t0 = 0.0
        self._start_wall = plan.start_wall or time.time()
        self._second = 0
        self.host = socket.gethostname()

    # -------------------------------------------------------------- control

    def stop(self) -> None:
        """Start no more calls; calls in progress finish within the grace time."""
        self._stopping.set()

    def abort(self) -> None:
        """Start no more calls and cut the ones in progress short."""
        self._stopping.set()
        self._aborting.set()

    # ------------------------------------------------------------------ run

    async def prepare(self) -> None:
        """Encode the media clips (once per process) before the clock starts."""
        if self.plan.webrtc:
            from callprobe.engine.runner import warm_clips

            await asyncio.to_thread(warm_clips, self._media_kinds())

    def go(self, start_wall: float) -> None:
        """The run's clock starts at ``start_wall`` (``time.time()``), the same for every worker."""
        self._start_wall = start_wall

    async def run(self) -> None:
        """Place the calls from the start until the end, then report the last tick (``done``)."""
        plan = self.plan
        loop = asyncio.get_running_loop()
        self._t0 = loop.time() + max(0.0, self._start_wall - time.time())
        ticker = asyncio.create_task(self._ticker(), name=f"load-ticker-{plan.index}")
        schedule = asyncio.create_task(self._schedule(), name=f"load-schedule-{plan.index}")
        try:
            await self._until_the_end(schedule)
        finally:
            self._stopping.set()
            await self._wind_down(schedule)
            ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticker
            self._tick(done=True)

    async def _until_the_end(self, schedule: asyncio.Task[None]) -> None:
        """Phase one: calls start, until the duration is over, a stop, or (one round) every pair is done."""
        waits: list[asyncio.Future[Any]] = [schedule, asyncio.ensure_future(self._stopping.wait())]
        if self.plan.duration_s is not None:
            waits.append(asyncio.ensure_future(self._sleep_until(self.plan.duration_s)))
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for fut in waits[1:]:
                fut.cancel()

    async def _wind_down(self, schedule: asyncio.Task[None]) -> None:
        """Phase two: calls in progress finish within the grace time (none on abort); the rest are cut."""
        loop = asyncio.get_running_loop()
        abort = asyncio.ensure_future(self._aborting.wait())
        deadline = loop.time() + self.plan.grace_s
        try:
            while not abort.done():
                pending = [t for t in (schedule, *self._tasks) if not t.done()]
                left = deadline - loop.time()
                if not pending or left <= 0:
                    break
                await asyncio.wait([*pending, abort], timeout=left, return_when=asyncio.FIRST_COMPLETED)
        finally:
            abort.cancel()
        leftovers = [t for t in (schedule, *self._tasks) if not t.done()]
        for task in leftovers:
            task.cancel()
        await asyncio.gather(*leftovers, return_exceptions=True)

    async def _sleep_until(self, offset_s: float) -> None:
        delay = self._t0 + offset_s - asyncio.get_running_loop().time()
        if delay > 0:
            await asyncio.sleep(delay)

    # ------------------------------------------------------------- schedule

    async def _schedule(self) -> None:
        if self.plan.model == "closed":
            await asyncio.gather(*(self._pair(j) for j in self.plan.my_pairs()))
        else:
            await self._arrivals()

    async def _pair(self, j: int) -> None:
        """Closed model: pair ``j`` places a call, then the next as soon as it ends, until the end."""
        plan = self.plan
        await self._sleep_until(pair_start(j, plan.pairs, plan.ramp_s))
        round_ = 0
        while not self._stopping.is_set():
            number = j + 1 + round_ * plan.pairs
            task = asyncio.create_task(self._call(number, j + 1), name=f"load-call-{number}")
            self._track(task)
            passed = await asyncio.shield(task)
            round_ += 1
            if plan.duration_s is None:
                return
            if not passed:  # a failing server is not hammered: the pair pauses before its next call
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), FAILED_PAUSE_S)

    async def _arrivals(self) -> None:
        """Open model: this worker's arrivals (every ``workers``-th), each a new call whatever the others do."""
        plan = self.plan
        k = plan.index
        while not self._stopping.is_set():
            due = arrival_time(k, plan.rate, plan.ramp_s)
            if plan.duration_s is not None and due >= plan.duration_s:
                return
            await self._sleep_until(due)
            if self._stopping.is_set():
                return
            if len(self._active) >= plan.max_active:
                self._interval.dropped += 1
            else:
                self._track(asyncio.create_task(self._call(k + 1, k + 1), name=f"load-call-{k + 1}"))
            k += plan.workers

    def _track(self, task: asyncio.Task[Any]) -> None:
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ----------------------------------------------------------------- call

    async def _call(self, number: int, users: int) -> bool:
        plan = self.plan
        scenario = numbered(plan.scenario, users)
        run = CallRun(scenario, server=plan.server, api=plan.api, webrtc=plan.webrtc, register=plan.register)
        self._active[number] = run
        self._interval.started += 1
        try:
            result = await run.run()
        except asyncio.CancelledError:
            self._interval.interrupted += 1
            raise
        finally:
            self._active.pop(number, None)
        passed = result.verdict == "pass"
        if not passed:
            self._failed_seen += 1
        keep = self._keep(passed, number)
        findings = []
        if keep or not passed:
            findings = [f for f in findings_for_run(result.events, scenario)
                        if f.severity in (Severity.ERROR, Severity.WARNING)]
        record = record_call(number, run, result, [f.code for f in findings])
        self._interval.add(record)
        if run.measured:
            self._measured.add(run.measured)
        if keep:
            self._kept.append({
                "call": number, "users": user_number(users), "worker": plan.index, "verdict": result.verdict,
                "reason": record.reason, "duration_ms": round(result.duration_ms, 3),
                "calls": [c.to_json() for c in result.calls],
                "findings": [f.to_json() for f in findings],
                "events": [e.to_json() for e in result.events],
            })
        return passed

    def _keep(self, passed: bool, number: int) -> bool:
        """Failed calls until ``keep_failed`` are kept; good ones once in ``sample_every``, up to ``keep_good``."""
        plan = self.plan
        if not passed:
            if self._kept_failed < plan.keep_failed:
                self._kept_failed += 1
                return True
            return False
        if self._kept_good < plan.keep_good and (number - 1) % max(1, plan.sample_every) == 0:
            self._kept_good += 1
            return True
        return False

    def _media_kinds(self) -> list[str]:
        scenario = self.plan.scenario
        kinds = {"audio"} | {"video" for a in scenario.agents.values() if a.media == "video"}
        kinds |= {"video" for s in scenario.steps if isinstance(s, Action) and s.params.get("media") == "video"}
        return sorted(kinds)

    # ---------------------------------------------------------------- ticks

    async def _ticker(self) -> None:
        while True:
            await self._sleep_until(self._second + 1)
            self._tick(done=False)
            self._second += 1

    def _tick(self, *, done: bool) -> None:
        interval, self._interval = self._interval, Aggregate()
        kept, self._kept = self._kept, []
        self._emit({
            "worker": self.plan.index, "second": self._second, "agg": interval.to_wire(),
            "active_calls": len(self._active),
            "active_agents": sum(run.agents_connected for run in self._active.values()),
            "cpu_s": time.process_time(), "rss_mb": _rss_mb(), "kept": kept, "failed_seen": self._failed_seen,
            "measured": sorted(self._measured), "host": self.host, "pid": os.getpid(), "done": done,
        })


def _rss_mb() -> float:
    """This process's resident memory now, in MB."""
    import psutil

    return round(psutil.Process().memory_info().rss / 1e6, 1)
