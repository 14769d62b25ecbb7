"""The socketio driver against the embedded reference server: login, connect, refusals, both
transports, heartbeat, calls, history. Every wait is on an event or a named deadline."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from callprobe.backends.base import AgentIdentity, DriverNotice, InviteRefusedError
from callprobe.backends.socketio import rest
from callprobe.backends.socketio.config import SocketioOptions
from callprobe.backends.socketio.connection import ConnectRefused
from callprobe.backends.socketio.driver import SocketioDriver
from callprobe.backends.socketio.server import EmbeddedChatServer
from callprobe.backends.socketio.server.faults import parse_fault
from callprobe.errors import ServerUnreachable
from callprobe.settings import ChatServerSettings, ClientSettings
from callprobe.timeline.events import (
    HeartbeatReply,
    InviteAcked,
    LoginFailed,
    LoginOk,
    Presence,
    WsClosed,
    WsOpen,
    WsRefused,
)
from callprobe.timeline.recorder import Timeline

BASE = ChatServerSettings(port=0, password_iterations=1000, shutdown_timeout_s=3.0)
SETTINGS = ClientSettings()
WAIT_S = 5.0

Start = Callable[..., Awaitable[EmbeddedChatServer]]


@pytest.fixture
async def start() -> AsyncIterator[Start]:
    servers: list[EmbeddedChatServer] = []

    async def run(*faults: str, **changes: object) -> EmbeddedChatServer:
        settings = dataclasses.replace(BASE, faults=tuple(parse_fault(f) for f in faults), **changes)
        server = EmbeddedChatServer(settings)
        await server.start()
        servers.append(server)
        return server

    try:
        yield run
    finally:
        for server in servers:
            await server.stop()


@pytest.fixture
async def drivers() -> AsyncIterator[list[SocketioDriver]]:
    made: list[SocketioDriver] = []
    try:
        yield made
    finally:
        for d in made:
            await d.close()


def driver(made: list[SocketioDriver], server: EmbeddedChatServer, name: str, timeline: Timeline, *,
           options: SocketioOptions | None = None, password: str = "", register: bool = True) -> SocketioDriver:
    d = SocketioDriver(AgentIdentity(name, name), timeline, SETTINGS, base_url=server.url, options=options,
                       password=password, register=register)
    made.append(d)
    return d


async def notice(d: SocketioDriver, kind: str) -> DriverNotice:
    async with asyncio.timeout(WAIT_S):
        while True:
            got = await d.notices.get()
            if got.kind == kind:
                return got


async def test_login_registers_learns_the_integer_id_and_connects(start: Start,
                                                                  drivers: list[SocketioDriver]) -> None:
    server = await start()
    tl = Timeline()
    alice = driver(drivers, server, "alice", tl)
    await alice.connect()
    assert alice.identity.user_id == "1" and alice.identity.username == "alice" and alice.connected
    [ok] = [e for e in tl.events if isinstance(e, LoginOk)]
    assert (ok.user_id, ok.username, ok.steps) == ("1", "alice", ["register:created", "login:200"])
    [opened] = [e for e in tl.events if isinstance(e, WsOpen)]
    assert (opened.ping_interval_s, opened.ping_timeout_s) == (30.0, 60.0)
    again = driver(drivers, server, "alice", tl)
    await again.login()  # an existing account is fine
    assert again.identity.user_id == "1"


async def test_a_wrong_password_is_refused_with_status_and_detail(start: Start,
                                                                  drivers: list[SocketioDriver]) -> None:
    server = await start()
    tl = Timeline()
    await driver(drivers, server, "alice", tl, password="right-pw").login()
    wrong = driver(drivers, server, "alice", tl, password="wrong-pw", register=False)
    with pytest.raises(rest.RestRefused) as info:
        await wrong.login()
    assert info.value.http_status == 401 and "Incorrect username or password" in str(info.value)
    [failed] = [e for e in tl.events if isinstance(e, LoginFailed)]
    assert (failed.status, failed.err_msg) == (401, "Incorrect username or password")


async def test_a_forged_token_gets_the_servers_connect_error(start: Start, drivers: list[SocketioDriver]) -> None:
    server = await start()
    tl = Timeline()
    alice = driver(drivers, server, "alice", tl)
    await alice.login()
    alice.token = alice.token[:-4] + "AAAA"
    with pytest.raises(ConnectRefused) as info:
        await alice.connect()
    assert "signature" in info.value.err_msg and info.value.http_status is None
    [refused] = [e for e in tl.events if isinstance(e, WsRefused)]
    assert "signature" in refused.err_msg and "refused the Socket.IO connect" in refused.explanation
    assert not alice.connected


async def test_a_wrong_socketio_path_is_a_refused_handshake_with_its_status(
        start: Start, drivers: list[SocketioDriver]) -> None:
    server = await start()
    tl = Timeline()
    options = dataclasses.replace(SocketioOptions(), path="/sockets")
    alice = driver(drivers, server, "alice", tl, options=options)
    with pytest.raises(ConnectRefused) as info:
        await alice.connect()
    assert info.value.http_status == 404
    [refused] = [e for e in tl.events if isinstance(e, WsRefused)]
    assert refused.status == 404 and "/sockets" in refused.explanation


async def test_nothing_listening_is_unreachable() -> None:
    tl = Timeline()
    d = SocketioDriver(AgentIdentity("alice", "alice"), tl, SETTINGS, base_url="http://127.0.0.1:9")
    with pytest.raises(ServerUnreachable):
        await d.connect()
    assert [e.kind for e in tl.events] == ["login_failed"]


@pytest.mark.parametrize("transport", ["websocket", "polling"])
async def test_a_call_rings_is_answered_and_ends_on_either_transport(
        start: Start, drivers: list[SocketioDriver], transport: str) -> None:
    server = await start()
    tl = Timeline()
    options = dataclasses.replace(SocketioOptions(), transport=transport)
    alice = driver(drivers, server, "alice", tl, options=options)
    bob = driver(drivers, server, "bob", tl, options=options)
    await alice.connect()
    await bob.connect()
    assert {e.extra.get("transport") for e in tl.events if isinstance(e, WsOpen)} == {transport}
    await alice.send_text(bob.identity, "hello")
    assert (await notice(bob, "text_received")).data["text"] == "hello"
    call = await alice.invite([bob.identity], "video", 30)
    ring = await notice(bob, "ringing")
    assert (ring.room_id, ring.peer) == (call.room_id, alice.identity.user_id)
    await bob.accept(call.room_id)
    answered = await notice(alice, "answered")
    assert (answered.room_id, answered.peer, answered.path) == (call.room_id, bob.identity.user_id, "call_response")
    await alice.send_signal(bob.identity.user_id, call.room_id, "offer", {"type": "offer", "sdp": "v=0"})
    signal = await notice(bob, "signal_received")
    assert signal.data["data"] == {"type": "offer", "sdp": "v=0"}
    await bob.hangup(call.room_id)
    assert (await notice(alice, "hung_up")).peer == bob.identity.user_id
    presence = [e for e in tl.events if isinstance(e, Presence) and e.agent == "alice"]
    assert presence and presence[-1].user == bob.identity.user_id and presence[-1].status == "online"


async def test_a_string_id_against_target_id_type_is_acknowledged_offline(
        start: Start, drivers: list[SocketioDriver]) -> None:
    server = await start("target-id-type")
    tl = Timeline()
    alice, bob = driver(drivers, server, "alice", tl), driver(drivers, server, "bob", tl)
    await alice.connect()
    await bob.connect()
    call = await alice.invite_as([bob.identity], "video", 30, "string")
    [acked] = [e for e in tl.events if isinstance(e, InviteAcked)]
    assert (acked.room_id, acked.status) == (call.room_id, "offline")
    await alice.cancel(call.room_id)
    ringing = await alice.invite([bob.identity], "video", 30)  # the integer form finds bob
    assert (await notice(bob, "ringing")).room_id == ringing.room_id


async def test_busy_is_an_invite_refusal_naming_the_busy_user(start: Start, drivers: list[SocketioDriver]) -> None:
    server = await start()
    tl = Timeline()
    alice, bob, carol = (driver(drivers, server, n, tl) for n in ("alice", "bob", "carol"))
    for d in (alice, bob, carol):
        await d.connect()
    await alice.invite([bob.identity], "audio", 30)
    await notice(bob, "ringing")
    with pytest.raises(InviteRefusedError) as info:
        await carol.invite([bob.identity], "audio", 30)
    assert info.value.busy == (bob.identity.user_id,)


async def test_history_holds_the_invitation_with_its_extra_data(start: Start,
                                                                drivers: list[SocketioDriver]) -> None:
    server = await start()
    tl = Timeline()
    alice, bob = driver(drivers, server, "alice", tl), driver(drivers, server, "bob", tl)
    await alice.connect()
    await bob.connect()
    call = await alice.invite([bob.identity], "video", 30)
    await alice.cancel(call.room_id)
    rows = await alice.history(bob.identity.user_id)
    [stored] = [r for r in rows if r["message_type"] == "system"]
    assert stored["extra_data"]["call_invitation"]["call_id"] == call.room_id
    assert stored["extra_data"]["call_invitation"]["status"] == "cancelled"


async def test_server_pings_are_recorded_and_awaitable(start: Start, drivers: list[SocketioDriver]) -> None:
    server = await start(ping_interval_s=0.2, ping_timeout_s=1.0)
    tl = Timeline()
    alice = driver(drivers, server, "alice", tl)
    await alice.connect()
    assert await alice.wait_ping(WAIT_S)
    replies = [e for e in tl.events if isinstance(e, HeartbeatReply)]
    assert replies and replies[0].form == "engineio_ping"


async def test_the_server_going_away_closes_the_connection_and_tells_the_agent(start: Start) -> None:
    server = await start()
    tl = Timeline()
    alice = SocketioDriver(AgentIdentity("alice", "alice"), tl, SETTINGS, base_url=server.url, register=True)
    try:
        await alice.connect()
        await server.stop()
        gone = await notice(alice, "disconnected")
        assert gone.data["by"] == "server"
        [closed] = [e for e in tl.events if isinstance(e, WsClosed)]
        assert closed.by == "server" and closed.reason
        assert not alice.connected
    finally:
        await alice.close()
