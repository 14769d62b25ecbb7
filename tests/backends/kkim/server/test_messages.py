"""SendMsg, pushes, the KKIM error table, history pulls, 2003-2005, and storage across restarts."""

from __future__ import annotations

import asyncio
import warnings
from pathlib import Path

import jwt
import pytest

from callprobe.backends.kkim.protocol import payloads
from callprobe.backends.kkim.protocol._pb.openim import msg_pb2, push_pb2, sdkws_pb2
from callprobe.backends.kkim.protocol.conversation import single_chat_id
from tests.backends.kkim.server.conftest import ClientFactory
from tests.backends.kkim.server.rawclient import RawClient, text_msg, user_token
from tests.conftest import GatewayFactory

CONV = single_chat_id("alice", "bob")


async def test_send_assigns_seq_and_pushes_to_recipient_and_every_sender_connection(make_client: ClientFactory) -> None:
    alice = await make_client("alice", 5)
    alice_phone = await make_client("alice", 1)
    bob = await make_client("bob", gzip=True)
    msg = text_msg("alice", "bob", "hi", client_msg_id="cm-1")
    resp = await alice.request(1003, msg)
    assert resp.err_code == 0
    ack = payloads.parse(msg_pb2.SendMsgResp, resp.data)
    assert ack.clientMsgID == "cm-1" and len(ack.serverMsgID) == 32 and ack.sendTime > 0
    assert not ack.HasField("modify")  # fields 1-3 only
    for client in (bob, alice, alice_phone):
        [pushed] = await client.next_push()
        assert (pushed.seq, pushed.status, pushed.content, pushed.clientMsgID) == (1, 2, b"hi", "cm-1")
        assert pushed.serverMsgID == ack.serverMsgID and pushed.sendTime == ack.sendTime
    resp = await alice.request(1003, text_msg("alice", "bob", "again"))
    [second] = await bob.next_push()
    assert second.seq == 2


async def test_push_envelope_shape(make_client: ClientFactory) -> None:
    alice = await make_client("alice")
    bob = await make_client("bob")
    await alice.request(1003, text_msg("alice", "bob"), msg_incr="x-1")
    push = await bob.next_unsolicited(2001)
    assert push.msg_incr == "" and push.operation_id == "op-x-1" and push.err_code == 0
    parsed = payloads.parse(sdkws_pb2.PushMessages, push.data)
    assert list(parsed.msgs) == [CONV] and not parsed.notificationMsgs


async def test_client_send_time_and_status_are_kept(make_client: ClientFactory) -> None:
    alice = await make_client("alice")
    bob = await make_client("bob")
    msg = text_msg("alice", "bob")
    msg.sendTime, msg.status = 1234, 0
    await alice.request(1003, msg)
    [pushed] = await bob.next_push()
    assert pushed.sendTime == 1234 and pushed.status == 0


@pytest.mark.parametrize("change, code", [
    ({"content": b""}, 1101),
    ({"content": b"x" * 1001}, 1102),
    ({"recvID": "nobody"}, 1003),
    ({"recvID": ""}, 1003),
    ({"recvID": "alice"}, 1004),
    ({"sessionType": 3}, 1003),
])
async def test_send_errors_use_the_kkim_table(make_gateway: GatewayFactory, make_client: ClientFactory,
                                              change: dict[str, object], code: int) -> None:
    # a frame inflates to at most 51200 bytes, so a content over the default
    # 51200-byte content limit can never arrive: the test lowers the content limit
    gw = await make_gateway(max_content_bytes=1000)
    alice = await make_client("alice", gzip=True, gw=gw)
    await make_client("bob", gw=gw)
    msg = text_msg("alice", "bob")
    for key, value in change.items():
        setattr(msg, key, value)
    resp = await alice.request(1003, msg)
    assert resp.err_code == code and resp.data is None
    assert (await alice.request(1001, b"")).err_code == 0  # connection stays


async def test_request_token_field_is_checked(gateway, make_client: ClientFactory) -> None:  # type: ignore[no-untyped-def]
    alice = await make_client("alice")
    await make_client("bob")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expired = jwt.encode({"UserID": "alice", "PlatformID": 5, "exp": 1, "iat": 0}, gateway.settings.secret)
    resp = await alice.request(1003, text_msg("alice", "bob"), token=expired)
    assert resp.err_code == 1001 and resp.err_msg == "token expired"
    resp = await alice.request(1003, text_msg("alice", "bob"), token="garbage")
    assert resp.err_code == 1002 and resp.err_msg == "token invalid"
    bob_token = await user_token(gateway.api_url, "bob", 2)
    resp = await alice.request(1003, text_msg("alice", "bob"), token=bob_token)
    assert resp.err_code == 1002
    resp = await alice.request(1003, text_msg("alice", "bob"), token="")
    assert resp.err_code == 0


