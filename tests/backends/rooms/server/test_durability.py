"""What survives a restart, and why a server refuses to start."""

from __future__ import annotations

import dataclasses
import sqlite3
from pathlib import Path

import pytest

from callprobe.backends.rooms.server import EmbeddedRoomServer, create_server
from callprobe.errors import ConfigError, ExitCode, ServerStartError
from tests.backends.rooms.server.clients import Api
from tests.backends.rooms.server.conftest import BASE, ServerFactory


async def test_users_and_calls_survive_a_restart(make_server: ServerFactory, tmp_path: Path) -> None:
    db = str(tmp_path / "rooms.sqlite")
    first = await make_server(db_path=db)
    api = Api(first.url)
    try:
        alice, bob = await api.party("alice"), await api.party("bob")
        ended = await api.start_call(alice, bob)
        assert (await api.act(alice, ended, "cancel")).status == 200
        ringing = await api.start_call(alice, bob)
    finally:
        await api.close()
    await first.stop()
    second = await make_server(db_path=db)
    api = Api(second.url)
    try:
        login = await api.login("alice")
        assert login.status == 200 and login.body["user"]["id"] == alice.id
        assert login.body["user"]["uuid"] == alice.uuid
        assert (await api.request("GET", "/api/v1/calls/incoming", party=bob)).body == {"calls": [ringing]}
        assert await api.status(alice, ended) == "cancelled"
        assert (await api.request("POST", "/api/v1/calls/by-username", party=alice,
                                  body={"callee_username": "bob", "call_type": "video"})).status == 409
        assert (await api.act(bob, ringing, "accept")).status == 200  # the old token still works
        carol = await api.party("carol")
        assert carol.id > bob.id
    finally:
        await api.close()


async def test_a_call_ringing_across_a_restart_is_missed_on_time(make_server: ServerFactory,
                                                                 tmp_path: Path) -> None:
    db = str(tmp_path / "rooms.sqlite")
    first = await make_server(db_path=db, ring_timeout_s=0.5)
    api = Api(first.url)
    try:
        alice, bob = await api.party("alice"), await api.party("bob")
        call = await api.start_call(alice, bob)
    finally:
        await api.close()
    await first.stop()
    second = await make_server(db_path=db, ring_timeout_s=0.5)
    api = Api(second.url)
    try:
        await api.await_status(alice, call, "missed")
    finally:
        await api.close()


async def test_without_a_database_nothing_survives_and_old_tokens_name_nobody(make_server: ServerFactory) -> None:
    first = await make_server()
    api = Api(first.url)
    try:
        alice = await api.party("alice")
    finally:
        await api.close()
    await first.stop()
    second = await make_server()
    api = Api(second.url)
    try:
        await api.party("mallory")  # gets alice's old id
        reply = await api.request("GET", "/api/v1/calls/incoming", party=alice)
        assert reply.status == 401 and "no user" in reply.body["error"]
    finally:
        await api.close()


async def test_a_second_server_on_the_same_database_refuses_to_start(make_server: ServerFactory,
                                                                     tmp_path: Path) -> None:
    db = str(tmp_path / "rooms.sqlite")
    first = await make_server(db_path=db)
    second = EmbeddedRoomServer(dataclasses.replace(BASE, db_path=db))
    with pytest.raises(ServerStartError, match="in use by another server") as refused:
        await second.start()
    assert refused.value.exit_code == ExitCode.SERVER_START_FAILED
    assert not second.started
    await first.stop()
    await second.start()  # the lock went with the first server
    await second.stop()


async def test_a_port_in_use_names_the_port_option(server: EmbeddedRoomServer, tmp_path: Path) -> None:
    port = int(server.url.rsplit(":", 1)[1])
    db = str(tmp_path / "rooms.sqlite")
    other = EmbeddedRoomServer(dataclasses.replace(BASE, port=port, db_path=db))
    with pytest.raises(ServerStartError, match=rf"cannot listen on 127.0.0.1:{port} \(--port\): port in use"):
        await other.start()
    again = EmbeddedRoomServer(dataclasses.replace(BASE, db_path=db))  # the failed start released the lock
    await again.start()
    await again.stop()


async def test_stop_is_idempotent_and_the_url_needs_a_start() -> None:
    server = EmbeddedRoomServer(dataclasses.replace(BASE))
    with pytest.raises(ConfigError, match="not started"):
        _ = server.endpoints
    await server.start()
    await server.start()
    assert server.endpoints.server == server.url and server.endpoints.api == ""
    await server.stop()
    await server.stop()


@pytest.mark.parametrize("content, kind, words", [
    ("text", ConfigError, "it is not an SQLite database"),
    ("other-tables", ConfigError, "other tables"),
    ("missing-dir", ServerStartError, "cannot create the lock file"),  # the lock comes first
])
async def test_an_unusable_database_is_refused_with_its_path(tmp_path: Path, content: str,
                                                             kind: type[Exception], words: str) -> None:
    path = tmp_path / "db.sqlite"
    if content == "text":
        path.write_text("notes, not a database\n" * 20)
    elif content == "other-tables":
        db = sqlite3.connect(path)
        db.execute("CREATE TABLE calls (name TEXT)")
        db.close()
    else:
        path = tmp_path / "no" / "db.sqlite"
    server = EmbeddedRoomServer(dataclasses.replace(BASE, db_path=str(path)))
    with pytest.raises(kind, match=words) as refused:
        await server.start()
    assert str(path) in str(refused.value) and not server.started


def test_create_server_takes_the_serve_options_and_checks_faults() -> None:
    server = create_server(host="127.0.0.1", port=0, db_path=None, secret=None,
                           faults=(("relay-drops-candidates", ""),), verbose=0)
    assert server.settings.secret == BASE.secret and server.active_faults() == ["relay-drops-candidates"]
    assert create_server(host="127.0.0.1", port=0, db_path=None, secret="s3", faults=(),
                         verbose=2).settings.secret == "s3"
    with pytest.raises(ConfigError, match="belongs to the kkim backend"):
        create_server(host="127.0.0.1", port=0, db_path=None, secret=None, faults=(("kick-callee", ""),),
                      verbose=0)
