"""Each fault injector's behaviour at the wire level, and their parsing."""

from __future__ import annotations

import asyncio
import json

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from callprobe.backends.kkim.protocol import payloads
from callprobe.backends.kkim.protocol._pb.openim import msg_pb2, rtc_pb2, sdkws_pb2
from callprobe.backends.kkim.protocol.call_notice import decode_1601
from callprobe.backends.kkim.protocol.conversation import single_chat_id
from callprobe.backends.kkim.protocol.rtc_signal import WebRtcSignal, encode_signal
from callprobe.backends.kkim.server import EmbeddedGateway, Faults, parse_fault
from callprobe.errors import ConfigError
from tests.backends.kkim.server.rawclient import (
    WAIT_S,
    RawClient,
    action_req,
    invite_req,
    signal_resp,
    text_msg,
    user_token,
    ws_query,
)
from tests.conftest import GatewayFactory

CONV = single_chat_id("alice", "bob")


async def faulty(make_gateway: GatewayFactory, *faults: str) -> EmbeddedGateway:
    return await make_gateway(faults=tuple(parse_fault(f) for f in faults))


class Pair:
    """alice and bob connected to one gateway; both closed by ``close()``."""

    def __init__(self, alice: RawClient, bob: RawClient) -> None:
        self.alice, self.bob = alice, bob

    async def close(self) -> None:
        await self.alice.close()
        await self.bob.close()


@pytest.fixture
async def pair_on():  # type: ignore[no-untyped-def]
    pairs: list[Pair] = []

    async def factory(gw: EmbeddedGateway) -> Pair:
        alice = await RawClient.connect(gw.ws_url, "alice", await user_token(gw.api_url, "alice"))
        bob = await RawClient.connect(gw.ws_url, "bob", await user_token(gw.api_url, "bob"))
        pairs.append(Pair(alice, bob))
        return pairs[-1]

    try:
        yield factory
    finally:
        for p in pairs:
            await p.close()


async def history(client: RawClient) -> list[sdkws_pb2.MsgData]:
    req = sdkws_pb2.PullMessageBySeqsReq(userID=client.user_id)
    req.seqRanges.add(conversationID=CONV, begin=1, end=100, num=100)
    pulled = payloads.parse(sdkws_pb2.PullMessageBySeqsResp, (await client.request(1002, req)).data)
    return list(pulled.msgs[CONV].Msgs) if CONV in pulled.msgs else []


def pushes(frames: list[object]) -> list[object]:
    return [f for f in frames if getattr(f, "req_identifier", None) == 2001]


# ----------------------------------------------------------------- parsing


def test_parse_fault_forms() -> None:
    assert parse_fault("kick-callee") == ("kick-callee", "")
    assert parse_fault(" Push-Delay = 250 ") == ("push-delay", "250")
    assert parse_fault("drop-custom=candidates") == ("drop-custom", "candidates")


@pytest.mark.parametrize("text, words", [
    ("explode", "unknown fault 'explode'"),
    ("push-delay", "needs a value"),
    ("push-delay=-1", "outside"),
    ("push-delay=1.5", "not a whole number"),
    ("drop-custom", "needs one of all|candidates"),
    ("stale-call-state=yes", "takes no value"),
])
def test_parse_fault_errors_name_the_problem(text: str, words: str) -> None:
    with pytest.raises(ConfigError, match=words):
        parse_fault(text)


def test_faults_from_pairs_and_active_list() -> None:
    faults = Faults.from_pairs([("push-delay", "20"), ("drop-custom", "all"), ("kick-callee", "")])
    assert faults.push_delay_ms == 20 and faults.drop_custom == "all" and faults.kick_callee
    assert faults.active() == ["drop-custom=all", "push-delay=20", "kick-callee"]
    assert Faults.from_pairs(()).active() == []
    with pytest.raises(ConfigError):
        Faults.from_pairs([("nope", "")])


# ------------------------------------------------------------------- calls


