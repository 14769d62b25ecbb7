"""A call-room server on a free loopback port, started when asked for and always stopped."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import pytest

from callprobe.backends.rooms.server import LOGGER_NAME, EmbeddedRoomServer
from callprobe.settings import RoomServerSettings
from tests.backends.rooms.server.clients import Api, RoomClient
from tests.embedded import started_servers

#: every server a test starts: a free port, cheap password hashing, short shutdown
BASE = RoomServerSettings(port=0, password_iterations=1_000, shutdown_timeout_s=3.0, ws_close_timeout_s=1.0)

ServerFactory = Callable[..., Awaitable[EmbeddedRoomServer]]


@pytest.fixture
async def make_server() -> AsyncIterator[ServerFactory]:
    """``await make_server(**settings_overrides)``: started now, stopped after the test."""
    async for factory in started_servers(EmbeddedRoomServer, BASE):
        yield factory


@pytest.fixture
async def server(make_server: ServerFactory) -> EmbeddedRoomServer:
    return await make_server()


@pytest.fixture
async def api(server: EmbeddedRoomServer) -> AsyncIterator[Api]:
    client = Api(server.url)
    try:
        yield client
    finally:
        await client.close()


@pytest.fixture
async def rooms() -> AsyncIterator[list[RoomClient]]:
    """Room clients a test opened (append them); closed after the test."""
    opened: list[RoomClient] = []
    try:
        yield opened
    finally:
        for client in opened:
            await client.close()


@pytest.fixture
def server_log(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    with caplog.at_level(logging.INFO, logger=LOGGER_NAME):
        yield caplog


def warnings_of(caplog: pytest.LogCaptureFixture, words: str = "") -> list[logging.LogRecord]:
    return [r for r in caplog.records
            if r.name == LOGGER_NAME and r.levelno == logging.WARNING and words in r.getMessage()]


def tracebacks(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    """Records from any logger that carry an exception: each one is a server bug."""
    return [r for r in caplog.records if r.exc_info is not None or "Traceback" in r.getMessage()]
