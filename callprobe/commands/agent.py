"""``callprobe agent``: play one agent of a scenario that a run on another host directs."""

from __future__ import annotations

import asyncio
import os
import sys
from urllib.parse import parse_qs, urlsplit

import click

from callprobe.errors import ConfigError

TOKEN_ENV = "CALLPROBE_AGENT_TOKEN"


def read_token() -> str:
    """The control token: ``CALLPROBE_AGENT_TOKEN``, else a prompt (never the command line or the URL)."""
    token = os.environ.get(TOKEN_ENV, "").strip()
    if token:
        return token
    if not sys.stdin.isatty():
        raise ConfigError(f"no control token: set {TOKEN_ENV} to the token the run printed",
                          hint="the token is never taken from the command line or the URL")
    return str(click.prompt("control token (as the run printed it)", hide_input=True)).strip()


@click.command("agent")
@click.option("--connect", "url", required=True, metavar="CONTROL_URL",
              help="The control endpoint the run printed (ws://HOST:PORT/callprobe-control).")
@click.option("--as", "name", required=True, metavar="NAME", help="The scenario agent to play here.")
def command(url: str, name: str) -> None:
    """Play one agent of a scenario run elsewhere (`callprobe run --remote-agents NAME`).

    Joins the run's control endpoint, plays the agent NAME from this host
    against the scenario's server, and sends everything it sees back to the
    run, which reports it with the rest. The token comes from
    CALLPROBE_AGENT_TOKEN or a prompt. Exit codes: 0 the run finished;
    1 the control connection was lost; 2 refused (wrong token or name);
    4 the control endpoint could not be reached.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("ws", "wss") or not parts.netloc:
        raise click.BadParameter(f"{url!r}: expected the ws://HOST:PORT/... URL the run printed",
                                 param_hint="--connect")
    if "token" in parse_qs(parts.query):
        raise click.BadParameter(f"the token never goes in the URL: set {TOKEN_ENV} instead", param_hint="--connect")
    token = read_token()
    from callprobe.engine.remote.worker import AgentWorker

    worker = AgentWorker(url, name, token, say=lambda text: click.echo(text, err=True))
    code = asyncio.run(worker.run())
    click.get_current_context().exit(code)
