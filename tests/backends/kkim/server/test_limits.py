"""What one frame, one request or one connection may cost the gateway.

Decompression bombs are closed 1009 after a bounded amount of inflating;
history pulls are bounded in ranges, messages per range and reply bytes, as
upstream answers (truncated ranges say ``isEnd`` false); a request naming too
many items, or a connection sending too fast, is closed 1008 with a reason;
past ``max_connections`` a handshake gets 1601. Counters and sizes are
asserted, never durations.
"""

from __future__ import annotations

import asyncio
import functools
import gzip
import logging
import tracemalloc

import pytest

from callprobe.backends.kkim.protocol import payloads
from callprobe.backends.kkim.protocol._pb.openim import msg_pb2, sdkws_pb2
from callprobe.backends.kkim.protocol.conversation import single_chat_id
from callprobe.backends.kkim.server import EmbeddedGateway
from tests.backends.kkim.server.conftest import ClientFactory
from tests.backends.kkim.server.rawclient import (
    RawClient,
    refused,
    text_msg,
    until,
    user_token,
    ws_query,
)
from tests.conftest import GatewayFactory

CONV = single_chat_id("alice", "bob")
LIMIT = 51200


@functools.cache
def bombs() -> dict[str, bytes]:
    """Frames under the wire limit that inflate to tens of megabytes."""
    array = b'{"reqIdentifier":1001,"sendID":"%s","data":[' + b"0," * 20_000_000 + b"0]}"
    return {"zeros": gzip.compress(b"\0" * 50_000_000, mtime=0),
            **{f"array-{uid}": gzip.compress(array.replace(b"%s", uid.encode()), mtime=0)
               for uid in ("b1", "b2", "b3")}}


