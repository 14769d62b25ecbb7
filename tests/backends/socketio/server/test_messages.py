"""send_message: stored, pushed to the target's room and the sender's own, acknowledged with the row."""

from __future__ import annotations

from datetime import datetime

from tests.backends.socketio.server.conftest import Chat

ROW_KEYS = {"id", "sender_id", "receiver_id", "message", "message_type", "extra_data", "is_read", "created_at"}


async def test_message_is_acknowledged_with_the_stored_row(chat: Chat) -> None:
    alice, peer = await chat.online("alice")
    bob = await chat.account("bob")
    row = await peer.call("send_message", {"target_user_id": bob.id, "message": "hello", "type": "text"})
    assert set(row) == ROW_KEYS
    assert (row["sender_id"], row["receiver_id"], row["message"], row["message_type"]) == (
        alice.id, bob.id, "hello", "text")
    assert row["extra_data"] is None and row["is_read"] is False
    assert datetime.fromisoformat(row["created_at"]).tzinfo is not None


async def test_message_reaches_every_socket_of_both_users(chat: Chat) -> None:
    alice, sender = await chat.online("alice")
    sender_other = await chat.peer(alice)
    bob, bob_phone = await chat.online("bob")
    bob_laptop = await chat.peer(bob)
    row = await sender.call("send_message", {"target_user_id": bob.id, "message": "hi"})
    for peer in (bob_phone, bob_laptop, sender_other, sender):   # the sending socket included
        assert await peer.next("message") == row


async def test_string_target_id_is_converted(chat: Chat) -> None:
    _, sender = await chat.online("alice")
    bob, bob_peer = await chat.online("bob")
    row = await sender.call("send_message", {"target_user_id": str(bob.id), "message": "hi"})
    assert row["receiver_id"] == bob.id
    assert (await bob_peer.next("message"))["id"] == row["id"]


async def test_message_ids_increase(chat: Chat) -> None:
    _, sender = await chat.online("alice")
    bob = await chat.account("bob")
    ids = [(await sender.call("send_message", {"target_user_id": bob.id, "message": str(n)}))["id"]
           for n in range(3)]
    assert ids == sorted(ids) and len(set(ids)) == 3


async def test_message_to_an_offline_user_is_stored_and_in_history(chat: Chat) -> None:
    alice, sender = await chat.online("alice")
    bob = await chat.account("bob")
    row = await sender.call("send_message", {"target_user_id": bob.id, "message": "later"})
    _, history = await chat.rest("GET", "/api/v1/chat/messages", params={"user_id": alice.id},
                                 headers={"Authorization": f"Bearer {bob.token}"})
    assert history["messages"] == [row]


async def test_bad_message_payloads_are_refused_with_a_reason(chat: Chat) -> None:
    _, sender = await chat.online("alice")
    bob = await chat.account("bob")
    cases = {
        "payload missing": None,
        "payload must be a JSON object, not an array": [bob.id, "x"],
        "target_user_id is required": {"message": "x"},
        "target_user_id must be an integer user id": {"target_user_id": 1.5, "message": "x"},
        "user 999 not found": {"target_user_id": 999, "message": "x"},
        "message is required": {"target_user_id": bob.id},
        "message must be a string": {"target_user_id": bob.id, "message": 5},
        "message must not be empty": {"target_user_id": bob.id, "message": ""},
        "message longer than 4000": {"target_user_id": bob.id, "message": "x" * 4001},
        "type system is for messages the server makes": {"target_user_id": bob.id, "message": "x",
                                                         "type": "system"},
        "type must be one of": {"target_user_id": bob.id, "message": "x", "type": "sticker"},
    }
    for expected, payload in cases.items():
        ack = await sender.call("send_message", payload)
        assert expected in ack.get("error", ""), (payload, ack)
    _, history = await chat.rest("GET", "/api/v1/chat/messages", params={"user_id": 1},
                                 headers={"Authorization": f"Bearer {bob.token}"})
    assert history["total"] == 0
