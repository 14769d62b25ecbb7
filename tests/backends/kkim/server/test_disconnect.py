"""A party's last connection closing ends its calls (signaling.py, "user left").

Over real sockets: whoever is still connected is told as if the party that
left had cancelled, rejected or hung up, the record says why, and nobody is
left busy. A connection replaced by a new login of the same user, or another
device still online, keeps the call going.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from callprobe.backends.kkim.protocol._pb.openim import push_pb2
from callprobe.backends.kkim.protocol.call_notice import DIALECT_SIGNAL_REQ, decode_1601
from callprobe.backends.kkim.server.store import Store
from tests.backends.kkim.server.conftest import ClientFactory
from tests.backends.kkim.server.rawclient import (
    RawClient,
    action_req,
    invite_req,
    signal_resp,
    user_token,
)
from tests.backends.kkim.server.test_calls import history, place_call
from tests.backends.kkim.server.test_faults import faulty
from tests.conftest import GatewayFactory


async def crash(client: RawClient) -> None:
    """Drop the TCP connection without a close frame, as a crashed app does."""
    client.ws.transport.abort()
    await client.wait_closed()


async def last_record(client: RawClient) -> tuple[str, str, str, dict[str, str]]:
    """(action, dialect, sendID, ex) of the newest record in the alice-bob chat."""
    record = (await history(client))[-1]
    notice = decode_1601(record.content)
    assert notice is not None
    return notice.action, notice.dialect, record.sendID, json.loads(record.ex)


async def test_caller_leaving_a_ringing_call_cancels_it(make_client: ClientFactory, gateway) -> None:  # type: ignore[no-untyped-def]
    alice = await make_client("alice")
    bob = await make_client("bob")
    room = await place_call(alice, bob)
    await crash(alice)
    kind, notice = await bob.next_call_notice()
    assert kind == "cancel" and notice.operation_id == "peer-disconnected" and notice.msg_incr == ""
    assert await last_record(bob) == ("cancel", DIALECT_SIGNAL_REQ, "alice", {"reason": "disconnected"})
    assert (await bob.request(1004, action_req("accept", room))).err_code == 1801
    assert gateway.core.store.calls()[-1].end_reason == "disconnect"


async def test_only_callee_leaving_a_ringing_call_is_a_reject(make_client: ClientFactory) -> None:
    alice = await make_client("alice")
    bob = await make_client("bob")
    room = await place_call(alice, bob)
    await bob.close()
    kind, notice = await alice.next_call_notice()
    assert kind == "reject" and notice.operation_id == "peer-disconnected"
    assert await last_record(alice) == ("reject", DIALECT_SIGNAL_REQ, "bob", {"reason": "disconnected"})
    assert (await alice.request(1004, action_req("cancel", room))).err_code == 1801


async def test_callee_leaving_an_answered_call_hangs_it_up(make_client: ClientFactory) -> None:
    alice = await make_client("alice")
    bob = await make_client("bob")
    room = await place_call(alice, bob)
    assert (await bob.request(1004, action_req("accept", room))).err_code == 0
    assert (await alice.next_call_notice())[0] == "accept"
    await crash(bob)
    kind, notice = await alice.next_call_notice()
    assert kind == "hungUp" and notice.operation_id == "peer-disconnected"
    assert await last_record(alice) == ("hungUp", DIALECT_SIGNAL_REQ, "bob", {"reason": "disconnected"})
    assert (await alice.request(1004, action_req("hungUp", room))).err_code == 1801


async def test_caller_leaving_an_answered_call_hangs_it_up(make_client: ClientFactory) -> None:
    alice = await make_client("alice")
    bob = await make_client("bob")
    room = await place_call(alice, bob)
    await bob.request(1004, action_req("accept", room))
    await alice.next_call_notice()
    await alice.close()
    kind, _ = await bob.next_call_notice()
    assert kind == "hungUp"


async def test_both_leave_and_come_back_and_the_next_invite_rings(make_client: ClientFactory) -> None:
    alice = await make_client("alice")
    bob = await make_client("bob")
    await place_call(alice, bob)
    await alice.close()
    await bob.close()
    alice = await make_client("alice")
    bob = await make_client("bob")
    resp = await alice.request(1004, invite_req("alice", "bob"))
    assert resp.err_code == 0, resp
    assert list(signal_resp(resp).invite.busyLineUserIDList) == []
    [ring] = await bob.next_push()
    assert ring.contentType == 1601


async def test_logout_request_ends_the_call(make_client: ClientFactory) -> None:
    alice = await make_client("alice")
    bob = await make_client("bob")
    await place_call(alice, bob)
    assert (await bob.request(2003, push_pb2.DelUserPushTokenReq(userID="bob"))).err_code == 0
    await bob.wait_closed()
    assert (await alice.next_call_notice())[0] == "reject"


async def test_read_deadline_ends_the_call_of_a_silent_client(make_gateway: GatewayFactory,
                                                              make_client: ClientFactory) -> None:
    gw = await make_gateway(read_deadline_s=0.5)
    alice = await make_client("alice", gw=gw)
    bob = await make_client("bob", gw=gw)
    await place_call(alice, bob)

    async def keep_alive() -> None:
        while True:
            await alice.ping_text()
            await asyncio.sleep(0.1)

    beating = asyncio.create_task(keep_alive())
    try:
        await bob.wait_closed()               # bob sends nothing: his read deadline closes him
        kind, _ = await alice.next_call_notice()
    finally:
        beating.cancel()
    assert kind == "reject" and not alice.closed.done()


async def test_a_new_login_on_the_same_platform_keeps_the_call(gateway, make_client: ClientFactory) -> None:  # type: ignore[no-untyped-def]
    alice = await make_client("alice")
    bob = await make_client("bob")
    room = await place_call(alice, bob)
    again = await make_client("bob")          # replaces the first (kick 2002)
    await bob.next_unsolicited(2002)
    await bob.wait_closed()
    assert [r for r in await alice.quiet() if r.req_identifier == 1004] == []
    assert (await again.request(1004, action_req("accept", room))).err_code == 0
    assert (await alice.next_call_notice())[0] == "accept"


async def test_another_device_still_online_keeps_the_call(make_client: ClientFactory) -> None:
    alice = await make_client("alice")
    bob_web = await make_client("bob", 5)
    bob_phone = await make_client("bob", 1)
    room = await place_call(alice, bob_web, bob_phone)
    await crash(bob_web)
    assert [r for r in await alice.quiet() if r.req_identifier == 1004] == []
    assert (await bob_phone.request(1004, action_req("accept", room))).err_code == 0
    await bob_phone.close()                   # now the last one: the answered call ends
    assert [(await alice.next_call_notice())[0] for _ in range(2)] == ["accept", "hungUp"]


async def test_stale_call_state_fault_also_keeps_state_after_a_disconnect(
        make_gateway: GatewayFactory, make_client: ClientFactory) -> None:
    gw = await faulty(make_gateway, "stale-call-state")
    alice = await make_client("alice", gw=gw)
    bob = await make_client("bob", gw=gw)
    room = signal_resp(await alice.request(1004, invite_req("alice", "bob"))).invite.roomID
    await bob.request(1004, action_req("accept", room))
    await bob.close()
    assert "hungUp" in [(await alice.next_call_notice())[0] for _ in range(2)]  # the fault leaks state only
    await make_client("bob", gw=gw)
    resp = await alice.request(1004, invite_req("alice", "bob"))
    assert resp.err_code == 1802 and list(signal_resp(resp).invite.busyLineUserIDList) == ["bob"]


async def test_kick_callee_fault_keeps_the_call_ringing(make_gateway: GatewayFactory,
                                                        make_client: ClientFactory) -> None:
    gw = await faulty(make_gateway, "kick-callee")
    alice = await make_client("alice", gw=gw)
    bob = await make_client("bob", gw=gw)
    room = signal_resp(await alice.request(1004, invite_req("alice", "bob"))).invite.roomID
    await bob.wait_closed()
    assert [r for r in await alice.quiet() if r.req_identifier == 1004] == []
    again = await RawClient.connect(gw.ws_url, "bob", bob.token)
    try:
        assert (await again.request(1004, action_req("accept", room))).err_code == 0
    finally:
        await again.close()


async def test_stopping_the_gateway_ends_no_call(make_gateway: GatewayFactory, tmp_path: Path) -> None:
    db = tmp_path / "gw.sqlite"
    gw = await make_gateway(db_path=str(db))
    alice = await RawClient.connect(gw.ws_url, "alice", await user_token(gw.api_url, "alice"))
    bob = await RawClient.connect(gw.ws_url, "bob", await user_token(gw.api_url, "bob"))
    try:
        assert (await alice.request(1004, invite_req("alice", "bob"))).err_code == 0
        await gw.stop()
    finally:
        await alice.close()
        await bob.close()
    store = Store(str(db))
    try:
        [call] = store.calls()
        assert call.end_reason is None and call.ended_ms is None
    finally:
        store.close()
