"""``callprobe run``: play a scenario and report what happened."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from callprobe.errors import ConfigError, ExitCode, exit_codes_epilog

if TYPE_CHECKING:
    from callprobe.analysis.results import RunResult
    from callprobe.engine.remote.hub import RemoteHub
    from callprobe.scenario.model import Scenario


@click.command("run", epilog=exit_codes_epilog("run"))
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
              help="Write the machine-readable report here ('-': standard output, the terminal report "
                   "then goes to standard error; docs/schemas/run-report.schema.json).")
@click.option("--events", "events_path", type=click.Path(dir_okay=False, allow_dash=True, path_type=Path),
              help="Stream the timeline as NDJSON while running, one event per line, flushed "
                   "('-': stdout; docs/schemas/event.schema.json).")
@click.option("--junit", "junit_path", type=click.Path(dir_okay=False, allow_dash=True, path_type=Path),
              help="Write JUnit XML here (one test case per expectation; '-': standard output).")
@click.option("--html", "html_path", type=click.Path(dir_okay=False, allow_dash=True, path_type=Path),
              help="Write the ladder diagram of the run, failed expectations and findings marked, as an "
                   "HTML page ('-': standard output).")
@click.option("--remote-agents", "remote_agents", metavar="NAMES", multiple=True,
              help="Agents played by `callprobe agent` processes elsewhere (comma-separated, repeatable); "
                   "the run opens a control endpoint and waits for them to join.")
@click.option("--control-listen", "control_listen", metavar="HOST:PORT", default="127.0.0.1:0", show_default=True,
              help="Where the control endpoint listens (only with --remote-agents); 0 picks a free port.")
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
def command(scenario_file: Path, profile_name: str | None, ws_url: str | None, api_url: str | None,
            json_path: Path | None, events_path: Path | None, junit_path: Path | None,
            html_path: Path | None, remote_agents: tuple[str, ...], control_listen: str,
            verbose: bool, repeat: int | None = None, require: str | None = None, parallel: int = 1,
            keep_users: bool = False) -> None:
    """Run a call scenario against a gateway and report the call's figures.

    Each step and expectation is printed as it completes (with its time), and
    each wait with what it waits for and its deadline. Ctrl-C or SIGTERM stop
    the run; the reports are still written with what was seen. With --repeat,
    the run passes when at least K of N runs passed (--require).
    """
    from callprobe.commands.checks import check_output, quiet_embedded_gateway, stdout_output
    from callprobe.commands.live import STOPPED_BY, run_until_signal

    quiet_embedded_gateway(verbose)
    outputs = ((json_path, "--json"), (events_path, "--events"), (junit_path, "--junit"), (html_path, "--html"))
    to_stdout = stdout_output(*outputs)
    for path, option in outputs:
        check_output(path, option)
    scenario, ws_url, api_url = _scenario_for(scenario_file, profile_name, ws_url, api_url)

    if repeat is not None or require is not None or parallel != 1 or keep_users:
        for value, option in ((events_path, "--events"), (remote_agents, "--remote-agents")):
            if value:
                raise ConfigError(f"{option} plays one run; drop it, or drop --repeat")
        from callprobe.commands.repeat import play_repeated

        play_repeated(scenario, times=repeat or 1, require=require, parallel=parallel, ws_url=ws_url,
                      api_url=api_url, keep_users=keep_users, json_path=json_path, junit_path=junit_path,
                      html_path=html_path, to_stdout=to_stdout)
        return

    from rich.console import Console

    from callprobe.engine.runner import Runner
    from callprobe.reporters.console import render
    from callprobe.reporters.events_stream import EventStream
    from callprobe.reporters.progress import Progress

    out = Console(stderr=to_stdout)
    names = _remote_names(remote_agents, scenario)
    hub = _remote_hub(names, control_listen, scenario_file, scenario)
    runner = Runner(scenario, ws_url=ws_url, api_url=api_url, remote=hub, remote_agents=names)
    stream = EventStream(events_path) if events_path else None
    progress = Progress(out, title=f"{scenario.name}  ({scenario.file})")
    for listener in (progress, stream):
        if listener is not None:
            runner.timeline.subscribe(listener)

    async def play() -> RunResult:
        if hub is not None:
            await hub.start()
            _tell_remote_agents(hub, names)
        return await runner.run()

    started = time.monotonic()
    try:
        with progress:
            result, stopped = run_until_signal(play())
    finally:
        if stream is not None:
            stream.close()
    if result is None:
        # the runner tore everything down on its way out; report what it saw
        result = runner.result(time.monotonic() - started, f"interrupted ({stopped})")
        result.interrupted = stopped
    _attach_findings(result, scenario)
    render(result, out, verbose=verbose, live=True)
    _write_reports(result, json_path, junit_path, html_path)
    click.get_current_context().exit(int(exit_code(result, STOPPED_BY)))


def _scenario_for(path: Path, profile_name: str | None, ws_url: str | None,
                  api_url: str | None) -> tuple[Scenario, str | None, str | None]:
    """The scenario, pointed at a profile's server when one is named, and the server URLs checked."""
    from callprobe.commands.checks import check_server
    from callprobe.scenario.loader import load_scenario

    scenario = load_scenario(path)
    if profile_name:
        scenario, ws_url, api_url = _with_profile(scenario, profile_name, ws_url, api_url)
    login = scenario.server.login
    api_needed = not (login.mode == "fixed" or (login.mode == "custom" and "://" in login.url))
    check_server(ws_url, api_url, scenario.server.family, api_needed=api_needed)
    if ws_url and (scenario.server.faults or scenario.server.ring_timeout_s is not None):
        raise ConfigError(f"{scenario.file}: server.faults and server.ring_timeout_s set the embedded "
                          "gateway; they cannot apply to the --server gateway (use an invite's timeout_s)")
    return scenario, ws_url, api_url


