"""Start and stop: durability across a restart with --db, the database lock, a port in use."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from callprobe.backends.socketio.server import EmbeddedChatServer, create_server
from callprobe.errors import ConfigError, ServerStartError
from tests.backends.socketio.server.conftest import (
    PASSWORD,
    Chat,
    ChatFactory,
    ServerFactory,
    eventually,
)

HISTORY = "/api/v1/chat/messages"


async def test_everything_acknowledged_survives_a_restart(make_chat: ChatFactory, tmp_path: Path) -> None:
    db = str(tmp_path / "chat.db")
    before = await make_chat(db_path=db)
    alice, alice_peer = await before.online("alice")
    bob, bob_peer = await before.online("bob")
    text = await alice_peer.call("send_message", {"target_user_id": bob.id, "message": "kept"})
    ended = await alice_peer.call("call_invitation", {"target_user_id": bob.id})
    await bob_peer.call("call_response", {"call_id": ended["call_id"], "accepted": True})
    await bob_peer.call("call_end", {"call_id": ended["call_id"]})
    live = await alice_peer.call("call_invitation", {"target_user_id": bob.id})
    await bob_peer.call("call_response", {"call_id": live["call_id"], "accepted": True})
    await before.close()
    await before.server.stop()

    after = await make_chat(db_path=db)
    status, login = await after.rest("POST", "/api/v1/auth/login", json={"username": "alice", "password": PASSWORD})
    assert status == 200 and login["user"]["id"] == alice.id
    _, history = await after.rest("GET", HISTORY, params={"user_id": bob.id},
                                  headers={"Authorization": f"Bearer {alice.token}"})   # old token still valid
    assert history["messages"][0] == text
    assert [m["extra_data"]["call_invitation"]["status"] for m in history["messages"][1:]] == ["ended", "accepted"]
    carol, carol_peer = await after.online("carol")
    assert carol.id == 3
    assert await carol_peer.call("call_invitation", {"target_user_id": bob.id}) == {"status": "busy"}
    bob_again = await after.peer(bob)
    assert await bob_again.call("call_end", {"call_id": live["call_id"]}) == {"ok": True}


async def test_a_pending_call_still_goes_missed_after_a_restart(make_server: ServerFactory, tmp_path: Path) -> None:
    db = str(tmp_path / "chat.db")
    first = await make_server(db_path=db, ring_timeout_s=0.5)
    chat = Chat(first)
    try:
        _, alice_peer = await chat.online("alice")
        bob = await chat.account("bob")
        ack = await alice_peer.call("call_invitation", {"target_user_id": bob.id})
    finally:
        await chat.close()
    await first.stop()
    second = await make_server(db_path=db, ring_timeout_s=0.5)
    restored = second.handlers.calls.get(ack["call_id"])
    assert restored is not None and restored.status == "pending" and restored.rang is False
    store = second.handlers.store
    await eventually(lambda: getattr(store.call(ack["call_id"]), "status", "") == "missed",
                     "the re-armed ring timer marks the call missed")
    assert second.handlers.calls.get(ack["call_id"]) is None


async def test_second_server_on_the_same_db_is_refused(make_server: ServerFactory, tmp_path: Path) -> None:
    db = str(tmp_path / "chat.db")
    first = await make_server(db_path=db)
    with pytest.raises(ServerStartError, match="in use by another server"):
        await make_server(db_path=db)
    assert first.started
    await first.stop()
    third = await make_server(db_path=db)                      # the lock went with the first server
    assert third.started


async def test_port_in_use_names_the_port_option(make_server: ServerFactory) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(ServerStartError, match=rf"127\.0\.0\.1:{port} \(--port\): port in use") as info:
            await make_server(port=port)
    assert info.value.exit_code == 6


async def test_unusable_db_file_is_a_config_error(make_server: ServerFactory, tmp_path: Path) -> None:
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(ConfigError, match="not an SQLite database"):
        await make_server(db_path=str(junk))
    with pytest.raises(ServerStartError, match="cannot create the lock file"):
        await make_server(db_path=str(tmp_path / "missing" / "chat.db"))


async def test_create_server_and_idempotent_stop() -> None:
    server = create_server(host="127.0.0.1", port=0, db_path=None, secret=None, faults=(), verbose=0)
    assert server.settings.secret == "callprobe-chat-secret"
    await server.start()
    try:
        assert server.endpoints.server == server.url and server.url.startswith("http://127.0.0.1:")
        assert not server.url.endswith(":0") and server.active_faults() == []
    finally:
        await server.stop()
        await server.stop()
    assert not server.started
    with pytest.raises(ConfigError, match="not started"):
        _ = server.url


async def test_stop_disconnects_clients(make_server: ServerFactory) -> None:
    server: EmbeddedChatServer = await make_server()
    chat = Chat(server)
    try:
        _, peer = await chat.online("alice")
        await server.stop()
        await peer.disconnected()
        assert not peer.client.connected
    finally:
        await chat.close()
