"""``callprobe serve``: run an embedded reference server until SIGINT or SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from typing import Any

import click

from callprobe.backends.registry import FAMILIES, fault_tables
from callprobe.errors import ConfigError, exit_codes_epilog

#: Options that only one family's server takes.
_KKIM_ONLY = ("ws_port", "api_port", "admin_users", "no_auto_register", "invite_timeout", "peer_port")
_HTTP_ONLY = ("port",)


def _fault_epilog() -> str:
    """Every family's faults, one per line (``\\b`` keeps click from rewrapping them)."""
    blocks = []
    for name, faults in fault_tables().items():
        lines = [f"  {spec.form}: {spec.meaning}" for spec in faults.values()]
        blocks.append("\b\n" + f"Faults of --backend {name}:\n" + "\n".join(lines))
    return "\n\n".join(blocks) + "\n\n" + exit_codes_epilog("serve")


@click.command("serve", epilog=_fault_epilog())
@click.option("--backend", type=click.Choice(list(FAMILIES)), default="kkim", show_default=True,
              help="Which reference server: the KKIM gateway, the Socket.IO chat backend or the "
                   "call-room service.")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on (keep it on loopback for tests).")
@click.option("--port", type=click.IntRange(0, 65535), default=None,
              help="socketio/rooms: the HTTP port (REST and WebSocket); default 8000 for socketio, "
                   "8080 for rooms; 0 picks a free one.")
@click.option("--ws-port", type=click.IntRange(0, 65535), default=10001, show_default=True,
              help="kkim: WebSocket message gateway port; 0 picks a free one.")
@click.option("--api-port", type=click.IntRange(0, 65535), default=10002, show_default=True,
              help="kkim: HTTP auth API port; 0 picks a free one.")
@click.option("--peer-port", type=click.IntRange(-1, 65535), default=10003, show_default=True,
              help="kkim: port of the test page (/peer/), a browser peer that logs in as any user and "
                   "calls or answers; 0 picks a free one, -1 serves no page.")
@click.option("--db", "db_path", type=click.Path(dir_okay=False), default=None,
              help="SQLite database file: users, tokens, messages and calls survive a restart. "
                   "Without it everything is kept in memory.")
@click.option("--secret", default=None, envvar="CALLPROBE_SERVER_SECRET",
              help="Shared secret that signs the HS256 tokens (kkim: also unlocks "
                   "/auth/get_admin_token; default openIM123). Env: CALLPROBE_SERVER_SECRET.")
@click.option("--admin-user", "admin_users", multiple=True, default=("imAdmin",), show_default=True,
              help="kkim: user ID allowed to get an admin token (repeatable).")
@click.option("--no-auto-register", is_flag=True,
              help="kkim: do not create users when a token is first issued for them; "
                   "register them with POST /user/user_register.")
@click.option("--invite-timeout", type=click.FloatRange(min=0.01), default=None, metavar="SECONDS",
              help="kkim: ring time for every call, replacing InvitationInfo.timeout (default: the "
                   "invite's, or 60 s).")
@click.option("--fault", "faults", multiple=True, metavar="NAME[=VALUE]",
              help="Inject a fault of the chosen backend (repeatable); listed below.")
@click.option("-v", "--verbose", count=True, help="Log connections (-v) and library internals (-vv).")
def command(backend: str, host: str, port: int | None, ws_port: int, api_port: int, peer_port: int,
            db_path: str | None, secret: str | None, admin_users: tuple[str, ...],
            no_auto_register: bool, invite_timeout: float | None, faults: tuple[str, ...],
            verbose: int) -> None:
    """Run an embedded reference server (default: the KKIM gateway, WebSocket + auth API).

    Prints the URLs it listens on and stops cleanly on SIGINT or SIGTERM.
    Every malformed or refused input is logged on one line to standard error.
    An unusable --db file, a --host that is not on this machine and ports
    that cannot be bound are reported with the option to change.
    """
    from callprobe.backends.registry import parse_fault

    ctx = click.get_current_context()
    _refuse_other_family_options(ctx, backend)
    pairs = []
    for text in faults:
        try:
            pairs.append(parse_fault(backend, text))
        except ConfigError as exc:
            raise click.BadParameter(f"{exc}" + (f" ({exc.hint})" if exc.hint else ""), ctx,
                                     _param(ctx, "faults")) from None
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("aiohttp").setLevel(logging.WARNING)
    server = _make_server(backend, host=host, port=port, ws_port=ws_port, api_port=api_port,
                          db_path=db_path, secret=secret, admin_users=admin_users,
                          auto_register=not no_auto_register, invite_timeout=invite_timeout,
                          faults=tuple(pairs), verbose=verbose)
    page = _peer_page(backend, host, peer_port) if backend == "kkim" else None
    asyncio.run(_serve(server, db_path, page))


