"""Hostile input: every refusal is a documented status with a JSON body, or a close with a code and
a reason; each is one WARNING line; nothing leaves a traceback in the log."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed

from callprobe.backends.rooms.server import EmbeddedRoomServer
from callprobe.backends.rooms.server.ratelimit import TokenBucket
from tests.backends.rooms.server.clients import WAIT_S, Api, Party, RoomClient
from tests.backends.rooms.server.conftest import ServerFactory, tracebacks, warnings_of


@pytest.fixture(autouse=True)
def no_tracebacks(server_log: pytest.LogCaptureFixture) -> Iterator[None]:
    yield
    assert tracebacks(server_log) == []


class Pair:
    """A call with both parties in its room, notices read."""

    def __init__(self, api: Api, caller: Party, callee: Party, call: dict[str, Any], caller_ws: RoomClient,
                 callee_ws: RoomClient) -> None:
        self.api, self.caller, self.callee, self.call = api, caller, callee, call
        self.caller_ws, self.callee_ws = caller_ws, callee_ws

    async def relays(self) -> bool:
        """The caller's offer still reaches the callee."""
        await self.caller_ws.send({"type": "offer", "data": "still here"})
        return (await self.callee_ws.until("offer"))[-1]["data"] == "still here"


@pytest.fixture
async def make_pair() -> AsyncIterator[Any]:
    made: list[Pair] = []

    async def factory(server: EmbeddedRoomServer) -> Pair:
        api = Api(server.url)
        caller, callee = await api.party(), await api.party()
        call = await api.start_call(caller, callee)
        caller_ws = await RoomClient.join(server.url, call["uuid"], token=caller.token)
        callee_ws = await RoomClient.join(server.url, call["uuid"], token=callee.token)
        pair = Pair(api, caller, callee, call, caller_ws, callee_ws)
        made.append(pair)
        await caller_ws.until("join")
        await callee_ws.next()
        return pair

    try:
        yield factory
    finally:
        for pair in made:
            await pair.caller_ws.close()
            await pair.callee_ws.close()
            await pair.api.close()


@pytest.mark.parametrize("frame, words", [
    ("{not json", "not JSON"),
    ("[1, 2, 3]", "must be a JSON object, not an array"),
    ('"offer"', "must be a JSON object, not a string"),
    ("{}", "needs a string field type"),
    ('{"type": 5}', "type must be a string, not a number"),
    ('{"type": "join", "data": 1}', "unknown message type 'join'"),
    ('{"type": "offer", "data": ' + "[" * 40 + "]" * 40 + "}", "nested deeper than 32"),
    ('{"type": "offer", "data": ' + "[" * 5000 + "]" * 5000 + "}", "nested deeper than 32"),
    ('{"type": "offer", "data": "\\ud800"}', "lone surrogate"),
    ('{"type": "offer", "data": NaN}', "NaN is not JSON"),
    ('{"type": "offer", "data": -Infinity}', "-Infinity is not JSON"),
    ('{"type": "offer", "data": 1e400}', "out of range"),
    ('{"type": "offer", "data": ' + "9" * 5000 + "}", "not JSON"),
])
async def test_frames_the_server_cannot_act_on_get_an_error_and_keep_the_socket(
        server: EmbeddedRoomServer, make_pair: Any, server_log: pytest.LogCaptureFixture, frame: str,
        words: str) -> None:
    pair = await make_pair(server)
    await pair.caller_ws.send(frame)
    error = await pair.caller_ws.next()
    assert error["type"] == "error" and error["user_id"] == pair.caller.id
    assert words in error["data"]["error"]
    assert await pair.relays()
    [line] = warnings_of(server_log, "bad message")
    assert "\n" not in line.getMessage()


@pytest.mark.parametrize("send, code, words", [
    (lambda ws: ws.send(b"\x00binary"), 1003, "binary frames are not supported"),
    (lambda ws: ws.send(b"\xff\xfe not utf-8", text=True), 1007, "not valid UTF-8"),
    (lambda ws: ws.send("x" * 70_000), 1009, "message over 65536 bytes"),
])
async def test_frames_that_break_the_rules_close_the_socket_with_a_reason(
        server: EmbeddedRoomServer, make_pair: Any, server_log: pytest.LogCaptureFixture, send: Any, code: int,
        words: str) -> None:
    pair = await make_pair(server)
    await send(pair.caller_ws.ws)
    closed = await pair.caller_ws.closed()
    assert closed[0] == code and words in closed[1]
    leave = await pair.callee_ws.next()
    assert leave["type"] == "leave" and leave["user_id"] == pair.caller.id
    assert len(warnings_of(server_log, f"{code}")) == 1
    assert await pair.api.status(pair.caller, pair.call) == "initiated"


async def test_a_flood_from_one_socket_closes_it_and_nobody_else(make_server: ServerFactory, make_pair: Any,
                                                                 server_log: pytest.LogCaptureFixture) -> None:
    server = await make_server(frame_rate_per_s=1.0, frame_burst=20)
    flooded, other = await make_pair(server), await make_pair(server)
    for n in range(40):
        try:
            await flooded.caller_ws.send({"type": "ice-candidate", "data": n})
        except ConnectionClosed:  # the close may arrive while still sending
            break
    code, reason = await flooded.caller_ws.closed()
    assert code == 1008 and "rate limit" in reason
    got = await flooded.callee_ws.until("leave")
    assert [m["data"] for m in got[:-1]] == list(range(20))  # the burst was relayed, nothing after it
    assert len(warnings_of(server_log, "messages/s")) == 1
    assert await other.relays()


