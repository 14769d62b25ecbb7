"""Fixtures every test folder shares: an embedded gateway and a coturn on free
loopback ports, started when asked for and always stopped after the test."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from callprobe.backends.kkim.server import EmbeddedGateway
from callprobe.settings import GatewaySettings
from tests.embedded import started_servers
from tests.rtc.coturn import Coturn

#: every gateway a test starts listens on free loopback ports
BASE = GatewaySettings(ws_port=0, api_port=0, shutdown_timeout_s=3.0)

GatewayFactory = Callable[..., Awaitable[EmbeddedGateway]]


@pytest.fixture
async def make_gateway() -> AsyncIterator[GatewayFactory]:
    """``await make_gateway(**settings_overrides)``: started now, stopped after the test."""
    async for factory in started_servers(EmbeddedGateway, BASE):
        yield factory


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


@pytest.fixture(autouse=True)
def _reports_match_their_schemas(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every run or diagnose report a test writes to its tmp_path matches docs/schemas/."""
    yield
    folder = request.node.funcargs.get("tmp_path") if hasattr(request.node, "funcargs") else None
    if not isinstance(folder, Path) or not folder.exists():
        return
    from tests.report_schemas import reports_in, validate_report

    for path, report in reports_in(folder):
        try:
            validate_report(report)
        except Exception as exc:
            where = "/".join(str(x) for x in getattr(exc, "absolute_path", ()))
            pytest.fail(f"{path.name} does not match its schema at {where or 'the top'}: "
                        f"{getattr(exc, 'message', exc)}", pytrace=False)
