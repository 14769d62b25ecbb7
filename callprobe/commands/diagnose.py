"""``callprobe diagnose``: walk every link of a call and name the first broken one."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from callprobe.commands.checks import alias_option, take_aliases, turn_credential_options
from callprobe.errors import ConfigError, ExitCode, exit_codes_epilog
from callprobe.scenario.model import LOGIN_MODES

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
@click.option("--profile", "profile_name", metavar="NAME", envvar="CALLPROBE_PROFILE",
              help="Take the server, login, accounts and ICE servers from this profile (`callprobe "
                   "profile`); options and their environment variables win over it. Env: CALLPROBE_PROFILE.")
@click.option("--scenario", "scenario_file", metavar="FILE",
              type=click.Path(dir_okay=False, path_type=Path),
              help="Take the server, login, ICE servers and placement (network namespaces, "
                   "embedded coturn) from a scenario file; its first invite names caller and "
                   "callee (else its first two agents).")
@click.option("--backend", type=click.Choice(["kkim", "socketio", "rooms"]), default=None,
              help="The backend family (default kkim; with --scenario, the scenario's).")
@click.option("--server", "ws_url", metavar="URL", envvar="CALLPROBE_SERVER",
              help="The server: ws://host:10001 for a KKIM gateway, http://host:port for the socketio "
                   "and rooms backends. Default: the embedded server of the backend. Env: CALLPROBE_SERVER.")
@click.option("--api", "api_url", metavar="API_URL", envvar="CALLPROBE_API",
              help="Auth API base URL (http://host:10002). Env: CALLPROBE_API.")
@click.option("--caller", default=None, help="Caller's user ID (username) [default: probe_caller].")
@click.option("--callee", default=None, help="Callee's user ID (username) [default: probe_callee].")
@click.option("--password", default=None, envvar="CALLPROBE_PASSWORD",
              help="The two accounts' password: socketio/rooms, and {password} of a custom login. "
                   "Env: CALLPROBE_PASSWORD.")
@click.option("--register", is_flag=True,
              help="Create the two accounts when they do not exist yet: through the register endpoint "
                   "(socketio/rooms), or with the admin token (kkim, login mode admin_user_token).")
@click.option("--caller-platform", type=click.IntRange(1, 11), default=5, show_default=True,
              help="Caller's platformID.")
@click.option("--callee-platform", type=click.IntRange(1, 11), default=5, show_default=True,
              help="Callee's platformID.")
@click.option("--media", type=click.Choice(["audio", "video"]), default="video", show_default=True)
@click.option("--secret", default=None, envvar="CALLPROBE_SECRET",
              help="Auth API secret (login admin_user_token and user_token; {secret} of a custom "
                   "login) [default: openIM123, OpenIM's]. Env: CALLPROBE_SECRET.")
@click.option("--admin-user", default=None, help="Admin user ID for the admin token [default: imAdmin].")
@click.option("--login-mode", type=click.Choice(list(LOGIN_MODES)), default=None,
              help="How tokens are obtained, as in scenarios: admin_user_token (the default), "
                   "user_token, fixed (--caller-token-env, --callee-token-env) or custom "
                   "(--login-url, --login-body, --token-path).")
@click.option("--caller-token-env", metavar="VAR", default=None,
              help="Login fixed: the environment variable holding the caller's token "
                   "[default: CALLPROBE_CALLER_TOKEN].")
@click.option("--callee-token-env", metavar="VAR", default=None,
              help="Login fixed: the environment variable holding the callee's token "
                   "[default: CALLPROBE_CALLEE_TOKEN].")
@click.option("--login-url", metavar="URL", default=None,
              help="Login custom: the login URL, absolute or a path relative to --api.")
@click.option("--login-method", type=click.Choice(["GET", "POST", "PUT", "PATCH"], case_sensitive=False),
              default=None, help="Login custom: the HTTP method [default: POST].")
@click.option("--login-body", metavar="JSON", default=None,
              help="Login custom: the JSON body, with placeholders {user_id}, {platform_id}, "
                   "{password}, {nickname}, {secret}, {operation_id}.")
@click.option("--token-path", metavar="PATH", default=None,
              help="Login custom: where the token is in the reply [default: data.token].")
@click.option("--stun", multiple=True, metavar="URL", help="STUN server URL (repeatable).")
@click.option("--turn", multiple=True, metavar="URL", help="TURN server URL (repeatable).")
@turn_credential_options
@alias_option("--turn-password", "--turn-credential", "alias_turn_password")
@click.option("--relay-only", is_flag=True, help="Allow relay candidates only (tests TURN alone).")
@click.option("--host-address", multiple=True, metavar="IP",
              help="Restrict host candidates to these addresses (default: loopback for the "
                   "embedded gateway, every interface otherwise).")
@click.option("--fault", "faults", multiple=True, metavar="NAME[=VALUE]",
              help="Embedded gateway only: inject a field failure (see `callprobe serve --help`).")
@click.option("--deadline", type=click.FloatRange(0.1, 120), default=None,
              help="Seconds a notice (ring, accept, hangup, text) may take. Default 3.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, allow_dash=True, path_type=Path),
              help="Write the findings and the timeline as JSON ('-': standard output, the terminal "
                   "report then goes to standard error; docs/schemas/diagnose-report.schema.json).")
@click.option("--events", "events_path", type=click.Path(dir_okay=False, allow_dash=True, path_type=Path),
              help="Stream the timeline as NDJSON while walking, one event per line, flushed "
                   "('-': standard output; docs/schemas/event.schema.json).")
@click.option("--html", "html_path", type=click.Path(dir_okay=False, allow_dash=True, path_type=Path),
              help="Write the ladder diagram as a self-contained HTML page ('-': standard output).")
@click.option("--bundle", "bundle_path", type=click.Path(path_type=Path),
              help="Write report.json, ladder.html and ladder.txt into this .zip (or directory) "
                   "to hand to support.")
@click.option("--no-ladder", is_flag=True, help="Do not draw the ladder in the terminal.")
@click.option("-v", "--verbose", is_flag=True,
              help="Show the embedded gateway's log and the sender-sync echoes in the ladder.")
@take_aliases(alias_turn_password="turn_credential")
def command(**options: Any) -> None:
    """Walk every link of a call (login, handshake, auth, heartbeat, push, invite,
    ring, accept notice, SDP/ICE relay, ICE, media, hangup, history, stale state)
    and name the first broken one with evidence and a hint.

    Secrets come from the environment (CALLPROBE_SECRET, CALLPROBE_PASSWORD,
    CALLPROBE_TURN_CREDENTIAL, CALLPROBE_TURN_SECRET, the token variables of
    login fixed) or a profile, so they never show in the process list.

    Each link is printed as it completes (with its time), and each wait with
    what it waits for and its deadline. Ctrl-C or SIGTERM stop the walk; the
    reports are still written with what was seen.
    """
    from callprobe.commands.checks import (
        check_output,
        quiet_embedded_gateway,
        stdout_output,
        write_output,
    )

    o = _Options(**options)
    quiet_embedded_gateway(o.verbose)
    to_stdout = stdout_output((o.json_path, "--json"), (o.events_path, "--events"), (o.html_path, "--html"),
                              (o.bundle_path, "--bundle"), refused=("--bundle",))
    for path, option in ((o.json_path, "--json"), (o.events_path, "--events"), (o.html_path, "--html")):
        check_output(path, option)
    if o.bundle_path is not None and o.bundle_path.suffix == ".zip":
        check_output(o.bundle_path, "--bundle")

    if o.scenario_file is not None:
        _no_options_beside_scenario()
        plan = _plan_from_scenario(o.scenario_file, o.faults)
    else:
        plan = _plan_from_options(o)
    from callprobe.backends.registry import parse_fault

    for fault in plan.faults:  # a fault of another family is refused before anything starts or prints
        parse_fault(plan.family, fault)
    if o.deadline is not None:
        plan.settings = replace(plan.settings, default_expect_within_s=o.deadline)

    from rich.console import Console

    from callprobe.commands.live import STOPPED_BY, run_until_signal
    from callprobe.reporters import diagnose as report
    from callprobe.reporters.events_stream import EventStream
    from callprobe.reporters.progress import Progress

    out = Console(stderr=to_stdout)
    stream = EventStream(o.events_path) if o.events_path else None
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
    report.render(result, out, show_ladder=not o.no_ladder, echoes=o.verbose, live=True)
    if o.json_path:
        write_output(o.json_path, lambda path: report.write_json(result, path))
    if o.html_path:
        write_output(o.html_path, lambda path: path.write_text(report.html(result)))
    if o.bundle_path:
        report.write_bundle(result, o.bundle_path)
    click.get_current_context().exit(int(exit_code(result, STOPPED_BY)))


def exit_code(result: WalkResult, stopped_by: dict[str, ExitCode]) -> ExitCode:
    """The walk's exit code: the same as ``run``'s for the same server (README.md, "Exit codes")."""
    if result.interrupted:
        return stopped_by.get(result.interrupted, ExitCode.INTERRUPTED)
    if result.unreachable or result.aborted:
        return ExitCode.SERVER_UNREACHABLE
    return ExitCode.OK if result.healthy else ExitCode.DIAGNOSIS_FOUND_ERRORS


@dataclass
class _Options:
    """The command's options, filled from a profile where the command line and environment are silent."""

    profile_name: str | None
    scenario_file: Path | None
    backend: str | None
    ws_url: str | None
    api_url: str | None
    caller: str | None
    callee: str | None
    password: str | None
    register: bool
    caller_platform: int
    callee_platform: int
    media: str
    secret: str | None
    admin_user: str | None
    login_mode: str | None
    caller_token_env: str | None
    callee_token_env: str | None
    login_url: str | None
    login_method: str | None
    login_body: str | None
    token_path: str | None
    stun: tuple[str, ...]
    turn: tuple[str, ...]
    turn_user: str | None
    turn_credential: str | None
    turn_secret: str | None
    relay_only: bool
    host_address: tuple[str, ...]
    faults: tuple[str, ...]
    deadline: float | None
    json_path: Path | None
    events_path: Path | None
    html_path: Path | None
    bundle_path: Path | None
    no_ladder: bool
    verbose: bool


