"""The call room: who may join, the join notices in both orders, relays, end, and REST notices."""

from __future__ import annotations

import time
from typing import Any

import pytest

from callprobe.backends.rooms.server import EmbeddedRoomServer
from tests.backends.rooms.server.clients import Api, Party, RoomClient, refused_join
from tests.backends.rooms.server.conftest import warnings_of

Rooms = list[RoomClient]


async def enter(rooms: Rooms, server: EmbeddedRoomServer, call: dict[str, Any], party: Party,
                **how: Any) -> RoomClient:
    """``party`` joins ``call``'s room (token in the query unless ``how`` says otherwise)."""
    query = how if how else {"token": party.token}
    client = await RoomClient.join(server.url, call["uuid"], **query)
    rooms.append(client)
    return client


async def pair(api: Api) -> tuple[Party, Party, dict[str, Any]]:
    alice, bob = await api.party("alice"), await api.party("bob")
    return alice, bob, await api.start_call(alice, bob)


def check_envelope(message: dict[str, Any], kind: str, call: dict[str, Any], user_id: int) -> None:
    assert set(message) == {"type", "call_id", "user_id", "timestamp", "data"}
    assert (message["type"], message["call_id"], message["user_id"]) == (kind, call["uuid"], user_id)
    assert isinstance(message["timestamp"], int) and abs(message["timestamp"] - time.time()) < 5


@pytest.mark.parametrize("first", ["caller", "callee"])
async def test_join_notices_reach_whoever_was_first(server: EmbeddedRoomServer, api: Api, rooms: Rooms,
                                                    first: str) -> None:
    alice, bob, call = await pair(api)
    early, late = (alice, bob) if first == "caller" else (bob, alice)
    early_ws = await enter(rooms, server, call, early)
    hello = await early_ws.next()
    check_envelope(hello, "connection", call, early.id)
    assert hello["data"] == {"users": [early.id]}
    late_ws = await enter(rooms, server, call, late)
    connection = await late_ws.next()
    check_envelope(connection, "connection", call, late.id)
    assert connection["data"] == {"users": [early.id, late.id]}
    join = await early_ws.next()
    check_envelope(join, "join", call, late.id)
    assert join["data"] == {"user": {"id": late.id, "username": late.username}}


async def test_leave_tells_the_others_and_a_rejoin_is_announced_again(server: EmbeddedRoomServer, api: Api,
                                                                      rooms: Rooms) -> None:
    alice, bob, call = await pair(api)
    alice_ws = await enter(rooms, server, call, alice)
    bob_ws = await enter(rooms, server, call, bob)
    assert await alice_ws.types_until("join") == ["connection", "join"]
    await bob_ws.close()
    leave = await alice_ws.next()
    check_envelope(leave, "leave", call, bob.id)
    assert leave["data"] == {"user": {"id": bob.id, "username": "bob"}}
    again = await enter(rooms, server, call, bob)
    assert (await again.next())["data"] == {"users": [alice.id, bob.id]}
    assert (await alice_ws.next())["type"] == "join"


@pytest.mark.parametrize("kind", ["offer", "answer", "ice-candidate"])
async def test_signals_are_relayed_to_the_other_party_only(server: EmbeddedRoomServer, api: Api, rooms: Rooms,
                                                           kind: str) -> None:
    alice, bob, call = await pair(api)
    alice_ws = await enter(rooms, server, call, alice)
    bob_ws = await enter(rooms, server, call, bob)
    await alice_ws.until("join")
    await bob_ws.next()
    payload = {"sdp": "v=0\r\n", "candidate": "candidate:1 1 udp 1 127.0.0.1 9 typ host", "n": [1, {"x": None}]}
    await alice_ws.send({"type": kind, "data": payload, "user_id": 999, "call_id": "forged"})
    relayed = await bob_ws.next()
    check_envelope(relayed, kind, call, alice.id)  # stamped by the server, not taken from the client
    assert relayed["data"] == payload
    assert await alice_ws.barrier() == []  # nothing echoed to the sender


async def test_end_ends_the_call_is_relayed_and_sockets_stay_open(server: EmbeddedRoomServer, api: Api,
                                                                  rooms: Rooms) -> None:
    alice, bob, call = await pair(api)
    assert (await api.act(bob, call, "accept")).status == 200
    alice_ws = await enter(rooms, server, call, alice)
    bob_ws = await enter(rooms, server, call, bob)
    await alice_ws.until("join")
    await bob_ws.next()
    await bob_ws.send({"type": "end", "data": {"reason": "hangup"}})
    ended = await alice_ws.next()
    check_envelope(ended, "end", call, bob.id)
    assert ended["data"] == {"reason": "hangup"}
    assert await api.status(alice, call) == "ended"
    await alice_ws.send({"type": "offer", "data": "after the end"})
    assert (await bob_ws.next())["data"] == "after the end"  # still open and relaying
    await bob_ws.send({"type": "end"})
    assert (await alice_ws.next())["type"] == "end"
    assert await api.status(bob, call) == "ended"
    await api.start_call(alice, bob)  # nobody is busy any more


