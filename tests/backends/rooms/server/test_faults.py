"""Each fault gives exactly its misbehaviour, and a healthy server none.

Every probe below plays one small situation and returns what a client saw,
in words. The test runs every probe against a healthy server and against a
server with each fault on; the table ``MISBEHAVIOUR`` lists the only probes
whose outcome a fault changes, and to what. Absence of a notice is observed
with a later marker message through the same socket, never with a sleep.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from callprobe.backends.rooms.faults import FAULTS
from callprobe.backends.rooms.server import EmbeddedRoomServer
from tests.backends.rooms.server.clients import Api, Party, RoomClient, refused_join
from tests.backends.rooms.server.conftest import ServerFactory

Probe = Callable[[EmbeddedRoomServer, Api, list[RoomClient]], Awaitable[str]]


async def _call(api: Api) -> tuple[Party, Party, dict[str, Any]]:
    caller, callee = await api.party(), await api.party()
    return caller, callee, await api.start_call(caller, callee)


async def _join(rooms: list[RoomClient], server: EmbeddedRoomServer, call: dict[str, Any],
                **how: Any) -> RoomClient:
    client = await RoomClient.join(server.url, call["uuid"], **how)
    rooms.append(client)
    return client


async def _refused_or_admitted(server: EmbeddedRoomServer, rooms: list[RoomClient], call: dict[str, Any],
                               callee: Party, **how: Any) -> str:
    """``"<status> <body>"`` of a refused join, or whom the server admitted."""
    try:
        reply = await refused_join(server.url, call["uuid"], **how)
    except AssertionError:  # admitted: join again to read the identity the server assigned
        client = await _join(rooms, server, call, **how)
        first = await client.next()
        who = "the callee" if first["user_id"] == callee.id else repr(first["user_id"])
        return f"admitted as {who}"
    body = "empty" if reply.body == b"" else "error" if set(reply.body) == {"error"} else repr(reply.body)
    return f"{reply.status} {body}"


async def no_identity(server: EmbeddedRoomServer, api: Api, rooms: list[RoomClient]) -> str:
    """Two joins with neither token nor user id."""
    _caller, callee, call = await _call(api)
    outcome = await _refused_or_admitted(server, rooms, call, callee)
    if not outcome.startswith("admitted"):
        return outcome
    first = rooms[-1]
    second = await _join(rooms, server, call)
    users = (await second.next())["data"]["users"]
    before = await first.barrier()
    default = f"test-user-{call['uuid']}"
    return (f"admitted as default; users {['default' if u == default else u for u in users]}; "
            f"first got {[m['type'] for m in before]}")


async def user_id_only(server: EmbeddedRoomServer, api: Api, rooms: list[RoomClient]) -> str:
    """A join naming the callee by ``user_id`` without any token."""
    _caller, callee, call = await _call(api)
    return await _refused_or_admitted(server, rooms, call, callee, user_id=callee.id)


async def token_with_other_user_id(server: EmbeddedRoomServer, api: Api, rooms: list[RoomClient]) -> str:
    """The caller's token with an ``X-User-ID`` naming the callee."""
    caller, callee, call = await _call(api)
    return await _refused_or_admitted(server, rooms, call, callee, token=caller.token,
                                      headers={"X-User-ID": str(callee.id)})


async def _both_in(server: EmbeddedRoomServer, rooms: list[RoomClient], call: dict[str, Any], first: Party,
                   second: Party) -> tuple[RoomClient, RoomClient]:
    """``first`` joins, then ``second``; each has read its ``connection``."""
    first_ws = await _join(rooms, server, call, token=first.token)
    assert (await first_ws.next())["type"] == "connection"
    second_ws = await _join(rooms, server, call, token=second.token)
    assert (await second_ws.next())["type"] == "connection"
    return first_ws, second_ws


async def callee_first(server: EmbeddedRoomServer, api: Api, rooms: list[RoomClient]) -> str:
    """The callee joins first; what it reads before the caller's marker offer."""
    caller, callee, call = await _call(api)
    callee_ws, caller_ws = await _both_in(server, rooms, call, callee, caller)
    await caller_ws.send({"type": "offer", "data": "marker"})
    return f"callee got {await callee_ws.types_until('offer')}"


async def caller_first(server: EmbeddedRoomServer, api: Api, rooms: list[RoomClient]) -> str:
    caller, callee, call = await _call(api)
    caller_ws, callee_ws = await _both_in(server, rooms, call, caller, callee)
    await callee_ws.send({"type": "offer", "data": "marker"})
    return f"caller got {await caller_ws.types_until('offer')}"