def _peer_page(backend: str, host: str, port: int) -> Any:
    """The test page beside the server (``docs/peers.md#the-test-page``), or None for ``--peer-port -1``."""
    if port < 0:
        return None
    from callprobe.browser.site import PageConfig, PeerSite

    return PeerSite(host=host, port=port, config=PageConfig(family=backend))


def _page_logins(page: Any, backend: str, server: Any, secret: str, admin_users: tuple[str, ...]) -> None:
    """Once the server listens: the page pre-fills its URL and issues tokens as its agents get them."""
    from callprobe.browser.accounts import server_login
    from callprobe.scenario.model import DEFAULT_SECRET, LoginConfig

    login = LoginConfig(secret=secret or DEFAULT_SECRET, admin_user=admin_users[0] if admin_users else "imAdmin")
    page.config = type(page.config)(family=backend, server=server.endpoints.server)
    page.login = server_login(backend, server.endpoints, login)


def _param(ctx: click.Context, name: str) -> click.Parameter | None:
    return next((p for p in ctx.command.params if p.name == name), None)


def _refuse_other_family_options(ctx: click.Context, backend: str) -> None:
    """An option of another family's server is a mistake, not something to ignore silently."""
    foreign = _HTTP_ONLY if backend == "kkim" else _KKIM_ONLY
    given = [p.opts[0] for p in ctx.command.params
             if p.name in foreign and ctx.get_parameter_source(p.name) is click.core.ParameterSource.COMMANDLINE]
    if given:
        owner = "socketio and rooms" if backend == "kkim" else "kkim"
        raise click.UsageError(f"{', '.join(given)} is for the {owner} server, not --backend {backend}")


def _make_server(backend: str, *, host: str, port: int | None, ws_port: int, api_port: int,
                 db_path: str | None, secret: str | None, admin_users: tuple[str, ...],
                 auto_register: bool, invite_timeout: float | None,
                 faults: tuple[tuple[str, str], ...], verbose: int) -> Any:
    from callprobe.backends.registry import family

    fam = family(backend)
    if backend == "kkim":
        from callprobe.backends.kkim.server import EmbeddedGateway
        from callprobe.backends.kkim.server.server import WEBSOCKETS_LOGGER
        from callprobe.settings import GatewaySettings

        logging.getLogger(WEBSOCKETS_LOGGER).setLevel(logging.INFO if verbose > 1 else logging.WARNING)
        settings = GatewaySettings(
            host=host, ws_port=ws_port, api_port=api_port, db_path=db_path,
            secret=secret or GatewaySettings.secret, admin_users=admin_users,
            auto_register=auto_register, invite_timeout_override_s=invite_timeout, faults=faults)
        return EmbeddedGateway(settings)
    chosen = fam.default_port if port is None else port
    server_module = fam.module("server")
    return server_module.create_server(host=host, port=chosen, db_path=db_path, secret=secret,
                                       faults=faults, verbose=verbose)


async def _serve(server: Any, db_path: str | None, page: Any = None) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await server.start()
    try:
        active = server.active_faults()
        endpoints = server.endpoints
        if endpoints.api:
            click.echo(f"ws:  {endpoints.server}")
            click.echo(f"api: {endpoints.api}")
        else:
            click.echo(f"url: {endpoints.server}")
        if page is not None:
            _page_logins(page, "kkim", server, server.settings.secret, server.settings.admin_users)
            await page.start()
            click.echo(f"peer: {page.url}")
        click.echo(f"db:  {db_path or '(in memory)'}")
        click.echo(f"faults: {', '.join(active) if active else 'none'}")
        click.echo("server ready; Ctrl+C or SIGTERM stops it")
        sys.stdout.flush()
        await stop.wait()
    finally:
        if page is not None:
            await page.stop()
        await server.stop()
        click.echo("server stopped")
