"""``callprobe diagnose``: walk every link of a call and name the first broken one."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from callprobe.errors import ConfigError, ExitCode, exit_codes_epilog

if TYPE_CHECKING:
    from collections.abc import Callable

    from callprobe.analysis.results import WalkResult
    from callprobe.backends.options import BackendOptions
    from callprobe.engine.walk import Walk
    from callprobe.rtc.ice_config import IceConfig
    from callprobe.scenario.model import LoginConfig, Scenario
    from callprobe.settings import ClientSettings
    from callprobe.timeline.events import Event


@click.command("diagnose", epilog=exit_codes_epilog("diagnose"))
@click.option("--scenario", "scenario_file", metavar="FILE",
              type=click.Path(dir_okay=False, path_type=Path),
              help="Take the server, login, ICE servers and placement (network namespaces, "
                   "embedded coturn) from a scenario file; its first invite names caller and "
                   "callee (else its first two agents).")
@click.option("--backend", type=click.Choice(["kkim", "socketio", "rooms"]), default=None,
              help="The backend family (default kkim; with --scenario, the scenario's).")
@click.option("--server", "ws_url", metavar="URL",
              help="The server: ws://host:10001 for a KKIM gateway, http://host:port for the socketio "
                   "and rooms backends. Default: the embedded server of the backend.")
@click.option("--api", "api_url", metavar="API_URL", help="Auth API base URL (http://host:10002).")
@click.option("--caller", default="probe_caller", show_default=True, help="Caller's user ID (username).")
@click.option("--callee", default="probe_callee", show_default=True, help="Callee's user ID (username).")
@click.option("--password", default="", envvar="CALLPROBE_PASSWORD",
              help="socketio/rooms: the two accounts' password. Env: CALLPROBE_PASSWORD.")
@click.option("--register", is_flag=True,
              help="socketio/rooms: create the two accounts through the register endpoint when they do "
                   "not exist yet.")
@click.option("--caller-platform", type=click.IntRange(1, 11), default=5, show_default=True,
              help="Caller's platformID.")
@click.option("--callee-platform", type=click.IntRange(1, 11), default=5, show_default=True,
              help="Callee's platformID.")
@click.option("--media", type=click.Choice(["audio", "video"]), default="video", show_default=True)
@click.option("--secret", default="openIM123", show_default=True, help="Auth API secret (admin token).")
@click.option("--admin-user", default="imAdmin", show_default=True, help="Admin user ID for the admin token.")
@click.option("--login-mode", type=click.Choice(["admin_user_token", "user_token"]),
              default="admin_user_token", show_default=True, help="How tokens are obtained.")
@click.option("--stun", multiple=True, metavar="URL", help="STUN server URL (repeatable).")
@click.option("--turn", multiple=True, metavar="URL", help="TURN server URL (repeatable).")
@click.option("--turn-user", default="", help="TURN username.")
@click.option("--turn-password", default="", help="TURN credential.")
@click.option("--turn-secret", default="", envvar="CALLPROBE_TURN_SECRET",
              help="The TURN server's static-auth-secret instead of a credential: time-limited "
                   "credentials are made from it (--turn-user is the optional user part).")
@click.option("--relay-only", is_flag=True, help="Allow relay candidates only (tests TURN alone).")
@click.option("--host-address", multiple=True, metavar="IP",
              help="Restrict host candidates to these addresses (default: loopback for the "
                   "embedded gateway, every interface otherwise).")
@click.option("--fault", "faults", multiple=True, metavar="NAME[=VALUE]",
              help="Embedded gateway only: inject a field failure (see `callprobe serve --help`).")
@click.option("--deadline", type=click.FloatRange(0.1, 120), default=None,
              help="Seconds a notice (ring, accept, hangup, text) may take. Default 3.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, allow_dash=True, path_type=Path),
              help="Write the findings and the timeline as JSON ('-': stdout, the report then goes to "
                   "stderr; docs/schemas/diagnose-report.schema.json).")
@click.option("--events", "events_path", type=click.Path(dir_okay=False, allow_dash=True, path_type=Path),
              help="Stream the timeline as NDJSON while walking, one event per line, flushed "
                   "('-': stdout; docs/schemas/event.schema.json).")
@click.option("--html", "html_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the ladder diagram as a self-contained HTML page.")
@click.option("--bundle", "bundle_path", type=click.Path(path_type=Path),
              help="Write report.json, ladder.html and ladder.txt into this .zip (or directory) "
                   "to hand to support.")
@click.option("--no-ladder", is_flag=True, help="Do not draw the ladder in the terminal.")
@click.option("-v", "--verbose", is_flag=True,
              help="Show the embedded gateway's log and the sender-sync echoes in the ladder.")
def command(scenario_file: Path | None, backend: str | None, ws_url: str | None, api_url: str | None,
            caller: str, callee: str, password: str, register: bool, caller_platform: int,
            callee_platform: int, media: str, secret: str, admin_user: str, login_mode: str,
            stun: tuple[str, ...], turn: tuple[str, ...], turn_user: str, turn_password: str,
            turn_secret: str,
            relay_only: bool, host_address: tuple[str, ...], faults: tuple[str, ...],
            deadline: float | None, json_path: Path | None, events_path: Path | None, html_path: Path | None,
            bundle_path: Path | None, no_ladder: bool, verbose: bool) -> None:
    """Walk every link of a call (login, handshake, auth, heartbeat, push, invite,
    ring, accept notice, SDP/ICE relay, ICE, media, hangup, history, stale state)
    and name the first broken one with evidence and a hint.

    Each link is printed as it completes (with its time), and each wait with
    what it waits for and its deadline. Ctrl-C or SIGTERM stop the walk; the
    reports are still written with what was seen.
    """
    from callprobe.commands.checks import (
        check_output,
        check_server,
        quiet_embedded_gateway,
    )

    if scenario_file is None:
        check_server(ws_url, api_url, backend or "kkim")
    from callprobe.commands.live import check_stdout, to_stdout

    quiet_embedded_gateway(verbose)
    check_stdout(json_path, events_path)
    for path, option in ((json_path, "--json"), (events_path, "--events"), (html_path, "--html")):
        if not to_stdout(path):
            check_output(path, option)
    if bundle_path is not None and bundle_path.suffix == ".zip":
        check_output(bundle_path, "--bundle")
    if faults and ws_url:
        raise ConfigError("--fault applies to the embedded gateway only; drop --server")
    if caller == callee:
        raise ConfigError("--caller and --callee must be different users")
    from callprobe.scenario.values import user_id_problem

    for option, user in (("--caller", caller), ("--callee", callee)):
        problem = user_id_problem(user)
        if problem is not None:
            raise ConfigError(f"{option}: {problem}")

    from callprobe.rtc.ice_config import IceConfig, IceServer
    from callprobe.scenario.model import LoginConfig
    from callprobe.settings import ClientSettings

    if scenario_file is not None:
        _no_options_beside_scenario()
        plan = _plan_from_scenario(scenario_file, faults)
    else:
        servers = [IceServer(urls=(u,)) for u in stun]
        servers += [IceServer(urls=(u,), username=turn_user, credential=turn_password,
                              secret=turn_secret) for u in turn]
        hosts = tuple(host_address) or (("127.0.0.1",) if not ws_url else None)
        ice = IceConfig(servers=tuple(servers), host_addresses=hosts, relay_only=relay_only)
        login = LoginConfig(mode=login_mode, secret=secret, admin_user=admin_user)
        plan = _Plan(ws_url=ws_url, api_url=api_url, caller=caller, callee=callee,
                     caller_platform=caller_platform, callee_platform=callee_platform, media=media,
                     login=login, ice=ice, settings=ClientSettings(), faults=faults,
                     family=backend or "kkim", password=password, register=register)
    if deadline is not None:
        plan.settings = replace(plan.settings, default_expect_within_s=deadline)

    from callprobe.commands.live import STOPPED_BY, human_console, run_until_signal
    from callprobe.reporters import diagnose as report
    from callprobe.reporters.events_stream import EventStream
    from callprobe.reporters.progress import Progress

    out = human_console(json_path, events_path)
    stream = EventStream(events_path) if events_path else None
    where = plan.ws_url or f"the embedded {plan.family} server"
    progress = Progress(out, title=f"diagnose {plan.caller} → {plan.callee} ({plan.media}) at {where}")
    walks: list[Walk] = []
    try:
        with progress:
            result, stopped = run_until_signal(_walk(plan, [progress, *([stream] if stream else [])], walks))
    finally:
        if stream is not None:
            stream.close()
    if result is None:
        if not walks:  # stopped while the servers started: nothing was seen
            click.echo(f"{stopped}: stopped before the walk began; no report written", err=True)
            click.get_current_context().exit(int(STOPPED_BY[stopped]))
        result = walks[0].result(aborted=f"interrupted ({stopped})", interrupted=stopped)
    report.render(result, out, show_ladder=not no_ladder, echoes=verbose, live=True)
    if json_path:
        if to_stdout(json_path):
            click.echo(report.report_text(result), nl=False)
        else:
            report.write_json(result, json_path)
    if html_path:
        html_path.write_text(report.html(result))
    if bundle_path:
        report.write_bundle(result, bundle_path)
    click.get_current_context().exit(int(exit_code(result, STOPPED_BY)))


def exit_code(result: WalkResult, stopped_by: dict[str, ExitCode]) -> ExitCode:
    """The walk's exit code: the same as ``run``'s for the same server (README.md, "Exit codes")."""
    if result.interrupted:
        return stopped_by.get(result.interrupted, ExitCode.INTERRUPTED)
    if result.unreachable or result.aborted:
        return ExitCode.SERVER_UNREACHABLE
    return ExitCode.OK if result.healthy else ExitCode.DIAGNOSIS_FOUND_ERRORS


@dataclass
class _Plan:
    """Everything one walk needs, from options or from a scenario file."""

    ws_url: str | None
    api_url: str | None
    caller: str
    callee: str
    caller_platform: int
    callee_platform: int
    media: str
    login: LoginConfig
    ice: IceConfig
    settings: ClientSettings
    faults: tuple[str, ...]
    scenario: Scenario | None = None
    caller_agent: str = ""
    callee_agent: str = ""
    family: str = "kkim"
    password: str = ""
    register: bool = False
    backend: BackendOptions | None = None


#: Options a scenario file replaces: giving both is an error, not a silent choice.
_SCENARIO_REPLACES = ("ws_url", "api_url", "caller", "callee", "caller_platform", "callee_platform",
                      "media", "secret", "admin_user", "login_mode", "stun", "turn", "turn_user",
                      "turn_password", "turn_secret", "relay_only", "host_address")


def _no_options_beside_scenario() -> None:
    ctx = click.get_current_context()
    given = [p for p in ctx.command.params if p.name in _SCENARIO_REPLACES
             and ctx.get_parameter_source(p.name) is click.core.ParameterSource.COMMANDLINE]
    if given:
        names = ", ".join(p.opts[0] for p in given)
        raise ConfigError(f"--scenario takes the server, agents and ICE settings from the file; "
                          f"drop {names}", hint="edit the scenario instead, or leave --scenario out")


def _plan_from_scenario(path: Path, faults: tuple[str, ...]) -> _Plan:
    from callprobe.scenario.loader import load_scenario
    from callprobe.scenario.model import Action

    scenario = load_scenario(path)
    invite = next((s for s in scenario.steps if isinstance(s, Action) and s.verb == "invite"), None)
    if invite is not None and invite.agent and invite.targets:
        caller, callee = invite.agent, invite.targets[0]
    elif len(scenario.agents) >= 2:
        caller, callee = list(scenario.agents)[:2]
    else:
        raise ConfigError(f"{path}: diagnose needs two agents (a caller and a callee); "
                          f"the scenario has {len(scenario.agents)}")
    a, b = scenario.agents[caller], scenario.agents[callee]
    if a.user_id == b.user_id:
        raise ConfigError(f"{path}: caller {caller} and callee {callee} are the same user {a.user_id}")
    if faults and not scenario.server.embedded:
        raise ConfigError("--fault applies to the embedded gateway only; the scenario names a remote one")
    media = str((invite.params.get("media") if invite is not None else None) or a.media)
    return _Plan(ws_url=scenario.server.remote_url or None, api_url=scenario.server.api_url or None,
                 caller=a.user_id, callee=b.user_id, caller_platform=a.platform_id,
                 callee_platform=b.platform_id, media=media, login=scenario.server.login,
                 ice=scenario.ice, settings=scenario.settings,
                 faults=tuple(scenario.server.faults) + faults, scenario=scenario,
                 caller_agent=caller, callee_agent=callee, family=scenario.server.family,
                 password=a.password, backend=scenario.server.backend)


async def _walk(plan: _Plan, listeners: list[Callable[[Event], None]], walks: list[Walk]) -> WalkResult:
    """Start what the plan needs, walk, stop it all; ``walks`` gets the walk as soon as it exists
    (a signal may stop it: its result is then built from what it saw)."""
    from callprobe.backends.base import EmbeddedConfig, WalkTarget
    from callprobe.engine.services import EmbeddedServices, agent_ice, services_for
    from callprobe.engine.walk import Walk

    embedded = not plan.ws_url
    config = EmbeddedConfig(faults=tuple(plan.faults), login=plan.login) if embedded else None
    services: EmbeddedServices | None = None
    if plan.scenario is not None:
        if config is not None:
            config = EmbeddedConfig(host=plan.scenario.server.host, faults=tuple(plan.faults), login=plan.login)
        services = services_for(plan.scenario, plan.settings, embedded=embedded, server=config)
    elif config is not None:
        services = EmbeddedServices(server=config, family=plan.family, settings=plan.settings)
    try:
        if services is not None:
            await services.start()
        ws_url, api_url = plan.ws_url, plan.api_url
        if embedded and services is not None:
            ws_url, api_url = services.endpoints.server, services.endpoints.api
        sides: dict[str, Any] = {}
        if plan.scenario is not None:
            sc = plan.scenario
            sides = {
                "caller_ice": agent_ice(sc, plan.caller_agent, services, embedded=embedded),
                "callee_ice": agent_ice(sc, plan.callee_agent, services, embedded=embedded),
                "caller_netns": sc.agents[plan.caller_agent].netns,
                "callee_netns": sc.agents[plan.callee_agent].netns}
        target = WalkTarget(server=str(ws_url), api=api_url or "", caller=plan.caller,
                            callee=plan.callee, caller_platform=plan.caller_platform,
                            callee_platform=plan.callee_platform, media=plan.media,  # type: ignore[arg-type]
                            login=plan.login, ice=plan.ice, family=plan.family, password=plan.password,
                            register=plan.register, backend=plan.backend, **sides)
        walk = Walk(target, plan.settings)
        for listener in listeners:
            walk.timeline.subscribe(listener)
        walks.append(walk)
        return await walk.run()
    finally:
        if services is not None:
            await services.stop()
