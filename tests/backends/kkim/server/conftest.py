"""Fixtures that start an embedded gateway on free loopback ports and always stop it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest

from callprobe.backends.kkim.server import EmbeddedGateway, ThreadedGateway
from tests.backends.kkim.server.rawclient import RawClient, user_token
from tests.conftest import BASE


@pytest.fixture
def threaded_gateway() -> Iterator[ThreadedGateway]:
    """A gateway on its own loop in a thread, for tests that must not share the loop."""
    gw = ThreadedGateway(BASE)
    gw.start()
    try:
        yield gw
    finally:
        gw.stop()


ClientFactory = Callable[..., Awaitable[RawClient]]


@pytest.fixture
async def make_client(gateway: EmbeddedGateway) -> AsyncIterator[ClientFactory]:
    """``await make_client("alice", platform_id=5, gzip=False)``: logged in and connected; closed after."""
    clients: list[RawClient] = []

    async def factory(user_id: str, platform_id: int = 5, *, gw: EmbeddedGateway | None = None,
                      **kw: Any) -> RawClient:
        target = gw or gateway
        token = await user_token(target.api_url, user_id, platform_id)
        client = await RawClient.connect(target.ws_url, user_id, token, platform_id, **kw)
        clients.append(client)
        return client

    try:
        yield factory
    finally:
        for client in clients:
            await client.close()
