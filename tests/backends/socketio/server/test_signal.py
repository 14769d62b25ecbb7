"""webrtc_signal: relayed to the other party's room with from_user_id; nothing else may use it."""

from __future__ import annotations

from tests.backends.socketio.server.conftest import Chat
from tests.backends.socketio.server.test_call_events import ringing

OFFER = {"type": "offer", "sdp": "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\n"}


async def test_offer_answer_and_candidate_are_relayed(chat: Chat) -> None:
    alice, alice_peer, bob, bob_peer, ack = await ringing(chat)
    call_id = ack["call_id"]
    sent = {"call_id": call_id, "target_user_id": bob.id, "signal_type": "offer", "data": OFFER}
    assert await alice_peer.call("webrtc_signal", sent) == {"ok": True}
    assert await bob_peer.next("webrtc_signal") == {**sent, "from_user_id": alice.id}
    for kind, data in (("answer", {"type": "answer", "sdp": "v=0"}), ("candidate", {"candidate": "c", "sdpMid": "0"})):
        await bob_peer.call("webrtc_signal", {"call_id": call_id, "target_user_id": alice.id,
                                              "signal_type": kind, "data": data})
        relayed = await alice_peer.next("webrtc_signal", lambda s, kind=kind: s["signal_type"] == kind)
        assert relayed["data"] == data and relayed["from_user_id"] == bob.id


async def test_signal_refusals(chat: Chat) -> None:
    _, alice_peer, bob, _, ack = await ringing(chat)
    carol, carol_peer = await chat.online("carol")
    base = {"call_id": ack["call_id"], "target_user_id": bob.id, "signal_type": "offer", "data": OFFER}
    assert await carol_peer.call("webrtc_signal", base) == {"error": "call not found"}
    assert await alice_peer.call("webrtc_signal", {**base, "target_user_id": carol.id}) == {
        "error": "target_user_id is not the other party of this call"}
    bad_kind = await alice_peer.call("webrtc_signal", {**base, "signal_type": "bye"})
    assert bad_kind["error"].startswith("signal_type must be one of offer, answer, candidate")