async def test_invite_not_pushed(make_gateway: GatewayFactory, pair_on) -> None:  # type: ignore[no-untyped-def]
    p = await pair_on(await faulty(make_gateway, "invite-not-pushed"))
    resp = await p.alice.request(1004, invite_req("alice", "bob"))
    assert resp.err_code == 0 and signal_resp(resp).invite.roomID
    [echo] = await p.alice.next_push()  # the inviter's own sync copy still goes out
    assert echo.contentType == 1601
    assert pushes(await p.bob.quiet()) == []
    assert [m.contentType for m in await history(p.bob)] == [1601]
    # an ordinary message to the same callee is pushed
    await p.alice.request(1003, text_msg("alice", "bob", "hi"))
    [msg] = await p.bob.next_push()
    assert msg.content == b"hi"


async def test_history_without_payload(make_gateway: GatewayFactory, pair_on) -> None:  # type: ignore[no-untyped-def]
    p = await pair_on(await faulty(make_gateway, "history-without-payload"))
    room = signal_resp(await p.alice.request(1004, invite_req("alice", "bob"))).invite.roomID
    [live] = await p.bob.next_push()
    assert live.content  # the live push is complete
    await p.bob.request(1004, action_req("accept", room))
    records = await history(p.bob)
    assert records[0].contentType == 1601 and records[0].content == b""
    assert records[1].content  # only the invite record loses its payload
    ask = msg_pb2.GetLastMessageReq(userID="bob", conversationIDs=[CONV])
    last = payloads.parse(msg_pb2.GetLastMessageResp, (await p.bob.request(1007, ask)).data)
    assert last.msgs[CONV].content  # the last message is the accept record, untouched


async def test_answer_not_relayed(make_gateway: GatewayFactory, pair_on) -> None:  # type: ignore[no-untyped-def]
    p = await pair_on(await faulty(make_gateway, "answer-not-relayed"))
    room = signal_resp(await p.alice.request(1004, invite_req("alice", "bob"))).invite.roomID
    await p.bob.next_push()
    await p.alice.next_push()
    assert (await p.bob.request(1004, action_req("accept", room))).err_code == 0
    assert [f for f in await p.alice.quiet() if f.req_identifier == 1004] == []
    assert [m.contentType for m in await history(p.alice)] == [1601]  # the invite only, no accept record
    # the call is nevertheless active on the gateway: a hangup is relayed
    await p.alice.request(1004, action_req("hungUp", room))
    assert (await p.bob.next_call_notice())[0] == "hungUp"


async def test_kick_callee(make_gateway: GatewayFactory, pair_on) -> None:  # type: ignore[no-untyped-def]
    gw = await faulty(make_gateway, "kick-callee")
    p = await pair_on(gw)
    await p.alice.request(1004, invite_req("alice", "bob"))
    [ring] = await p.bob.next_push()
    assert ring.contentType == 1601
    kick = await p.bob.next_unsolicited(2002)
    assert kick.data is None
    assert (await p.bob.wait_closed()).code == 1000
    again = await RawClient.connect(gw.ws_url, "bob", p.bob.token)  # the token stays valid
    try:
        assert json.loads(await again.ping_text())["type"] == "pong"
    finally:
        await again.close()
    assert not p.alice.closed.done()


async def test_stale_call_state(make_gateway: GatewayFactory, pair_on) -> None:  # type: ignore[no-untyped-def]
    p = await pair_on(await faulty(make_gateway, "stale-call-state"))
    room = signal_resp(await p.alice.request(1004, invite_req("alice", "bob"))).invite.roomID
    await p.bob.request(1004, action_req("accept", room))
    await p.alice.request(1004, action_req("hungUp", room))
    resp = await p.alice.request(1004, invite_req("alice", "bob"))
    assert resp.err_code == 1802 and list(signal_resp(resp).invite.busyLineUserIDList) == ["bob"]


async def test_stale_call_state_only_leaks_after_a_hangup(make_gateway: GatewayFactory, pair_on) -> None:  # type: ignore[no-untyped-def]
    p = await pair_on(await faulty(make_gateway, "stale-call-state"))
    room = signal_resp(await p.alice.request(1004, invite_req("alice", "bob"))).invite.roomID
    await p.bob.request(1004, action_req("reject", room))
    assert (await p.alice.request(1004, invite_req("alice", "bob"))).err_code == 0


