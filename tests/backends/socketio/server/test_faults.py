"""Each fault gives exactly its misbehaviour; the healthy server does not."""

from __future__ import annotations

import logging

import pytest

from callprobe.backends.socketio.faults import FAULTS
from callprobe.backends.socketio.server import EmbeddedChatServer, Faults
from callprobe.errors import ConfigError
from callprobe.settings import ChatServerSettings
from tests.backends.socketio.server.conftest import Account, Chat, ChatFactory, Peer
from tests.backends.socketio.server.test_call_events import ringing

HISTORY = "/api/v1/chat/messages"


async def faulty(make_chat: ChatFactory, *names: str) -> Chat:
    return await make_chat(faults=tuple((name, "") for name in names))


async def test_every_fault_of_the_table_is_a_flag() -> None:
    everything = Faults.from_pairs([(name, "") for name in FAULTS])
    assert everything.active() == list(FAULTS)
    with pytest.raises(ConfigError, match="belongs to the kkim backend"):
        Faults.from_pairs([("drop-custom", "all")])


async def test_start_line_names_the_active_faults(make_chat: ChatFactory, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "callprobe.server.socketio")
    chat = await faulty(make_chat, "target-id-type", "accept-any-token")
    assert chat.server.active_faults() == ["target-id-type", "accept-any-token"]
    assert any("faults: target-id-type, accept-any-token" in r.getMessage() for r in caplog.records)


# ------------------------------------------------------------ target-id-type

async def string_id_invite(chat: Chat) -> tuple[dict[str, object], Account, Peer]:
    """alice invites online bob naming him by the string id; a text the same way follows as a barrier."""
    _, alice_peer = await chat.online("alice")
    bob, bob_peer = await chat.online("bob")
    ack = await alice_peer.call("call_invitation", {"target_user_id": str(bob.id), "call_type": "video"})
    await alice_peer.call("send_message", {"target_user_id": str(bob.id), "message": "barrier"})
    await bob_peer.next("message", lambda m: m["message"] == "barrier")   # text *is* pushed
    return ack, bob, bob_peer


async def test_target_id_type_string_id_finds_nobody(make_chat: ChatFactory) -> None:
    chat = await faulty(make_chat, "target-id-type")
    ack, bob, bob_peer = await string_id_invite(chat)
    assert ack["status"] == "offline"
    assert bob_peer.got("call_invitation") == [] and len(bob_peer.got("message")) == 1
    _, history = await chat.rest("GET", HISTORY, params={"user_id": 1}, headers={"Authorization": f"Bearer {bob.token}"})
    invitation = history["messages"][0]["extra_data"]["call_invitation"]
    assert invitation["call_id"] == ack["call_id"] and invitation["status"] == "pending"   # stored, not pushed


async def test_target_id_type_integer_id_still_rings(make_chat: ChatFactory) -> None:
    chat = await faulty(make_chat, "target-id-type")
    _, _, _, bob_peer, ack = await ringing(chat)
    assert ack["status"] == "ringing" and (await bob_peer.next("call_invitation"))["call_id"] == ack["call_id"]


async def test_healthy_server_converts_the_string_id(chat: Chat) -> None:
    ack, _, bob_peer = await string_id_invite(chat)
    assert ack["status"] == "ringing"
    assert (await bob_peer.next("call_invitation"))["call_id"] == ack["call_id"]


# ---------------------------------------------------- history-without-extra-data

async def history_extra(chat: Chat) -> list[object]:
    alice, _, bob, _, _ = await ringing(chat)
    _, body = await chat.rest("GET", HISTORY, params={"user_id": bob.id},
                              headers={"Authorization": f"Bearer {alice.token}"})
    return [m["extra_data"] for m in body["messages"]]


async def test_history_without_extra_data(make_chat: ChatFactory) -> None:
    chat = await faulty(make_chat, "history-without-extra-data")
    assert await history_extra(chat) == [None]
    stored = chat.server.handlers.store.message(1)
    assert stored["extra_data"]["call_invitation"]["status"] == "pending"   # only the API drops it


