"""Hostile Socket.IO input: every refusal is readable by the client and one WARNING line, never a crash."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
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

POLICY_VIOLATION, MESSAGE_TOO_BIG = 1008, 1009


async def raw_user(chat: Chat, name: str = "raw") -> RawSocket:
    """A hand-spoken socket, connected as a fresh user."""
    account = await chat.account(name)
    raw = RawSocket(chat.http, chat.url)
    await raw.start()
    assert (await raw.connect({"token": account.token})).startswith("40")
    return raw


def warnings_about(caplog: pytest.LogCaptureFixture, text: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and text in r.getMessage()]


# -------------------------------------------------------------------- events

async def test_unknown_and_reserved_event_names_get_an_error_ack(chat: Chat) -> None:
    _, peer = await chat.online("alice")
    for name in ("nope", "message", "connect", "disconnect", "*", ""):
        assert await peer.call(name, {"x": 1}) == {"error": f"unknown event {name!r}"}


async def test_refusal_without_an_ack_comes_back_as_an_error_event(chat: Chat) -> None:
    _, peer = await chat.online("alice")
    await peer.client.emit("send_message", {"message": "no target"})
    assert await peer.next("error") == {"event": "send_message", "error": "target_user_id is required"}


async def test_non_string_event_name_and_non_array_event(chat: Chat, caplog: pytest.LogCaptureFixture) -> None:
    raw = await raw_user(chat)
    await raw.send('421[123,{"a":1}]')
    assert json.loads((await raw.recv_skipping_pings())[3:]) == [
        {"error": "an event is an array whose first element is the event name (a string)"}]
    await raw.send('422{"not":"an array"}')
    assert (await raw.recv_skipping_pings()).startswith("432[{\"error\"")
    assert len(warnings_about(caplog, "event [123, {'a': 1}] refused")) == 1


async def test_nested_deeper_than_the_limit_is_refused(chat: Chat) -> None:
    _, peer = await chat.online("alice")
    deep: object = "x"
    for _ in range(20):
        deep = [deep]
    assert await peer.call("send_message", {"target_user_id": 1, "message": deep}) == {
        "error": "payload nested deeper than 16 levels"}


async def test_json_too_deep_to_parse_closes_only_that_socket(chat: Chat) -> None:
    _, bystander = await chat.online("alice")
    raw = await raw_user(chat)
    await raw.send('42["send_message",' + "[" * 20_000 + "]" * 20_000 + "]")
    code, reason = await raw.closed()
    assert code == POLICY_VIOLATION and "undecodable Socket.IO packet" in reason
    users = chat.server.handlers.presence.connected_users
    await eventually(lambda: set(users) == {1}, "the dropped socket's user is offline")
    assert await bystander.next("user_status", lambda s: s["status"] == "offline") == {
        "user_id": 2, "status": "offline"}
    assert (await bystander.call("send_message", {"target_user_id": 1, "message": "still here"}))["id"] >= 1


async def test_lone_surrogates_and_nan_are_refused(chat: Chat) -> None:
    _alice, peer = await chat.online("alice")
    bob = await chat.account("bob")
    assert await peer.call("send_message", {"target_user_id": bob.id, "message": "\ud800"}) == {
        "error": "message is not valid Unicode (lone surrogate)"}
    raw = await raw_user(chat)
    await raw.send('427["send_message",{"target_user_id":NaN,"message":"x"}]')
    assert json.loads((await raw.recv_skipping_pings())[3:]) == [
        {"error": "target_user_id must be an integer user id, not NaN"}]
    await raw.send('428["call_invitation",{"target_user_id":Infinity}]')
    assert "must be an integer user id, not a number" in await raw.recv_skipping_pings()


async def test_frame_over_the_size_limit_closes_the_socket(make_chat: ChatFactory) -> None:
    chat = await make_chat(max_packet_bytes=4096)
    _, bystander = await chat.online("alice")
    bob, big = await chat.online("bob")
    await big.client.emit("send_message", {"target_user_id": 1, "message": "x" * 5000})
    await big.disconnected()
    assert (await bystander.call("send_message", {"target_user_id": bob.id, "message": "ok"}))["id"] == 1


@pytest.mark.parametrize(("frame", "problem"), [
    (b"\x00\x01binary", "binary frames are not part of this protocol"),
    ("", "empty Engine.IO packet"),
    ("0{}", "not an Engine.IO packet a client sends"),
    ("bAAAA", "not an Engine.IO packet a client sends"),
    ("9", "not an Engine.IO packet a client sends"),
    ("49", "Socket.IO packet type 9 is not accepted"),
    ("44{}", "Socket.IO packet type 4 is not accepted"),
    ('451-["x",{"_placeholder":true,"num":0}]', "Socket.IO packet type 5 is not accepted"),
    ("42/admin,[\"x\"]", "before a connect to it"),
    ("4x", "undecodable Socket.IO packet"),
])
async def test_protocol_violations_close_the_socket_with_a_reason(chat: Chat, frame: str | bytes,
                                                                   problem: str) -> None:
    raw = await raw_user(chat)
    await raw.send(frame)
    code, reason = await raw.closed()
    assert code == POLICY_VIOLATION and problem in reason


async def test_stray_acknowledgement_is_ignored(chat: Chat, caplog: pytest.LogCaptureFixture) -> None:
    raw = await raw_user(chat)
    await raw.send('437[{"ok":true}]')
    await raw.send('421["nope"]')
    assert json.loads((await raw.recv_skipping_pings())[3:]) == [{"error": "unknown event 'nope'"}]
    assert len(warnings_about(caplog, "acknowledgement 7 for nothing")) == 1


async def test_second_connect_on_the_same_socket_is_refused(chat: Chat) -> None:
    account = await chat.account("alice")
    raw = RawSocket(chat.http, chat.url)
    await raw.start()
    assert (await raw.connect({"token": account.token})).startswith("40")
    assert await raw.connect({"token": account.token}) == '44{"message":"already connected"}'
    assert len(chat.server.handlers.presence.connected_users[account.id]) == 1


# ------------------------------------------------------------------- tokens

@pytest.mark.parametrize("exp", ["NaN", "Infinity", "-Infinity", "1e400"])
async def test_nan_and_infinity_in_token_claims_are_refused(chat: Chat, exp: str) -> None:
    account = await chat.account("alice")
    good = sign({"sub": str(account.id), "exp": int(time.time()) + 60})
    head, _, _ = good.split(".")
    body = base64.urlsafe_b64encode(f'{{"sub":"{account.id}","exp":{exp}}}'.encode()).rstrip(b"=").decode()
    mac = hmac.new(chat.server.settings.secret.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest()
    token = f"{head}.{body}." + base64.urlsafe_b64encode(mac).rstrip(b"=").decode()
    peer = Peer()
    chat.peers.append(peer)
    with pytest.raises(socketio.exceptions.ConnectionError):
        await peer.connect(chat.url, auth={"token": token})
    assert "must be an integer" in peer.connect_errors[0]["message"]
    status, body_json = await chat.rest("GET", "/api/v1/chat/messages", params={"user_id": 1},
                                        headers={"Authorization": f"Bearer {token}"})
    assert status == 401 and body_json == {"detail": "Could not validate credentials"}


async def test_newline_in_client_text_cannot_forge_a_log_line(chat: Chat, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "callprobe.server.socketio")
    _, peer = await chat.online("alice")
    await peer.call("evil\nCRITICAL forged line", {})
    rogue = Peer()
    chat.peers.append(rogue)
    with pytest.raises(socketio.exceptions.ConnectionError):
        await rogue.connect(chat.url, auth={"token": "a\nb.c\r\nd.e"})
    status, _ = await chat.rest("POST", "/api/v1/auth/register",
                                json={"username": "mallory\nWARNING forged", "password": "x"})
    assert status == 422
    messages = [r.getMessage() for r in caplog.records if r.name.startswith("callprobe.server.socketio")]
    assert any("'evil\\nCRITICAL forged line'" in m for m in messages)
    assert all("\n" not in m and "\r" not in m for m in messages)


# -------------------------------------------------------------- rate limits

async def test_flood_gets_rate_limit_acks_and_others_are_unaffected(make_chat: ChatFactory) -> None:
    chat = await make_chat(event_burst=5, event_rate_per_s=1.0, flood_disconnect_after=1000)
    _, flooder = await chat.online("alice")
    bob, other = await chat.online("bob")
    acks = await asyncio.gather(*(flooder.call("send_message", {"target_user_id": bob.id, "message": str(n)})
                                  for n in range(20)))
    refused = [a for a in acks if "rate limit" in a.get("error", "")]
    assert 4 <= len(acks) - len(refused) <= 6 and len(refused) >= 14   # the connect packet spent a token
    assert (await other.call("send_message", {"target_user_id": 1, "message": "fine"}))["message"] == "fine"
    assert flooder.client.connected


async def test_persistent_flood_is_disconnected_with_a_reason(make_chat: ChatFactory,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    chat = await make_chat(event_burst=5, event_rate_per_s=1.0, flood_disconnect_after=20)
    _, flooder = await chat.online("alice")
    bob, other = await chat.online("bob")
    for n in range(40):
        await flooder.client.emit("send_message", {"target_user_id": bob.id, "message": str(n)})
    assert await flooder.next("error") == {"event": None,
                                           "error": "disconnected: too many packets over the rate limit"}
    await flooder.disconnected()
    assert other.client.connected
    assert (await other.call("send_message", {"target_user_id": 1, "message": "fine"}))["message"] == "fine"
    assert len(warnings_about(caplog, "refusing them until it slows down")) == 1
    assert len(warnings_about(caplog, "20 packets in a row over the rate limit")) == 1


# ------------------------------------------------------------- connections

async def test_connection_limit(make_chat: ChatFactory) -> None:
    chat = await make_chat(max_connections=2)
    alice = await chat.account("alice")
    first = await chat.peer(alice)
    await chat.peer(alice)
    third = Peer()
    chat.peers.append(third)
    with pytest.raises(socketio.exceptions.ConnectionError):
        await third.connect(chat.url, auth={"token": alice.token})
    status, body = await chat.rest("GET", "/socket.io/?EIO=4&transport=polling")
    assert status == 503 and body == {"detail": "too many connections (limit 2)"}
    await first.close()
    await eventually(lambda: chat.server.handlers.sio.open_sockets < 2, "a slot frees up")
    await chat.peer(alice)


async def test_socket_without_a_socketio_connect_is_closed(make_chat: ChatFactory) -> None:
    chat = await make_chat(connect_timeout_s=0.3)
    raw = RawSocket(chat.http, chat.url)
    await raw.start()
    code, reason = await raw.closed()
    assert code == POLICY_VIOLATION and reason == "no Socket.IO connect within 0.3 s"


# ------------------------------------------------------------- long-polling

async def polling_sid(chat: Chat) -> str:
    async with chat.http.get(chat.url + "/socket.io/?EIO=4&transport=polling") as resp:
        return str(json.loads((await resp.text())[1:])["sid"])


async def test_polling_transport_works_end_to_end(chat: Chat) -> None:
    alice = await chat.account("alice")
    bob, bob_peer = await chat.online("bob")
    peer = await chat.peer(alice, transports=["polling"])
    row = await peer.call("send_message", {"target_user_id": bob.id, "message": "polled"})
    assert (await bob_peer.next("message"))["id"] == row["id"]


@pytest.mark.parametrize(("body", "status", "detail"), [
    (b"\xff\xfe", 400, "payload is not UTF-8"),
    (b"d=40", 400, "JSONP payloads are not served"),
    ("\x1e".join(["6"] * 17).encode(), 400, "payload of more than 16 packets"),
    (b"40\x1e", 400, "empty Engine.IO packet"),
    (b"x" * 70_000, 413, "payload larger than 65536 bytes"),
])
async def test_bad_polling_bodies_are_refused_with_json(chat: Chat, body: bytes, status: int, detail: str) -> None:
    sid = await polling_sid(chat)
    got = await chat.rest("POST", f"/socket.io/?EIO=4&transport=polling&sid={sid}", data=body)
    assert got == (status, {"detail": detail})


async def test_one_warning_line_per_refusal(chat: Chat, caplog: pytest.LogCaptureFixture) -> None:
    def warned() -> list[str]:
        return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]

    await chat.rest("GET", "/socket.io/?EIO=4&transport=polling&sid=bogus")
    assert len(warned()) == 1 and warned()[0].endswith("refused 400: Invalid session bogus")
    raw = await raw_user(chat)
    await raw.send("40/admin,")
    assert await raw.recv_skipping_pings() == '44/admin,{"message":"no such namespace"}'
    assert len(warned()) == 2 and "connect to '/admin' refused: no such namespace" in warned()[1]