async def test_never_registered_recipient_is_unknown(make_client: ClientFactory) -> None:
    alice = await make_client("alice")
    resp = await alice.request(1003, text_msg("alice", "stranger"))
    assert resp.err_code == 1003 and resp.err_msg == "user does not exist"


async def test_offline_recipient_gets_the_message_from_history(gateway, make_client: ClientFactory) -> None:  # type: ignore[no-untyped-def]
    alice = await make_client("alice")
    await user_token(gateway.api_url, "bob")  # registered, never connected
    await alice.request(1003, text_msg("alice", "bob", "later"))
    bob = await make_client("bob")
    seqs = payloads.parse(sdkws_pb2.GetMaxSeqResp, (await bob.request(1001, sdkws_pb2.GetMaxSeqReq(userID="bob"))).data)
    assert dict(seqs.maxSeqs) == {CONV: 1}


async def _exchange(alice: RawClient, n: int) -> None:
    for i in range(n):
        assert (await alice.request(1003, text_msg("alice", "bob", f"m{i}"))).err_code == 0


async def test_history_requests(make_client: ClientFactory) -> None:
    alice = await make_client("alice")
    bob = await make_client("bob")
    await _exchange(alice, 5)
    # 1001
    resp = await bob.request(1001, sdkws_pb2.GetMaxSeqReq(userID="bob"))
    assert dict(payloads.parse(sdkws_pb2.GetMaxSeqResp, resp.data).maxSeqs) == {CONV: 5}
    assert (await bob.request(1001, sdkws_pb2.GetMaxSeqReq(userID="alice"))).err_code == 1002
    # 1002: num keeps the last seqs of the range, ascending
    req = sdkws_pb2.PullMessageBySeqsReq(userID="bob")
    req.seqRanges.add(conversationID=CONV, begin=1, end=100, num=3)
    req.seqRanges.add(conversationID="si_x_y", begin=1, end=10, num=10)
    pulled = payloads.parse(sdkws_pb2.PullMessageBySeqsResp, (await bob.request(1002, req)).data)
    assert list(pulled.msgs) == [CONV]
    assert [m.seq for m in pulled.msgs[CONV].Msgs] == [3, 4, 5] and pulled.msgs[CONV].isEnd
    assert [m.content for m in pulled.msgs[CONV].Msgs] == [b"m2", b"m3", b"m4"]
    req = sdkws_pb2.PullMessageBySeqsReq(userID="bob", order=sdkws_pb2.PullOrderDesc)
    req.seqRanges.add(conversationID=CONV, begin=2, end=3, num=10)
    part = payloads.parse(sdkws_pb2.PullMessageBySeqsResp, (await bob.request(1002, req)).data).msgs[CONV]
    assert [m.seq for m in part.Msgs] == [2, 3] and not part.isEnd
    # 1005
    ask = msg_pb2.GetSeqMessageReq(userID="bob")
    ask.conversations.add(conversationID=CONV, seqs=[5, 1, 9])
    got = payloads.parse(msg_pb2.GetSeqMessageResp, (await bob.request(1005, ask)).data).msgs[CONV]
    assert [m.seq for m in got.Msgs] == [1, 5] and got.isEnd and got.endSeq == 5
    # 1006
    read = msg_pb2.GetConversationsHasReadAndMaxSeqReq(userID="alice")
    seqs = payloads.parse(msg_pb2.GetConversationsHasReadAndMaxSeqResp, (await alice.request(1006, read)).data)
    assert seqs.seqs[CONV].maxSeq == 5 and seqs.seqs[CONV].hasReadSeq == 5 and seqs.seqs[CONV].maxSeqTime > 0
    bob_seqs = payloads.parse(msg_pb2.GetConversationsHasReadAndMaxSeqResp,
                              (await bob.request(1006, msg_pb2.GetConversationsHasReadAndMaxSeqReq(userID="bob"))).data)
    assert bob_seqs.seqs[CONV].hasReadSeq == 0
    # 1007
    last = msg_pb2.GetLastMessageReq(userID="bob", conversationIDs=[CONV, "si_nope"])
    lm = payloads.parse(msg_pb2.GetLastMessageResp, (await bob.request(1007, last)).data)
    assert list(lm.msgs) == [CONV] and lm.msgs[CONV].seq == 5


async def test_empty_payload_reply_is_empty_string(make_client: ClientFactory) -> None:
    alice = await make_client("alice")
    resp = await alice.request(1001, b"")
    assert resp.err_code == 0 and resp.data == b"" and resp.data_form == "empty"


