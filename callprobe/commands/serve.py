"""``callprobe serve``: run the embedded reference gateway until SIGINT or SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys

import click

from callprobe.backends.kkim.server.faults import FAULTS, parse_fault
from callprobe.settings import GatewaySettings


def _fault_help() -> str:
    lines = []
    for name, (values, meaning) in FAULTS.items():
        if values is None:
            form = name
        elif values == "ms":
            form = f"{name}=MS"
        else:
            form = f"{name}={'|'.join(values)}"
        lines.append(f"{form}: {meaning}")
    return "; ".join(lines)


def _parse_faults(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    from callprobe.errors import ConfigError

    out = []
    for text in values:
        try:
            out.append(parse_fault(text))
        except ConfigError as exc:
            raise click.BadParameter(f"{exc}" + (f" ({exc.hint})" if exc.hint else ""), ctx, param) from None
    return tuple(out)


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on (keep it on loopback for tests).")
@click.option("--ws-port", type=click.IntRange(0, 65535), default=10001, show_default=True,
              help="WebSocket message gateway port; 0 picks a free one.")
@click.option("--api-port", type=click.IntRange(0, 65535), default=10002, show_default=True,
              help="HTTP auth API port; 0 picks a free one.")
@click.option("--db", "db_path", type=click.Path(dir_okay=False), default=None,
              help="SQLite database file: users, tokens, messages and calls survive a restart. "
                   "Without it everything is kept in memory.")
@click.option("--secret", default="openIM123", show_default=True,
              help="Shared secret: signs the HS256 tokens and unlocks /auth/get_admin_token.")
@click.option("--admin-user", "admin_users", multiple=True, default=("imAdmin",), show_default=True,
              help="User ID allowed to get an admin token (repeatable).")
@click.option("--no-auto-register", is_flag=True,
              help="Do not create users when a token is first issued for them; "
                   "register them with POST /user/user_register.")
@click.option("--invite-timeout", type=click.FloatRange(min=0.01), default=None, metavar="SECONDS",
              help="Ring time for every call, replacing InvitationInfo.timeout (default: the invite's, or 60 s).")
@click.option("--fault", "faults", multiple=True, metavar="NAME[=VALUE]", callback=_parse_faults,
              help="Inject a fault (repeatable). " + _fault_help())
@click.option("-v", "--verbose", count=True, help="Log connections (-v) and websockets internals (-vv).")
def command(host: str, ws_port: int, api_port: int, db_path: str | None, secret: str,
            admin_users: tuple[str, ...], no_auto_register: bool, invite_timeout: float | None,
            faults: tuple[tuple[str, str], ...], verbose: int) -> None:
    """Run the embedded reference KKIM gateway (WebSocket + auth API).

    Prints the actual URLs once listening and stops cleanly on SIGINT or SIGTERM.
    Every malformed or refused input is logged on one line to standard error.
    An unusable --db file, a --host that is not on this machine and ports
    that cannot be bound are reported with the option to change.
    """
    from callprobe.backends.kkim.server.server import WEBSOCKETS_LOGGER

    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger(WEBSOCKETS_LOGGER).setLevel(logging.INFO if verbose > 1 else logging.WARNING)
    logging.getLogger("aiohttp").setLevel(logging.WARNING)
    settings = GatewaySettings(
        host=host, ws_port=ws_port, api_port=api_port, db_path=db_path, secret=secret,
        admin_users=admin_users, auto_register=not no_auto_register,
        invite_timeout_override_s=invite_timeout, faults=faults,
    )
    asyncio.run(_serve(settings))


async def _serve(settings: GatewaySettings) -> None:
    from callprobe.backends.kkim.server import EmbeddedGateway

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    gateway = EmbeddedGateway(settings)
    await gateway.start()
    try:
        active = gateway.core.faults.active()
        click.echo(f"ws:  {gateway.ws_url}")
        click.echo(f"api: {gateway.api_url}")
        click.echo(f"db:  {settings.db_path or '(in memory)'}")
        click.echo(f"faults: {', '.join(active) if active else 'none'}")
        click.echo("gateway ready; Ctrl+C or SIGTERM stops it")
        sys.stdout.flush()
        await stop.wait()
    finally:
        await gateway.stop()
        click.echo("gateway stopped")
