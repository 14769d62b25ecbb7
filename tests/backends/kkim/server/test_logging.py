"""What the gateway logs: one WARNING line per malformed or refused input, all
under the ``callprobe.backends.kkim.server`` logger, so embedders can silence it in one place."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator

import pytest

from callprobe.backends.kkim.protocol._pb.openim import sdkws_pb2
from callprobe.backends.kkim.server import LOGGER_NAME, EmbeddedGateway
from tests.backends.kkim.server.conftest import ClientFactory
from tests.backends.kkim.server.rawclient import (
    WAIT_S,
    api_post,
    invite_req,
    until,
    user_token,
    ws_query,
)


def warnings(caplog: pytest.LogCaptureFixture, words: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno == logging.WARNING and words in r.getMessage()]


def one_line(record: logging.LogRecord) -> bool:
    return "\n" not in record.getMessage() and record.exc_info is None


async def raw_http(gateway: EmbeddedGateway, request: bytes, eof: bool = False) -> bytes:
    """Send bytes to the WebSocket port over plain TCP (``eof``: then half-close); return what comes back."""
    host, port = gateway.ws_url.removeprefix("ws://").rsplit(":", 1)
    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, int(port)), WAIT_S)
    try:
        writer.write(request)
        if eof:
            writer.write_eof()
        return await asyncio.wait_for(reader.read(), WAIT_S)
    finally:
        writer.close()
        await writer.wait_closed()


@pytest.fixture
def gateway_log(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    with caplog.at_level(logging.INFO, logger=LOGGER_NAME):
        yield caplog


async def test_unparsable_data_is_500_and_a_warning(make_client: ClientFactory,
                                                    gateway_log: pytest.LogCaptureFixture) -> None:
    alice = await make_client("alice")
    resp = await alice.request(1001, b"\xff\xff\xff")
    assert resp.err_code == 500
    [record] = warnings(gateway_log, "refused request 1001")
    assert one_line(record) and record.name.startswith(LOGGER_NAME)
    assert alice.user_id in record.getMessage() and "500" in record.getMessage()


async def test_wrong_request_token_is_a_warning(make_client: ClientFactory,
                                                gateway_log: pytest.LogCaptureFixture) -> None:
    alice = await make_client("alice")
    bob = await make_client("bob")
    resp = await alice.request(1001, sdkws_pb2.GetMaxSeqReq(userID="alice"), token=bob.token)
    assert resp.err_code == 1002
    [record] = warnings(gateway_log, "refused request 1001")
    assert one_line(record) and "1002" in record.getMessage() and "'bob'" in record.getMessage()


async def test_business_refusal_is_a_warning(make_client: ClientFactory,
                                             gateway_log: pytest.LogCaptureFixture) -> None:
    alice = await make_client("alice")
    assert (await alice.request(1004, invite_req("alice", "ghost"))).err_code == 1003
    [record] = warnings(gateway_log, "refused request 1004")
    assert one_line(record) and "ghost" in record.getMessage()


async def test_api_refusal_is_a_warning(gateway: EmbeddedGateway, gateway_log: pytest.LogCaptureFixture) -> None:
    status, body = await api_post(gateway.api_url, "/auth/get_user_token", {"userID": "a", "platformID": 5})
    assert status == 200 and body["errCode"] != 0
    [record] = warnings(gateway_log, "refused /auth/get_user_token")
    assert one_line(record)


async def test_garbage_instead_of_http_is_a_warning(gateway: EmbeddedGateway,
                                                    gateway_log: pytest.LogCaptureFixture) -> None:
    await raw_http(gateway, b"\x16\x03\x01 not an HTTP request\r\n\r\n")
    assert await until(lambda: bool(warnings(gateway_log, "bad handshake")))
    [record] = warnings(gateway_log, "bad handshake")
    assert one_line(record) and "valid HTTP request" in record.getMessage()


async def test_http_without_upgrade_is_426_and_a_warning(gateway: EmbeddedGateway,
                                                         gateway_log: pytest.LogCaptureFixture) -> None:
    path = ws_query("alice", await user_token(gateway.api_url, "alice"))
    reply = await raw_http(gateway, f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    assert reply.startswith(b"HTTP/1.1 426")
    assert await until(lambda: bool(warnings(gateway_log, "bad handshake")))
    [record] = warnings(gateway_log, "bad handshake")
    assert one_line(record) and "426" in record.getMessage() and "Connection header" in record.getMessage()


async def test_a_client_that_sends_nothing_is_no_warning(gateway: EmbeddedGateway,
                                                         gateway_log: pytest.LogCaptureFixture) -> None:
    assert await raw_http(gateway, b"", eof=True) == b""
    assert await until(lambda: any("before a handshake" in r.getMessage() for r in gateway_log.records))
    assert warnings(gateway_log, "") == []


async def test_one_logger_level_silences_the_whole_gateway(make_client: ClientFactory, gateway: EmbeddedGateway,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    gateway_logger = logging.getLogger(LOGGER_NAME)
    before = gateway_logger.level
    gateway_logger.setLevel(logging.ERROR)
    try:
        with caplog.at_level(logging.DEBUG):  # the root would take everything
            alice = await make_client("alice")
            await alice.request(1001, b"\xff")
            await raw_http(gateway, b"nonsense\r\n\r\n")
            await alice.send_raw("not a heartbeat")
            await alice.wait_closed()
    finally:
        gateway_logger.setLevel(before)
    from_gateway = [r for r in caplog.records if r.name.startswith((LOGGER_NAME, "websockets.server"))]
    assert from_gateway == []
