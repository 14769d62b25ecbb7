"""``callprobe run``: play a scenario and report what happened."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.console import Console

from callprobe.errors import ConfigError, ExitCode

if TYPE_CHECKING:
    from callprobe.analysis.results import RunResult
    from callprobe.scenario.model import Scenario


@click.command("run")
@click.argument("scenario_file", metavar="FILE", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--profile", "profile_name", metavar="NAME", envvar="CALLPROBE_PROFILE",
              help="Play the scenario against this profile's server (`callprobe profile`), with its "
                   "login; --server/--api and their environment variables win over it. "
                   "Env: CALLPROBE_PROFILE.")
@click.option("--server", "ws_url", metavar="WS_URL", envvar="CALLPROBE_SERVER",
              help="Gateway WebSocket URL (ws://host:10001). Default: the scenario's server, "
                   "or the embedded gateway. Env: CALLPROBE_SERVER.")
@click.option("--api", "api_url", metavar="API_URL", envvar="CALLPROBE_API",
              help="Auth API base URL (http://host:10002); required with --server. Env: CALLPROBE_API.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, allow_dash=True, path_type=Path),
              help="Write the machine-readable report here ('-': standard output, the terminal "
                   "report then goes to standard error).")
@click.option("--junit", "junit_path", type=click.Path(dir_okay=False, allow_dash=True, path_type=Path),
              help="Write JUnit XML here (one test case per expectation; '-': standard output).")
@click.option("--html", "html_path", type=click.Path(dir_okay=False, allow_dash=True, path_type=Path),
              help="Write the ladder diagram of the run, findings marked, as an HTML page "
                   "('-': standard output).")
@click.option("-v", "--verbose", is_flag=True,
              help="Also draw the ladder diagram of every frame and notice, and show the "
                   "embedded gateway's log.")
def command(scenario_file: Path, profile_name: str | None, ws_url: str | None, api_url: str | None,
            json_path: Path | None, junit_path: Path | None, html_path: Path | None,
            verbose: bool) -> None:
    """Run a call scenario against a gateway and report the call's figures.

    Exit codes: 0 every expectation held; 1 an expectation failed;
    3 the scenario file is invalid; 4 the server could not be reached.
    """
    from callprobe.commands.checks import (
        check_output,
        check_server,
        quiet_embedded_gateway,
        stdout_output,
        write_output,
    )
    from callprobe.scenario.loader import load_scenario

    quiet_embedded_gateway(verbose)
    outputs = ((json_path, "--json"), (junit_path, "--junit"), (html_path, "--html"))
    to_stdout = stdout_output(*outputs)
    for path, option in outputs:
        check_output(path, option)
    scenario = load_scenario(scenario_file)
    if profile_name:
        scenario, ws_url, api_url = _with_profile(scenario, profile_name, ws_url, api_url)
    login = scenario.server.login
    api_needed = not (login.mode == "fixed" or (login.mode == "custom" and "://" in login.url))
    check_server(ws_url, api_url, scenario.server.family, api_needed=api_needed)
    if ws_url and (scenario.server.faults or scenario.server.ring_timeout_s is not None):
        raise ConfigError(f"{scenario.file}: server.faults and server.ring_timeout_s set the embedded "
                          "gateway; they cannot apply to the --server gateway (use an invite's timeout_s)")

    from callprobe.engine.runner import Runner
    from callprobe.reporters.console import render

    err = Console(stderr=True)
    out = Console(stderr=to_stdout)
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

    _attach_findings(result, scenario)
    render(result, out, verbose=verbose)
    if json_path:
        from callprobe.reporters.json_report import write_json

        write_output(json_path, lambda path: write_json(result, path))
    if junit_path:
        from callprobe.reporters.junit import write_junit

        write_output(junit_path, lambda path: write_junit(result, path))
    if html_path:
        from callprobe.reporters.ladder import build_ladder, render_ladder_html

        ladder = build_ladder(result.events, result.findings)
        page = render_ladder_html(ladder, title=f"callprobe run {result.scenario}")
        write_output(html_path, lambda path: path.write_text(page))
    if interrupted:
        click.get_current_context().exit(130)
    if result.unreachable:
        click.get_current_context().exit(int(ExitCode.SERVER_UNREACHABLE))
    click.get_current_context().exit(int(ExitCode.OK if result.verdict == "pass" else ExitCode.EXPECTATION_FAILED))


def _with_profile(scenario: Scenario, name: str, ws_url: str | None,
                  api_url: str | None) -> tuple[Scenario, str | None, str | None]:
    """The scenario pointed at profile ``name``'s server: its URLs where --server/--api (and their
    variables) are silent, and its login in place of the scenario's (which belongs to the scenario's
    own server). A fixed-token login stays the scenario's: its tokens are per agent."""
    from dataclasses import replace

    from callprobe.commands.checks import login_body
    from callprobe.profiles import fill_from_profile, get_profile
    from callprobe.scenario.model import DEFAULT_ADMIN_USER, DEFAULT_SECRET, DEFAULT_TOKEN_PATH, LoginConfig

    profile = get_profile(name)
    family = str(profile.get("backend") or "kkim")
    if family != scenario.server.family:
        raise ConfigError(f"profile {name!r} is a {family} server; {scenario.file} is a scenario for "
                          f"backend {scenario.server.family}")
    values: dict[str, Any] = {"ws_url": ws_url, "api_url": api_url}
    fill_from_profile(click.get_current_context(), values, profile, {"ws_url": "server", "api_url": "api"})
    mode = str(profile.get("login") or "admin_user_token")
    if family != "kkim" or mode == "fixed" or not any(profile.get(k) for k in
                                                      ("login", "secret_env", "admin_user", "login_url")):
        return scenario, values["ws_url"], values["api_url"]
    login = LoginConfig(mode=mode, secret=profile.secret("secret_env") or DEFAULT_SECRET,
                        admin_user=str(profile.get("admin_user") or DEFAULT_ADMIN_USER),
                        url=str(profile.get("login_url") or ""),
                        method=str(profile.get("login_method") or "POST"),
                        body=login_body(profile.get("login_body"), f"profile {name}: login_body"),
                        token_path=str(profile.get("token_path") or DEFAULT_TOKEN_PATH))
    agents = scenario.agents
    password = profile.secret("password_env") if mode == "custom" else None
    if password:  # the accounts' password, for agents the scenario gives none
        agents = {n: a if a.password else replace(a, password=password) for n, a in agents.items()}
    server = replace(scenario.server, login=login)
    return replace(scenario, server=server, agents=agents), values["ws_url"], values["api_url"]


def _attach_findings(result: RunResult, scenario: Scenario) -> None:
    """Run the diagnostic rules on the run's own timeline, so a failure says why."""
    from callprobe.analysis.diagnostics.run_rules import findings_for_run

    result.findings = findings_for_run(result.events, scenario)
