"""Complete call flows over real sockets (docs/backends/kkim.md#call-signaling)."""

from __future__ import annotations

import json

import pytest

from callprobe.backends.kkim.protocol import payloads
from callprobe.backends.kkim.protocol._pb.openim import rtc_pb2, sdkws_pb2
from callprobe.backends.kkim.protocol.call_notice import (
    DIALECT_BARE_INVITE,
    DIALECT_SIGNAL_REQ,
    decode_1601,
)
from callprobe.backends.kkim.protocol.conversation import single_chat_id
from tests.backends.kkim.server.conftest import ClientFactory
from tests.backends.kkim.server.rawclient import (
    RawClient,
    action_req,
    invite_req,
    signal_resp,
    user_token,
)
from tests.conftest import GatewayFactory

CONV = single_chat_id("alice", "bob")


async def place_call(alice: RawClient, bob: RawClient, *devices: RawClient) -> str:
    """alice invites bob; every bob device rings; returns the server roomID."""
    resp = await alice.request(1004, invite_req("alice", "bob", room="client-temp-room"))
    assert resp.err_code == 0, resp
    room = signal_resp(resp).invite.roomID
    assert room and room != "client-temp-room"
    for device in (bob, *devices):
        [msg] = await device.next_push()
        assert (msg.contentType, msg.msgFrom, msg.sessionType) == (1601, 200, 1)
        assert (msg.sendID, msg.recvID) == ("alice", "bob")
        pushed = rtc_pb2.SignalInviteReq()
        pushed.ParseFromString(msg.content)
        assert pushed.invitation.roomID == room and pushed.invitation.inviterUserID == "alice"
        assert list(pushed.invitation.inviteeUserIDList) == ["bob"]
    [echo] = await alice.next_push()  # sender sync
    assert echo.contentType == 1601 and echo.sendID == "alice"
    return room


async def history(client: RawClient) -> list[sdkws_pb2.MsgData]:
    req = sdkws_pb2.PullMessageBySeqsReq(userID=client.user_id)
    req.seqRanges.add(conversationID=CONV, begin=1, end=1000, num=1000)
    pulled = payloads.parse(sdkws_pb2.PullMessageBySeqsResp, (await client.request(1002, req)).data)
    return list(pulled.msgs[CONV].Msgs) if CONV in pulled.msgs else []


def actions(records: list[sdkws_pb2.MsgData]) -> list[tuple[str, str, str]]:
    out = []
    for msg in records:
        notice = decode_1601(msg.content)
        assert notice is not None
        out.append((notice.action, notice.dialect, msg.sendID))
    return out


async def test_answered_call_then_hangup(make_client: ClientFactory) -> None:
    alice = await make_client("alice")
    bob = await make_client("bob")
    room = await place_call(alice, bob)
    resp = await bob.request(1004, action_req("accept", room, "bob"))
    assert resp.err_code == 0 and signal_resp(resp).accept.roomID == room
    kind, notice = await alice.next_call_notice()
    assert kind == "accept" and notice.msg_incr == "" and notice.err_code == 0
    assert signal_resp(notice).accept.roomID == room
    assert (await alice.request(1004, action_req("hungUp", room, "alice"))).err_code == 0
    kind, _ = await bob.next_call_notice()
    assert kind == "hungUp"
    records = await history(bob)
    assert actions(records) == [("invite", DIALECT_BARE_INVITE, "alice"), ("accept", DIALECT_SIGNAL_REQ, "bob"),
                                ("hungUp", DIALECT_SIGNAL_REQ, "alice")]
    assert all(m.contentType == 1601 and m.msgFrom == 200 for m in records)
    # the call is gone: a second hangup names an unknown room
    resp = await alice.request(1004, action_req("hungUp", room))
    assert resp.err_code == 1801 and resp.err_msg == "call not found" and resp.data is None


async def test_rejected_call(make_client: ClientFactory) -> None:
    alice = await make_client("alice")
    bob = await make_client("bob")
    room = await place_call(alice, bob)
    assert (await bob.request(1004, action_req("reject", room, "bob"))).err_code == 0
    kind, _ = await alice.next_call_notice()
    assert kind == "reject"
    assert [a for a, _, _ in actions(await history(alice))] == ["invite", "reject"]
    assert (await bob.request(1004, action_req("accept", room))).err_code == 1801


async def test_cancelled_call(make_client: ClientFactory) -> None:
    alice = await make_client("alice")
    bob = await make_client("bob")
    room = await place_call(alice, bob)
    assert (await alice.request(1004, action_req("cancel", room, "alice"))).err_code == 0
    kind, notice = await bob.next_call_notice()
    assert kind == "cancel" and notice.operation_id.startswith("op-alice")
    assert [a for a, _, _ in actions(await history(bob))] == ["invite", "cancel"]


@pytest.mark.parametrize("who", ["caller", "callee"])
async def test_hangup_by_either_side(make_client: ClientFactory, who: str) -> None:
    alice = await make_client("alice")
    bob = await make_client("bob")
    room = await place_call(alice, bob)
    await bob.request(1004, action_req("accept", room))
    await alice.next_call_notice()
    hanger, other = (alice, bob) if who == "caller" else (bob, alice)
    assert (await hanger.request(1004, action_req("hungUp", room))).err_code == 0
    kind, _ = await other.next_call_notice()
    assert kind == "hungUp"
    assert [r for r in await hanger.quiet() if r.req_identifier == 1004] == []


