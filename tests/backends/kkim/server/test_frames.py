"""Frame-level rules: heartbeats, deadlines, fatal frames and their close codes, 1009."""

from __future__ import annotations

import asyncio
import base64
import json
import logging

import pytest

from callprobe.backends.kkim.protocol.envelope import compress
from callprobe.backends.kkim.server import EmbeddedGateway
from tests.backends.kkim.server.conftest import ClientFactory
from tests.backends.kkim.server.rawclient import RawClient, text_msg, until, user_token
from tests.conftest import GatewayFactory


async def test_text_ping_gets_a_text_pong_echoing_the_body(make_client: ClientFactory) -> None:
    client = await make_client("alice")
    assert json.loads(await client.ping_text()) == {"type": "pong", "body": None}
    assert json.loads(await client.ping_text({"n": 7})) == {"type": "pong", "body": {"n": 7}}


async def test_text_heartbeat_is_never_gzipped(make_client: ClientFactory) -> None:
    client = await make_client("alice", gzip=True)
    assert json.loads(await client.ping_text("x")) == {"type": "pong", "body": "x"}


async def test_client_pong_is_accepted_silently(make_client: ClientFactory) -> None:
    client = await make_client("alice")
    await client.send_raw('{"type":"pong"}')
    assert json.loads(await client.ping_text()) == {"type": "pong", "body": None}


async def test_websocket_ping_gets_a_pong(make_client: ClientFactory) -> None:
    client = await make_client("alice")
    waiter = await client.ws.ping(b"abc")
    latency = await asyncio.wait_for(waiter, 5)
    assert latency >= 0


async def test_read_deadline_closes_a_silent_connection_and_frames_rearm_it(make_gateway: GatewayFactory) -> None:
    gw = await make_gateway(read_deadline_s=0.4)
    token = await user_token(gw.api_url, "alice")
    client = await RawClient.connect(gw.ws_url, "alice", token)
    try:
        for _ in range(4):  # 0.8 s of pings, 0.2 s apart: well past one deadline
            await asyncio.sleep(0.2)
            await client.ws.ping()
        assert not client.closed.done()
        closed = await client.wait_closed(3)
        assert closed.code == 1000 and "read deadline" in closed.reason
    finally:
        await client.close()


async def test_web_platform_gets_server_pings(make_gateway: GatewayFactory) -> None:
    gw = await make_gateway(web_ping_interval_s=0.1, read_deadline_s=5)
    pings: list[bytes] = []
    token = await user_token(gw.api_url, "alice")
    client = await RawClient.connect(gw.ws_url, "alice", token, 5)
    original = client.ws.process_event

    def spy(event: object) -> None:
        if getattr(event, "opcode", None) is not None and event.opcode.name == "PING":  # type: ignore[attr-defined]
            pings.append(bytes(event.data))  # type: ignore[attr-defined]
        original(event)  # type: ignore[arg-type]

    client.ws.process_event = spy  # type: ignore[method-assign]
    ios_token = await user_token(gw.api_url, "bob", 1)
    ios = await RawClient.connect(gw.ws_url, "bob", ios_token, 1)
    ios_pings: list[bytes] = []
    ios_original = ios.ws.process_event

    def ios_spy(event: object) -> None:
        if getattr(event, "opcode", None) is not None and event.opcode.name == "PING":  # type: ignore[attr-defined]
            ios_pings.append(b"")
        ios_original(event)  # type: ignore[arg-type]

    ios.ws.process_event = ios_spy  # type: ignore[method-assign]
    try:
        await asyncio.sleep(0.5)
        assert len(pings) >= 2
        assert ios_pings == []
    finally:
        await client.close()
        await ios.close()


FATAL = [
    ("text frame that is not a heartbeat", '{"type":"hello"}', 1003, "not a ping/pong"),
    ("text frame that is not JSON", "hello", 1003, "not JSON"),
    ("request sent as text", '{"reqIdentifier":1001,"sendID":"alice"}', 1003, "heartbeat"),
    ("binary ping", b'{"type":"ping"}', 1008, "sendID ''"),
    ("malformed JSON", b"{nope", 1002, "not JSON"),
    ("JSON array", b"[1,2]", 1002, "expected an object"),
    ("reqIdentifier as string", b'{"reqIdentifier":"1001","sendID":"alice"}', 1002, "reqIdentifier"),
    ("msgIncr as number", b'{"reqIdentifier":1001,"sendID":"alice","msgIncr":5}', 1002, "msgIncr"),
    ("data byte out of range", b'{"reqIdentifier":1001,"sendID":"alice","data":[256]}', 1002, "data[0]"),
    ("unpadded base64", b'{"reqIdentifier":1001,"sendID":"alice","data":"CgVhbGljZQ"}', 1002, "base64"),
    ("URL-safe base64", b'{"reqIdentifier":1001,"sendID":"alice","data":"_-8="}', 1002, "base64"),
    ("sendID mismatch", b'{"reqIdentifier":1001,"sendID":"mallory"}', 1008, "mallory"),
    ("unknown identifier", b'{"reqIdentifier":9999,"sendID":"alice"}', 1003, "9999"),
    ("push identifier from a client", b'{"reqIdentifier":2001,"sendID":"alice"}', 1003, "2001"),
]