#: Option (parameter name) -> the profile key that fills it.
_PROFILE_FIELDS = {
    "backend": "backend", "ws_url": "server", "api_url": "api", "caller": "caller", "callee": "callee",
    "password": "password_env", "secret": "secret_env", "admin_user": "admin_user", "login_mode": "login",
    "caller_token_env": "caller_token_env", "callee_token_env": "callee_token_env",
    "login_url": "login_url", "login_method": "login_method", "login_body": "login_body",
    "token_path": "token_path", "stun": "stun", "turn": "turn", "turn_user": "turn_user",
    "turn_credential": "turn_credential_env", "turn_secret": "turn_secret_env",
}

#: Login options and the modes that use them: another mode's option is an error, not silently ignored.
_LOGIN_OPTION_MODES = {
    "secret": ("admin_user_token", "user_token", "custom"), "admin_user": ("admin_user_token",),
    "caller_token_env": ("fixed",), "callee_token_env": ("fixed",), "login_url": ("custom",),
    "login_method": ("custom",), "login_body": ("custom",), "token_path": ("custom",),
}


def _plan_from_options(o: _Options) -> _Plan:
    """The walk's plan from the options (then the environment, then the profile, then the defaults)."""
    from callprobe.commands.checks import check_server
    from callprobe.profiles import fill_from_profile, get_profile
    from callprobe.rtc.ice_config import IceConfig, IceServer
    from callprobe.scenario.values import user_id_problem
    from callprobe.settings import ClientSettings

    ctx = click.get_current_context()
    if o.profile_name:
        # the login mode first: a profile fills only what that mode (and the family) uses
        profile, values = get_profile(o.profile_name), dict(vars(o))
        by_login = set(_LOGIN_OPTION_MODES) | {"password"}
        fill_from_profile(ctx, values, profile, {k: v for k, v in _PROFILE_FIELDS.items() if k not in by_login})
        family, mode = values["backend"] or "kkim", values["login_mode"] or "admin_user_token"
        used = [k for k, modes in _LOGIN_OPTION_MODES.items() if family == "kkim" and mode in modes]
        used += ["password"] if family != "kkim" or mode == "custom" else []
        fill_from_profile(ctx, values, profile, {k: _PROFILE_FIELDS[k] for k in used},
                          names=("caller_token_env", "callee_token_env"))
        o = _Options(**values)
    family = o.backend or "kkim"
    login = _login(ctx, o, family)
    fixed = login.mode == "fixed"
    absolute_login = login.mode == "custom" and "://" in login.url
    check_server(o.ws_url, o.api_url, family, api_needed=not (fixed or absolute_login))
    if o.faults and o.ws_url:
        raise ConfigError("--fault applies to the embedded server only; drop --server")
    caller = o.caller if o.caller is not None else "probe_caller"
    callee = o.callee if o.callee is not None else "probe_callee"
    if caller == callee:
        raise ConfigError("--caller and --callee must be different users")
    for option, user in (("--caller", caller), ("--callee", callee)):
        problem = user_id_problem(user)
        if problem is not None:
            raise ConfigError(f"{option}: {problem}")
    caller_token = callee_token = ""
    if fixed:
        if not o.ws_url:
            raise ConfigError("--login-mode fixed needs --server: the embedded gateway makes its own "
                              "tokens when it starts, so none can be given beforehand")
        caller_token = _token_from_env("--caller-token-env", o.caller_token_env or "CALLPROBE_CALLER_TOKEN")
        callee_token = _token_from_env("--callee-token-env", o.callee_token_env or "CALLPROBE_CALLEE_TOKEN")
    turn_user, credential, turn_secret = o.turn_user or "", o.turn_credential or "", o.turn_secret or ""
    if credential and turn_secret:
        raise ConfigError("give --turn-credential or --turn-secret, not both (check CALLPROBE_TURN_CREDENTIAL "
                          "and CALLPROBE_TURN_SECRET too)")
    servers = [IceServer(urls=(u,)) for u in o.stun]
    servers += [IceServer(urls=(u,), username=turn_user, credential=credential, secret=turn_secret)
                for u in o.turn]
    hosts = tuple(o.host_address) or (("127.0.0.1",) if not o.ws_url else None)
    ice = IceConfig(servers=tuple(servers), host_addresses=hosts, relay_only=o.relay_only)
    return _Plan(ws_url=o.ws_url, api_url=o.api_url, caller=caller, callee=callee,
                 caller_platform=o.caller_platform, callee_platform=o.callee_platform, media=o.media,
                 login=login, ice=ice, settings=ClientSettings(), faults=o.faults, family=family,
                 password=o.password or "", register=o.register, caller_token=caller_token,
                 callee_token=callee_token)