async def test_busy_callee_is_1802_with_busy_list(make_client: ClientFactory) -> None:
    alice = await make_client("alice")
    bob = await make_client("bob")
    carol = await make_client("carol")
    room = await place_call(alice, bob)
    resp = await carol.request(1004, invite_req("carol", "bob"))
    assert resp.err_code == 1802 and resp.err_msg == "user is already in a call"
    assert list(signal_resp(resp).invite.busyLineUserIDList) == ["bob"]
    # after the call ends bob is free again
    await alice.request(1004, action_req("cancel", room))
    resp = await carol.request(1004, invite_req("carol", "bob"))
    assert resp.err_code == 0


async def test_unanswered_call_times_out(make_gateway: GatewayFactory, make_client: ClientFactory) -> None:
    gw = await make_gateway(invite_timeout_override_s=0.3)
    alice = await make_client("alice", gw=gw)
    bob = await make_client("bob", gw=gw)
    room = await place_call(alice, bob)
    kind, to_bob = await bob.next_call_notice()
    assert kind == "cancel" and to_bob.operation_id == "call-timeout"
    kind, to_alice = await alice.next_call_notice()
    assert kind == "reject" and to_alice.operation_id == "call-timeout"
    records = await history(alice)
    assert [a for a, _, _ in actions(records)] == ["invite", "cancel", "reject"]
    assert [json.loads(m.ex)["reason"] for m in records[1:]] == ["timeout", "timeout"]
    assert (await alice.request(1004, action_req("cancel", room))).err_code == 1801
    # state is cleared: the next call rings
    assert (await alice.request(1004, invite_req("alice", "bob"))).err_code == 0


async def test_invite_timeout_from_the_invitation(make_gateway: GatewayFactory, make_client: ClientFactory) -> None:
    gw = await make_gateway()
    alice = await make_client("alice", gw=gw)
    bob = await make_client("bob", gw=gw)
    resp = await alice.request(1004, invite_req("alice", "bob", timeout=1))
    room = signal_resp(resp).invite.roomID
    kind, _ = await alice.next_call_notice(timeout=3)
    assert kind == "reject"
    assert gw.core.store.calls()[-1].room_id == room and gw.core.store.calls()[-1].end_reason == "timeout"
    assert bob is not None


async def test_every_device_of_the_callee_rings_and_the_others_are_cancelled_on_accept(
        make_client: ClientFactory) -> None:
    alice = await make_client("alice")
    bob_web = await make_client("bob", 5)
    bob_phone = await make_client("bob", 1)
    room = await place_call(alice, bob_web, bob_phone)
    assert (await bob_phone.request(1004, action_req("accept", room))).err_code == 0
    kind, notice = await bob_web.next_call_notice()
    assert kind == "cancel" and notice.operation_id == "answered-elsewhere"
    kind, _ = await alice.next_call_notice()
    assert kind == "accept"
    assert [r for r in await bob_phone.quiet() if r.req_identifier == 1004] == []


async def test_reject_on_one_device_cancels_the_others(make_client: ClientFactory) -> None:
    alice = await make_client("alice")
    bob_web = await make_client("bob", 5)
    bob_phone = await make_client("bob", 2)
    room = await place_call(alice, bob_web, bob_phone)
    await bob_web.request(1004, action_req("reject", room))
    kind, _ = await bob_phone.next_call_notice()
    assert kind == "cancel"
    kind, _ = await alice.next_call_notice()
    assert kind == "reject"


async def test_invite_errors(gateway, make_client: ClientFactory) -> None:  # type: ignore[no-untyped-def]
    alice = await make_client("alice")
    assert (await alice.request(1004, invite_req("alice", "ghost"))).err_code == 1003
    assert (await alice.request(1004, invite_req("alice"))).err_code == 1003
    assert (await alice.request(1004, invite_req("alice", "alice"))).err_code == 1004
    await user_token(gateway.api_url, "bob")
    assert (await alice.request(1004, invite_req("mallory", "bob"))).err_code == 1002
    assert (await alice.request(1004, rtc_pb2.SignalReq())).err_code == 500
    assert (await alice.request(1004, action_req("accept", ""))).err_code == 1801
    assert (await alice.request(1004, action_req("accept", "no-such-room"))).err_code == 1801


async def test_action_not_allowed_in_the_state_is_1801(make_client: ClientFactory) -> None:
    alice = await make_client("alice")
    bob = await make_client("bob")
    carol = await make_client("carol")
    room = await place_call(alice, bob)
    assert (await alice.request(1004, action_req("accept", room))).err_code == 1801
    assert (await carol.request(1004, action_req("accept", room))).err_code == 1801
    assert (await bob.request(1004, action_req("cancel", room))).err_code == 1801


async def test_offline_callee_finds_the_invite_in_history(gateway, make_client: ClientFactory) -> None:  # type: ignore[no-untyped-def]
    alice = await make_client("alice")
    await user_token(gateway.api_url, "bob")
    resp = await alice.request(1004, invite_req("alice", "bob"))
    room = signal_resp(resp).invite.roomID
    bob = await make_client("bob")
    [record] = await history(bob)
    notice = decode_1601(record.content)
    assert notice is not None and notice.room_id == room and notice.dialect == DIALECT_BARE_INVITE