@pytest.mark.parametrize("what, frame, code, reason", FATAL, ids=[f[0] for f in FATAL])
async def test_fatal_frames_close_with_a_code_and_reason(
        make_client: ClientFactory, caplog: pytest.LogCaptureFixture,
        what: str, frame: bytes | str, code: int, reason: str) -> None:
    client = await make_client("alice")
    bystander = await make_client("bob")
    with caplog.at_level(logging.WARNING, logger="callprobe.server.kkim"):
        await client.send_raw(frame)
        closed = await client.wait_closed()
    assert closed.code == code, closed
    assert reason in closed.reason
    assert len([r for r in caplog.records if "bad input" in r.getMessage()]) == 1
    # other connections are not disturbed
    assert json.loads(await bystander.ping_text())["type"] == "pong"


async def test_bad_gzip_is_fatal_when_compression_is_on(make_client: ClientFactory) -> None:
    client = await make_client("alice", gzip=True)
    await client.send_raw(b'{"reqIdentifier":1001,"sendID":"alice"}')
    closed = await client.wait_closed()
    assert closed.code == 1002 and "gzip" in closed.reason
    truncated = await make_client("bob", gzip=True)
    await truncated.send_raw(compress(b'{"reqIdentifier":1001,"sendID":"bob"}')[:-6])
    closed = await truncated.wait_closed()
    assert closed.code == 1002 and "gzip" in closed.reason


async def test_undecodable_protobuf_is_500_and_the_connection_stays(make_client: ClientFactory) -> None:
    client = await make_client("alice")
    resp = await client.request(1003, b"\xff\xff\xff")
    assert resp.err_code == 500 and resp.err_msg == "server internal error" and resp.data is None
    resp = await client.request(1001, b"")
    assert resp.err_code == 0


async def test_oversize_frame_is_closed_with_1009(make_client: ClientFactory, caplog: pytest.LogCaptureFixture) -> None:
    client = await make_client("alice")
    bystander = await make_client("bob")
    with caplog.at_level(logging.WARNING, logger="callprobe.server.kkim"):
        await client.send_raw(b"x" * 51201)
        closed = await client.wait_closed()
        assert await until(lambda: any("51200-byte limit" in r.getMessage() for r in caplog.records))
    assert closed.code == 1009
    assert json.loads(await bystander.ping_text())["type"] == "pong"


async def test_frame_at_the_limit_is_accepted(make_client: ClientFactory) -> None:
    client = await make_client("alice")
    await make_client("bob")
    incr, frame = client.envelope(1003, text_msg("alice", "bob", "a" * 30000), encoding="base64")
    assert len(frame) < 51200
    waiter = asyncio.get_running_loop().create_future()
    client.pending[incr] = waiter
    await client.send_raw(frame)
    resp = await asyncio.wait_for(waiter, 5)
    assert resp.err_code == 0


async def test_both_data_encodings_are_accepted(make_client: ClientFactory) -> None:
    client = await make_client("alice")
    await make_client("bob")
    for encoding in ("array", "base64"):
        resp = await client.request(1003, text_msg("alice", "bob", encoding), encoding=encoding)  # type: ignore[arg-type]
        assert resp.err_code == 0 and resp.data_form == "base64"
    raw = base64.b64encode(text_msg("alice", "bob").SerializeToString()).decode()
    wrapped = "\r\n".join(raw[i:i + 10] for i in range(0, len(raw), 10))
    incr = "crlf"
    waiter = asyncio.get_running_loop().create_future()
    client.pending[incr] = waiter
    await client.send_raw(json.dumps({"reqIdentifier": 1003, "sendID": "alice", "msgIncr": incr,
                                      "data": wrapped}).encode())
    assert (await asyncio.wait_for(waiter, 5)).err_code == 0


async def test_keys_match_case_insensitively_and_reply_echoes_ids(make_client: ClientFactory) -> None:
    client = await make_client("alice")
    waiter = asyncio.get_running_loop().create_future()
    client.pending["m-1"] = waiter
    await client.send_raw(b'{"ReqIdentifier":1001,"SENDID":"alice","msgIncr":"m-1","operationID":"op-x"}')
    resp = await asyncio.wait_for(waiter, 5)
    assert (resp.req_identifier, resp.msg_incr, resp.operation_id, resp.err_code) == (1001, "m-1", "op-x", 0)


async def test_gateway_stop_closes_connections(make_gateway: GatewayFactory) -> None:
    gw: EmbeddedGateway = await make_gateway()
    token = await user_token(gw.api_url, "alice")
    client = await RawClient.connect(gw.ws_url, "alice", token)
    await gw.stop()
    closed = await client.wait_closed()
    assert closed.code == 1001
    await client.close()


def test_threaded_gateway_serves_a_blocking_client(threaded_gateway) -> None:  # type: ignore[no-untyped-def]
    from websockets.sync.client import connect as sync_connect

    from tests.backends.kkim.server.rawclient import ws_query

    token = asyncio.run(user_token(threaded_gateway.api_url, "alice"))
    with sync_connect(threaded_gateway.ws_url + ws_query("alice", token), compression=None) as ws:
        ws.send('{"type":"ping","body":1}')
        assert json.loads(ws.recv(timeout=5)) == {"type": "pong", "body": 1}
