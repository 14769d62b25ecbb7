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
@click.option("--remote-agents", "remote_agents", metavar="NAMES", multiple=True,
              help="Agents played by `callprobe agent` processes elsewhere (comma-separated, repeatable); "
                   "the run opens a control endpoint and waits for them to join.")
@click.option("--control-listen", "control_listen", metavar="HOST:PORT", default="127.0.0.1:0", show_default=True,
              help="Where the control endpoint listens (only with --remote-agents); 0 picks a free port.")
@click.option("-v", "--verbose", is_flag=True,
              help="Also draw the ladder diagram of every frame and notice, and show the "
                   "embedded gateway's log.")
def command(scenario_file: Path, ws_url: str | None, api_url: str | None,
            json_path: Path | None, junit_path: Path | None, html_path: Path | None,
            remote_agents: tuple[str, ...], control_listen: str, verbose: bool) -> None:
    """Run a call scenario against a gateway and report the call's figures.

    Exit codes: 0 every expectation held; 1 an expectation failed;
    3 the scenario file is invalid; 4 the server could not be reached.
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

    from callprobe.engine.runner import Runner
    from callprobe.reporters.console import render

    err = Console(stderr=True)
    out = Console()
    status = err.status("starting", spinner="dots") if err.is_terminal else None

    def progress(index: int, total: int, text: str, agent: str) -> None:
        if status is not None:
            status.update(f"step {index}/{total} {('[' + agent + '] ') if agent else ''}{text}")

    names = _remote_names(remote_agents, scenario)
    hub = None
    if names:
        from callprobe.engine.remote.hub import RemoteHub

        host, port = _listen(control_listen)
        hub = RemoteHub(names, scenario_file.read_text(encoding="utf-8"), host=host, port=port,
                        settings=scenario.settings, file=scenario.file)
    runner = Runner(scenario, ws_url=ws_url, api_url=api_url, progress=progress, remote=hub, remote_agents=names)

    async def play() -> RunResult:
        if hub is not None:
            await hub.start()
            err.print(f"control: {hub.url}\ntoken:   {hub.token}   (this run only; give it to each agent "
                      "in CALLPROBE_AGENT_TOKEN)", highlight=False, soft_wrap=True)
            for name in names:
                err.print(f"  on {name}'s host: {hub.command_for(name)}", highlight=False, soft_wrap=True)
        return await runner.run()

    started = time.monotonic()
    interrupted = False
    try:
        if status is not None:
            with status:
                result = asyncio.run(play())
        else:
            result = asyncio.run(play())
    except KeyboardInterrupt:
        # the runner tore everything down on its way out; report what it saw
        interrupted = True
        result = runner.result(time.monotonic() - started, "interrupted (Ctrl-C)")

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


def _remote_names(given: tuple[str, ...], scenario: Scenario) -> tuple[str, ...]:
    """``--remote-agents`` as agent names the scenario plays."""
    names = tuple(dict.fromkeys(n.strip() for text in given for n in text.split(",") if n.strip()))
    for name in names:
        if name not in scenario.agents:
            raise click.BadParameter(f"{name!r} is not an agent of {scenario.file} "
                                     f"(agents: {', '.join(scenario.agents)})", param_hint="--remote-agents")
        if scenario.agents[name].external:
            raise click.BadParameter(f"{name} is external: callprobe does not play it anywhere",
                                     param_hint="--remote-agents")
    return names


def _listen(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise click.BadParameter(f"{text!r}: expected HOST:PORT, like 127.0.0.1:0", param_hint="--control-listen")
    return host.strip("[]"), int(port)


def _attach_findings(result: RunResult, scenario: Scenario) -> None:
    """Run the diagnostic rules on the run's own timeline, so a failure says why."""
    from callprobe.analysis.diagnostics.run_rules import findings_for_run

    result.findings = findings_for_run(result.events, scenario)