def _login(ctx: click.Context, o: _Options, family: str) -> LoginConfig:
    """The login block the options give, checked as a scenario's ``server.login`` is."""
    from callprobe.commands.checks import login_body
    from callprobe.scenario.model import DEFAULT_ADMIN_USER, DEFAULT_SECRET, DEFAULT_TOKEN_PATH, LoginConfig
    from callprobe.scenario.values import LOGIN_PLACEHOLDERS, one_of, placeholders, suggest, url_problem

    mode = o.login_mode or "admin_user_token"
    flags = {p.name: p.opts[0] for p in ctx.command.params}
    typed = [name for name in ("login_mode", *_LOGIN_OPTION_MODES)
             if ctx.get_parameter_source(name) is click.core.ParameterSource.COMMANDLINE]
    if family != "kkim" and [n for n in typed if n != "secret"]:
        names = ", ".join(flags[n] for n in typed if n != "secret")
        raise ConfigError(f"{names}: login modes are the KKIM gateway's; the {family} backend logs in "
                          "with the accounts' password (CALLPROBE_PASSWORD or --password)")
    for name in typed:
        modes = _LOGIN_OPTION_MODES.get(name, LOGIN_MODES)
        if mode not in modes:
            raise ConfigError(f"{flags[name]} is used by login mode {one_of(modes)} only (mode is {mode})",
                              hint="set --login-mode, or drop the option")
    body: Any = None
    if mode == "custom":
        if not o.login_url:
            raise ConfigError("--login-mode custom needs --login-url (absolute, or a path relative to --api)")
        problem = url_problem(o.login_url, ("http", "https")) if "://" in o.login_url else None
        if problem is not None and "{" not in o.login_url:
            raise ConfigError(f"--login-url {problem}")
        for option, template in (("--login-url", o.login_url), ("--login-body", o.login_body)):
            for name in placeholders(template):
                if name not in LOGIN_PLACEHOLDERS:
                    raise ConfigError(f"{option}: unknown placeholder {{{name}}}{suggest(name, LOGIN_PLACEHOLDERS)}; "
                                      "expected one of " + one_of("{" + p + "}" for p in LOGIN_PLACEHOLDERS))
        body = login_body(o.login_body)
        if "password" in placeholders(body) and not o.password:
            raise ConfigError("--login-body uses {password}: give the accounts' password in CALLPROBE_PASSWORD "
                              "(or --password)")
    return LoginConfig(mode=mode, secret=o.secret or DEFAULT_SECRET, admin_user=o.admin_user or DEFAULT_ADMIN_USER,
                       url=o.login_url or "", method=(o.login_method or "POST").upper(), body=body,
                       token_path=o.token_path or DEFAULT_TOKEN_PATH)


