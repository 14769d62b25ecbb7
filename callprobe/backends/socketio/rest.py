"""The Socket.IO chat backend's REST side: register, login, history (``docs/backends/socketio.md#rest-api``).

Each call is one HTTP request with its own deadline (``login_timeout_s`` for
register and login, ``request_timeout_s`` for history). A refusal raises
``RestRefused`` with the HTTP status and the server's ``detail``; nothing
listening raises ``ServerUnreachable``. Paths and field names are the
deployment's (``config.SocketioOptions``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp

from callprobe.backends.base import DriverError
from callprobe.backends.socketio.config import SocketioOptions
from callprobe.backends.socketio.protocol import get, id_text
from callprobe.errors import CallprobeError, DeadlineExceeded, ServerUnreachable
from callprobe.settings import ClientSettings

_PREVIEW = 300


class RestRefused(DriverError):
    """The server answered a REST request with an error status (or an unusable body).

    ``http_status`` is the status (a name other than ``status``: a refusal
    with a status is not an unreachable server), ``detail`` its words.
    """

    def __init__(self, operation: str, http_status: int, detail: str, url: str) -> None:
        CallprobeError.__init__(self, f"{operation} refused: HTTP {http_status} {detail}".rstrip())
        self.operation, self.err_code, self.err_msg, self.explanation = operation, 0, detail, ""
        self.http_status, self.detail, self.url = http_status, detail, url


@dataclass(frozen=True)
class Account:
    """What login gave: the id the backend names the user by, and the token."""

    user_id: str
    username: str
    token: str
    latency_ms: float
    steps: tuple[str, ...]


def _detail(body: Any, options: SocketioOptions, text: str) -> str:
    """The server's words for a refusal: ``detail`` (a string, or FastAPI's list of errors)."""
    value = get(body, options.fields["detail"]) if isinstance(body, Mapping) else None
    if isinstance(value, list):
        parts = [str(get(item, "msg") or item) for item in value]
        return "; ".join(parts)
    if value is not None:
        return str(value)
    return text[:_PREVIEW]


async def _request(method: str, url: str, operation: str, seconds: float, setting: str,
                   **kwargs: Any) -> tuple[int, Any, str]:
    """One request: (status, JSON body or None, text)."""
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=seconds)) as session, \
                session.request(method, url, **kwargs) as resp:
            text = await resp.text(errors="replace")
            try:
                body = json.loads(text) if text else None
            except ValueError:
                body = None
            return resp.status, body, text
    except TimeoutError:
        raise DeadlineExceeded(f"{operation} at {url}", setting, seconds) from None
    except aiohttp.ClientConnectorError as exc:
        raise ServerUnreachable(f"server {url} unreachable: {exc.os_error or exc}",
                                hint="check --server (the backend's http:// base URL) and that it runs") from None
    except aiohttp.ClientError as exc:
        raise ServerUnreachable(f"server {url}: {type(exc).__name__}: {exc}") from None


async def register(base_url: str, options: SocketioOptions, username: str, password: str,
                   settings: ClientSettings) -> str:
    """Create the account; ``"created"``, or ``"exists"`` when the username is taken (409)."""
    url = base_url.rstrip("/") + options.paths["register"]
    status, body, text = await _request("POST", url, "register", settings.login_timeout_s, "login_timeout_s",
                                        json={"username": username, "password": password})
    if status in (200, 201):
        return "created"
    if status == 409:
        return "exists"
    raise RestRefused("register", status, _detail(body, options, text), url)


async def login(base_url: str, options: SocketioOptions, username: str, password: str,
                settings: ClientSettings, *, create: bool = False) -> Account:
    """Log in (registering first when ``create``); the token and the integer id, as text."""
    started = time.monotonic()
    steps: list[str] = []
    if create:
        steps.append(f"register:{await register(base_url, options, username, password, settings)}")
    url = base_url.rstrip("/") + options.paths["login"]
    status, body, text = await _request("POST", url, "login", settings.login_timeout_s, "login_timeout_s",
                                        json={"username": username, "password": password})
    steps.append(f"login:{status}")
    if status != 200:
        raise RestRefused("login", status, _detail(body, options, text), url)
    token = get(body, options.fields["access_token"])
    user_id = id_text(get(body, options.fields["login_user_id"]))
    if not isinstance(token, str) or not token or not user_id:
        missing = [options.fields[k] for k, v in (("access_token", token), ("login_user_id", user_id))
                   if not v or (k == "access_token" and not isinstance(v, str))]
        raise RestRefused("login", status, f"the reply has no {' and no '.join(missing)}: {text[:_PREVIEW]}",
                          url)
    return Account(user_id, username, token, (time.monotonic() - started) * 1000.0, tuple(steps))


async def history(base_url: str, options: SocketioOptions, token: str, peer_id: str,
                  settings: ClientSettings) -> list[dict[str, Any]]:
    """Page 1 of the conversation with ``peer_id``: its rows, in the order the server lists them."""
    url = base_url.rstrip("/") + options.paths["history"]
    params = {options.fields["history_peer"]: peer_id, "page": "1", "limit": str(options.history_limit)}
    status, body, text = await _request("GET", url, "history", settings.request_timeout_s, "request_timeout_s",
                                        params=params, headers={"Authorization": f"Bearer {token}"})
    if status != 200:
        raise RestRefused("history", status, _detail(body, options, text), url)
    rows = get(body, options.fields["history_messages"])
    if not isinstance(rows, list):
        raise RestRefused("history", status, f"the reply has no list at {options.fields['history_messages']!r}",
                          url)
    return [r for r in rows if isinstance(r, dict)]
