"""Fixtures every test folder shares: an embedded gateway and a coturn on free
loopback ports, started when asked for and always stopped after the test."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from callprobe.backends.kkim.server import EmbeddedGateway
from callprobe.settings import GatewaySettings
from tests.rtc.coturn import Coturn

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
def coturn(tmp_path: Path) -> Iterator[Coturn]:
    """A real coturn on a free loopback port (user ``probe``), stopped after the test."""
    server = Coturn(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()
