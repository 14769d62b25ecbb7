"""The auth HTTP API (docs/backends/kkim.md#auth-api), on its own port.

Every reply is HTTP 200 with ``{errCode, errMsg, errDlt, data}`` (``data`` left
out when there is none), using upstream OpenIM codes: 1001 ArgsError, 1002
NoPermissionError, 1004 RecordNotFoundError, 1102 RegisteredAlreadyError,
150x token errors. Every POST needs an ``operationID`` header; the endpoints
other than ``get_admin_token``, ``user_token`` and ``parse_token`` need the
admin token in a ``token`` header.

Endpoints: ``/auth/get_admin_token`` {secret, userID}; ``/auth/get_user_token``
{platformID, userID}; ``/auth/user_token`` {secret, platformID, userID} (the
older form, no token header); ``/auth/parse_token`` {token};
``/auth/force_logout`` {platformID, userID}; ``/user/user_register``
{users: [{userID, nickname, faceURL}]}.

Every bad input gets that envelope, never an HTTP 500 or a traceback
(``docs/backends/kkim.md#limits``): a body that is not JSON, nests too deeply,
holds ``NaN``, a lone surrogate in a string, or arrives too slowly or too big
is 1001 ArgsError; a token that is not a well-formed JWT (non-finite
``exp``/``iat`` included) is 1503. A body the API could not read in time or
in full is answered, then the connection is closed.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from aiohttp.web_protocol import RequestPayloadError

from callprobe.backends.kkim.protocol.constants import (
    OPENIM_ERR_TEXT,
    Platform,
    ReqIdentifier,
)
from callprobe.backends.kkim.server.auth import TokenError
from callprobe.backends.kkim.server.core import GatewayCore, now_ms
from callprobe.backends.kkim.server.http_guard import track_requests
from callprobe.backends.kkim.server.logsafe import quoted

log = logging.getLogger("callprobe.server.kkim.api")

SERVER_INTERNAL, ARGS, NO_PERMISSION, NOT_FOUND, REGISTERED = 500, 1001, 1002, 1004, 1102

#: a lone UTF-16 surrogate, which a JSON ``\\uD800`` escape gives and SQLite cannot store
_SURROGATE = re.compile("[\ud800-\udfff]")


class ApiError(Exception):
    """A refused request; ``close``: the connection is closed after the reply (its body was not read)."""

    def __init__(self, code: int, detail: str, close: bool = False) -> None:
        super().__init__(detail)
        self.code, self.detail, self.close = code, detail, close


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


#: Go's decoder refuses NaN and Infinity, so does the API
_DECODER = json.JSONDecoder(parse_constant=_reject_constant)


def _compact(obj: Any) -> str:
    """Go's encoding/json output: no spaces."""
    return json.dumps(obj, separators=(",", ":"))


def _reply(code: int = 0, detail: str = "", data: Any = None) -> web.Response:
    body: dict[str, Any] = {"errCode": code, "errMsg": OPENIM_ERR_TEXT.get(code, "") if code else "",
                            "errDlt": detail}
    if data is not None:
        body["data"] = data
    return web.json_response(body, status=200, dumps=_compact)


def _text(value: str, key: str) -> str:
    if _SURROGATE.search(value):
        raise ApiError(ARGS, f"{key} is not valid Unicode text (it holds a lone surrogate)")
    return value


def _str(body: dict[str, Any], key: str, required: bool = True) -> str:
    value = body.get(key, "")
    if not isinstance(value, str) or (required and not value):
        raise ApiError(ARGS, f"{key} must be a non-empty string")
    return _text(value, key)


def _platform(body: dict[str, Any]) -> int:
    value = body.get("platformID")
    if isinstance(value, bool) or not isinstance(value, int):
        raise ApiError(ARGS, "platformID must be an integer")
    if not 1 <= value <= max(Platform):
        raise ApiError(ARGS, f"platformID {value} is not a known platform (1-{int(max(Platform))})")
    return value


