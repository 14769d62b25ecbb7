"""The REST API (``docs/backends/rooms.md#rest-api``).

Every reply is JSON. Refusals are ``{"error": text}`` with the status the
page lists: 400 a body that is not a JSON object, 401 no or a bad token or
bad credentials, 403 not a party / not the party allowed, 404 unknown user,
call or route, 405 wrong method, 408 a body that came too slowly, 409 a
taken username, a busy user or a call no longer ``initiated``, 413 a body
over ``max_body_bytes``, 422 a missing or invalid field. Each refusal is one
WARNING line. Bodies are read with a size cap and a deadline, so a request
costs at most ``max_body_bytes`` of memory and ``body_timeout_s`` of time.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Any

from aiohttp import web

from callprobe.backends.rooms.server import jsontext
from callprobe.backends.rooms.server.auth import (
    Authority,
    TokenRefused,
    check_password,
    hash_password,
)
from callprobe.backends.rooms.server.calls import Action
from callprobe.backends.rooms.server.errors import Refusal
from callprobe.backends.rooms.server.identity import bearer
from callprobe.backends.rooms.server.log import log, shown
from callprobe.backends.rooms.server.service import CallService
from callprobe.backends.rooms.server.store import User, UsernameTaken
from callprobe.settings import RoomServerSettings

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

#: stands in for a stored hash when the username is unknown, so both failures cost the same
_DUMMY_SALT = b"callprobe-rooms!"


def reply(body: Any, status: int = HTTPStatus.OK) -> web.Response:
    return web.Response(text=jsontext.dumps(body), status=status, content_type="application/json")


def refusal_reply(request: web.Request, refusal: Refusal) -> web.Response:
    """Log ``refusal`` on one line and answer it."""
    about = f" (about {shown(refusal.about)})" if refusal.about else ""
    log.warning("refused %s %s from %s: %d %s%s", request.method, shown(request.path), request.remote,
                refusal.status, shown(refusal.error, 160), about)
    response = reply(refusal.body(), refusal.status)
    if refusal.status in (HTTPStatus.REQUEST_ENTITY_TOO_LARGE, HTTPStatus.REQUEST_TIMEOUT):
        response.force_close()  # the rest of the body is not worth reading
    return response


@web.middleware
async def refusals(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn every ``Refusal`` and aiohttp's own 4xx (no route, wrong method) into a JSON refusal."""
    try:
        return await handler(request)
    except Refusal as refusal:
        return refusal_reply(request, refusal)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return refusal_reply(request, Refusal(HTTPStatus(exc.status), (exc.reason or "refused").lower()))


async def read_body(request: web.Request, settings: RoomServerSettings) -> dict[str, Any]:
    """The request's JSON object: 413 over the size cap, 408 too slow, 400 not a JSON object."""
    cap = settings.max_body_bytes
    if request.content_length is not None and request.content_length > cap:
        raise Refusal(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"body over {cap} bytes")
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(settings.body_timeout_s):
            while size <= cap:
                chunk = await request.content.read(cap + 1 - size)
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
    except TimeoutError:
        raise Refusal(HTTPStatus.REQUEST_TIMEOUT, f"body not received within {settings.body_timeout_s:g} s") from None
    if size > cap:
        raise Refusal(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"body over {cap} bytes")
    try:
        body = jsontext.loads(b"".join(chunks), settings.max_json_depth)
    except jsontext.JsonRefused as exc:
        raise Refusal(HTTPStatus.BAD_REQUEST, f"body is not acceptable JSON: {exc}") from None
    if not isinstance(body, dict):
        raise Refusal(HTTPStatus.BAD_REQUEST, "body must be a JSON object")
    return body


def text_field(body: dict[str, Any], name: str, chars: tuple[int, int] | None = None) -> str:
    """A required string field, optionally of ``chars`` (min, max) characters; 422 otherwise."""
    value = body.get(name)
    if not isinstance(value, str) or not value:
        raise Refusal(HTTPStatus.UNPROCESSABLE_ENTITY, f"{name} is required (a non-empty string)")
    if chars is not None and not chars[0] <= len(value) <= chars[1]:
        raise Refusal(HTTPStatus.UNPROCESSABLE_ENTITY, f"{name} must be {chars[0]} to {chars[1]} characters")
    return value


