"""The ``server`` section: embedded or remote server, its faults, and the ``login`` block."""

from __future__ import annotations

import ipaddress
import json
import re
from typing import TYPE_CHECKING, Any

from callprobe.backends.options import BackendOptions
from callprobe.errors import CallprobeError
from callprobe.scenario.model import (
    DEFAULT_ADMIN_USER,
    DEFAULT_SECRET,
    DEFAULT_TOKEN_PATH,
    LoginConfig,
    ServerConfig,
)
from callprobe.scenario.source import FieldPath
from callprobe.scenario.values import (
    LOGIN_PLACEHOLDERS,
    describe,
    one_of,
    placeholders,
    quoted,
    suggest,
    url_problem,
)

if TYPE_CHECKING:
    from callprobe.scenario.checker import Checker

#: Login keys and the modes that use them (others are an error, not silently ignored).
_LOGIN_KEY_MODES: dict[str, tuple[str, ...]] = {
    "secret": ("admin_user_token", "user_token", "custom"),
    "admin_user": ("admin_user_token",),
    "url": ("custom",), "method": ("custom",), "headers": ("custom",), "body": ("custom",),
    "token_path": ("custom",),
}

#: Values that stand in for placeholders when a JSON-text login body is checked.
_SAMPLE_VALUES: dict[str, Any] = {"user_id": "u", "platform_id": 5, "password": "p",
                                  "nickname": "n", "secret": "s", "operation_id": "o"}

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def check_server(c: Checker) -> ServerConfig | None:
    given = c.data.get("server") or {}
    base: FieldPath = ("server",)
    if not c.ok(base):
        return None
    family_name, options = check_backend(c, given.get("backend"))
    kkim = family_name == "kkim"
    for key in ("ws_url", "api_url", "login") if not kkim else ("url",):
        if key in given:
            owner = "the KKIM gateway (backend family kkim)" if kkim is False else "the socketio and rooms backends"
            c.error(base + (key,), f"{key} is for {owner}; this scenario's backend family is {family_name}"
                    + ("; give the server's base URL as url: http://HOST:PORT" if not kkim and key == "ws_url" else ""))
    ws_url = str(given.get("ws_url") or "") if kkim else ""
    url = str(given.get("url") or "") if not kkim else ""
    api_url = str(given.get("api_url") or "") if kkim else ""
    remote_url, url_key = (ws_url, "ws_url") if kkim else (url, "url")
    example = "ws://10.0.0.5:10001" if kkim else "http://10.0.0.5:8000"
    embedded = bool(given.get("embedded", not remote_url))
    if remote_url and embedded:
        c.error(base + ("embedded",), f"embedded: true and {url_key} exclude each other; remove "
                f"{url_key} to use the embedded server, or embedded to use the remote one")
    if not remote_url and not embedded:
        c.error(base + ("embedded",), f"embedded: false needs {url_key} (the remote server, like {example})")
    if remote_url:
        check_url(c, base + (url_key,), remote_url)
    if api_url:
        check_url(c, base + ("api_url",), api_url)
    remote = bool(remote_url)
    if api_url and not remote:
        c.error(base + ("api_url",), "api_url is for a remote gateway (with ws_url); "
                   "the embedded gateway serves its own auth API")
    faults = tuple(str(f) for f in given.get("faults") or ())
    if faults and remote:
        c.error(base + ("faults",), f"faults need the embedded server; remove them, or {url_key}")
    elif faults:
        check_faults(c, faults, family_name)
    ring = given.get("ring_timeout_s")
    ring_s = c.duration(base + ("ring_timeout_s",), ring) if ring is not None else None
    if ring is not None and remote:
        c.error(base + ("ring_timeout_s",), "ring_timeout_s sets the embedded server's "
                   "ring time; with a remote server use the invite's timeout_s")
    host = str(given.get("host") or "127.0.0.1")
    netns = given.get("netns")
    for key in ("host", "netns"):
        if key in given and remote:
            c.error(base + (key,), f"{key} places the embedded server; a remote server "
                       f"({url_key}) runs where it runs")
    if "host" in given:
        try:
            ipaddress.ip_address(host)
        except ValueError:
            c.error(base + ("host",), f"expected an IP address like 127.0.0.1, got {describe(host)}")
    if netns is not None and "host" not in given:
        c.error(base + ("netns",), "a server in a network namespace needs server.host: the "
                   "address agents reach it on (198.51.100.1 in the NAT lab)")
    conflict = bool(remote_url) == embedded  # intent unclear: skip the checks that depend on it
    login = check_login(c, given.get("login") or {}, remote and not conflict and kkim, api_url)
    return ServerConfig(embedded=not remote, family=family_name, backend=options, url=url, ws_url=ws_url,
                        api_url=api_url, login=login, faults=faults, ring_timeout_s=ring_s, host=host,
                        netns=str(netns) if netns is not None else None)


