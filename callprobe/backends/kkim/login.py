"""Obtain an IM token for an agent through the auth HTTP API (docs/backends/kkim.md#auth-api).

Four modes:

* ``admin_user_token`` (default, OpenIM v3.6+): ``POST /auth/get_admin_token``
  ``{secret, userID=<admin user>}``, then ``POST /auth/get_user_token``
  ``{platformID, userID}`` with header ``token`` = the admin token;
* ``user_token`` (OpenIM v3.0 - v3.8.0): ``POST /auth/user_token``
  ``{secret, platformID, userID}``;
* ``fixed``: the token is given, nothing is fetched;
* ``custom``: any HTTP login (for example the chat app's ``/account/login``):
  URL, method, headers and a JSON body template with ``{user_id}``,
  ``{platform_id}``, ``{password}``, ``{nickname}``, ``{secret}``,
  ``{operation_id}`` placeholders, and a dotted path to the token in the reply
  (``data.imToken``).

Every POST carries an ``operationID`` header (upstream answers 1001 without
it). Each HTTP call has the deadline ``ClientSettings.login_timeout_s``.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

from callprobe.backends.kkim.protocol.constants import explain_err_code
from callprobe.errors import CallprobeError, ConfigError, DeadlineExceeded, ExitCode, ServerUnreachable
from callprobe.scenario.model import (
    DEFAULT_ADMIN_USER,
    DEFAULT_SECRET,
    LOGIN_MODES,
)
from callprobe.settings import ClientSettings

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_BODY_PREVIEW = 300


@dataclass(frozen=True)
class LoginResult:
    """A token and how it was obtained."""

    token: str
    mode: str
    latency_ms: float
    expire_s: int | None = None
    steps: tuple[str, ...] = ()   # "POST /auth/get_admin_token", ...


class LoginError(CallprobeError):
    """The auth API answered but gave no token; says why in words."""

    code = "LOGIN_FAILED"
    exit_code = ExitCode.EXPECTATION_FAILED
    hint = "check the login mode, the secret, the admin user and that the user exists"

    def __init__(self, mode: str, url: str, reason: str, *, status: int = 0, err_code: int = 0,
                 err_msg: str = "", body: str = "") -> None:
        text = f"login ({mode}) at {url} failed: {reason}"
        if status:
            text += f"; HTTP {status}"
        if err_code:
            meaning = explain_err_code(err_code, "openim")  # "1002 NoPermissionError (OpenIM)"
            said = f" ({err_msg})" if err_msg and err_msg.lower() not in meaning.lower() else ""
            text += f"; errCode {meaning}{said}"
        super().__init__(text)
        self.mode, self.url, self.reason = mode, url, reason
        self.status, self.err_code, self.err_msg, self.body = status, err_code, err_msg, body


# ------------------------------------------------------------------ pure parts


def config_value(config: object | None, name: str, default: Any) -> Any:
    """An attribute of a login config, ``default`` when absent, None or empty."""
    value = getattr(config, name, None) if config is not None else None
    return default if value in (None, "") else value


def fill_template(template: Any, values: Mapping[str, Any], where: str = "body") -> Any:
    """Substitute ``{name}`` placeholders in a JSON-like template.

    A string that is exactly one placeholder takes the value's own type (so
    ``"{platform_id}"`` becomes a JSON number); placeholders inside longer
    strings are replaced by text. An unknown name raises ``ConfigError``
    naming it and where it is.
    """
    if isinstance(template, str):
        whole = _PLACEHOLDER.fullmatch(template)
        if whole:
            return _lookup(values, whole.group(1), where)
        return _PLACEHOLDER.sub(lambda m: str(_lookup(values, m.group(1), where)), template)
    if isinstance(template, Mapping):
        return {str(k): fill_template(v, values, f"{where}.{k}") for k, v in template.items()}
    if isinstance(template, (list, tuple)):
        return [fill_template(v, values, f"{where}[{i}]") for i, v in enumerate(template)]
    return template


def _lookup(values: Mapping[str, Any], name: str, where: str) -> Any:
    if name not in values:
        known = ", ".join("{" + k + "}" for k in sorted(values))
        raise ConfigError(f"login {where}: unknown placeholder {{{name}}} (known: {known})")
    return values[name]


def dig(obj: Any, path: str) -> Any:
    """Follow a dotted path (``data.imToken``, ``data.items.0.token``); None if absent."""
    current = obj
    for part in (p for p in path.split(".") if p):
        if isinstance(current, Mapping):
            current = current.get(part)
        elif isinstance(current, list) and part.lstrip("-").isdigit() and -len(current) <= int(part) < len(current):
            current = current[int(part)]
        else:
            return None
    return current


def redact_token(text: str, token: str) -> str:
    return text.replace(token, "<token>") if token else text


#: errCodes of a token request for a user the server does not know (record not found, user ID not found).
USER_UNKNOWN = (1004, 1101)
#: errCode of a register request for a user that exists: as good as registered.
ALREADY_REGISTERED = 1102


async def _register(api: _Api, base: str, admin_token: str, user_id: str, nickname: str) -> None:
    """``POST /user/user_register`` one user with the admin token; an existing user is fine."""
    url = urljoin(base, "user/user_register")
    status, reply, raw = await api.call("POST", url, {"users": [{"userID": user_id, "nickname": nickname}]},
                                        {"token": admin_token})
    _check_envelope(api.mode, url, status, reply, raw, also_fine=ALREADY_REGISTERED)


# ------------------------------------------------------------------ HTTP


class _Api:
    """One aiohttp session for the calls of one login."""

    def __init__(self, mode: str, settings: ClientSettings) -> None:
        self.mode, self.settings = mode, settings
        self.steps: list[str] = []
        import aiohttp  # here, not at import: it costs ~0.1 s, and validation needs none of it

        self.session = aiohttp.ClientSession(trust_env=False)

    async def __aenter__(self) -> _Api:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.session.close()

    async def call(self, method: str, url: str, body: Any, headers: Mapping[str, str]) -> tuple[int, Any, str]:
        """Send one request; return (status, JSON or None, raw text)."""
        hdrs = {str(k): str(v) for k, v in headers.items()}
        if not any(k.lower() == "operationid" for k in hdrs):
            hdrs["operationID"] = uuid.uuid4().hex
        step = f"{method.upper()} {urlsplit(url).path or '/'}"
        self.steps.append(step)
        seconds = self.settings.login_timeout_s
        import aiohttp

        try:
            async with asyncio.timeout(seconds):
                async with self.session.request(
                    method.upper(), url, json=None if method.upper() == "GET" else body, headers=hdrs,
                ) as resp:
                    raw = await resp.text(errors="replace")
                    status = resp.status
        except TimeoutError:
            raise DeadlineExceeded(f"login {step} at {url}", "login_timeout_s", seconds) from None
        except aiohttp.InvalidURL:
            raise ConfigError(f"login URL is not usable: {url!r}") from None
        except aiohttp.ClientConnectorError as exc:
            raise ServerUnreachable(f"auth API {url} unreachable: {exc.os_error or exc}") from None
        except aiohttp.ClientError as exc:
            raise LoginError(self.mode, url, f"HTTP exchange failed: {type(exc).__name__}: {exc}") from None
        try:
            parsed: Any = json.loads(raw) if raw.strip() else None
        except ValueError:
            parsed = None
        return status, parsed, raw


def _check_openim(mode: str, url: str, status: int, reply: Any, raw: str) -> Mapping[str, Any]:
    """Validate an OpenIM API envelope ``{errCode, errMsg, errDlt, data}``; return ``data``."""
    _check_envelope(mode, url, status, reply, raw)
    data = reply.get("data")
    if not isinstance(data, Mapping) or not isinstance(data.get("token"), str) or not data["token"]:
        raise LoginError(mode, url, f"reply has no data.token: {raw[:_BODY_PREVIEW]!r}", status=status)
    return data


def _check_envelope(mode: str, url: str, status: int, reply: Any, raw: str, *, also_fine: int = 0) -> None:
    """Raise ``LoginError`` unless the reply is a 2xx OpenIM envelope with errCode 0 (or ``also_fine``)."""
    if not 200 <= status < 300:
        raise LoginError(mode, url, "HTTP error", status=status, body=raw[:_BODY_PREVIEW])
    if not isinstance(reply, Mapping):
        raise LoginError(mode, url, f"reply is not a JSON object: {raw[:_BODY_PREVIEW]!r}", status=status)
    err_code = reply.get("errCode", 0)
    if err_code and not (also_fine and err_code == also_fine):
        err_msg = str(reply.get("errMsg", ""))
        dlt = str(reply.get("errDlt", "") or "")
        reason = "server refused" + (f" ({dlt})" if dlt else "")
        raise LoginError(mode, url, reason, status=status, err_code=int(err_code) if isinstance(err_code, int)
                          else 0, err_msg=err_msg, body=raw[:_BODY_PREVIEW])


def _expire(data: Mapping[str, Any]) -> int | None:
    value = data.get("expireTimeSeconds")
    return value if isinstance(value, int) and not isinstance(value, bool) else None


async def login(api_url: str, user_id: str, platform_id: int, config: object | None,
                settings: ClientSettings, *, token: str = "", password: str = "",
                nickname: str = "", register: bool = False) -> LoginResult:
    """Get a token for ``user_id`` on ``platform_id`` as ``config`` says.

    ``config`` is any object with ``LoginConfigLike`` attributes (missing ones
    take the OpenIM defaults); ``None`` means ``admin_user_token``. ``token``
    is the token for mode ``fixed`` when the config carries none. ``register``:
    in mode ``admin_user_token``, a user the server does not know (errCode
    1004 or 1101) is registered with the admin token and asked for again
    (``docs/backends/kkim.md#auth-api``); the other modes ignore it.

    Raises:
        LoginError: the API answered without a token (status, errCode, errMsg).
        ServerUnreachable: the API refused the connection.
        DeadlineExceeded: one HTTP call took over ``login_timeout_s``.
        ConfigError: the mode or a template is unusable.
    """
    mode = str(config_value(config, "mode", "admin_user_token"))
    if mode not in LOGIN_MODES:
        raise ConfigError(f"login mode {mode!r} is unknown; use one of {', '.join(LOGIN_MODES)}")
    started = time.monotonic()

    def done(tok: str, expire: int | None, steps: list[str]) -> LoginResult:
        return LoginResult(tok, mode, (time.monotonic() - started) * 1000.0, expire, tuple(steps))

    if mode == "fixed":
        fixed = token or str(config_value(config, "token", ""))
        if not fixed:
            raise ConfigError(f"login mode 'fixed' for user {user_id!r} needs a token")
        return done(fixed, None, [])

    base = api_url.rstrip("/") + "/"
    secret = str(config_value(config, "secret", DEFAULT_SECRET))
    async with _Api(mode, settings) as api:
        if mode == "admin_user_token":
            admin = str(config_value(config, "admin_user", DEFAULT_ADMIN_USER))
            url = urljoin(base, "auth/get_admin_token")
            status, reply, raw = await api.call("POST", url, {"secret": secret, "userID": admin}, {})
            admin_token = str(_check_openim(mode, url, status, reply, raw)["token"])
            url = urljoin(base, "auth/get_user_token")
            ask = {"platformID": platform_id, "userID": user_id}
            status, reply, raw = await api.call("POST", url, ask, {"token": admin_token})
            try:
                data = _check_openim(mode, url, status, reply, raw)
            except LoginError as exc:
                if not register or exc.err_code not in USER_UNKNOWN:
                    raise
                await _register(api, base, admin_token, user_id, nickname or user_id)
                status, reply, raw = await api.call("POST", url, ask, {"token": admin_token})
                data = _check_openim(mode, url, status, reply, raw)
            return done(str(data["token"]), _expire(data), api.steps)

        if mode == "user_token":
            url = urljoin(base, "auth/user_token")
            status, reply, raw = await api.call(
                "POST", url, {"secret": secret, "platformID": platform_id, "userID": user_id}, {})
            data = _check_openim(mode, url, status, reply, raw)
            return done(str(data["token"]), _expire(data), api.steps)

        # custom
        target = str(config_value(config, "url", ""))
        if not target:
            raise ConfigError("login mode 'custom' needs a url")
        url = urljoin(base, target) if not urlsplit(target).scheme else target
        values = {"user_id": user_id, "platform_id": platform_id, "password": password,
                  "nickname": nickname or user_id, "secret": secret, "operation_id": uuid.uuid4().hex}
        body = fill_template(config_value(config, "body", {}), values, "body")
        if isinstance(body, str):
            try:
                body = json.loads(body)
            except ValueError:
                raise ConfigError(f"login body is not JSON after filling placeholders: {body[:80]!r}") from None
        headers = fill_template(dict(config_value(config, "headers", {})), values, "headers")
        method = str(config_value(config, "method", "POST"))
        path = str(config_value(config, "token_path", "data.token"))
        status, reply, raw = await api.call(method, url, body, headers)
        if not 200 <= status < 300:
            raise LoginError(mode, url, "HTTP error", status=status, body=raw[:_BODY_PREVIEW])
        if reply is None:
            raise LoginError(mode, url, f"reply is not JSON: {raw[:_BODY_PREVIEW]!r}", status=status)
        err_code = reply.get("errCode", 0) if isinstance(reply, Mapping) else 0
        if isinstance(err_code, int) and err_code:
            err_msg = str(reply.get("errMsg", ""))
            raise LoginError(mode, url, "server refused", status=status, err_code=err_code,
                              err_msg=err_msg, body=raw[:_BODY_PREVIEW])
        found = dig(reply, path)
        if not isinstance(found, str) or not found:
            keys = ", ".join(sorted(reply)) if isinstance(reply, Mapping) else type(reply).__name__
            raise LoginError(mode, url, f"reply has no token at {path!r} (top-level keys: {keys})",
                              status=status, body=raw[:_BODY_PREVIEW])
        parent = dig(reply, path.rpartition(".")[0]) if "." in path else reply
        return done(found, _expire(parent) if isinstance(parent, Mapping) else None, api.steps)
