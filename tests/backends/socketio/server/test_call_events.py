"""Calls over Socket.IO: invitation, busy, missed, answer, cancel and hang-up."""

from __future__ import annotations

import re
from typing import Any

from tests.backends.socketio.server.conftest import Account, Chat, ChatFactory, Peer

HISTORY = "/api/v1/chat/messages"


async def invitation_status(chat: Chat, me: Account, peer_id: int) -> list[str]:
    """The status of every call invitation in the conversation, oldest first."""
    _, body = await chat.rest("GET", HISTORY, params={"user_id": peer_id},
                              headers={"Authorization": f"Bearer {me.token}"})
    return [m["extra_data"]["call_invitation"]["status"] for m in body["messages"]
            if m["message_type"] == "system"]


async def ringing(chat: Chat) -> tuple[Account, Peer, Account, Peer, dict[str, Any]]:
    """alice (online) invites bob (online); returns both and the acknowledgement."""
    alice, alice_peer = await chat.online("alice")
    bob, bob_peer = await chat.online("bob")
    ack = await alice_peer.call("call_invitation", {"target_user_id": bob.id, "call_type": "video"})
    return alice, alice_peer, bob, bob_peer, ack


# ----------------------------------------------------------------- invitation

async def test_invitation_to_an_online_user_rings(chat: Chat) -> None:
    alice, _, bob, bob_peer, ack = await ringing(chat)
    assert re.fullmatch(r"[0-9a-f]{32}", ack["call_id"])
    assert ack == {"call_id": ack["call_id"], "room_name": f"call-{ack['call_id']}", "status": "ringing"}
    row = await bob_peer.next("message")
    assert (row["message_type"], row["message"], row["sender_id"], row["receiver_id"]) == (
        "system", "alice invites you to a video call", alice.id, bob.id)
    assert row["extra_data"] == {"call_invitation": {
        "call_id": ack["call_id"], "room_name": ack["room_name"], "caller_id": alice.id,
        "caller_name": "alice", "call_type": "video", "status": "pending"}}
    assert await bob_peer.next("call_invitation") == {
        "call_id": ack["call_id"], "room_name": ack["room_name"], "caller_id": alice.id,
        "caller_name": "alice", "call_type": "video"}


async def test_invitation_to_an_offline_user_is_stored_only(chat: Chat) -> None:
    alice, alice_peer = await chat.online("alice")
    bob = await chat.account("bob")
    ack = await alice_peer.call("call_invitation", {"target_user_id": bob.id, "call_type": "audio"})
    assert ack["status"] == "offline" and ack["room_name"] == f"call-{ack['call_id']}"
    assert await invitation_status(chat, bob, alice.id) == ["pending"]
    carol, carol_peer = await chat.online("carol")
    again = await carol_peer.call("call_invitation", {"target_user_id": bob.id, "call_type": "audio"})
    assert again["status"] == "offline"                      # the stored invitation made nobody busy
    assert (await alice_peer.call("call_invitation", {"target_user_id": carol.id}))["status"] == "ringing"


async def test_call_to_a_busy_user_is_acknowledged_busy_and_not_stored(chat: Chat) -> None:
    _, _, bob, bob_peer, _first = await ringing(chat)
    carol, carol_peer = await chat.online("carol")
    assert await carol_peer.call("call_invitation", {"target_user_id": bob.id}) == {"status": "busy"}
    assert await invitation_status(chat, carol, bob.id) == []
    await carol_peer.call("send_message", {"target_user_id": bob.id, "message": "barrier"})
    await bob_peer.next("message", lambda m: m["message"] == "barrier")
    assert len(bob_peer.got("call_invitation")) == 1


async def test_busy_while_accepted_free_after_the_end(chat: Chat) -> None:
    alice, _alice_peer, _bob, bob_peer, ack = await ringing(chat)
    await bob_peer.call("call_response", {"call_id": ack["call_id"], "accepted": True})
    _carol, carol_peer = await chat.online("carol")
    assert await carol_peer.call("call_invitation", {"target_user_id": alice.id}) == {"status": "busy"}
    assert await bob_peer.call("call_end", {"call_id": ack["call_id"]}) == {"ok": True}
    assert (await carol_peer.call("call_invitation", {"target_user_id": alice.id}))["status"] == "ringing"


async def test_a_caller_in_a_call_cannot_invite_again(chat: Chat) -> None:
    _, alice_peer, _, _, ack = await ringing(chat)
    carol = await chat.account("carol")
    refused = await alice_peer.call("call_invitation", {"target_user_id": carol.id})
    assert refused == {"error": f"you are already in call {ack['call_id']} (pending)"}


async def test_unanswered_call_becomes_missed(make_chat: ChatFactory) -> None:
    chat = await make_chat(ring_timeout_s=0.3)
    alice, alice_peer, bob, bob_peer, ack = await ringing(chat)
    assert await alice_peer.next("call_missed") == {"call_id": ack["call_id"]}
    assert await bob_peer.next("call_missed") == {"call_id": ack["call_id"]}
    assert await invitation_status(chat, alice, bob.id) == ["missed"]
    late = await bob_peer.call("call_response", {"call_id": ack["call_id"], "accepted": True})
    assert late == {"error": "call is missed: cannot accept it"}


