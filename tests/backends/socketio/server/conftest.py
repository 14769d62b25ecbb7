"""Fixtures for the Socket.IO chat server's tests: a server on a free loopback
port, registered accounts, and python-socketio clients that record every event.

Every wait has a deadline (``WAIT_S``); absence of an event is asserted after a
later event that the server sends after it on the same socket has arrived.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import jwt
import pytest
import socketio
from jwt.warnings import InsecureKeyLengthWarning

from callprobe.backends.socketio.server import EmbeddedChatServer
from callprobe.settings import ChatServerSettings
from tests.embedded import started_servers

#: every server a test starts: a free loopback port, cheap password hashing
BASE = ChatServerSettings(port=0, password_iterations=1000, shutdown_timeout_s=3.0)
#: deadline of one expected event, acknowledgement or HTTP reply on a loaded 2-core machine
WAIT_S = 5.0
PASSWORD = "secret-pw"

ServerFactory = Callable[..., Awaitable[EmbeddedChatServer]]
ChatFactory = Callable[..., Awaitable["Chat"]]


@dataclass(frozen=True)
class Account:
    id: int
    username: str
    token: str


class Peer:
    """A ``socketio.AsyncClient`` that records every event and lets a test await one."""

    def __init__(self, name: str = "") -> None:
        self.name = name
        self.client = socketio.AsyncClient(reconnection=False)
        self.events: list[tuple[str, Any]] = []
        self._taken: set[int] = set()
        self._changed = asyncio.Condition()
        self.connect_errors: list[Any] = []
        self.disconnects: list[Any] = []
        self.client.on("*", self._record)
        self.client.on("connect_error", self._connect_error)
        self.client.on("disconnect", self._disconnect)

    async def _record(self, event: str, *args: Any) -> None:
        async with self._changed:
            self.events.append((event, args[0] if args else None))
            self._changed.notify_all()

    async def _connect_error(self, data: Any = None) -> None:
        self.connect_errors.append(data)

    async def _disconnect(self, reason: Any = None) -> None:
        async with self._changed:
            self.disconnects.append(reason)
            self._changed.notify_all()

    async def connect(self, url: str, **kwargs: Any) -> None:
        kwargs.setdefault("transports", ["websocket"])
        await self.client.connect(url, wait_timeout=WAIT_S, **kwargs)

    async def call(self, event: str, data: Any = None) -> Any:
        """Emit with an acknowledgement and return it."""
        return await self.client.call(event, data, timeout=WAIT_S)

    async def next(self, event: str, where: Callable[[Any], bool] = lambda _: True) -> Any:
        """The first not yet taken ``event`` whose data satisfies ``where``; ``TimeoutError`` after ``WAIT_S``."""
        async with asyncio.timeout(WAIT_S):
            async with self._changed:
                while True:
                    for index, (name, data) in enumerate(self.events):
                        if index not in self._taken and name == event and where(data):
                            self._taken.add(index)
                            return data
                    await self._changed.wait()

    async def disconnected(self) -> Any:
        """The reason of the server closing this socket, awaited."""
        async with asyncio.timeout(WAIT_S), self._changed:
            await self._changed.wait_for(lambda: bool(self.disconnects))
        return self.disconnects[0]

    def got(self, event: str) -> list[Any]:
        return [data for name, data in self.events if name == event]

    async def close(self) -> None:
        if self.client.connected:
            await self.client.disconnect()
        http = getattr(self.client.eio, "http", None)   # left open by a refused or dropped connection
        if http is not None and not http.closed:
            await http.close()


class Chat:
    """Accounts, REST calls and connected peers against one server; ``close()`` ends them all."""

    def __init__(self, server: EmbeddedChatServer) -> None:
        self.server = server
        self.http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=WAIT_S))
        self.peers: list[Peer] = []

    @property
    def url(self) -> str:
        return self.server.url

    async def rest(self, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
        """Status and JSON body of one request (``None`` body when it is not JSON)."""
        async with self.http.request(method, self.url + path, **kwargs) as resp:
            try:
                body = await resp.json(content_type=None)
            except ValueError:
                body = None
            return resp.status, body

    async def account(self, username: str, password: str = PASSWORD) -> Account:
        status, body = await self.rest("POST", "/api/v1/auth/register", json={"username": username,
                                                                              "password": password})
        assert status == 201, body
        status, body = await self.rest("POST", "/api/v1/auth/login", json={"username": username,
                                                                           "password": password})
        assert status == 200, body
        return Account(body["user"]["id"], username, body["access_token"])

    async def peer(self, account: Account | None = None, **connect: Any) -> Peer:
        """A connected client (``auth={"token": ...}`` of ``account`` unless ``connect`` says otherwise)."""
        peer = Peer(account.username if account else "")
        self.peers.append(peer)
        if account is not None and "auth" not in connect:
            connect["auth"] = {"token": account.token}
        await peer.connect(self.url, **connect)
        return peer

    async def online(self, username: str) -> tuple[Account, Peer]:
        account = await self.account(username)
        return account, await self.peer(account)

    async def close(self) -> None:
        for peer in self.peers:
            await peer.close()
        await self.http.close()


@pytest.fixture
async def make_server() -> AsyncIterator[ServerFactory]:
    """``await make_server(**settings_overrides)``: started now, stopped after the test."""
    async for factory in started_servers(EmbeddedChatServer, BASE):
        yield factory


@pytest.fixture
async def server(make_server: ServerFactory) -> EmbeddedChatServer:
    return await make_server()


@pytest.fixture
async def chat(server: EmbeddedChatServer) -> AsyncIterator[Chat]:
    helper = Chat(server)
    try:
        yield helper
    finally:
        await helper.close()


@pytest.fixture
async def make_chat(make_server: ServerFactory) -> AsyncIterator[ChatFactory]:
    """``await make_chat(**settings_overrides)``: a server with those settings and its ``Chat``."""
    helpers: list[Chat] = []

    async def factory(**overrides: Any) -> Chat:
        helper = Chat(await make_server(**overrides))
        helpers.append(helper)
        return helper

    try:
        yield factory
    finally:
        for helper in helpers:
            await helper.close()


def sign(claims: dict[str, Any], secret: str = BASE.secret) -> str:
    """An HS256 token over ``claims`` (the default secret is shorter than RFC 7518 likes: on purpose)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InsecureKeyLengthWarning)
        return jwt.encode(claims, secret, algorithm="HS256")