async def test_gzip_bombs_are_closed_1009_while_others_are_served(make_client: ClientFactory, gateway: EmbeddedGateway,
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    frames = bombs()
    assert all(len(frame) < LIMIT for frame in frames.values())
    bombers = {uid: await make_client(uid, gzip=True) for uid in ("b1", "b2", "b3", "b4")}
    carol = await make_client("carol")
    tracemalloc.start()
    try:
        with caplog.at_level(logging.WARNING, logger="callprobe.server.kkim"):
            for uid in ("b1", "b2", "b3"):  # three connections at once: a number-array bomb each
                await bombers[uid].send_raw(frames[f"array-{uid}"])
            await bombers["b4"].send_raw(frames["zeros"])
            # meanwhile another client's request is answered
            assert (await carol.request(1001, sdkws_pb2.GetMaxSeqReq(userID="carol"))).err_code == 0
            closes = [await client.wait_closed() for client in bombers.values()]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    for closed in closes:
        assert closed.code == 1009 and closed.reason == f"gzip frame inflates past the {LIMIT}-byte limit"
    assert peak < 8_000_000  # each bomb inflates to 40-50 MB; no frame costs more than the limit
    assert gateway.core.stats["bad_frames"] == 4
    assert len([r for r in caplog.records if "bad input" in r.getMessage()]) == 4  # one line per bomb


# ------------------------------------------------------------------ history


async def _send(alice: RawClient, n: int, size: int = 0) -> None:
    for i in range(n):
        text = f"m{i}".ljust(size, ".") if size else f"m{i}"
        assert (await alice.request(1003, text_msg("alice", "bob", text))).err_code == 0


async def _pull(client: RawClient, *ranges: tuple[str, int, int, int],
                order: int = sdkws_pb2.PullOrderAsc) -> tuple[sdkws_pb2.PullMessageBySeqsResp, int]:
    req = sdkws_pb2.PullMessageBySeqsReq(userID=client.user_id, order=order)
    for conv, begin, end, num in ranges:
        req.seqRanges.add(conversationID=conv, begin=begin, end=end, num=num)
    resp = await client.request(1002, req)
    assert resp.err_code == 0 and resp.data is not None
    return payloads.parse(sdkws_pb2.PullMessageBySeqsResp, resp.data), len(resp.data)


async def test_a_range_named_many_times_is_answered_once(make_client: ClientFactory) -> None:
    alice = await make_client("alice")
    await make_client("bob")
    await _send(alice, 20, size=2000)
    once, once_bytes = await _pull(alice, (CONV, 1, 20, 20))
    many, many_bytes = await _pull(alice, *[(CONV, 1, 20, 20)] * 16)
    assert [m.seq for m in many.msgs[CONV].Msgs] == list(range(1, 21)) == [m.seq for m in once.msgs[CONV].Msgs]
    assert many_bytes == once_bytes  # was 16 times the messages


async def test_more_ranges_than_allowed_close_1008(make_client: ClientFactory) -> None:
    alice = await make_client("alice")
    await make_client("bob")
    await _send(alice, 1)
    req = sdkws_pb2.PullMessageBySeqsReq(userID="alice")
    for _ in range(101):
        req.seqRanges.add(conversationID=CONV, begin=1, end=1, num=1)
    _, frame = alice.envelope(1002, req)
    await alice.send_raw(frame)
    closed = await alice.wait_closed()
    assert closed.code == 1008 and closed.reason == "seqRanges: 101 in one request, over the limit of 100"


async def test_a_range_is_cut_to_the_per_range_limit_and_says_so(make_gateway: GatewayFactory,
                                                                 make_client: ClientFactory) -> None:
    gw = await make_gateway(max_pull_per_range=10)
    alice = await make_client("alice", gw=gw)
    await make_client("bob", gw=gw)
    await _send(alice, 30)
    cut, _ = await _pull(alice, (CONV, 1, 30, 30))
    assert [m.seq for m in cut.msgs[CONV].Msgs] == list(range(21, 31))  # the last ones, as upstream's num
    assert not cut.msgs[CONV].isEnd  # the rest is there to pull
    own_num, _ = await _pull(alice, (CONV, 1, 30, 5))
    assert [m.seq for m in own_num.msgs[CONV].Msgs] == list(range(26, 31)) and own_num.msgs[CONV].isEnd
    rest, _ = await _pull(alice, (CONV, 1, 20, 30))
    assert [m.seq for m in rest.msgs[CONV].Msgs] == list(range(11, 21)) and not rest.msgs[CONV].isEnd


async def test_a_reply_stops_at_the_byte_cap_and_says_so(make_gateway: GatewayFactory,
                                                        make_client: ClientFactory) -> None:
    gw = await make_gateway(max_reply_bytes=10_000)
    alice = await make_client("alice", gw=gw)
    await make_client("bob", gw=gw)
    await make_client("carol", gw=gw)
    await _send(alice, 20, size=2000)
    assert (await alice.request(1003, text_msg("alice", "carol", "x"))).err_code == 0
    other = single_chat_id("alice", "carol")
    pulled, size = await _pull(alice, (CONV, 1, 20, 20), (other, 1, 1, 1))
    got = [m.seq for m in pulled.msgs[CONV].Msgs]
    assert got == list(range(1, len(got) + 1)) and 1 <= len(got) < 20
    assert size <= 10_000 and not pulled.msgs[CONV].isEnd
    assert list(pulled.msgs[other].Msgs) == [] and not pulled.msgs[other].isEnd  # no room left: said so
    # 1005 and 1007 keep to the same cap
    ask = msg_pb2.GetSeqMessageReq(userID="alice")
    ask.conversations.add(conversationID=CONV, seqs=list(range(1, 21)))
    resp = await alice.request(1005, ask)
    assert resp.data is not None and len(resp.data) <= 10_000
    assert not payloads.parse(msg_pb2.GetSeqMessageResp, resp.data).msgs[CONV].isEnd


async def test_1005_seqs_per_conversation_are_bounded(make_gateway: GatewayFactory,
                                                      make_client: ClientFactory) -> None:
    gw = await make_gateway(max_pull_per_range=5)
    alice = await make_client("alice", gw=gw)
    await make_client("bob", gw=gw)
    await _send(alice, 12)
    ask = msg_pb2.GetSeqMessageReq(userID="alice")
    ask.conversations.add(conversationID=CONV, seqs=list(range(1, 13)))
    got = payloads.parse(msg_pb2.GetSeqMessageResp, (await alice.request(1005, ask)).data).msgs[CONV]
    assert [m.seq for m in got.Msgs] == [1, 2, 3, 4, 5] and not got.isEnd


@pytest.mark.parametrize("ident, payload, words", [
    (1005, msg_pb2.GetSeqMessageReq(userID="alice", conversations=[
        msg_pb2.ConversationSeqs(conversationID=CONV, seqs=[1])] * 101), "conversations: 101"),
    (1006, msg_pb2.GetConversationsHasReadAndMaxSeqReq(userID="alice", conversationIDs=[CONV] * 101),
     "conversationIDs: 101"),
    (1007, msg_pb2.GetLastMessageReq(userID="alice", conversationIDs=[CONV] * 101), "conversationIDs: 101"),
    (2005, sdkws_pb2.SubUserOnlineStatus(subscribeUserID=[f"u{i}" for i in range(101)]),
     "subscribeUserID and unsubscribeUserID: 101"),
])
async def test_other_requests_naming_too_many_items_close_1008(make_client: ClientFactory, ident: int,
                                                               payload: object, words: str) -> None:
    alice = await make_client("alice")
    _, frame = alice.envelope(ident, payload)  # type: ignore[arg-type]
    await alice.send_raw(frame)
    closed = await alice.wait_closed()
    assert closed.code == 1008 and closed.reason.startswith(words)


async def test_one_connection_watches_a_bounded_number_of_users(make_gateway: GatewayFactory,
                                                                make_client: ClientFactory) -> None:
    gw = await make_gateway(max_subscriptions=150)
    alice = await make_client("alice", gw=gw)
    for start in (0, 100):
        req = sdkws_pb2.SubUserOnlineStatus(subscribeUserID=[f"u{i}" for i in range(start, start + 100)])
        _, frame = alice.envelope(2005, req)
        await alice.send_raw(frame)
    closed = await alice.wait_closed()
    assert closed.code == 1008 and "users watched by one connection (2005): 200" in closed.reason
    assert await until(lambda: gw.core.hub.subscribers("u0") == [])  # and they are forgotten


# ------------------------------------------------------------- connections


async def test_past_max_connections_a_handshake_gets_1601(make_gateway: GatewayFactory) -> None:
    gw = await make_gateway(max_connections=2)
    tokens = {uid: await user_token(gw.api_url, uid) for uid in ("a1", "a2", "a3")}
    first = await RawClient.connect(gw.ws_url, "a1", tokens["a1"])
    second = await RawClient.connect(gw.ws_url, "a2", tokens["a2"])
    try:
        status, body = await refused(gw.ws_url, ws_query("a3", tokens["a3"]))
        assert status == 200 and body["errCode"] == 1601 and body["errMsg"] == "ConnOverMaxNumLimit"
        assert "max_connections" in body["errDlt"]
        await first.close()
        await asyncio.sleep(0.05)
        third = await RawClient.connect(gw.ws_url, "a3", tokens["a3"])  # a slot is free again
        await third.close()
    finally:
        await first.close()
        await second.close()


async def test_a_connection_over_its_frame_rate_is_closed_1008(make_gateway: GatewayFactory,
                                                               make_client: ClientFactory) -> None:
    gw = await make_gateway(max_frames_per_s=5, frame_burst=20)
    flooder = await make_client("flooder", gw=gw)
    calm = await make_client("calm", gw=gw)
    for _ in range(200):
        try:
            await flooder.send_raw('{"type":"ping"}')
        except Exception:
            break
    closed = await flooder.wait_closed()
    assert closed.code == 1008 and closed.reason == "rate limit: over 5 frames/s after a burst of 20"
    assert flooder.texts.qsize() <= 21  # pongs: the burst, plus what the rate refilled meanwhile
    assert "pong" in await calm.ping_text()  # everyone else is served
