"""Option checks shared by the commands: refuse bad input before any work.

A run that would only fail at its end (an output file that cannot be
written) or fail obscurely in its middle (an ``http://`` gateway URL) is
refused up front with the option named.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from urllib.parse import urlsplit

from callprobe.errors import ConfigError


def check_server(ws_url: str | None, api_url: str | None, family: str = "kkim") -> None:
    """KKIM: ``--server`` (ws://) and ``--api`` (http://) come together; the other families: ``--server`` alone."""
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
    if api_url is None:
        raise ConfigError("--server needs --api too (the auth API that issues tokens)")
    _check_url("--server", ws_url, ("ws", "wss"), "ws://host:10001")
    _check_url("--api", api_url, ("http", "https"), "http://host:10002")


def _check_url(option: str, url: str, schemes: tuple[str, ...], example: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in schemes or not parts.hostname:
        raise ConfigError(f"{option} {url!r} is not a {'/'.join(schemes)} URL: expected something like {example}")
    try:
        _ = parts.port  # urllib checks the port only when asked for it
    except ValueError:
        raise ConfigError(f"{option} {url!r} has an invalid port") from None


def check_output(path: Path | None, option: str) -> None:
    """The file can be written: its folder exists and is writable, it is no folder."""
    if path is None:
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