async def test_room_id_mismatch(make_gateway: GatewayFactory, pair_on) -> None:  # type: ignore[no-untyped-def]
    p = await pair_on(await faulty(make_gateway, "room-id-mismatch"))
    room = signal_resp(await p.alice.request(1004, invite_req("alice", "bob"))).invite.roomID
    [ring] = await p.bob.next_push()
    notice = decode_1601(ring.content)
    assert notice is not None and notice.room_id and notice.room_id != room
    assert (await p.bob.request(1004, action_req("accept", notice.room_id))).err_code == 1801
    assert (await p.bob.request(1004, action_req("accept", room))).err_code == 0


# ------------------------------------------------------------------ pushes


async def test_drop_all_pushes(make_gateway: GatewayFactory, pair_on) -> None:  # type: ignore[no-untyped-def]
    p = await pair_on(await faulty(make_gateway, "drop-all-pushes"))
    assert (await p.alice.request(1003, text_msg("alice", "bob"))).err_code == 0
    room = signal_resp(await p.alice.request(1004, invite_req("alice", "bob"))).invite.roomID
    assert (await p.bob.request(1004, action_req("accept", room))).err_code == 0
    assert await p.alice.quiet() == [] and await p.bob.quiet() == []
    assert len(await history(p.bob)) == 3  # stored all the same: text, invite, accept


@pytest.mark.parametrize("mode, dropped", [("all", {"offer", "candidate"}), ("candidates", {"candidate"})])
async def test_drop_custom(make_gateway: GatewayFactory, pair_on, mode: str, dropped: set[str]) -> None:  # type: ignore[no-untyped-def]
    p = await pair_on(await faulty(make_gateway, f"drop-custom={mode}"))
    for kind in ("offer", "candidate"):
        content = encode_signal(WebRtcSignal(kind, "room-1", {"sdp": "v=0"} if kind == "offer" else {"candidate": "c"}))
        msg = text_msg("alice", "bob", "", content_type=110)
        msg.content = content
        assert (await p.alice.request(1003, msg)).err_code == 0
    await p.alice.request(1003, text_msg("alice", "bob", "plain text"))
    received = []
    for resp in pushes(await p.bob.quiet()):
        data = payloads.parse(sdkws_pb2.PushMessages, resp.data)  # type: ignore[attr-defined]
        received += [m for pulled in data.msgs.values() for m in pulled.Msgs]
    kinds = {json.loads(m.content)["signalType"] for m in received if m.contentType == 110}
    assert kinds == {"offer", "candidate"} - dropped
    assert any(m.content == b"plain text" for m in received)


async def test_push_delay(make_gateway: GatewayFactory, pair_on) -> None:  # type: ignore[no-untyped-def]
    p = await pair_on(await faulty(make_gateway, "push-delay=300"))
    loop = asyncio.get_running_loop()
    start = loop.time()
    assert (await p.alice.request(1003, text_msg("alice", "bob"))).err_code == 0
    replied = loop.time() - start
    await p.bob.next_push()
    pushed = loop.time() - start
    assert replied < pushed and pushed >= 0.3  # the reply is not held back; the push leaves 300 ms late


# --------------------------------------------------------------- handshake


async def test_handshake_crash(make_gateway: GatewayFactory) -> None:
    gw = await faulty(make_gateway, "handshake-crash")
    with pytest.raises(InvalidStatus) as info:
        await connect(gw.ws_url + "/?platformID=5&sdkType=js", compression=None)
    assert info.value.response.status_code == 500
    token = await user_token(gw.api_url, "alice")
    client = await RawClient.connect(gw.ws_url, "alice", token)  # a complete handshake still works
    await client.close()


