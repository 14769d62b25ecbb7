"""Option checks shared by the commands: refuse bad input before any work.

A run that would only fail at its end (an output file that cannot be
written) or fail obscurely in its middle (an ``http://`` gateway URL) is
refused up front with the option named.

Also the conventions every command shares: an output path ``-`` is standard
output (``stdout_output``, ``write_output``), and an option renamed for
consistency keeps its old name as a hidden alias for one release
(``alias_option``, ``take_aliases``).
"""

from __future__ import annotations

import functools
import json
import logging
import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from callprobe.errors import ConfigError

#: The output path that means standard output, in every command.
STDOUT = "-"


def check_server(ws_url: str | None, api_url: str | None, family: str = "kkim",
                 *, api_needed: bool = True) -> None:
    """KKIM: ``--server`` (ws://) and ``--api`` (http://) come together; the other families: ``--server`` alone.

    ``api_needed`` False: a login that asks the auth API nothing (fixed tokens)
    may leave ``--api`` out.
    """
    if ws_url is None and api_url is None:
        return
    if family != "kkim":
        from callprobe.backends.registry import family as lookup

        fam = lookup(family)
        if api_url is not None:
            raise ConfigError(f"--api is the KKIM gateway's auth API; the {fam.title} serves everything from "
                              f"--server (like {fam.example_url})")
        assert ws_url is not None
        _check_url("--server", ws_url, fam.schemes, fam.example_url)
        return
    if ws_url is None:
        raise ConfigError("--api needs --server too: without --server the embedded gateway is used, "
                          "which has its own auth API")
    if ws_url.split(":", 1)[0].lower() in ("http", "https"):
        raise ConfigError(f"--server {ws_url} is an http URL: the KKIM gateway takes ws://host:10001",
                          hint="for the Socket.IO chat backend or the call-room service, name the family: "
                               "diagnose --backend socketio|rooms, or server.backend.family in a scenario")
    if api_url is None and api_needed:
        raise ConfigError("--server needs --api too (the auth API that issues tokens)")
    _check_url("--server", ws_url, ("ws", "wss"), "ws://host:10001")
    if api_url is not None:
        _check_url("--api", api_url, ("http", "https"), "http://host:10002")


def _check_url(option: str, url: str, schemes: tuple[str, ...], example: str) -> None:
    """A URL a client can open: the scheme, a host, and a port from 1 to 65535 when one is given."""
    from callprobe.scenario.values import url_problem

    problem = url_problem(url, schemes)
    if problem is not None:
        raise ConfigError(f"{option} {problem}; expected something like {example}")


def stdout_output(*outputs: tuple[Path | None, str], refused: tuple[str, ...] = ()) -> bool:
    """Whether one of the ``(path, option)`` outputs is ``-`` (standard output).

    At most one output may go there (two would mix on one stream); an option
    in ``refused`` cannot go there at all. The caller then sends its terminal
    report to standard error, as ``ice-check --json -`` always has.
    """
    dashed = [option for path, option in outputs if path is not None and str(path) == STDOUT]
    for option in dashed:
        if option in refused:
            raise ConfigError(f"{option} -: {option} cannot go to standard output; give a file path")
    if len(dashed) > 1:
        names = ", ".join(dashed[:-1]) + " and " + dashed[-1]
        raise ConfigError(f"{names} {'both' if len(dashed) == 2 else 'all'} name '-' (standard output), "
                          "where only one output can go; give the others a file path")
    return bool(dashed)


def write_output(path: Path, write: Callable[[Path], object]) -> None:
    """``write(path)``, or with ``-``: what ``write`` would put in a file, on standard output."""
    if str(path) != STDOUT:
        write(path)
        return
    with tempfile.TemporaryDirectory(prefix="callprobe-") as folder:
        target = Path(folder) / "output"
        write(target)
        click.echo(target.read_text(encoding="utf-8"), nl=False)


def check_output(path: Path | None, option: str) -> None:
    """The file can be written: its folder exists and is writable, it is no folder (``-``: standard output)."""
    if path is None or str(path) == STDOUT:
        return
    if path.is_dir():
        raise ConfigError(f"{option} {path}: is a directory, expected a file path")
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise ConfigError(f"{option} {path}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise ConfigError(f"{option} {path}: not writable")


def quiet_embedded_gateway(verbose: bool) -> None:
    """The embedded servers log every refusal they make, including the ones the
    probes provoke on purpose: keep them off the report unless asked."""
    logging.getLogger("callprobe.server").setLevel(logging.INFO if verbose else logging.ERROR)
    if verbose:
        logging.basicConfig(format="%(asctime)s %(name)s %(levelname)s %(message)s")


def login_body(text: str | None, option: str = "--login-body") -> Any:
    """``--login-body``: a JSON mapping or list keeps its shape (a value that is one placeholder
    takes the value's own type, as in scenarios); other text must be JSON once placeholders are filled."""
    if text is None:
        return None
    try:
        parsed = json.loads(text)
    except ValueError:
        parsed = None
    if isinstance(parsed, (dict, list)):
        return parsed
    sample = re.sub(r"\{([A-Za-z_][A-Za-z0-9_]*)\}", "1", text)
    try:
        json.loads(sample)
    except ValueError as exc:
        raise ConfigError(f"{option} must be JSON once placeholders are filled: {exc}") from None
    return text


def turn_credential_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """``--turn-user``, ``--turn-credential``, ``--turn-secret``: the same names and variables in every command."""
    for option in reversed((
        click.option("--turn-user", default=None, envvar="CALLPROBE_TURN_USER", metavar="USER",
                     help="TURN username (with --turn-secret: the optional user part). Env: CALLPROBE_TURN_USER."),
        click.option("--turn-credential", default=None, envvar="CALLPROBE_TURN_CREDENTIAL", metavar="CREDENTIAL",
                     help="TURN credential (password). Env: CALLPROBE_TURN_CREDENTIAL, which keeps it out "
                          "of the process list."),
        click.option("--turn-secret", default=None, envvar="CALLPROBE_TURN_SECRET", metavar="SECRET",
                     help="The TURN server's static-auth-secret (coturn use-auth-secret, the \"TURN REST "
                          "API\") instead of a credential: time-limited credentials are made from it. "
                          "Env: CALLPROBE_TURN_SECRET."),
    )):
        command = option(command)
    return command


def alias_option(old: str, new: str, param: str) -> Callable[[Any], Any]:
    """A hidden option ``old``, the name ``new`` had before; ``take_aliases`` moves its value over."""
    return click.option(old, param, hidden=True, default=None, help=f"old name of {new}")


def take_aliases(**aliases: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorate a command's callback: each ``alias_param="new_param"`` given moves to ``new_param``.

    The old name works for one release, with a warning on standard error;
    giving both the old and the new name is an error. Place this under the
    ``click.option`` decorators, right above the function.
    """
    def decorate(callback: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(callback)
        def wrapper(**kwargs: Any) -> Any:
            ctx = click.get_current_context()
            flags = {p.name: p.opts[0] for p in ctx.command.params}
            for old, new in aliases.items():
                value = kwargs.pop(old, None)
                if value is None:
                    continue
                if ctx.get_parameter_source(new) is click.core.ParameterSource.COMMANDLINE:
                    raise click.UsageError(f"{flags[old]} is the old name of {flags[new]}; give only {flags[new]}")
                click.echo(f"warning: {flags[old]} is now {flags[new]}; the old name goes in the next "
                           "release", err=True)
                kwargs[new] = value
            return callback(**kwargs)
        return wrapper
    return decorate