async def test_logout_replies_then_closes(make_client: ClientFactory) -> None:
    alice = await make_client("alice")
    resp = await alice.request(2003, push_pb2.DelUserPushTokenReq(userID="alice", platformID=5))
    assert resp.err_code == 0 and resp.data == b""
    closed = await alice.wait_closed()
    assert closed.code == 1000 and closed.reason == "logout"


async def test_background_status_and_ios_pushes(make_client: ClientFactory) -> None:
    alice = await make_client("alice")
    bob_ios = await make_client("bob", 1)
    resp = await bob_ios.request(2004, sdkws_pb2.SetAppBackgroundStatusReq(userID="bob", isBackground=True))
    assert resp.err_code == 0 and resp.data is None
    await alice.request(1003, text_msg("alice", "bob"))
    assert [r for r in await bob_ios.quiet() if r.req_identifier == 2001] == []
    await bob_ios.request(2004, sdkws_pb2.SetAppBackgroundStatusReq(userID="bob", isBackground=False))
    await alice.request(1003, text_msg("alice", "bob"))
    [msg] = await bob_ios.next_push()
    assert msg.seq == 2


async def test_online_status_subscription(make_client: ClientFactory) -> None:
    alice = await make_client("alice")
    resp = await alice.request(2005, sdkws_pb2.SubUserOnlineStatus(subscribeUserID=["bob"]))
    tips = payloads.parse(sdkws_pb2.SubUserOnlineStatusTips, resp.data)
    assert [(s.userID, list(s.onlinePlatformIDs)) for s in tips.subscribers] == [("bob", [])]
    bob = await make_client("bob", 2)
    pushed = await alice.next_unsolicited(2005)
    later = payloads.parse(sdkws_pb2.SubUserOnlineStatusTips, pushed.data)
    assert [(s.userID, list(s.onlinePlatformIDs)) for s in later.subscribers] == [("bob", [2])]
    await bob.close()
    gone = payloads.parse(sdkws_pb2.SubUserOnlineStatusTips, (await alice.next_unsolicited(2005)).data)
    assert list(gone.subscribers[0].onlinePlatformIDs) == []


async def test_seq_and_history_survive_a_restart_with_a_database_file(
        make_gateway: GatewayFactory, tmp_path: Path) -> None:
    db = str(tmp_path / "gw.sqlite")
    first = await make_gateway(db_path=db)
    alice_token = await user_token(first.api_url, "alice")
    alice = await RawClient.connect(first.ws_url, "alice", alice_token)
    await user_token(first.api_url, "bob")
    try:
        await _exchange(alice, 3)
    finally:
        await alice.close()
    await first.stop()

    second = await make_gateway(db_path=db)
    bob_token = await user_token(second.api_url, "bob")
    bob = await RawClient.connect(second.ws_url, "bob", bob_token)
    alice = await RawClient.connect(second.ws_url, "alice", alice_token)  # token issued before the restart
    try:
        resp = await bob.request(1001, sdkws_pb2.GetMaxSeqReq(userID="bob"))
        assert dict(payloads.parse(sdkws_pb2.GetMaxSeqResp, resp.data).maxSeqs) == {CONV: 3}
        req = sdkws_pb2.PullMessageBySeqsReq(userID="bob")
        req.seqRanges.add(conversationID=CONV, begin=1, end=3, num=3)
        pulled = payloads.parse(sdkws_pb2.PullMessageBySeqsResp, (await bob.request(1002, req)).data)
        assert [m.content for m in pulled.msgs[CONV].Msgs] == [b"m0", b"m1", b"m2"]
        await alice.request(1003, text_msg("alice", "bob", "after"))
        [msg] = await bob.next_push()
        assert msg.seq == 4
    finally:
        await bob.close()
        await alice.close()


async def test_requests_of_one_connection_are_answered_in_order(make_client: ClientFactory) -> None:
    alice = await make_client("alice")
    await make_client("bob")
    frames = [alice.envelope(1003, text_msg("alice", "bob", str(i))) for i in range(20)]
    waiters = []
    for incr, frame in frames:  # all 20 on the wire before the first reply is read
        waiter: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        alice.pending[incr] = waiter  # type: ignore[assignment]
        waiters.append(waiter)
        await alice.send_raw(frame)
    replies = await asyncio.wait_for(asyncio.gather(*waiters), 10)
    assert all(r.err_code == 0 for r in replies)  # type: ignore[attr-defined]
    sent = [incr for incr, _ in frames]
    assert alice.reply_order == sent  # answered in the order asked, not merely all answered