def _token_from_env(option: str, variable: str) -> str:
    import os
    import re

    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", variable):
        # not quoted back: what is given there by mistake is likely the token itself
        raise ConfigError(f"{option}: expected the name of an environment variable, like "
                          "CALLPROBE_CALLER_TOKEN, not the token itself (it never goes on the command line)")
    token = os.environ.get(variable, "")
    if not token:
        raise ConfigError(f"login mode fixed: the environment variable {variable} ({option}) holds no token",
                          hint=f"export {variable}=<token> before running callprobe")
    return token


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
    caller_token: str = ""
    callee_token: str = ""


#: Options a scenario file replaces: giving both is an error, not a silent choice.
_SCENARIO_REPLACES = ("profile_name", "ws_url", "api_url", "caller", "callee", "caller_platform",
                      "callee_platform", "media", "secret", "admin_user", "login_mode", "caller_token_env",
                      "callee_token_env", "login_url", "login_method", "login_body", "token_path", "stun",
                      "turn", "turn_user", "turn_credential", "alias_turn_password", "turn_secret",
                      "relay_only", "host_address")


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
        raise ConfigError("--fault applies to the embedded server only; the scenario names a remote one")
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
                            register=plan.register or embedded, backend=plan.backend,
                            caller_token=plan.caller_token, callee_token=plan.callee_token, **sides)
        walk = Walk(target, plan.settings)
        for listener in listeners:
            walk.timeline.subscribe(listener)
        walks.append(walk)
        return await walk.run()
    finally:
        if services is not None:
            await services.stop()
