"""Socket.IO connection: token auth (auth or query), connect_error reasons, user rooms, presence, heartbeat."""

from __future__ import annotations

import base64
import json
import time

import pytest
import socketio

from tests.backends.socketio.server.conftest import (
    Chat,
    ChatFactory,
    Peer,
    RawSocket,
    eventually,
    sign,
)


def unsigned(claims: dict[str, object]) -> str:
    """A token with ``alg: none``: must never be accepted."""
    head = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').rstrip(b"=").decode()
    body = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{head}.{body}."


async def test_connect_with_auth_token_registers_the_socket(chat: Chat) -> None:
    alice, peer = await chat.online("alice")
    users = chat.server.handlers.presence.connected_users
    assert users == {alice.id: {peer.client.get_sid()}}
    assert all(type(key) is int for key in users)


async def test_connect_with_query_token(chat: Chat) -> None:
    alice = await chat.account("alice")
    peer = Peer()
    chat.peers.append(peer)
    await peer.connect(f"{chat.url}?token={alice.token}")
    assert alice.id in chat.server.handlers.presence.connected_users


# Tokens are signed when the module is collected: a day of validity (not a minute) keeps them valid
# however long the suite runs before these cases do.
@pytest.mark.parametrize(("auth", "reason"), [
    (None, "no token"),
    ({"token": "not.a.jwt"}, "invalid token"),
    ({"token": sign({"sub": "1", "exp": int(time.time()) + 60}, "another-secret-long-enough-for-hs256")},
     "signature"),
    ({"token": sign({"sub": "1", "exp": int(time.time()) - 10})}, "expired"),
    ({"token": sign({"sub": "99", "exp": int(time.time()) + 86400})}, "does not exist"),
    ({"token": sign({"sub": "alice", "exp": int(time.time()) + 86400})}, "not a user id"),
    ({"token": 12345}, "must be a non-empty string"),
    ({"token": unsigned({"sub": "1", "exp": int(time.time()) + 60})}, "invalid token"),
    ({"token": "x" * 5000}, "longer than 4096"),
])
async def test_refused_connect_says_why(chat: Chat, auth: object, reason: str) -> None:
    await chat.account("alice")
    peer = Peer()
    chat.peers.append(peer)
    with pytest.raises(socketio.exceptions.ConnectionError):
        await peer.connect(chat.url, auth=auth)
    assert len(peer.connect_errors) == 1
    assert reason in peer.connect_errors[0]["message"]
    assert chat.server.handlers.presence.connected_users == {}


async def test_socket_joins_its_user_room(chat: Chat) -> None:
    alice, peer = await chat.online("alice")
    rooms = chat.server.handlers.sio.manager.rooms["/"]
    assert set(rooms[f"user_{alice.id}"]) == {peer.client.get_sid()}


async def test_user_status_online_goes_to_the_other_sockets(chat: Chat) -> None:
    _, bob_peer = await chat.online("bob")
    alice, alice_peer = await chat.online("alice")
    assert await bob_peer.next("user_status") == {"user_id": alice.id, "status": "online"}
    await bob_peer.call("send_message", {"target_user_id": alice.id, "message": "barrier"})
    await alice_peer.next("message")
    assert alice_peer.got("user_status") == []      # its own online is not sent to itself


async def test_offline_only_when_the_last_socket_closes(chat: Chat) -> None:
    _, bob_peer = await chat.online("bob")
    alice, first = await chat.online("alice")
    second = await chat.peer(alice)
    users = chat.server.handlers.presence.connected_users
    assert len(users[alice.id]) == 2
    await first.close()
    await eventually(lambda: len(users.get(alice.id, ())) == 1, "the first socket is forgotten")
    await second.call("send_message", {"target_user_id": (await chat.account("carol")).id, "message": "x"})
    await bob_peer.call("send_message", {"target_user_id": alice.id, "message": "barrier"})
    await second.next("message", lambda m: m["message"] == "barrier")
    assert {"user_id": alice.id, "status": "offline"} not in bob_peer.got("user_status")
    await second.close()
    assert await bob_peer.next("user_status", lambda s: s["status"] == "offline") == {
        "user_id": alice.id, "status": "offline"}
    assert alice.id not in users


async def test_engineio_heartbeat_defaults_are_30_and_60_seconds(chat: Chat) -> None:
    async with chat.http.get(chat.url + "/socket.io/?EIO=4&transport=polling") as resp:
        status, text = resp.status, await resp.text()
    assert status == 200 and text.startswith("0")
    handshake = json.loads(text[1:])
    assert (handshake["pingInterval"], handshake["pingTimeout"]) == (30000, 60000)


async def test_silent_client_is_dropped_after_ping_timeout(make_chat: ChatFactory) -> None:
    chat = await make_chat(ping_interval_s=1.0, ping_timeout_s=0.5)
    alice = await chat.account("alice")
    _, bob_peer = await chat.online("bob")
    raw = RawSocket(chat.http, chat.url)
    await raw.start()
    assert (raw.open["pingInterval"], raw.open["pingTimeout"]) == (1000, 500)
    assert (await raw.connect({"token": alice.token})).startswith("40")
    started = time.monotonic()
    assert await bob_peer.next("user_status", lambda s: s["status"] == "offline") == {
        "user_id": alice.id, "status": "offline"}     # raw never answered a ping
    assert time.monotonic() - started < 4.0
    await raw.close()