async def test_bad_invitations_are_refused(chat: Chat) -> None:
    alice, alice_peer = await chat.online("alice")
    bob = await chat.account("bob")
    assert await alice_peer.call("call_invitation", {"target_user_id": alice.id}) == {
        "error": "cannot call yourself"}
    assert await alice_peer.call("call_invitation", {"target_user_id": 4242}) == {"error": "user 4242 not found"}
    bad_type = await alice_peer.call("call_invitation", {"target_user_id": bob.id, "call_type": "hologram"})
    assert bad_type["error"].startswith("call_type must be one of video, audio")


# --------------------------------------------------------------------- answer

async def test_accept_reaches_the_caller_and_the_callees_other_sockets(chat: Chat) -> None:
    alice, alice_peer, bob, bob_phone, ack = await ringing(chat)
    bob_laptop = await chat.peer(bob)
    assert await bob_phone.call("call_response", {"call_id": ack["call_id"], "accepted": True}) == {"ok": True}
    notice = {"call_id": ack["call_id"], "accepted": True, "responder_id": bob.id}
    assert await alice_peer.next("call_response") == notice
    assert await bob_laptop.next("call_response") == notice
    await alice_peer.call("send_message", {"target_user_id": bob.id, "message": "barrier"})
    await bob_phone.next("message", lambda m: m["message"] == "barrier")
    assert bob_phone.got("call_response") == []               # not echoed to the answering socket
    assert await invitation_status(chat, alice, bob.id) == ["accepted"]


async def test_reject_sets_rejected_and_frees_both(chat: Chat) -> None:
    alice, alice_peer, bob, bob_peer, ack = await ringing(chat)
    await bob_peer.call("call_response", {"call_id": ack["call_id"], "accepted": False})
    assert await alice_peer.next("call_response") == {"call_id": ack["call_id"], "accepted": False,
                                                      "responder_id": bob.id}
    assert await invitation_status(chat, bob, alice.id) == ["rejected"]
    assert (await alice_peer.call("call_invitation", {"target_user_id": bob.id}))["status"] == "ringing"


async def test_answer_refusals(chat: Chat) -> None:
    _, alice_peer, _, bob_peer, ack = await ringing(chat)
    _, carol_peer = await chat.online("carol")
    call_id = ack["call_id"]
    assert await alice_peer.call("call_response", {"call_id": call_id, "accepted": True}) == {
        "error": "only the callee can accept this call"}
    assert await carol_peer.call("call_response", {"call_id": call_id, "accepted": True}) == {
        "error": "call not found"}
    assert await bob_peer.call("call_response", {"call_id": "0" * 32, "accepted": True}) == {
        "error": "call not found"}
    assert await bob_peer.call("call_response", {"call_id": call_id, "accepted": "yes"}) == {
        "error": "accepted must be true or false, not a string"}
    await bob_peer.call("call_response", {"call_id": call_id, "accepted": True})
    assert await bob_peer.call("call_response", {"call_id": call_id, "accepted": True}) == {
        "error": "call is accepted: cannot accept it"}


# --------------------------------------------------------- cancel and hang up

async def test_cancel_by_the_caller_tells_the_callee(chat: Chat) -> None:
    alice, alice_peer, bob, bob_peer, ack = await ringing(chat)
    assert await bob_peer.call("call_cancel", {"call_id": ack["call_id"]}) == {
        "error": "only the caller can cancel this call"}
    assert await alice_peer.call("call_cancel", {"call_id": ack["call_id"]}) == {"ok": True}
    assert await bob_peer.next("call_cancelled") == {"call_id": ack["call_id"], "by": alice.id}
    assert await invitation_status(chat, alice, bob.id) == ["cancelled"]


async def test_end_by_either_party_after_the_answer(chat: Chat) -> None:
    alice, alice_peer, bob, bob_peer, ack = await ringing(chat)
    call_id = ack["call_id"]
    assert await alice_peer.call("call_end", {"call_id": call_id}) == {"error": "call is pending: cannot end it"}
    await bob_peer.call("call_response", {"call_id": call_id, "accepted": True})
    assert await alice_peer.call("call_cancel", {"call_id": call_id}) == {
        "error": "call is accepted: cannot cancel it"}
    assert await bob_peer.call("call_end", {"call_id": call_id}) == {"ok": True}
    assert await alice_peer.next("call_ended") == {"call_id": call_id, "by": bob.id}
    assert await invitation_status(chat, alice, bob.id) == ["ended"]
    assert await alice_peer.call("call_end", {"call_id": call_id}) == {"error": "call is ended: cannot end it"}


async def test_unknown_call_id_everywhere_is_call_not_found(chat: Chat) -> None:
    _, peer = await chat.online("alice")
    for event in ("call_cancel", "call_end"):
        assert await peer.call(event, {"call_id": "nope"}) == {"error": "call not found"}
