"""The REST API: register, login, history (``docs/backends/socketio.md#rest-api``).

It answers like the FastAPI application it stands in for: JSON bodies, errors
as ``{"detail": ...}``, and a 422 whose ``detail`` is a list of validation
errors ``{type, loc, msg, input[, ctx]}`` in pydantic's words for every field
that is missing or of the wrong type. Where this server is stricter than a
plain FastAPI model (length caps, no control characters in usernames, no lone
surrogates, no NaN in JSON) it refuses the same way, with the same error types
pydantic uses for such constraints.
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

from callprobe.backends.socketio.server.auth import (
    TokenError,
    Tokens,
    check_password,
    hash_password,
)
from callprobe.backends.socketio.server.faults import Faults
from callprobe.backends.socketio.server.limits import depth_exceeds, encodable, quote
from callprobe.backends.socketio.server.store import Store, User, UsernameTaken
from callprobe.settings import ChatServerSettings

log = logging.getLogger("callprobe.server.socketio.api")

REGISTER, LOGIN, HISTORY = "/api/v1/auth/register", "/api/v1/auth/login", "/api/v1/chat/messages"
#: usernames are printable: no control characters (a newline would break every text they appear in)
USERNAME_PATTERN = r"^[^\x00-\x1f\x7f]+$"
_USERNAME = re.compile(USERNAME_PATTERN)
_INTEGER = re.compile(r"\s*[+-]?[0-9]{1,18}\s*")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Refusal(Exception):
    """An HTTP error reply: ``status`` and the JSON ``detail``."""

    def __init__(self, status: int, detail: Any, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status, self.detail, self.headers = status, detail, headers or {}

    def summary(self) -> str:
        """The detail on one line for the log, client text quoted."""
        if isinstance(self.detail, list):
            return "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in self.detail)
        return str(self.detail)


def _error(kind: str, loc: list[str | int], msg: str, value: Any, **ctx: Any) -> dict[str, Any]:
    """One pydantic-style validation error."""
    found: dict[str, Any] = {"type": kind, "loc": loc, "msg": msg, "input": value}
    if ctx:
        found["ctx"] = ctx
    return found


def _unprocessable(errors: list[dict[str, Any]]) -> Refusal:
    return Refusal(422, errors)


def _not_json(constant: str) -> Any:
    raise ValueError(f"{constant} is not JSON")


def _finite(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise ValueError(f"number {text[:20]} out of range")
    return value


class ChatApi:
    """The aiohttp routes of register, login and history."""

    def __init__(self, store: Store, tokens: Tokens, settings: ChatServerSettings, faults: Faults) -> None:
        self.store, self.tokens, self.settings, self.faults = store, tokens, settings, faults

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post(REGISTER, self._guard(self.register))
        app.router.add_post(LOGIN, self._guard(self.login))
        app.router.add_get(HISTORY, self._guard(self.history))

    def _guard(self, handler: Handler) -> Handler:
        """Turn a ``Refusal`` into its JSON reply and one WARNING line."""
        async def endpoint(request: web.Request) -> web.StreamResponse:
            try:
                return await handler(request)
            except Refusal as refusal:
                log.warning("%s %s from %s refused %d: %s", request.method, request.path, request.remote,
                            refusal.status, refusal.summary())
                return web.json_response({"detail": refusal.detail}, status=refusal.status,
                                         headers=refusal.headers)
        return endpoint

    # --------------------------------------------------------- endpoints

    async def register(self, request: web.Request) -> web.Response:
        """``{username, password}`` -> 201 ``{id, username}``; 409 when the name is taken."""
        username, password = self._credentials(await self._body(request), registering=True)
        if self.store.credentials(username) is not None:
            raise Refusal(409, "Username already registered")
        hashed = await asyncio.to_thread(hash_password, password, self.settings.password_iterations)
        try:
            user = self.store.add_user(username, hashed)
        except UsernameTaken:          # registered by a concurrent request while hashing
            raise Refusal(409, "Username already registered") from None
        log.info("registered user %d %s", user.id, quote(user.username))
        return web.json_response(user.public(), status=201)

    async def login(self, request: web.Request) -> web.Response:
        """``{username, password}`` -> 200 ``{access_token, token_type, user}``; 401 otherwise."""
        username, password = self._credentials(await self._body(request), registering=False)
        found = self.store.credentials(username)
        ok = await asyncio.to_thread(check_password, password, found[1] if found else None,
                                     self.settings.password_iterations)
        if not ok or found is None:
            raise Refusal(401, "Incorrect username or password", {"WWW-Authenticate": "Bearer"})
        user = found[0]
        return web.json_response({"access_token": self.tokens.issue(user.id, time.time()),
                                  "token_type": "bearer", "user": user.public()})

    async def history(self, request: web.Request) -> web.Response:
        """``?user_id=&page=&limit=`` -> the conversation with ``user_id``, newest page first."""
        me = self._bearer(request)
        errors: list[dict[str, Any]] = []
        peer = self._int_param(request, "user_id", None, errors)
        page = self._int_param(request, "page", 1, errors, ge=1)
        limit = self._int_param(request, "limit", 50, errors, ge=1, le=self.settings.history_max_limit)
        if errors:
            raise _unprocessable(errors)
        assert peer is not None
        assert page is not None
        assert limit is not None
        rows, total = self.store.history(me.id, peer, page, limit)
        if self.faults.history_without_extra_data:
            rows = [{**row, "extra_data": None} for row in rows]
        return web.json_response({"messages": rows, "total": total, "page": page, "limit": limit})

    # ------------------------------------------------------------ checks

    async def _body(self, request: web.Request) -> Any:
        """The JSON body, bounded in size and depth; NaN and Infinity are not JSON."""
        cap = self.settings.max_body_bytes
        if request.content_length is not None and request.content_length > cap:
            raise Refusal(413, f"request body larger than {cap} bytes")
        try:
            raw = await request.read()     # the application's client_max_size bounds it too
        except web.HTTPRequestEntityTooLarge:
            raise Refusal(413, f"request body larger than {cap} bytes") from None
        if len(raw) > cap:
            raise Refusal(413, f"request body larger than {cap} bytes")
        if not raw:
            raise _unprocessable([_error("missing", ["body"], "Field required", None)])
        try:
            body = json.loads(raw.decode(), parse_constant=_not_json, parse_float=_finite)
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            pos = exc.pos if isinstance(exc, json.JSONDecodeError) else 0
            reason = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)[:80]
            raise _unprocessable([_error("json_invalid", ["body", pos], "JSON decode error", {},
                                         error=reason)]) from None
        if depth_exceeds(body, self.settings.max_json_depth):
            raise _unprocessable([_error("json_invalid", ["body", 0], "JSON decode error", {},
                                         error=f"nested deeper than {self.settings.max_json_depth} levels")])
        return body

    def _credentials(self, body: Any, registering: bool) -> tuple[str, str]:
        """``username`` and ``password`` checked as the pydantic model would, all errors at once."""
        if not isinstance(body, dict):
            raise _unprocessable([_error("model_attributes_type", ["body"], "Input should be a valid "
                                         "dictionary or object to extract fields from", body)])
        errors: list[dict[str, Any]] = []
        username = self._string(body, "username", self.settings.max_username_chars, errors,
                                pattern=registering)
        password = self._string(body, "password", self.settings.max_password_chars, errors)
        if errors:
            raise _unprocessable(errors)
        assert username is not None
        assert password is not None
        return username, password

    @staticmethod
    def _string(body: dict[str, Any], key: str, max_chars: int, errors: list[dict[str, Any]],
                pattern: bool = False) -> str | None:
        loc: list[str | int] = ["body", key]
        if key not in body:
            errors.append(_error("missing", loc, "Field required", body))
            return None
        value = body[key]
        if not isinstance(value, str):
            errors.append(_error("string_type", loc, "Input should be a valid string", value))
        elif not value:
            errors.append(_error("string_too_short", loc, "String should have at least 1 character",
                                 value, min_length=1))
        elif len(value) > max_chars:
            errors.append(_error("string_too_long", loc, f"String should have at most {max_chars} characters",
                                 value, max_length=max_chars))
        elif not encodable(value):
            errors.append(_error("string_unicode", loc, "Input should be a valid string, unable to parse "
                                 "raw data as a unicode string", value))
        elif pattern and _USERNAME.match(value) is None:
            errors.append(_error("string_pattern_mismatch", loc, f"String should match pattern "
                                 f"'{USERNAME_PATTERN}'", value, pattern=USERNAME_PATTERN))
        else:
            return value
        return None

    @staticmethod
    def _int_param(request: web.Request, key: str, default: int | None, errors: list[dict[str, Any]],
                   ge: int | None = None, le: int | None = None) -> int | None:
        loc: list[str | int] = ["query", key]
        values = request.query.getall(key, [])
        if not values:
            if default is None:
                errors.append(_error("missing", loc, "Field required", None))
            return default
        text = values[-1]
        if _INTEGER.fullmatch(text) is None:
            errors.append(_error("int_parsing", loc, "Input should be a valid integer, unable to parse "
                                 "string as an integer", text[:100]))
            return None
        value = int(text)
        if ge is not None and value < ge:
            errors.append(_error("greater_than_equal", loc, f"Input should be greater than or equal to {ge}",
                                 text, ge=ge))
        elif le is not None and value > le:
            errors.append(_error("less_than_equal", loc, f"Input should be less than or equal to {le}",
                                 text, le=le))
        return value

    def _bearer(self, request: web.Request) -> User:
        """The user an ``Authorization: Bearer`` token names; 401 otherwise."""
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Refusal(401, "Not authenticated", {"WWW-Authenticate": "Bearer"})
        try:
            user = self.store.user(self.tokens.user_id(token.strip()))
        except TokenError as exc:
            log.debug("bearer token refused: %s", exc)
            user = None
        if user is None:
            raise Refusal(401, "Could not validate credentials", {"WWW-Authenticate": "Bearer"})
        return user


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """aiohttp's own refusals (404, 405, 413...) as FastAPI's ``{"detail": ...}`` JSON, logged once."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        log.warning("%s %s from %s refused %d: %s", request.method, quote(request.path_qs)[:200],
                    request.remote, exc.status, exc.reason)
        headers = {k: v for k, v in exc.headers.items() if k.lower() not in ("content-type", "content-length")}
        return web.json_response({"detail": exc.reason}, status=exc.status, headers=headers)