class RestApi:
    """The REST endpoints, as aiohttp routes."""

    def __init__(self, service: CallService, authority: Authority, settings: RoomServerSettings) -> None:
        self.service = service
        self.authority = authority
        self.settings = settings

    def routes(self) -> list[web.RouteDef]:
        calls = "/api/v1/calls"
        return [
            web.post("/api/v1/auth/register", self.register),
            web.post("/api/v1/auth/login", self.login),
            web.post(f"{calls}/by-username", self.create_call),
            web.get(f"{calls}/incoming", self.incoming),       # before {uuid}: routes match in order
            web.post(calls + "/{uuid}/accept", self._answer(Action.ACCEPT)),
            web.post(calls + "/{uuid}/reject", self._answer(Action.REJECT)),
            web.post(calls + "/{uuid}/cancel", self._answer(Action.CANCEL)),
            web.get(calls + "/{uuid}", self.get_call),
        ]

    def user(self, request: web.Request) -> User:
        """The user of the request's ``Authorization: Bearer`` token; 401 otherwise."""
        token = bearer(request.headers)
        if not token:
            raise Refusal(HTTPStatus.UNAUTHORIZED, "authorization required: Authorization: Bearer <token>")
        try:
            return self.authority.user(token, time.time())
        except TokenRefused as exc:
            raise Refusal(HTTPStatus.UNAUTHORIZED, str(exc)) from None

    # ------------------------------------------------------------ auth

    async def register(self, request: web.Request) -> web.Response:
        body = await read_body(request, self.settings)
        username = text_field(body, "username", self.settings.username_chars)
        password = text_field(body, "password", self.settings.password_chars)
        if self.service.store.credentials(username) is not None:
            raise Refusal(HTTPStatus.CONFLICT, "username already taken", about=username)
        stored = await asyncio.to_thread(hash_password, password, self.settings.password_iterations)
        try:
            user = self.service.store.add_user(username, stored, time.time())
        except UsernameTaken:  # registered by a concurrent request while this one hashed
            raise Refusal(HTTPStatus.CONFLICT, "username already taken") from None
        log.info("registered user %d %s", user.id, shown(user.username))
        return reply({"user": user.to_json()}, HTTPStatus.CREATED)

    async def login(self, request: web.Request) -> web.Response:
        body = await read_body(request, self.settings)
        username, password = text_field(body, "username"), text_field(body, "password")
        found = self.service.store.credentials(username)
        if found is None:  # the same hashing cost as a real check: timing does not tell who exists
            await asyncio.to_thread(hash_password, password, self.settings.password_iterations, _DUMMY_SALT)
            raise Refusal(HTTPStatus.UNAUTHORIZED, "invalid username or password", about=username)
        user, stored = found
        if not await asyncio.to_thread(check_password, password, stored):
            raise Refusal(HTTPStatus.UNAUTHORIZED, "invalid username or password", about=username)
        return reply({"token": self.authority.issue(user, time.time()), "user": user.to_json()})

    # ------------------------------------------------------------ calls

    async def create_call(self, request: web.Request) -> web.Response:
        caller = self.user(request)
        body = await read_body(request, self.settings)
        callee = text_field(body, "callee_username")
        call_type = text_field(body, "call_type")
        call = self.service.create(caller, callee, call_type)
        return reply({"call": call.to_json()}, HTTPStatus.CREATED)

    async def incoming(self, request: web.Request) -> web.Response:
        user = self.user(request)
        return reply({"calls": [call.to_json() for call in self.service.incoming(user)]})

    async def get_call(self, request: web.Request) -> web.Response:
        user = self.user(request)
        return reply({"call": self.service.visible(user, request.match_info["uuid"]).to_json()})

    def _answer(self, action: Action) -> Handler:
        async def endpoint(request: web.Request) -> web.Response:
            user = self.user(request)
            call = self.service.answer(user, request.match_info["uuid"], action)
            return reply({"call": call.to_json()})
        return endpoint
