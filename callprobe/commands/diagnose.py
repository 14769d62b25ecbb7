"""``callprobe diagnose``: walk every link of a call and name the first broken one."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.console import Console

from callprobe.errors import ConfigError, ExitCode

if TYPE_CHECKING:
    from callprobe.analysis.results import WalkResult
    from callprobe.backends.options import BackendOptions
    from callprobe.rtc.ice_config import IceConfig
    from callprobe.scenario.model import LoginConfig, Scenario
    from callprobe.settings import ClientSettings


@click.command("diagnose")
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
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the findings and the timeline as JSON.")
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
            deadline: float | None, json_path: Path | None, html_path: Path | None,
            bundle_path: Path | None, no_ladder: bool, verbose: bool) -> None:
    """Walk every link of a call (login, handshake, auth, heartbeat, push, invite,
    ring, accept notice, SDP/ICE relay, ICE, media, hangup, history, stale state)
    and name the first broken one with evidence and a hint.

    Exit codes: 0 healthy; 5 at least one error finding; 4 server unreachable;
    2 bad options.
    """
    from callprobe.commands.checks import (
        check_output,
        check_server,
        quiet_embedded_gateway,
    )

    if scenario_file is None:
        check_server(ws_url, api_url, backend or "kkim")
    quiet_embedded_gateway(verbose)
    for path, option in ((json_path, "--json"), (html_path, "--html")):
        check_output(path, option)
    if bundle_path is not None and bundle_path.suffix == ".zip":
        check_output(bundle_path, "--bundle")
    if faults and ws_url:
        raise ConfigError("--fault applies to the embedded gateway only; drop --server")
    if caller == callee:
        raise ConfigError("--caller and --callee must be different users")

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

    from callprobe.reporters import diagnose as report

    err, out = Console(stderr=True), Console()
    result = asyncio.run(_walk(plan, err))
    report.render(result, out, show_ladder=not no_ladder, echoes=verbose)
    if json_path:
        report.write_json(result, json_path)
    if html_path:
        html_path.write_text(report.html(result))
    if bundle_path:
        report.write_bundle(result, bundle_path)
    if result.aborted:
        click.get_current_context().exit(int(ExitCode.SERVER_UNREACHABLE))
    click.get_current_context().exit(int(ExitCode.OK if result.healthy else ExitCode.DIAGNOSIS_FOUND_ERRORS))


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


async def _walk(plan: _Plan, err: Console) -> WalkResult:
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
                            register=plan.register or embedded, backend=plan.backend, **sides)
        status = err.status("walking", spinner="dots") if err.is_terminal else None
        walk = Walk(target, plan.settings, progress=status.update if status else None)
        if status is not None:
            with status:
                return await walk.run()
        return await walk.run()
    finally:
        if services is not None:
            await services.stop()