async def _answer_seen(server: EmbeddedRoomServer, api: Api, rooms: list[RoomClient], action: str) -> str:
    caller, callee, call = await _call(api)
    caller_ws, callee_ws = await _both_in(server, rooms, call, caller, callee)
    await caller_ws.until("join")
    reply = await api.act(callee, call, action)
    await callee_ws.send({"type": "offer", "data": "marker"})
    return f"caller got {await caller_ws.types_until('offer')}; status {reply.body['call']['status']}"


async def accepted_notice(server: EmbeddedRoomServer, api: Api, rooms: list[RoomClient]) -> str:
    return await _answer_seen(server, api, rooms, "accept")


async def rejected_notice(server: EmbeddedRoomServer, api: Api, rooms: list[RoomClient]) -> str:
    return await _answer_seen(server, api, rooms, "reject")


async def candidate_relay(server: EmbeddedRoomServer, api: Api, rooms: list[RoomClient]) -> str:
    caller, callee, call = await _call(api)
    caller_ws, callee_ws = await _both_in(server, rooms, call, caller, callee)
    await caller_ws.until("join")
    for kind in ("offer", "ice-candidate", "answer"):
        await caller_ws.send({"type": kind, "data": {"candidate": "candidate:1 1 udp 1 127.0.0.1 9 typ host"}})
    return f"callee got {await callee_ws.types_until('answer')}"


PROBES: dict[str, Probe] = {p.__name__: p for p in (
    no_identity, user_id_only, token_with_other_user_id, callee_first, caller_first, accepted_notice,
    rejected_notice, candidate_relay)}

HEALTHY: dict[str, str] = {
    "no_identity": "401 error",
    "user_id_only": "401 error",
    "token_with_other_user_id": "403 error",
    "callee_first": "callee got ['join', 'offer']",
    "caller_first": "caller got ['join', 'offer']",
    "accepted_notice": "caller got ['accepted', 'offer']; status accepted",
    "rejected_notice": "caller got ['rejected', 'offer']; status rejected",
    "candidate_relay": "callee got ['offer', 'ice-candidate', 'answer']",
}

MISBEHAVIOUR: dict[str, dict[str, str]] = {
    "handshake-crash": {"no_identity": "500 empty", "user_id_only": "500 empty"},
    "trust-user-id": {"user_id_only": "admitted as the callee", "token_with_other_user_id": "admitted as the callee"},
    "default-identity": {"no_identity": "admitted as default; users ['default']; first got []"},
    "join-lost-callee-first": {"callee_first": "callee got ['offer']"},
    "accept-not-relayed": {"accepted_notice": "caller got ['offer']; status accepted"},
    "relay-drops-candidates": {"candidate_relay": "callee got ['offer', 'answer']"},
}


def test_the_table_covers_every_fault() -> None:
    assert set(MISBEHAVIOUR) == set(FAULTS)


@pytest.mark.parametrize("fault", [None, *FAULTS])
async def test_each_fault_changes_exactly_its_probes(make_server: ServerFactory, server_log: pytest.LogCaptureFixture,
                                                    fault: str | None) -> None:
    server = await make_server(faults=((fault, ""),) if fault else ())
    assert server.active_faults() == ([fault] if fault else [])
    [started] = [r.getMessage() for r in server_log.records if "call-room server on" in r.getMessage()]
    assert started.endswith(f"faults: {fault or 'none'}")
    expected = {**HEALTHY, **MISBEHAVIOUR.get(fault or "", {})}
    api = Api(server.url)
    rooms: list[RoomClient] = []
    try:
        seen = {name: await probe(server, api, rooms) for name, probe in PROBES.items()}
    finally:
        for client in rooms:
            await client.close()
        await api.close()
    assert seen == expected


async def test_a_join_with_a_token_still_works_under_every_identity_fault(make_server: ServerFactory) -> None:
    server = await make_server(faults=(("handshake-crash", ""), ("trust-user-id", ""), ("default-identity", "")))
    api = Api(server.url)
    try:
        _caller, callee, call = await _call(api)
        client = await RoomClient.join(server.url, call["uuid"], token=callee.token)
        assert (await client.next())["data"] == {"users": [callee.id]}
        await client.close()
    finally:
        await api.close()
