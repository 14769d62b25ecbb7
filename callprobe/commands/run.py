"""``callprobe run``: play a scenario and report what happened."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.console import Console

from callprobe.errors import ConfigError, ExitCode

if TYPE_CHECKING:
    from callprobe.analysis.results import RunResult
    from callprobe.scenario.model import Scenario


@click.command("run")
@click.argument("scenario_file", metavar="FILE", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--server", "ws_url", metavar="WS_URL",
              help="Gateway WebSocket URL (ws://host:10001). Default: the scenario's server, "
                   "or the embedded gateway.")
@click.option("--api", "api_url", metavar="API_URL",
              help="Auth API base URL (http://host:10002); required with --server.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the machine-readable report here.")
@click.option("--junit", "junit_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Write JUnit XML here (one test case per expectation).")
@click.option("--html", "html_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the ladder diagram of the run, findings marked, as an HTML page.")
@click.option("-v", "--verbose", is_flag=True,
              help="Also draw the ladder diagram of every frame and notice, and show the "
                   "embedded gateway's log.")
@click.option("--repeat", "repeat", type=click.IntRange(min=1), metavar="N",
              help="Play the scenario N times, each with fresh users and a fresh call; report every run "
                   "and the aggregate (JUnit: one test case per run).")
@click.option("--require", "require", metavar="K/N",
              help="With --repeat: pass when at least K of the N runs pass (default: all).")
@click.option("--parallel", "parallel", type=click.IntRange(min=1), default=1, show_default=True,
              help="With --repeat: runs played at a time.")
@click.option("--keep-users", is_flag=True,
              help="With --repeat: every run with the scenario's own users, not numbered ones (--parallel 1).")
def command(scenario_file: Path, ws_url: str | None, api_url: str | None,
            json_path: Path | None, junit_path: Path | None, html_path: Path | None,
            verbose: bool, repeat: int | None = None, require: str | None = None, parallel: int = 1,
            keep_users: bool = False) -> None:
    """Run a call scenario against a gateway and report the call's figures.

    Exit codes: 0 every expectation held (with --repeat: at least K of N
    runs passed); 1 an expectation failed; 3 the scenario file is invalid;
    4 the server could not be reached.
    """
    from callprobe.commands.checks import check_output, check_server, quiet_embedded_gateway
    from callprobe.scenario.loader import load_scenario

    quiet_embedded_gateway(verbose)
    for path, option in ((json_path, "--json"), (junit_path, "--junit"), (html_path, "--html")):
        check_output(path, option)
    scenario = load_scenario(scenario_file)
    check_server(ws_url, api_url, scenario.server.family)
    if ws_url and (scenario.server.faults or scenario.server.ring_timeout_s is not None):
        raise ConfigError(f"{scenario.file}: server.faults and server.ring_timeout_s set the embedded "
                          "gateway; they cannot apply to the --server gateway (use an invite's timeout_s)")

    if repeat is not None or require is not None or parallel != 1 or keep_users:
        from callprobe.commands.repeat import play_repeated

        play_repeated(scenario, times=repeat or 1, require=require, parallel=parallel, ws_url=ws_url,
                      api_url=api_url, keep_users=keep_users, json_path=json_path, junit_path=junit_path,
                      html_path=html_path)
        return

    from callprobe.engine.runner import Runner

    err = Console(stderr=True)
    out = Console()
    status = err.status("starting", spinner="dots") if err.is_terminal else None

    def progress(index: int, total: int, text: str, agent: str) -> None:
        if status is not None:
            status.update(f"step {index}/{total} {('[' + agent + '] ') if agent else ''}{text}")

    runner = Runner(scenario, ws_url=ws_url, api_url=api_url, progress=progress)
    started = time.monotonic()
    interrupted = False
    try:
        if status is not None:
            with status:
                result = asyncio.run(runner.run())
        else:
            result = asyncio.run(runner.run())
    except KeyboardInterrupt:
        # the runner tore everything down on its way out; report what it saw
        interrupted = True
        result = runner.result(time.monotonic() - started, "interrupted (Ctrl-C)")

    from callprobe.reporters.console import render  # after the run: the first login waits for nothing

    _attach_findings(result, scenario)
    render(result, out, verbose=verbose)
    if json_path:
        from callprobe.reporters.json_report import write_json

        write_json(result, json_path)
    if junit_path:
        from callprobe.reporters.junit import write_junit

        write_junit(result, junit_path)
    if html_path:
        from callprobe.reporters.ladder import build_ladder, render_ladder_html

        ladder = build_ladder(result.events, result.findings)
        html_path.write_text(render_ladder_html(ladder, title=f"callprobe run {result.scenario}"))
    if interrupted:
        click.get_current_context().exit(130)
    if result.unreachable:
        click.get_current_context().exit(int(ExitCode.SERVER_UNREACHABLE))
    click.get_current_context().exit(int(ExitCode.OK if result.verdict == "pass" else ExitCode.EXPECTATION_FAILED))


def _attach_findings(result: RunResult, scenario: Scenario) -> None:
    """Run the diagnostic rules on the run's own timeline, so a failure says why."""
    from callprobe.analysis.diagnostics.run_rules import findings_for_run

    result.findings = findings_for_run(result.events, scenario)