async def test_accept_any_token(make_gateway: GatewayFactory) -> None:
    gw = await faulty(make_gateway, "accept-any-token")
    await user_token(gw.api_url, "bob")
    async with connect(gw.ws_url + ws_query("alice", None), compression=None) as ws:
        await ws.send('{"type":"ping"}')
        assert "pong" in await asyncio.wait_for(ws.recv(), WAIT_S)
    wrong = await RawClient.connect(gw.ws_url, "alice", "not-a-token")
    try:
        assert (await wrong.request(1003, text_msg("alice", "bob"))).err_code == 0
    finally:
        await wrong.close()


async def test_no_heartbeat_reply(make_gateway: GatewayFactory) -> None:
    gw = await faulty(make_gateway, "no-heartbeat-reply")
    client = await RawClient.connect(gw.ws_url, "alice", await user_token(gw.api_url, "alice"))
    try:
        await client.send_raw('{"type":"ping"}')
        await asyncio.sleep(0.3)
        assert client.texts.empty()
        assert (await client.request(1001, b"")).err_code == 0  # the connection itself is fine
    finally:
        await client.close()


# ------------------------------------------------------ what users may read and send


async def test_conversation_by_id_lets_a_user_of_another_pair_read_a_colliding_id(
        make_gateway: GatewayFactory, make_client) -> None:  # type: ignore[no-untyped-def]
    """(a, b_c) and (a_b, c) share si_a_b_c: one conversation, one seq, and c reads what a sent b_c."""
    gw = await faulty(make_gateway, "conversation-by-id")
    shared = single_chat_id("a", "b_c")
    a = await make_client("a", gw=gw)
    b_c = await make_client("b_c", gw=gw)
    c = await make_client("c", gw=gw)
    await user_token(gw.api_url, "a_b")
    assert (await a.request(1003, text_msg("a", "b_c", "a to b_c, private"))).err_code == 0
    [pushed] = await b_c.next_push()
    assert pushed.seq == 1
    assert pushes(await c.quiet()) == []  # pushes still go to the recipient only
    seqs = payloads.parse(sdkws_pb2.GetMaxSeqResp, (await c.request(1001, sdkws_pb2.GetMaxSeqReq(userID="c"))).data)
    assert dict(seqs.maxSeqs) == {shared: 1}  # c never wrote in it, and the server lists it as c's
    pull = sdkws_pb2.PullMessageBySeqsReq(userID="c")
    pull.seqRanges.add(conversationID=shared, begin=1, end=10, num=10)
    got = payloads.parse(sdkws_pb2.PullMessageBySeqsResp, (await c.request(1002, pull)).data)
    assert [m.content for m in got.msgs[shared].Msgs] == [b"a to b_c, private"]
    # the other pair writes in the same conversation: its seq follows a's
    assert (await c.request(1003, text_msg("c", "a_b", "c to a_b"))).err_code == 0
    assert [m.seq for m in await c.next_push()] == [2]


async def test_relay_forged_notices_pushes_an_invitation_in_anothers_name(
        make_gateway: GatewayFactory, make_client) -> None:  # type: ignore[no-untyped-def]
    gw = await faulty(make_gateway, "relay-forged-notices")
    await make_client("alice", gw=gw)
    mallory = await make_client("mallory", gw=gw)
    bob = await make_client("bob", gw=gw)
    inv = rtc_pb2.InvitationInfo(inviterUserID="alice", inviteeUserIDList=["bob"], roomID="forged-1",
                                 mediaType="video", timeout=30, sessionType=1)
    forged = text_msg("mallory", "bob", content_type=1601)
    forged.content = rtc_pb2.SignalInviteReq(invitation=inv, userID="alice").SerializeToString()
    forged.msgFrom = 200
    assert (await mallory.request(1003, forged)).err_code == 0
    [ring] = await bob.next_push()
    notice = decode_1601(ring.content)
    assert (ring.contentType, ring.msgFrom, ring.sendID) == (1601, 200, "mallory")
    assert notice is not None and notice.inviter == "alice" and notice.room_id == "forged-1"
    # any system message goes through too
    system = text_msg("mallory", "bob", "from the system")
    system.msgFrom = 200
    assert (await mallory.request(1003, system)).err_code == 0