def check_backend(c: Checker, given: Any) -> tuple[str, BackendOptions | None]:
    """``server.backend``: the family (default kkim) and its names, checked by the family itself."""
    from callprobe.backends.registry import family

    path: FieldPath = ("server", "backend")
    if given is None or not c.ok(path):
        return "kkim", None
    name = str(given.get("family") or "kkim")
    module = family(name).module("config")
    options: BackendOptions = module.parse_options(c, path, given)
    return name, options


def check_url(c: Checker, path: FieldPath, url: str) -> None:
    """A URL a client can actually open: a host, and a port from 1 to 65535 when one is given."""
    problem = url_problem(url)
    if problem is not None:
        c.error(path, problem)


def check_faults(c: Checker, faults: tuple[str, ...], family_name: str = "kkim") -> None:
    from callprobe.backends.registry import family, parse_fault

    FAULTS = family(family_name).faults
    for index, fault in enumerate(faults):
        try:
            parse_fault(family_name, fault)
        except CallprobeError as exc:
            name = fault.partition("=")[0].strip().lower()
            if name not in FAULTS and "belongs to" not in str(exc):
                message = (f"unknown fault {quoted(name)}{suggest(name, FAULTS)}; "
                           f"known faults: {', '.join(sorted(FAULTS))}")
            else:
                message = str(exc)
            c.error(("server", "faults", index), message)


def check_login(c: Checker, given: dict[str, Any], remote: bool, api_url: str) -> LoginConfig:
    base: FieldPath = ("server", "login")
    mode = str(given.get("mode") or "admin_user_token")
    for key in given:
        modes = _LOGIN_KEY_MODES.get(key)
        if modes is not None and mode not in modes:
            c.error(base + (key,), f"{key} is used by login mode {one_of(modes)} only "
                                      f"(mode is {mode})")
    url = str(given.get("url") or "")
    if mode == "custom":
        if not url:
            c.error(base + ("mode",), "login mode custom needs a url (absolute, or a path "
                                         "relative to server.api_url)")
        elif "://" in url and "{" not in url:  # an absolute URL must open; placeholders are filled later
            problem = url_problem(url, ("http", "https"))
            if problem is not None:
                c.error(base + ("url",), problem)
        for key in ("url", "headers", "body"):
            for name in placeholders(given.get(key)):
                if name not in LOGIN_PLACEHOLDERS:
                    c.error(base + (key,), f"unknown placeholder {{{name}}}"
                               f"{suggest(name, LOGIN_PLACEHOLDERS)}; expected one of "
                               + one_of("{" + p + "}" for p in LOGIN_PLACEHOLDERS))
        body = given.get("body")
        if isinstance(body, str):
            check_json_body(c, base + ("body",), body)
    relative_url = mode == "custom" and bool(url) and "://" not in url
    if remote and not api_url and (mode in ("admin_user_token", "user_token") or relative_url):
        why = f"the custom login url {url!r} is relative to it" if relative_url else \
            f"login mode {mode} gets tokens from the auth API"
        c.error(("server", "api_url"), f"missing key 'api_url' in server: {why} "
                   "(like http://10.0.0.5:10002)")
    headers = given.get("headers") or {}
    for key, value in headers.items():  # HTTP cannot carry a line break or NUL in a header
        c.no_control(base + ("headers", key), str(key), "a header name")
        c.no_control(base + ("headers", key), c.text(base + ("headers", key), value), "a header value")
    return LoginConfig(
        mode=mode,
        secret=c.text(base + ("secret",), given["secret"]) if "secret" in given else DEFAULT_SECRET,
        admin_user=(c.text(base + ("admin_user",), given["admin_user"])
                    if "admin_user" in given else DEFAULT_ADMIN_USER),
        url=url,
        method=str(given.get("method") or "POST").upper(),
        headers={str(k): c.text(base + ("headers", k), v) for k, v in headers.items()},
        body=given.get("body"),
        token_path=str(given.get("token_path") or DEFAULT_TOKEN_PATH),
    )


def check_json_body(c: Checker, path: FieldPath, body: str) -> None:
    filled = _PLACEHOLDER.sub(lambda m: str(_SAMPLE_VALUES.get(m.group(1), "")), body)
    try:
        json.loads(filled)
    except ValueError as exc:
        c.error(path, f"a text body must be JSON once placeholders are filled: {exc}")