@pytest.mark.parametrize("action, notice, to", [
    ("accept", "accepted", "caller"), ("reject", "rejected", "caller"), ("cancel", "cancelled", "callee"),
])
async def test_rest_answers_notify_the_other_party_in_the_room(server: EmbeddedRoomServer, api: Api,
                                                               rooms: Rooms, action: str, notice: str,
                                                               to: str) -> None:
    alice, bob, call = await pair(api)
    actor, target = (bob, alice) if to == "caller" else (alice, bob)
    target_ws = await enter(rooms, server, call, target)
    actor_ws = await enter(rooms, server, call, actor)
    assert await target_ws.types_until("join") == ["connection", "join"]
    await actor_ws.next()
    assert (await api.act(actor, call, action)).status == 200
    got = await target_ws.next()
    check_envelope(got, notice, call, actor.id)
    assert got["data"]["call"]["status"] == notice
    assert await actor_ws.barrier() == []  # the actor is not told its own answer


async def test_answers_without_the_other_party_in_the_room_change_the_status_only(api: Api) -> None:
    alice, bob, call = await pair(api)
    assert (await api.act(bob, call, "accept")).status == 200
    assert await api.status(alice, call) == "accepted"


# ---------------------------------------------------------------- who may join


async def test_joining_with_the_bearer_header_and_a_matching_user_id(server: EmbeddedRoomServer, api: Api,
                                                                     rooms: Rooms) -> None:
    alice, _bob, call = await pair(api)
    client = await RoomClient.join(server.url, call["uuid"], headers={**alice.auth, "X-User-ID": str(alice.id)},
                                   user_id=alice.id)
    rooms.append(client)
    assert (await client.next())["data"] == {"users": [alice.id]}


@pytest.mark.parametrize("how, status, words", [
    (lambda a, e: {}, 401, "authorization required"),
    (lambda a, e: {"token": "garbage"}, 401, "token"),
    (lambda a, e: {"headers": {"Authorization": "Bearer garbage"}}, 401, "token"),
    (lambda a, e: {"user_id": a.id}, 401, "authorization required"),
    (lambda a, e: {"token": a.token, "user_id": e.id}, 403, "user_id does not name the token's user"),
    (lambda a, e: {"token": a.token, "user_id": "alice"}, 403, "user_id does not name the token's user"),
    (lambda a, e: {"token": a.token, "headers": {"X-User-ID": str(e.id)}}, 403,
     "X-User-ID does not name the token's user"),
    (lambda a, e: {"token": e.token}, 403, "not a party of this call"),
], ids=["nothing", "bad-token", "bad-bearer", "user-id-only", "other-user-id", "text-user-id", "other-header",
        "not-a-party"])
async def test_refused_joins_get_a_status_and_a_json_error(server: EmbeddedRoomServer, api: Api,
                                                           server_log: pytest.LogCaptureFixture, how: Any,
                                                           status: int, words: str) -> None:
    alice, _bob, call = await pair(api)
    eve = await api.party("eve")
    reply = await refused_join(server.url, call["uuid"], **how(alice, eve))
    assert reply.status == status
    assert set(reply.body) == {"error"} and words in reply.body["error"]
    assert len(warnings_of(server_log, f"{status}")) == 1


@pytest.mark.parametrize("uuid", ["00000000-0000-0000-0000-000000000000", "not-a-call"])
async def test_joining_an_unknown_call_is_404(server: EmbeddedRoomServer, api: Api, uuid: str) -> None:
    alice = await api.party("alice")
    reply = await refused_join(server.url, uuid, token=alice.token)
    assert reply.status == 404 and reply.body == {"error": "call not found"}


async def test_a_plain_get_of_the_room_is_400_after_the_checks(server: EmbeddedRoomServer, api: Api) -> None:
    alice, _bob, call = await pair(api)
    reply = await api.request("GET", f"/ws/call/{call['uuid']}?token={alice.token}")
    assert reply.status == 400 and "WebSocket upgrade" in reply.body["error"]


async def test_a_second_socket_of_a_user_takes_its_room_entry_over(server: EmbeddedRoomServer, api: Api,
                                                                   rooms: Rooms) -> None:
    alice, bob, call = await pair(api)
    alice_ws = await enter(rooms, server, call, alice)
    old_bob = await enter(rooms, server, call, bob)
    await alice_ws.until("join")
    new_bob = await enter(rooms, server, call, bob)
    assert (await new_bob.next())["data"] == {"users": [alice.id, bob.id]}
    assert (await alice_ws.next())["type"] == "join"
    await alice_ws.send({"type": "offer", "data": 1})
    assert (await new_bob.until("offer"))[-1]["data"] == 1
    assert [m["type"] for m in await old_bob.barrier()] == ["connection"]  # out of the room: no offer
    await old_bob.close()
    assert await alice_ws.barrier() == []  # the old socket held no entry: no leave
