"""Plain clients for the call-room server's tests: aiohttp for REST, websockets for rooms.

Nothing here knows the server's internals; every wait has a deadline
(``WAIT_S``) so a missing message fails the test instead of hanging it.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import aiohttp
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

WAIT_S = 5.0
PASSWORD = "correct horse"

#: fresh usernames, unique across every ``Api`` of a test run
_NAMES = itertools.count(1)


@dataclass(frozen=True)
class Reply:
    status: int
    body: Any


@dataclass(frozen=True)
class Party:
    """A registered, logged-in user."""

    id: int
    uuid: str
    username: str
    token: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


class Api:
    """REST calls against one server; ``close()`` after use."""

    def __init__(self, base_url: str) -> None:
        self.base = base_url
        self.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=WAIT_S))

    async def close(self) -> None:
        await self.session.close()

    async def request(self, method: str, path: str, *, party: Party | None = None, body: Any = None,
                      data: bytes | str | None = None, headers: dict[str, str] | None = None) -> Reply:
        sent = dict(headers or {})
        if party is not None:
            sent.update(party.auth)
        kwargs: dict[str, Any] = {"data": data} if data is not None else {}
        if body is not None:
            kwargs = {"data": json.dumps(body), "headers": {"Content-Type": "application/json", **sent}}
        else:
            kwargs["headers"] = sent
        async with self.session.request(method, self.base + path, **kwargs) as resp:
            raw = await resp.read()
            assert resp.content_type == "application/json", (resp.status, raw)
            return Reply(resp.status, json.loads(raw))

    async def register(self, username: str, password: str = PASSWORD) -> Reply:
        return await self.request("POST", "/api/v1/auth/register", body={"username": username, "password": password})

    async def login(self, username: str, password: str = PASSWORD) -> Reply:
        return await self.request("POST", "/api/v1/auth/login", body={"username": username, "password": password})

    async def party(self, username: str = "") -> Party:
        """A new user, registered and logged in (a fresh name unless one is given)."""
        if not username:
            username = f"user{next(_NAMES)}"
        registered = await self.register(username)
        assert registered.status == 201, registered
        login = await self.login(username)
        assert login.status == 200, login
        user = login.body["user"]
        return Party(user["id"], user["uuid"], user["username"], login.body["token"])

    async def start_call(self, caller: Party, callee: Party, call_type: str = "video") -> dict[str, Any]:
        reply = await self.request("POST", "/api/v1/calls/by-username", party=caller,
                                   body={"callee_username": callee.username, "call_type": call_type})
        assert reply.status == 201, reply
        call: dict[str, Any] = reply.body["call"]
        return call

    async def act(self, party: Party, call: dict[str, Any], action: str) -> Reply:
        return await self.request("POST", f"/api/v1/calls/{call['uuid']}/{action}", party=party)

    async def status(self, party: Party, call: dict[str, Any]) -> str:
        reply = await self.request("GET", f"/api/v1/calls/{call['uuid']}", party=party)
        assert reply.status == 200, reply
        return str(reply.body["call"]["status"])

    async def await_status(self, party: Party, call: dict[str, Any], wanted: str, within: float = WAIT_S) -> None:
        """Poll the call until it is ``wanted``; fail after ``within`` seconds."""
        async with asyncio.timeout(within):
            while await self.status(party, call) != wanted:
                await asyncio.sleep(0.02)


def room_url(base_url: str, call_uuid: str, **query: str | int) -> str:
    url = base_url.replace("http://", "ws://", 1) + f"/ws/call/{call_uuid}"
    return url + ("?" + urlencode(query) if query else "")


class RoomClient:
    """One websockets connection to a call room; messages are read in order, with deadlines."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws

    @classmethod
    async def join(cls, base_url: str, call_uuid: str, *, headers: dict[str, str] | None = None,
                   **query: str | int) -> RoomClient:
        ws = await connect(room_url(base_url, call_uuid, **query), additional_headers=headers,
                           open_timeout=WAIT_S, close_timeout=1, ping_interval=None, max_size=None)
        return cls(ws)

    @classmethod
    async def join_as(cls, base_url: str, call: dict[str, Any], party: Party) -> RoomClient:
        """Join with the party's token in the query, as most clients do."""
        return await cls.join(base_url, call["uuid"], token=party.token)

    async def send(self, message: Any) -> None:
        await self.ws.send(message if isinstance(message, (str, bytes)) else json.dumps(message))

    async def next(self, within: float = WAIT_S) -> dict[str, Any]:
        text = await asyncio.wait_for(self.ws.recv(), within)
        message: dict[str, Any] = json.loads(text)
        return message

    async def until(self, kind: str, within: float = WAIT_S) -> list[dict[str, Any]]:
        """Every message up to and including the first of type ``kind``."""
        seen: list[dict[str, Any]] = []
        async with asyncio.timeout(within):
            while not seen or seen[-1]["type"] != kind:
                seen.append(await self.next(within))
        return seen

    async def types_until(self, kind: str) -> list[str]:
        return [m["type"] for m in await self.until(kind)]

    async def barrier(self) -> list[dict[str, Any]]:
        """Messages queued for this socket before now: a frame the server answers with ``error``
        goes through the same outbox, so whatever precedes that answer was sent before it."""
        await self.send({"type": "barrier"})
        seen = await self.until("error")
        return seen[:-1]

    async def closed(self, within: float = WAIT_S) -> tuple[int | None, str]:
        """Wait for the server to close; the close code and reason it sent."""
        try:
            async with asyncio.timeout(within):
                while True:
                    await self.ws.recv()
        except ConnectionClosed as exc:
            received = exc.rcvd
            return (received.code, received.reason) if received else (None, "")
        raise AssertionError("unreachable")

    async def close(self) -> None:
        await self.ws.close()


async def refused_join(base_url: str, call_uuid: str, *, headers: dict[str, str] | None = None,
                       **query: str | int) -> Reply:
    """Join expecting an HTTP refusal; its status and body (JSON, or raw bytes when not JSON)."""
    try:
        client = await RoomClient.join(base_url, call_uuid, headers=headers, **query)
    except InvalidStatus as exc:
        raw = bytes(exc.response.body or b"")
        try:
            body: Any = json.loads(raw) if raw else raw
        except ValueError:
            body = raw
        return Reply(exc.response.status_code, body)
    await client.close()
    raise AssertionError("the join was admitted")
