"""``callprobe ice-check``: a headless Trickle ICE page for STUN and TURN servers."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from callprobe.commands.checks import alias_option, take_aliases, turn_credential_options
from callprobe.errors import ConfigError, exit_codes_epilog
from callprobe.settings import ClientSettings

if TYPE_CHECKING:
    from callprobe.net.ice_check import IceCheckResult

_STYLE = {"stun-ok": "green", "turn-ok": "green", "turn-auth-failed": "red",
          "unreachable": "yellow", "error": "red"}


@click.command("ice-check", epilog=exit_codes_epilog("ice-check"))
@click.option("--profile", "profile_name", metavar="NAME", envvar="CALLPROBE_PROFILE",
              help="Take the STUN and TURN servers and the TURN credentials from this profile "
                   "(`callprobe profile`); options and their environment variables win over it. "
                   "Env: CALLPROBE_PROFILE.")
@click.option("--stun", multiple=True, metavar="URL",
              help="STUN server, stun:HOST[:PORT] (repeatable; port 3478 by default).")
@click.option("--turn", multiple=True, metavar="URL",
              help="TURN server, turn:HOST[:PORT][?transport=udp|tcp] (repeatable).")
@turn_credential_options
@alias_option("--user", "--turn-user", "alias_user")
@alias_option("--credential", "--turn-credential", "alias_credential")
@alias_option("--secret", "--turn-secret", "alias_secret")
@click.option("--host-address", multiple=True, metavar="IP",
              help="Gather host candidates on this address (repeatable). "
                   "Default: every non-loopback interface address.")
@click.option("--timeout", "timeout_s", type=click.FloatRange(min=0.05, max=300), default=None,
              help=f"Seconds each server may take to answer "
                   f"[default: {ClientSettings().ice_check_timeout_s:g}].")
@click.option("--json", "json_path", metavar="PATH",
              type=click.Path(dir_okay=False, allow_dash=True, path_type=Path),
              help="Write candidates and verdicts as JSON to PATH ('-': standard output, the "
                   "tables then go to standard error).")
@take_aliases(alias_user="turn_user", alias_credential="turn_credential", alias_secret="turn_secret")
def command(profile_name: str | None, stun: tuple[str, ...], turn: tuple[str, ...], turn_user: str | None,
            turn_credential: str | None, turn_secret: str | None, host_address: tuple[str, ...],
            timeout_s: float | None, json_path: Path | None) -> None:
    """Check STUN and TURN servers the way a browser's ICE agent uses them.

    Gathers host candidates, sends a STUN Binding request to each --stun server
    from every host address (a srflx candidate when it answers) and makes a TURN
    allocation on each --turn server (a relay candidate, plus the address the
    server sees as a srflx candidate), then releases everything. Lists each
    candidate with the time it arrived and gives one verdict per server:

    \b
      stun-ok           STUN reachable (srflx seen)
      turn-ok           TURN allocation works (relay seen)
      turn-auth-failed  TURN authentication failed (401 after the realm/nonce retry)
      unreachable       server unreachable (nothing within the deadline)
      error             server answered with an error (its code is shown)

    Exit codes: 0 every server works; 1 a server answered but failed (wrong TURN
    credentials, an error response); 4 a server is unreachable (this wins over
    1); 2 bad options or URLs.
    """
    from callprobe.commands.checks import check_output, stdout_output, write_output
    from callprobe.net.ice_check import parse_target, run_check

    if profile_name:
        from callprobe.profiles import fill_from_profile, get_profile

        values: dict[str, Any] = {"stun": stun, "turn": turn, "turn_user": turn_user,
                                  "turn_credential": turn_credential, "turn_secret": turn_secret}
        fill_from_profile(click.get_current_context(), values, get_profile(profile_name),
                          {"stun": "stun", "turn": "turn", "turn_user": "turn_user",
                           "turn_credential": "turn_credential_env", "turn_secret": "turn_secret_env"})
        stun, turn = values["stun"], values["turn"]
        turn_user, turn_credential, turn_secret = values["turn_user"], values["turn_credential"], values["turn_secret"]
    if not stun and not turn:
        raise ConfigError("give at least one --stun or --turn server URL",
                          hint="for example: --stun stun:stun.example.org:3478")
    for url in stun:
        parse_target(url, expect="stun")
    for url in turn:
        parse_target(url, expect="turn")
    user, credential, secret = turn_user or "", turn_credential or "", turn_secret or ""
    if secret and credential:
        raise ConfigError("give --turn-credential or --turn-secret, not both (check CALLPROBE_TURN_CREDENTIAL "
                          "and CALLPROBE_TURN_SECRET too)")
    if secret:
        from callprobe.rtc.turn_rest import rest_credentials

        user, credential = rest_credentials(secret, user)
    if turn and not (user and credential):
        raise ConfigError("--turn needs --turn-user and --turn-credential (TURN long-term credentials; "
                          "the credential best in CALLPROBE_TURN_CREDENTIAL), or --turn-secret (the "
                          "server's static-auth-secret, best in CALLPROBE_TURN_SECRET)")
    to_stdout = stdout_output((json_path, "--json"))
    check_output(json_path, "--json")
    timeout = timeout_s if timeout_s is not None else ClientSettings().ice_check_timeout_s

    result = asyncio.run(run_check(list(stun), list(turn), user, credential,
                                   host_addresses=tuple(host_address) or None, timeout_s=timeout))
    report(result, Console(stderr=to_stdout))
    if json_path is not None:
        text = json.dumps(result.to_dict(), indent=2) + "\n"
        write_output(json_path, lambda path: path.write_text(text))
    click.get_current_context().exit(int(result.exit_code))


def report(result: IceCheckResult, console: Console) -> None:
    """Candidates as they arrived, then one verdict per server, in plain words."""
    from callprobe.net.ice_check import endpoint

    hosts = ", ".join(result.host_addresses) or "none"
    candidates = Table(title=Text(f"Candidates (host addresses: {hosts})"), title_justify="left")
    for column, justify in (("time ms", "right"), ("type", "left"), ("protocol", "left"),
                            ("address:port", "left"), ("server", "left")):
        # a URL is folded, never cut: "?transport=tcp" is what tells two servers apart
        candidates.add_column(column, justify=justify,  # type: ignore[arg-type]
                              overflow="fold" if column == "server" else "ellipsis")
    for c in result.candidates:
        # Text cells: an IPv6 "[addr]:port" must not be read as rich markup
        candidates.add_row(f"{c.t_ms:.1f}", c.type, c.protocol, Text(endpoint(c.address, c.port)),
                           Text(c.server or ""))
    console.print(candidates)

    servers = Table(title=f"Servers (deadline {result.timeout_s:g} s each)", title_justify="left")
    for column, justify in (("server", "left"), ("verdict", "left"), ("result", "left"),
                            ("time ms", "right")):
        servers.add_column(column, justify=justify,  # type: ignore[arg-type]
                           overflow="fold" if column == "server" else "ellipsis")
    for s in result.servers:
        cell = Text(s.text, style=_STYLE[s.verdict])
        cell.append(f"\n{s.detail}", style="dim")
        servers.add_row(Text(s.url), Text(s.verdict, style=_STYLE[s.verdict]), cell,
                        f"{s.elapsed_ms:.0f}")
    console.print(servers)

    failing = [s for s in result.servers if not s.ok]
    summary = (f"all {len(result.servers)} server(s) work" if not failing
               else f"{len(failing)} of {len(result.servers)} server(s) failed")
    console.print(Text(summary, style="bold green" if not failing else "bold red"))

