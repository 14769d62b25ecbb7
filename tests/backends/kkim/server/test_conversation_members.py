"""Who may read a conversation is decided by its stored pair of users, never by parsing its ID.

``si_`` + the sorted pair joined by ``_`` is ambiguous when user IDs contain
``_``: (a, b_c) and (a_b, c) both give ``si_a_b_c``. The ID stays as real
servers make it; each pair still gets its own conversation, seq and history.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from callprobe.backends.kkim.protocol import payloads
from callprobe.backends.kkim.protocol._pb.openim import msg_pb2, sdkws_pb2
from callprobe.backends.kkim.protocol.conversation import single_chat_id
from tests.backends.kkim.server.conftest import ClientFactory
from tests.backends.kkim.server.rawclient import RawClient, text_msg, user_token
from tests.conftest import GatewayFactory

SHARED = "si_a_b_c"
PAIRS = {"a": "b_c", "b_c": "a", "a_b": "c", "c": "a_b"}
SECRET = {"a": "a to b_c, private", "a_b": "a_b to c, private"}


async def _history(client: RawClient) -> dict[str, list[bytes]]:
    """What ``client`` reads of ``si_a_b_c`` through 1001, 1002, 1005, 1006 and 1007."""
    uid = client.user_id
    seqs = payloads.parse(sdkws_pb2.GetMaxSeqResp,
                          (await client.request(1001, sdkws_pb2.GetMaxSeqReq(userID=uid))).data)
    pull = sdkws_pb2.PullMessageBySeqsReq(userID=uid)
    pull.seqRanges.add(conversationID=SHARED, begin=1, end=50, num=50)
    pulled = payloads.parse(sdkws_pb2.PullMessageBySeqsResp, (await client.request(1002, pull)).data)
    by_seq = msg_pb2.GetSeqMessageReq(userID=uid)
    by_seq.conversations.add(conversationID=SHARED, seqs=[1, 2, 3])
    got = payloads.parse(msg_pb2.GetSeqMessageResp, (await client.request(1005, by_seq)).data)
    read = payloads.parse(msg_pb2.GetConversationsHasReadAndMaxSeqResp, (await client.request(
        1006, msg_pb2.GetConversationsHasReadAndMaxSeqReq(userID=uid, conversationIDs=[SHARED]))).data)
    last = payloads.parse(msg_pb2.GetLastMessageResp, (await client.request(
        1007, msg_pb2.GetLastMessageReq(userID=uid, conversationIDs=[SHARED]))).data)
    return {
        "1001": [str(seqs.maxSeqs[SHARED]).encode()],
        "1002": [m.content for m in pulled.msgs[SHARED].Msgs],
        "1005": [m.content for m in got.msgs[SHARED].Msgs],
        "1006": [str(read.seqs[SHARED].maxSeq).encode()],
        "1007": [last.msgs[SHARED].content],
    }


@pytest.mark.parametrize("first", ["a", "a_b"], ids=["a-first", "a_b-first"])
async def test_colliding_ids_keep_each_pairs_history_private(make_client: ClientFactory, first: str) -> None:
    assert single_chat_id("a", "b_c") == single_chat_id("a_b", "c") == SHARED
    clients = {uid: await make_client(uid) for uid in PAIRS}
    for sender in (first, "a_b" if first == "a" else "a"):
        resp = await clients[sender].request(1003, text_msg(sender, PAIRS[sender], SECRET[sender]))
        assert resp.err_code == 0
        [pushed] = await clients[PAIRS[sender]].next_push()
        assert pushed.content == SECRET[sender].encode() and pushed.seq == 1  # a seq of its own pair
    for uid, client in clients.items():
        mine = SECRET["a" if uid in ("a", "b_c") else "a_b"].encode()
        assert await _history(client) == {"1001": [b"1"], "1002": [mine], "1005": [mine], "1006": [b"1"],
                                          "1007": [mine]}, uid
    # nobody else got a push of the other pair's message
    for client in clients.values():
        assert [m.content for r in await client.quiet() if r.req_identifier == 2001
                for m in payloads.parse(sdkws_pb2.PushMessages, r.data).msgs[SHARED].Msgs
                ] in ([], [SECRET["a"].encode()], [SECRET["a_b"].encode()])


async def test_pairs_survive_a_restart(make_gateway: GatewayFactory, tmp_path: Path) -> None:
    db = str(tmp_path / "gw.sqlite")
    gw = await make_gateway(db_path=db)
    tokens = {uid: await user_token(gw.api_url, uid) for uid in PAIRS}  # registers them all
    for sender in ("a", "a_b"):
        client = await RawClient.connect(gw.ws_url, sender, tokens[sender])
        assert (await client.request(1003, text_msg(sender, PAIRS[sender], SECRET[sender]))).err_code == 0
        await client.close()
    await gw.stop()
    gw = await make_gateway(db_path=db)
    for uid in PAIRS:
        client = await RawClient.connect(gw.ws_url, uid, await user_token(gw.api_url, uid))
        try:
            mine = SECRET["a" if uid in ("a", "b_c") else "a_b"].encode()
            assert (await _history(client))["1002"] == [mine], uid
        finally:
            await client.close()