async def test_healthy_history_carries_extra_data(chat: Chat) -> None:
    [extra] = await history_extra(chat)
    assert isinstance(extra, dict) and set(extra["call_invitation"]) == {
        "call_id", "room_name", "caller_id", "caller_name", "call_type", "status"}


# ------------------------------------------------------- call-event-only-message

async def test_call_event_only_message(make_chat: ChatFactory) -> None:
    chat = await faulty(make_chat, "call-event-only-message")
    _, alice_peer, bob, bob_peer, ack = await ringing(chat)
    assert ack["status"] == "ringing"
    row = await bob_peer.next("message")
    assert row["extra_data"]["call_invitation"]["call_id"] == ack["call_id"]
    await alice_peer.call("send_message", {"target_user_id": bob.id, "message": "barrier"})
    await bob_peer.next("message", lambda m: m["message"] == "barrier")
    assert bob_peer.got("call_invitation") == []


# ---------------------------------------------------------- response-not-relayed

async def test_response_not_relayed(make_chat: ChatFactory) -> None:
    chat = await faulty(make_chat, "response-not-relayed")
    alice, alice_peer, bob, bob_peer, ack = await ringing(chat)
    bob_laptop = await chat.peer(bob)
    assert await bob_peer.call("call_response", {"call_id": ack["call_id"], "accepted": True}) == {"ok": True}
    assert (await bob_laptop.next("call_response"))["call_id"] == ack["call_id"]   # other devices still stop
    await bob_peer.call("send_message", {"target_user_id": alice.id, "message": "barrier"})
    await alice_peer.next("message", lambda m: m["message"] == "barrier")
    assert alice_peer.got("call_response") == []
    assert chat.server.handlers.calls.get(str(ack["call_id"])).status == "accepted"  # type: ignore[union-attr]


# -------------------------------------------------------- signal-drops-candidates

async def test_signal_drops_candidates(make_chat: ChatFactory) -> None:
    chat = await faulty(make_chat, "signal-drops-candidates")
    _alice, alice_peer, bob, bob_peer, ack = await ringing(chat)
    base = {"call_id": ack["call_id"], "target_user_id": bob.id}
    assert await alice_peer.call("webrtc_signal", {**base, "signal_type": "candidate", "data": {"c": 1}}) == {
        "ok": True}
    await alice_peer.call("webrtc_signal", {**base, "signal_type": "offer", "data": {"sdp": "v=0"}})
    assert (await bob_peer.next("webrtc_signal"))["signal_type"] == "offer"
    assert [s["signal_type"] for s in bob_peer.got("webrtc_signal")] == ["offer"]


# -------------------------------------------------------------- accept-any-token

async def test_accept_any_token_connects_without_a_token(make_chat: ChatFactory) -> None:
    chat = await faulty(make_chat, "accept-any-token")
    alice = await chat.account("alice")
    as_alice = await chat.peer(auth={"user_id": alice.id})
    nobody = await chat.peer(auth={"token": "garbage"})
    users = chat.server.handlers.presence.connected_users
    assert as_alice.client.get_sid() in users[alice.id]
    default = chat.server.handlers.store.credentials("test-user")
    assert default is not None and nobody.client.get_sid() in users[default[0].id]


async def test_accept_any_token_takes_user_id_from_the_query(make_chat: ChatFactory) -> None:
    chat = await faulty(make_chat, "accept-any-token")
    await chat.account("alice")
    bob = await chat.account("bob")
    peer = Peer()
    chat.peers.append(peer)
    await peer.connect(f"{chat.url}?user_id={bob.id}")
    assert peer.client.get_sid() in chat.server.handlers.presence.connected_users[bob.id]


async def test_healthy_server_refuses_a_tokenless_connect(chat: Chat) -> None:
    alice = await chat.account("alice")
    peer = Peer()
    chat.peers.append(peer)
    with pytest.raises(Exception, match="failed to connect"):
        await peer.connect(chat.url, auth={"user_id": alice.id})
    assert "no token" in peer.connect_errors[0]["message"]


def test_unknown_fault_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown fault"):
        EmbeddedChatServer(ChatServerSettings(faults=(("no-such-fault", ""),)))