def test_the_token_bucket_allows_a_burst_then_the_rate() -> None:
    bucket = TokenBucket(rate=2.0, burst=3, now=0.0)
    assert [bucket.take(0.0) for _ in range(4)] == [True, True, True, False]
    assert bucket.take(0.4) is False and bucket.take(0.5) is True  # one token per 0.5 s
    assert [bucket.take(100.0) for _ in range(4)] == [True, True, True, False]  # refills to the burst only


async def test_a_socket_that_does_not_read_is_closed_and_delays_nobody(
        make_server: ServerFactory, make_pair: Any, server_log: pytest.LogCaptureFixture) -> None:
    server = await make_server(outbox_bytes=300_000, max_frame_bytes=600_000, frame_burst=1000)
    pair = await make_pair(server)
    chunk = "y" * 500_000
    async with asyncio.timeout(WAIT_S * 2):
        while not warnings_of(server_log, "does not read"):  # the callee reads nothing meanwhile
            await pair.caller_ws.send({"type": "offer", "data": chunk})
            await pair.caller_ws.barrier()  # the sender is answered at once all along
    code, reason = await pair.callee_ws.closed(WAIT_S * 2)
    assert code == 1008 and "not reading" in reason


async def test_past_the_connection_limit_a_connection_gets_503(make_server: ServerFactory,
                                                               server_log: pytest.LogCaptureFixture) -> None:
    server = await make_server(max_connections=3)
    host, port = server.url.removeprefix("http://").split(":")
    opened = await asyncio.gather(*(asyncio.open_connection(host, int(port)) for _ in range(8)))  # one burst
    answers = []
    try:
        for reader, writer in opened:
            writer.write(b"GET /api/v1/calls/incoming HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            answers.append(status_and_body(await asyncio.wait_for(reader.read(), WAIT_S)))
    finally:
        for _, writer in opened:
            writer.close()
    assert sorted(status for status, _ in answers) == [401] * 3 + [503] * 5
    assert {"error": "too many connections (max 3)"} in [body for _, body in answers]
    assert len(warnings_of(server_log, "max_connections")) == 5
    api = Api(server.url)
    try:
        async with asyncio.timeout(WAIT_S):  # freed slots serve again
            while (await api.register("after")).status != 201:
                await asyncio.sleep(0.02)
    finally:
        await api.close()


async def raw_exchange(server: EmbeddedRoomServer, data: bytes, then_wait: bool = True) -> bytes:
    """Send ``data`` over plain TCP; everything the server sends back until it closes."""
    host, port = server.url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(data)
        return await asyncio.wait_for(reader.read(), WAIT_S)
    finally:
        writer.close()


def status_and_body(raw: bytes) -> tuple[int, Any]:
    head, _, body = raw.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    if b"chunked" in head.lower():
        size, _, rest = body.partition(b"\r\n")
        body = rest[:int(size, 16)]
    return status, json.loads(body) if body.startswith(b"{") else body


async def test_a_body_over_the_cap_is_413_unread(server: EmbeddedRoomServer, api: Api) -> None:
    reply = await api.request("POST", "/api/v1/auth/register", data=b"{" + b" " * 20_000 + b"}")
    assert reply.status == 413 and reply.body == {"error": "body over 16384 bytes"}


async def test_a_chunked_body_over_the_cap_is_413(server: EmbeddedRoomServer) -> None:
    chunk = b" " * 10_000
    request = (b"POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
               + (b"%x\r\n" % len(chunk) + chunk + b"\r\n") * 3 + b"0\r\n\r\n")
    status, body = status_and_body(await raw_exchange(server, request))
    assert status == 413 and body == {"error": "body over 16384 bytes"}


async def test_a_slow_body_is_408(make_server: ServerFactory, server_log: pytest.LogCaptureFixture) -> None:
    server = await make_server(body_timeout_s=0.2, body_linger_s=0.1)
    request = b"POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"user"
    status, body = status_and_body(await raw_exchange(server, request))
    assert status == 408 and "not received within 0.2 s" in body["error"]
    assert len(warnings_of(server_log, "408")) == 1


@pytest.mark.parametrize("data", [b"", b"GET /api/v1/calls/incoming HTTP/1.1\r\nHost: x\r\n"],
                         ids=["silent", "half-a-head"])
async def test_idle_and_slow_clients_are_closed(make_server: ServerFactory, data: bytes) -> None:
    server = await make_server(keepalive_timeout_s=0.2)
    assert await raw_exchange(server, data) == b""  # closed by the server, within the deadline


@pytest.mark.parametrize("request_bytes", [
    b"GARBAGE\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n",
    b"GET /api/v1/calls/incoming HTTP/1.1\r\nHost: x\r\nX-Long: " + b"a" * 9000 + b"\r\n\r\n",
    b"POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
    b"GET /\x00\n HTTP/1.1\r\n\r\n",
], ids=["garbage", "bad-header", "long-header", "negative-length", "control-in-path"])
async def test_unparsable_http_is_400_and_one_warning(server: EmbeddedRoomServer, request_bytes: bytes,
                                                      server_log: pytest.LogCaptureFixture) -> None:
    raw = await raw_exchange(server, request_bytes)
    assert raw.split(b"\r\n", 1)[0].endswith(b" 400 Bad Request")
    [line] = warnings_of(server_log, "unparsable HTTP request")
    assert "\n" not in line.getMessage()