def _remote_hub(names: tuple[str, ...], control_listen: str, path: Path, scenario: Scenario) -> RemoteHub | None:
    """The control endpoint remote agents join (``--remote-agents``), or None."""
    if not names:
        return None
    from callprobe.engine.remote.hub import RemoteHub

    host, port = _listen(control_listen)
    return RemoteHub(names, path.read_text(encoding="utf-8"), host=host, port=port,
                     settings=scenario.settings, file=scenario.file)


def _tell_remote_agents(hub: RemoteHub, names: tuple[str, ...]) -> None:
    """Where the remote agents join, on the operator's terminal only (the token is for this run)."""
    from rich.console import Console

    err = Console(stderr=True)
    err.print(f"control: {hub.url}\ntoken:   {hub.token}   (this run only; give it to each agent "
              "in CALLPROBE_AGENT_TOKEN)", highlight=False, soft_wrap=True)
    for name in names:
        err.print(f"  on {name}'s host: {hub.command_for(name)}", highlight=False, soft_wrap=True)


def _write_reports(result: RunResult, json_path: Path | None, junit_path: Path | None,
                   html_path: Path | None) -> None:
    from callprobe.commands.checks import write_output

    if json_path:
        from callprobe.reporters.json_report import write_json

        write_output(json_path, lambda path: write_json(result, path))
    if junit_path:
        from callprobe.reporters.junit import write_junit

        write_output(junit_path, lambda path: write_junit(result, path))
    if html_path:
        from callprobe.reporters.html_report import run_html

        page = run_html(result)
        write_output(html_path, lambda path: path.write_text(page))


def exit_code(result: RunResult, stopped_by: dict[str, ExitCode]) -> ExitCode:
    """The run's exit code (README.md, "Exit codes")."""
    if result.interrupted:
        return stopped_by.get(result.interrupted, ExitCode.INTERRUPTED)
    if result.start_failed:
        return ExitCode.SERVER_START_FAILED
    if result.unreachable:
        return ExitCode.SERVER_UNREACHABLE
    return ExitCode.OK if result.verdict == "pass" else ExitCode.EXPECTATION_FAILED


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
