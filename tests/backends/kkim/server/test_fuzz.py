"""Thousands of malformed frames at a running gateway, then a well-behaved call still works.

Every thrown frame must end in one of the documented outcomes: a Resp (any
errCode), or a close frame with code 1002/1003/1008/1009 and a reason (1000
for a valid logout); the gateway never crashes, never closes with 1011, and
never disturbs the other connections.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import gzip
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from callprobe.backends.kkim.protocol.envelope import compress, decode_response
from callprobe.backends.kkim.server import ThreadedGateway
from tests.backends.kkim.server.rawclient import (
    RawClient,
    action_req,
    invite_req,
    signal_resp,
    text_msg,
    user_token,
    ws_query,
)

FUZZ_USER = "fuzzer"
BATCH = 5            # frames per example: generation cost is mostly per example
EXAMPLES = 400       # 2000 frames
RECV_S = 5.0
PROBE = '{"type":"ping","body":"probe"}'
ALLOWED_CLOSE = {1000, 1002, 1003, 1008, 1009}

ids = st.sampled_from([1001, 1002, 1003, 1004, 1005, 1006, 1007, 2004, 2005])
json_leaf = st.one_of(st.none(), st.booleans(), st.integers(-2**40, 2**40),
                      st.floats(allow_nan=False, allow_infinity=False),
                      st.text(max_size=12))
# shallow on purpose: deep recursive JSON costs generation time and finds nothing more
json_any = st.one_of(json_leaf, st.lists(json_leaf, max_size=3),
                     st.dictionaries(st.sampled_from(["a", "type", "data", ""]), json_leaf, max_size=2))
data_values = st.one_of(
    st.binary(max_size=80).map(list),                                   # good array
    st.lists(st.integers(-3, 300), max_size=16),                        # out-of-range bytes
    st.binary(max_size=80).map(lambda b: base64.b64encode(b).decode()),  # good base64
    st.binary(min_size=1, max_size=40).map(lambda b: base64.urlsafe_b64encode(b).decode().rstrip("=")),  # bad base64
    json_any,
)


def envelope(sendid: st.SearchStrategy[Any], ident: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {"reqIdentifier": ident, "sendID": sendid},
        optional={"msgIncr": st.one_of(st.text(max_size=8), json_any), "operationID": st.text(max_size=8),
                  "token": st.one_of(st.text(max_size=40), st.just("a.b.c"), json_any), "data": data_values})


wellformed_ids = envelope(st.just(FUZZ_USER), ids)
wrong_types = envelope(st.one_of(st.just(FUZZ_USER), json_any, st.text(max_size=8)),
                       st.one_of(ids, st.integers(), json_any))
protobuf_garbage = st.tuples(ids, st.binary(max_size=200)).map(
    lambda t: {"reqIdentifier": t[0], "sendID": FUZZ_USER, "msgIncr": "g", "data": list(t[1])})

frames = st.one_of(
    wellformed_ids.map(lambda e: ("plain", json.dumps(e).encode())),
    wrong_types.map(lambda e: ("plain", json.dumps(e).encode())),
    protobuf_garbage.map(lambda e: ("plain", json.dumps(e).encode())),
    st.binary(max_size=120).map(lambda b: ("plain", b)),
    st.text(max_size=60).map(lambda t: ("plain", t)),
    st.fixed_dictionaries({"type": st.one_of(st.sampled_from(["ping", "pong", "Ping", ""]), json_any)},
                          optional={"body": json_any}).map(lambda d: ("plain", json.dumps(d))),
    wellformed_ids.map(lambda e: ("gzip", compress(json.dumps(e).encode()))),
    st.binary(max_size=80).map(lambda b: ("gzip", b)),                       # not gzip at all
    wellformed_ids.map(lambda e: ("gzip", compress(json.dumps(e).encode())[:-4])),  # truncated gzip
    st.integers(51201, 56000).map(lambda n: ("plain", b"[" + b"1," * (n // 2) + b"1]")),  # oversize
    st.tuples(st.text(max_size=30), st.sampled_from(["5", "1", "x", ""])).map(
        lambda t: ("handshake", t)),                                          # wrong tokens
)


class Thrower:
    """Keeps one plain and one gzip connection, reopening whichever the gateway closed."""

    def __init__(self, ws_url: str, tokens: dict[int, str], stack: contextlib.ExitStack) -> None:
        self.ws_url, self.tokens, self.stack = ws_url, tokens, stack
        self.conns: dict[str, ClientConnection] = {}
        self.outcomes: dict[str, int] = {}

    def conn(self, mode: str) -> ClientConnection:
        ws = self.conns.get(mode)
        if ws is None or ws.protocol.close_rcvd is not None or ws.protocol.state.name != "OPEN":
            platform = 5 if mode == "plain" else 1  # one connection per platform: no kicks between them
            extra = {"compression": "gzip"} if mode == "gzip" else {}
            ws = self.stack.enter_context(connect(
                self.ws_url + ws_query(FUZZ_USER, self.tokens[platform], platform, **extra),
                compression=None, max_size=None, open_timeout=RECV_S, close_timeout=1))
            self.conns[mode] = ws
        return ws

    def note(self, what: str) -> None:
        self.outcomes[what] = self.outcomes.get(what, 0) + 1

    def throw(self, mode: str, payload: Any) -> None:
        if mode == "handshake":
            self.handshake(*payload)
            return
        ws = self.conn(mode)
        try:
            ws.send(payload)
            ws.send(PROBE)
            while True:
                frame = ws.recv(timeout=RECV_S)
                if isinstance(frame, str):
                    if "probe" in frame:
                        self.note("alive")
                        return
                    continue
                raw = frame
                if mode == "gzip":
                    raw = gzip.decompress(frame)
                decode_response(raw)  # every binary frame from the gateway is a decodable Resp
        except ConnectionClosed:
            rcvd = ws.protocol.close_rcvd
            assert rcvd is not None, "gateway dropped the connection without a close frame"
            assert rcvd.code in ALLOWED_CLOSE, (rcvd.code, rcvd.reason, payload[:200])
            assert rcvd.reason, rcvd
            self.note(f"close {rcvd.code}")

    def handshake(self, token: str, platform: str) -> None:
        try:
            ws = self.stack.enter_context(connect(self.ws_url + ws_query(FUZZ_USER, token, platform),
                                                  compression=None, open_timeout=RECV_S))
        except InvalidStatus as exc:
            assert exc.response.status_code == 200
            body = json.loads(exc.response.body)
            assert body["errCode"] in (1501, 1502, 1503, 1505, 1506, 1507, 1602), body
            self.note("refused")
            return
        ws.close()
        raise AssertionError(f"handshake with token {token!r} platform {platform!r} was accepted")



async def _well_behaved(ws_url: str, api_url: str) -> None:
    alice = await RawClient.connect(ws_url, "alice", await user_token(api_url, "alice"))
    bob = await RawClient.connect(ws_url, "bob", await user_token(api_url, "bob"), gzip=True)
    try:
        assert (await alice.request(1003, text_msg("alice", "bob", "still here"))).err_code == 0
        [msg] = await bob.next_push()
        assert msg.content == b"still here"
        resp = await alice.request(1004, invite_req("alice", "bob"))
        room = signal_resp(resp).invite.roomID
        [ring] = await bob.next_push()
        assert ring.contentType == 1601
        assert (await bob.request(1004, action_req("accept", room))).err_code == 0
        assert (await alice.next_call_notice())[0] == "accept"
        assert (await alice.request(1004, action_req("hungUp", room))).err_code == 0
        assert (await bob.next_call_notice())[0] == "hungUp"
    finally:
        await alice.close()
        await bob.close()


def test_malformed_frames_never_hurt_the_gateway() -> None:
    from tests.conftest import BASE

    # malformed input, not floods: the thrower's round trips may outrun the frame rate limit
    with ThreadedGateway(dataclasses.replace(BASE, max_frames_per_s=None)) as gw, \
            contextlib.ExitStack() as stack:
        bystander_token = asyncio.run(user_token(gw.api_url, "bystander"))
        bystander = stack.enter_context(connect(gw.ws_url + ws_query("bystander", bystander_token),
                                                compression=None))
        tokens = {p: asyncio.run(user_token(gw.api_url, FUZZ_USER, p)) for p in (1, 5)}
        thrower = Thrower(gw.ws_url, tokens, stack)

        @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
                  suppress_health_check=list(HealthCheck))
        @given(batch=st.lists(frames, min_size=BATCH, max_size=BATCH))
        def throw(batch: list[tuple[str, Any]]) -> None:
            for frame in batch:
                thrower.throw(*frame)

        throw()
        # a connection that watched it all is still served
        bystander.send(PROBE)
        assert "probe" in bystander.recv(timeout=RECV_S)
        outcomes = thrower.outcomes
        assert sum(outcomes.values()) >= EXAMPLES * BATCH
        assert outcomes.get("alive", 0) > 100 and outcomes.get("close 1002", 0) > 100
        assert outcomes.get("close 1009", 0) > 10 and outcomes.get("refused", 0) > 10
        assert gw.gateway.core.stats["bad_frames"] >= outcomes.get("close 1002", 0)
        asyncio.run(_well_behaved(gw.ws_url, gw.api_url))