def claims_of(token: str, secret: str = BASE.secret) -> dict[str, Any]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InsecureKeyLengthWarning)
        decoded: dict[str, Any] = jwt.decode(token, secret, algorithms=["HS256"])
        return decoded


async def eventually(predicate: Callable[[], bool], what: str) -> None:
    """Wait for server state no event announces (a socket forgotten, a row written), within ``WAIT_S``."""
    deadline = time.monotonic() + WAIT_S
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {WAIT_S} s: {what}")
        await asyncio.sleep(0.01)


class RawSocket:
    """An Engine.IO WebSocket spoken by hand, to send what no Socket.IO client would."""

    def __init__(self, http: aiohttp.ClientSession, url: str) -> None:
        self.http, self.url = http, url
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.open: dict[str, Any] = {}

    async def start(self, query: str = "") -> None:
        """Handshake; ``open`` holds the Engine.IO OPEN packet's data."""
        ws_url = self.url.replace("http://", "ws://") + f"/socket.io/?EIO=4&transport=websocket{query}"
        self.ws = await self.http.ws_connect(ws_url, timeout=aiohttp.ClientWSTimeout(ws_close=WAIT_S))
        first = await self.recv()
        assert first.startswith("0"), first
        self.open = json.loads(first[1:])

    async def connect(self, auth: Any = None) -> str:
        """Socket.IO connect; returns the server's answer packet (``40...`` or ``44...``)."""
        await self.send("40" + ("" if auth is None else json.dumps(auth)))
        return await self.recv_skipping_pings()

    async def send(self, frame: str | bytes) -> None:
        assert self.ws is not None
        if isinstance(frame, bytes):
            await self.ws.send_bytes(frame)
        else:
            await self.ws.send_str(frame)

    async def recv(self) -> str:
        """The next text frame; ``ConnectionError`` carrying the close code and reason when closed."""
        assert self.ws is not None
        msg = await self.ws.receive(timeout=WAIT_S)
        if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.CLOSED,
                        aiohttp.WSMsgType.ERROR):
            raise ConnectionError(self.ws.close_code, msg.extra or "")
        assert isinstance(msg.data, str)
        return msg.data

    async def recv_skipping_pings(self) -> str:
        while True:
            frame = await self.recv()
            if frame == "2":
                await self.send("3")
                continue
            return frame

    async def closed(self) -> tuple[int | None, str]:
        """Read until the server closes; its close code and reason."""
        try:
            while True:
                await self.recv_skipping_pings()
        except ConnectionError as exc:
            return exc.args[0], str(exc.args[1])

    async def close(self) -> None:
        if self.ws is not None and not self.ws.closed:
            await self.ws.close()


def tracebacks(records: list[logging.LogRecord]) -> list[str]:
    """Records that carry a traceback or are at ERROR or above: bad input must produce neither."""
    return [f"{r.name} {r.levelname} {r.getMessage()}" for r in records
            if r.exc_info or r.exc_text or r.levelno >= logging.ERROR or "Traceback" in r.getMessage()]


@pytest.fixture(autouse=True)
def no_tracebacks(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Every test here, whatever it throws at the server: no traceback and no ERROR in the log."""
    yield
    found = tracebacks(caplog.get_records("setup") + caplog.get_records("call") + caplog.records)
    assert not found, found
