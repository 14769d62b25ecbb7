"""The controller of a load run: server, workers, the per-second merge, thresholds, the report.

It runs in the command's process, with no event loop of its own: it starts
the embedded server in its own process (``server``), the workers
(``local.LocalWorkers`` or ``ray_workers.RayWorkers``), gives each worker its
plan, waits until all are ready, starts every worker's clock at one instant,
then once a second merges what they sent (docs/load.md#workers-and-the-controller):
per-second aggregates into the run's totals and into one row of the time
series, exactly (HDR histograms added count by count). It updates the live
view, judges thresholds marked to abort, and stops the workers at the end,
on a failed threshold, or on Ctrl-C (the first stops new calls, the second
cuts calls short). Whatever happens, every process it started is stopped.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import os
import signal
import time
from collections.abc import Iterator
from typing import Any, Protocol

from callprobe.analysis.load.aggregate import Aggregate
from callprobe.analysis.load.report import LiveSnapshot, LoadReport, series_row, snapshot_figures
from callprobe.analysis.load.thresholds import Threshold, ThresholdResult, evaluate
from callprobe.engine.load.plan import LoadOptions, WorkerPlan, prepare
from callprobe.engine.load.server import ServerProcess
from callprobe.engine.services import embedded_config
from callprobe.errors import CallprobeError, ConfigError
from callprobe.scenario.model import Scenario

#: Thresholds that may abort a run are judged once this many calls have ended (counts at once).
ABORT_MIN_CALLS = 10
#: Workers must be ready (processes started, clips encoded) within this time.
READY_TIMEOUT_S = 180.0
#: Timelines of calls kept in a report, at most, whatever the workers send.
MAX_KEPT_FAILED = 50
MAX_KEPT_GOOD = 20


class LoadView(Protocol):
    def update(self, snapshot: LiveSnapshot) -> None: ...

    def close(self) -> None: ...


class Workers(Protocol):
    kind: str

    def start(self, plans: list[WorkerPlan]) -> None: ...

    def go(self, start_wall: float) -> None: ...

    def stop(self, abort: bool = False) -> None: ...

    def poll(self, timeout: float) -> list[dict[str, Any]]: ...

    def describe(self) -> list[dict[str, Any]]: ...

    def close(self) -> None: ...


class _Terminated(BaseException):
    """SIGTERM reached the controller (a BaseException, like KeyboardInterrupt: no ``except Exception`` eats it)."""


class LoadController:
    """Plays a load run: ``LoadController(scenario, options, thresholds).run()`` returns the report."""

    def __init__(self, scenario: Scenario, options: LoadOptions, thresholds: list[Threshold],
                 view: LoadView | None = None) -> None:
        if options.pairs is None and options.rate is None:
            raise ConfigError("say how much load: --pairs N (calls at a time) or --rate R/s (new calls a second)")
        self.scenario = scenario
        self.options = options
        self.thresholds = thresholds
        self.view = view
        self.totals = Aggregate()
        self.series: list[dict[str, Any]] = []
        self._seconds: dict[int, Aggregate] = {}
        self._gauges: dict[int, dict[int, tuple[int, int]]] = {}
        self._last_second: dict[int, int] = {}
        self._latest: dict[int, dict[str, Any]] = {}
        self._done: set[int] = set()
        self._kept: list[dict[str, Any]] = []
        self._kept_counts = {"failed_kept": 0, "good_kept": 0}
        self._failed_seen: dict[int, int] = {}
        self._measured: set[str] = set()
        self._errors: list[str] = []
        self._stop_reason = ""
        self._phase = "starting"
        self._started_mono = 0.0
        self._count = 0
        self._workers_info: list[dict[str, Any]] = []
        self._peaks = [0, 0]
        self.server: ServerProcess | None = None
        self.workers: Workers | None = None
        self.notes: list[str] = []

    # ------------------------------------------------------------------ run

    def run(self) -> LoadReport:
        options = self.options
        embedded = options.server is None and self.scenario.server.embedded
        prepared, notes = prepare(self.scenario, media=options.media, hold_s=options.hold_s, loopback=embedded)
        self.notes = list(notes)
        started_at = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
        began = time.monotonic()
        with self._signals():
            try:
                server, api = self._start_server(prepared, embedded)
                self._start_workers(prepared, server, api, register=embedded)
                self._play()
            except KeyboardInterrupt:
                self._stop_reason = self._stop_reason or "interrupted (Ctrl-C)"
            except _Terminated:
                self._stop_reason = "terminated (SIGTERM)"
            finally:
                self._shutdown()
        return self._report(started_at, time.monotonic() - (self._started_mono or began), embedded)

    @contextlib.contextmanager
    def _signals(self) -> Iterator[None]:
        def terminate(signum: int, frame: Any) -> None:
            raise _Terminated()

        try:
            previous = signal.signal(signal.SIGTERM, terminate)
        except ValueError:  # not the main thread: the caller handles signals
            yield
            return
        try:
            yield
        finally:
            signal.signal(signal.SIGTERM, previous)

    def _start_server(self, prepared: Scenario, embedded: bool) -> tuple[str, str]:
        options, server = self.options, prepared.server
        if not embedded:
            url = options.server or server.remote_url
            api = options.api or (server.api_url if server.family == "kkim" else "")
            if not url:
                raise ConfigError(f"{prepared.file}: no server to load: the scenario names none and no --server")
            return url, api or ""
        config = dataclasses.replace(embedded_config(prepared), load=True)
        self.server = ServerProcess(server.family, config)
        endpoints = self.server.start()
        if self.server.limits:
            raised = ", ".join(f"{k}={v}" for k, v in self.server.limits.items())
            self.notes.append(f"the embedded {server.family} server runs in its own process with its "
                              f"connection limits raised for load: {raised}")
        return endpoints.server, endpoints.api

    def _make_workers(self) -> Workers:
        if self.options.ray:
            try:
                from callprobe.engine.load.ray_workers import RayWorkers
            except ImportError:
                raise ConfigError("--ray needs Ray: pip install 'callprobe[ray]'") from None
            return RayWorkers(self.options.ray)
        from callprobe.engine.load.local import LocalWorkers

        return LocalWorkers()

    def _start_workers(self, prepared: Scenario, server: str, api: str, register: bool = False) -> None:
        options = self.options
        self.workers = workers = self._make_workers()
        count = options.workers
        if count <= 0:  # one per CPU of the Ray cluster
            cpus = getattr(workers, "cpus", None)
            count = cpus() if callable(cpus) else default_workers()
        count = max(1, count)
        if options.pairs is not None:
            count = min(count, max(1, options.pairs))
        plans = [WorkerPlan(index=i, workers=count, scenario=prepared, server=server, api=api,
                            webrtc=options.media != "none", model=options.model, pairs=options.pairs or 0,
                            rate=options.rate or 0.0, ramp_s=options.ramp_s, duration_s=options.duration_s,
                            grace_s=options.grace_s, max_active=options.max_active,
                            keep_failed=options.keep_failed, keep_good=options.keep_good,
                            sample_every=options.sample_every, register=register)
                 for i in range(count)]
        self._count = count
        workers.start(plans)
        ready: set[int] = set()
        deadline = time.monotonic() + READY_TIMEOUT_S
        while len(ready) < count:
            left = deadline - time.monotonic()
            if left <= 0:
                raise CallprobeError(f"load workers not ready within {READY_TIMEOUT_S:g} s "
                                     f"({len(ready)} of {count})")
            for message in workers.poll(min(1.0, left)):
                if message.get("error"):
                    raise CallprobeError(f"load worker {message.get('worker')} failed to start: {message['error']}")
                if message.get("ready"):
                    ready.add(int(message["worker"]))
            self._show()
        start_wall = time.time() + 0.2
        workers.go(start_wall)
        self._started_mono = time.monotonic() + 0.2
        self._phase = "running"

    # ----------------------------------------------------------------- loop

    def _play(self) -> None:
        assert self.workers is not None
        interrupts = 0
        while len(self._done) < self._count:
            try:
                for message in self.workers.poll(1.0):
                    self._take(message)
                self._settle(final=False)
                self._judge_abort()
                self._show()
            except KeyboardInterrupt:
                interrupts += 1
                self._stop_reason = "interrupted (Ctrl-C)"
                self._phase = "stopping"
                self.workers.stop(abort=interrupts > 1)

    def _take(self, message: dict[str, Any]) -> None:
        worker = int(message.get("worker", -1))
        if message.get("error"):
            self._errors.append(f"worker {worker}: {message['error']}")
        if "agg" in message:
            second = int(message["second"])
            agg = Aggregate.from_wire(message["agg"])
            self.totals.merge(agg)
            self._seconds.setdefault(second, Aggregate()).merge(agg)
            self._gauges.setdefault(second, {})[worker] = (int(message["active_calls"]),
                                                          int(message["active_agents"]))
            self._last_second[worker] = max(self._last_second.get(worker, -1), second)
            self._latest[worker] = message
            self._failed_seen[worker] = int(message.get("failed_seen", 0))
            self._measured.update(message.get("measured", ()))
            for kept in message.get("kept", ()):
                self._keep(kept)
        if message.get("done"):
            self._done.add(worker)

    def _keep(self, kept: dict[str, Any]) -> None:
        failed = kept.get("verdict") != "pass"
        key, cap = ("failed_kept", MAX_KEPT_FAILED) if failed else ("good_kept", MAX_KEPT_GOOD)
        if self._kept_counts[key] < cap:
            self._kept_counts[key] += 1
            self._kept.append(kept)

    def _settle(self, *, final: bool) -> None:
        """Turn every second all live workers have reported past into a row of the series."""
        live = [w for w in range(self._count) if w not in self._done]
        horizon = min((self._last_second.get(w, -1) for w in live), default=None)
        for second in sorted(self._seconds):
            if not final and horizon is not None and second >= horizon:
                break
            agg = self._seconds.pop(second)
            gauges = self._gauges.pop(second, {})
            calls = sum(g[0] for g in gauges.values())
            agents = sum(g[1] for g in gauges.values())
            self._peaks = [max(self._peaks[0], calls), max(self._peaks[1], agents)]
            self.series.append(series_row(second, agg, calls, agents))

    def _judge_abort(self) -> None:
        if not self.options.abort_on_fail or self._stop_reason or not self.thresholds:
            return
        results = evaluate(self.thresholds, self.totals)
        for result in results:
            ready = result.threshold.kind == "count" or self.totals.completed >= ABORT_MIN_CALLS
            if ready and result.observed is not None and not result.passed:
                elapsed = time.monotonic() - self._started_mono
                self._stop_reason = (f"threshold {result.threshold.text!r} failed at {elapsed:.0f} s "
                                     f"({result.describe()}): --abort-on-fail")
                self._phase = "stopping"
                assert self.workers is not None
                self.workers.stop(abort=True)
                return

    def _show(self) -> None:
        if self.view is None:
            return
        recent = self.series[-5:]
        span = max(1, len(recent))
        latest = list(self._latest.values())
        options = self.options
        target = f"{options.pairs} pairs" if options.pairs is not None else f"{options.rate:g}/s"
        snapshot = LiveSnapshot(
            phase=self._phase if len(self._done) < self._count else "done",
            elapsed_s=max(0.0, time.monotonic() - self._started_mono) if self._started_mono else 0.0,
            duration_s=options.duration_s, model=options.model, target=target,
            active_calls=sum(int(m.get("active_calls", 0)) for m in latest),
            active_agents=sum(int(m.get("active_agents", 0)) for m in latest),
            offered_per_s=sum(r["offered"] for r in recent) / span,
            completed_per_s=sum(r["completed"] for r in recent) / span,
            workers=self._count,
            thresholds=evaluate(self.thresholds, self.totals) if self.thresholds else [],
            **snapshot_figures(self.totals),
        )
        with contextlib.suppress(Exception):  # a view must never stop a run
            self.view.update(snapshot)

    # ------------------------------------------------------------- shutdown

    def _shutdown(self) -> None:
        workers = self.workers
        if workers is not None:
            with contextlib.suppress(BaseException):
                if len(self._done) < self._count:
                    workers.stop(abort=True)
                    deadline = time.monotonic() + self.options.grace_s + 5.0
                    while len(self._done) < self._count and time.monotonic() < deadline:
                        for message in workers.poll(0.5):
                            self._take(message)
            with contextlib.suppress(BaseException):
                self._workers_info = workers.describe()
            with contextlib.suppress(BaseException):
                workers.close()
        self._settle(final=True)
        if self.server is not None:
            with contextlib.suppress(BaseException):
                self.server.stop()
        self._phase = "done"
        self._show()
        if self.view is not None:
            with contextlib.suppress(Exception):
                self.view.close()

    def _report(self, started_at: str, duration_s: float, embedded: bool) -> LoadReport:
        options = self.options
        workers = []
        for info in self._workers_info:
            index = info.get("index")
            latest = self._latest.get(int(index)) if index is not None else None
            workers.append({**info, "host": (latest or {}).get("host", info.get("host")),
                            "cpu_s": round(float((latest or {}).get("cpu_s", 0.0)), 3),
                            "rss_mb": (latest or {}).get("rss_mb")})
        if self.server is not None:
            server = self.server.describe()
        else:
            server = {"embedded": False, "server": options.server or self.scenario.server.remote_url,
                      "api": options.api or None, "family": self.scenario.server.family}
        from callprobe.engine.load.procs import event_loop_kind

        measured = {"figures": "each call's timeline, derived as callprobe run derives them",
                    "event_loop": event_loop_kind() if not options.ray else "Ray's (actors)"}
        if options.media != "none":
            measured["media_delivery"] = (
                "frames the sender's synthetic tracks handed to aiortc, against frames received, "
                + ("decoded (aiortc's receiver was not the one expected)" if "decoded" in self._measured
                   else "counted from the received RTP stream: depacketised and reassembled, not decoded"))
        results: list[ThresholdResult] = evaluate(self.thresholds, self.totals)
        return LoadReport(
            scenario=self.scenario.name, file=self.scenario.file, backend=self.scenario.server.family,
            options={"model": options.model, "pairs": options.pairs, "rate": options.rate, "ramp_s": options.ramp_s,
                     "duration_s": options.duration_s, "hold_s": options.hold_s, "media": options.media,
                     "workers": self._count or options.workers,
                     "place": "ray" if options.ray else "process", "ray": options.ray,
                     "grace_s": options.grace_s, "max_active": options.max_active,
                     "abort_on_fail": options.abort_on_fail, "thresholds": [t.text for t in self.thresholds]},
            started_at=started_at, duration_s=duration_s, totals=self.totals, series=self.series,
            thresholds=results, workers=workers, server=server, kept=self._kept,
            kept_counts={**self._kept_counts, "failed_total": sum(self._failed_seen.values())},
            notes=self.notes, measured=measured, stop_reason=self._stop_reason, errors=self._errors,
            peak_active_calls=self._peaks[0], peak_active_agents=self._peaks[1],
        )


def default_workers() -> int:
    """One worker per core."""
    return max(1, os.cpu_count() or 1)
