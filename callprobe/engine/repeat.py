"""``run --repeat``: play one scenario many times, a few at a time, and judge the lot.

Each run is an ordinary ``Runner`` run, with fresh users (the scenario's user
IDs numbered ``alice-000001``, ``alice-000002``, ...) and so a fresh call, so
runs played side by side never meet. An embedded server is started once, in
its own process (``engine.load.server``), and every run talks to it; with
``--server`` every run talks to that server. Each run's result keeps its
whole timeline and findings; the aggregate counts passes and merges the
per-call figures into HDR histograms, as a load run does
(docs/load.md#repeat-and-flake-control).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from callprobe.analysis.diagnostics.findings import Severity
from callprobe.analysis.diagnostics.run_rules import findings_for_run
from callprobe.analysis.load.records import make_record
from callprobe.analysis.repeat import RepeatResult, RepeatRun, parse_require
from callprobe.engine.load.plan import numbered, on_loopback, user_number
from callprobe.engine.load.server import ServerProcess
from callprobe.engine.runner import Runner
from callprobe.engine.services import embedded_config
from callprobe.errors import ConfigError
from callprobe.scenario.model import Scenario


async def run_repeated(scenario: Scenario, *, times: int, parallel: int = 1, required: int | None = None,
                       ws_url: str | None = None, api_url: str | None = None, keep_users: bool = False,
                       on_run: Callable[[RepeatRun], None] | None = None,
                       into: RepeatResult | None = None) -> RepeatResult:
    """Play ``scenario`` ``times`` times, ``parallel`` at a time; judge with ``required`` passes.

    ``into``: the result to fill, so a caller stopped by a signal still holds the runs that ended.
    """
    if parallel < 1 or times < 1:
        raise ConfigError("--repeat and --parallel are at least 1")
    if keep_users and parallel > 1:
        raise ConfigError("--keep-users plays every run with the same users: they cannot run side by side "
                          "(--parallel 1)")
    if not keep_users and scenario.server.login.mode == "fixed":
        raise ConfigError(f"{scenario.file}: login mode 'fixed' gives each agent one token; repeated runs number "
                          "their users", hint="add --keep-users to play every run with the scenario's own users")
    out = into or RepeatResult(scenario.name, scenario.file, times, times if required is None else required, parallel)
    embedded = ws_url is None and scenario.server.embedded
    server: ServerProcess | None = None
    loop = asyncio.get_running_loop()
    started = loop.time()
    base = on_loopback(scenario) if embedded else scenario
    try:
        if embedded:
            server = ServerProcess(scenario.server.family, embedded_config(scenario))
            endpoints = await asyncio.to_thread(server.start)
            ws_url, api_url = endpoints.server, endpoints.api or None
        gate = asyncio.Semaphore(parallel)

        async def one(number: int) -> None:
            async with gate:
                played = base if keep_users else numbered(base, number)
                result = await Runner(played, ws_url=ws_url, api_url=api_url, register=embedded).run()
                result.server = {**result.server, "embedded": embedded}
                result.findings = findings_for_run(result.events, played)
                run = RepeatRun(number, "" if keep_users else user_number(number), result)
                out.runs.append(run)
                codes = [f.code for f in result.findings if f.severity in (Severity.ERROR, Severity.WARNING)]
                out.totals.started += 1
                out.totals.add(make_record(number, passed=result.verdict == "pass", calls=result.calls,
                                           steps=result.steps, events=result.events, aborted=result.aborted,
                                           findings=codes, duration_ms=result.duration_ms,
                                           unreachable=result.unreachable))
                if on_run is not None:
                    on_run(run)

        await asyncio.gather(*(one(n) for n in range(1, times + 1)))
    finally:
        if server is not None:
            await asyncio.to_thread(server.stop)
            out.server = server.describe()
        else:
            out.server = {"embedded": False, "server": ws_url, "api": api_url}
    out.runs.sort(key=lambda r: r.number)
    out.duration_ms = (loop.time() - started) * 1000.0
    return out


__all__ = ["RepeatResult", "RepeatRun", "parse_require", "run_repeated"]