Handler = Callable[[dict[str, Any], web.Request], Awaitable[Any]]


class AuthApi:
    """aiohttp application serving the auth and user endpoints."""

    def __init__(self, core: GatewayCore) -> None:
        self.core = core
        self.app = web.Application(client_max_size=core.settings.api_max_body_bytes,
                                   middlewares=[track_requests])
        routes: dict[str, tuple[Handler, bool]] = {
            "/auth/get_admin_token": (self.get_admin_token, False),
            "/auth/get_user_token": (self.get_user_token, True),
            "/auth/user_token": (self.user_token, False),
            "/auth/parse_token": (self.parse_token, False),
            "/auth/force_logout": (self.force_logout, True),
            "/user/user_register": (self.user_register, True),
        }
        for path, (handler, admin) in routes.items():
            self.app.router.add_post(path, self._wrap(handler, admin))

    def _wrap(self, handler: Handler, admin: bool) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def endpoint(request: web.Request) -> web.Response:
            try:
                if not request.headers.get("operationID"):
                    raise ApiError(ARGS, "header operationID is required")
                if admin:
                    self._check_admin(request.headers.get("token", ""))
                return _reply(data=await handler(await self._body(request), request))
            except ApiError as exc:
                # request.path is one of the routes above: only a path equal to one reaches here
                log.warning("refused %s from %s: %d %s", request.path, request.remote, exc.code, exc.detail)
                reply = _reply(exc.code, exc.detail)
                if exc.close:
                    reply.force_close()
                return reply
            except Exception:  # a bug: the client still gets the envelope, the log the traceback
                log.exception("request to %s from %s failed", request.path, request.remote)
                reply = _reply(SERVER_INTERNAL, "internal error")
                reply.force_close()
                return reply
        return endpoint

    async def _body(self, request: web.Request) -> dict[str, Any]:
        """The JSON object in the body, read within ``api_body_timeout_s``; ``ApiError`` 1001 otherwise."""
        settings = self.core.settings
        try:
            async with asyncio.timeout(settings.api_body_timeout_s):
                raw = await request.read()
        except TimeoutError:
            raise ApiError(ARGS, f"request body not complete within {settings.api_body_timeout_s:g} s "
                                 "(setting api_body_timeout_s)", close=True) from None
        except web.HTTPRequestEntityTooLarge:
            raise ApiError(ARGS, f"request body over {settings.api_max_body_bytes} bytes "
                                 "(setting api_max_body_bytes)", close=True) from None
        except RequestPayloadError as exc:
            raise ApiError(ARGS, f"request body is malformed: {exc}", close=True) from None
        try:
            body = _DECODER.decode(raw.decode("utf-8")) if raw.strip() else {}
        except RecursionError:
            raise ApiError(ARGS, "body is not JSON: it nests too deeply") from None
        except (UnicodeDecodeError, ValueError) as exc:
            raise ApiError(ARGS, f"body is not JSON: {exc}") from None
        if not isinstance(body, dict):
            raise ApiError(ARGS, "body must be a JSON object")
        return body

    def _check_admin(self, token: str) -> None:
        if not token:
            raise ApiError(ARGS, "header token (the admin token) is required")
        try:
            claims = self.core.authority.verify(token, time.time())
        except TokenError as exc:
            raise ApiError(int(exc.code), exc.message) from None
        if not self.core.authority.is_admin(claims.user_id):
            raise ApiError(NO_PERMISSION, f"{quoted(claims.user_id)} is not an admin user")

    def _token_data(self, user_id: str, platform_id: int) -> dict[str, Any]:
        token = self.core.authority.issue(user_id, platform_id, time.time())
        return {"token": token, "expireTimeSeconds": self.core.settings.token_expire_s}

    def _user_for_token(self, user_id: str) -> None:
        """Admins cannot get user tokens; unknown users are auto-registered unless disabled."""
        if self.core.authority.is_admin(user_id):
            raise ApiError(ARGS, f"{quoted(user_id)} is an admin user: use get_admin_token")
        store = self.core.store
        if not store.user_exists(user_id):
            if not self.core.settings.auto_register:
                raise ApiError(NOT_FOUND, f"user {quoted(user_id)} is not registered (auto-registration is off)")
            store.register_user(user_id, nickname=user_id, now_ms=now_ms())

    # endpoints

    async def get_admin_token(self, body: dict[str, Any], request: web.Request) -> Any:
        secret, user_id = _str(body, "secret"), _str(body, "userID")
        if secret != self.core.settings.secret:
            raise ApiError(NO_PERMISSION, "secret invalid")
        if not self.core.authority.is_admin(user_id):
            raise ApiError(ARGS, f"userID {quoted(user_id)} is not an admin user")
        return {"token": self.core.authority.issue_admin(user_id, time.time()),
                "expireTimeSeconds": self.core.settings.token_expire_s}

    async def get_user_token(self, body: dict[str, Any], request: web.Request) -> Any:
        user_id, platform_id = _str(body, "userID"), _platform(body)
        if platform_id == Platform.ADMIN:
            raise ApiError(ARGS, "platformID 10 (Admin) cannot get a user token")
        self._user_for_token(user_id)
        return self._token_data(user_id, platform_id)

    async def user_token(self, body: dict[str, Any], request: web.Request) -> Any:
        secret = _str(body, "secret")
        if secret != self.core.settings.secret:
            raise ApiError(NO_PERMISSION, "secret invalid")
        user_id, platform_id = _str(body, "userID"), _platform(body)
        self._user_for_token(user_id)
        return self._token_data(user_id, platform_id)

    async def parse_token(self, body: dict[str, Any], request: web.Request) -> Any:
        try:
            claims = self.core.authority.verify(_str(body, "token"), time.time())
        except TokenError as exc:
            raise ApiError(int(exc.code), exc.message) from None
        return {"userID": claims.user_id, "platformID": claims.platform_id, "expireTimeSeconds": claims.exp}

    async def force_logout(self, body: dict[str, Any], request: web.Request) -> Any:
        user_id, platform_id = _str(body, "userID"), _platform(body)
        for peer in self.core.hub.peers(user_id):
            if peer.platform_id == platform_id:  # the gateway's own 2003 (docs/backends/kkim.md#logout)
                peer.kick(ReqIdentifier.LOGOUT_MSG, "forced logout by the admin API")
        self.core.store.kick_tokens(user_id, platform_id)
        return None

    async def user_register(self, body: dict[str, Any], request: web.Request) -> Any:
        users = body.get("users")
        if not isinstance(users, list) or not users:
            raise ApiError(ARGS, "users must be a non-empty list")
        wanted: list[tuple[str, str, str]] = []
        for index, item in enumerate(users):
            if not isinstance(item, dict):
                raise ApiError(ARGS, f"users[{index}] must be an object")
            user_id = _str(item, "userID") if isinstance(item.get("userID"), str) else None
            if not user_id:
                raise ApiError(ARGS, f"users[{index}].userID must be a non-empty string")
            if self.core.authority.is_admin(user_id):
                raise ApiError(ARGS, f"users[{index}].userID {quoted(user_id)} is an admin user")
            nickname, face = item.get("nickname", ""), item.get("faceURL", "")
            wanted.append((user_id, _text(nickname, "nickname") if isinstance(nickname, str) else "",
                           _text(face, "faceURL") if isinstance(face, str) else ""))
        taken = [uid for uid, _, _ in wanted if self.core.store.user_exists(uid)]
        if taken:
            raise ApiError(REGISTERED, f"already registered: {', '.join(map(quoted, taken))}")
        for user_id, nickname, face in wanted:
            self.core.store.register_user(user_id, nickname, face, now_ms())
        return None
