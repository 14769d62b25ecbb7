"""Fixtures that start an embedded gateway on free loopback ports and always stop it."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest

from callprobe.gateway import EmbeddedGateway, ThreadedGateway
from callprobe.settings import GatewaySettings
from tests.gateway.rawclient import RawClient, user_token

#: every gateway a test starts listens on free loopback ports
BASE = GatewaySettings(ws_port=0, api_port=0, shutdown_timeout_s=3.0)

GatewayFactory = Callable[..., Awaitable[EmbeddedGateway]]


@pytest.fixture
async def make_gateway() -> AsyncIterator[GatewayFactory]:
    """``await make_gateway(**settings_overrides)``: started now, stopped after the test."""
    started: list[EmbeddedGateway] = []

    async def factory(**overrides: Any) -> EmbeddedGateway:
        gw = EmbeddedGateway(dataclasses.replace(BASE, **overrides))
        started.append(gw)
        await gw.start()
        return gw

    try:
        yield factory
    finally:
        for gw in started:
            await gw.stop()


@pytest.fixture
async def gateway(make_gateway: GatewayFactory) -> EmbeddedGateway:
    return await make_gateway()


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
