"""Calls over REST: create, incoming, accept/reject/cancel, status, the busy rule and ring timeout."""

from __future__ import annotations

import pytest

from callprobe.backends.rooms.server import EmbeddedRoomServer
from tests.backends.rooms.server.clients import Api
from tests.backends.rooms.server.conftest import ServerFactory


async def test_a_new_call_is_initiated_and_names_both_parties(api: Api) -> None:
    alice, bob = await api.party("alice"), await api.party("bob")
    reply = await api.request("POST", "/api/v1/calls/by-username", party=alice,
                              body={"callee_username": "bob", "call_type": "audio"})
    assert reply.status == 201
    call = reply.body["call"]
    assert set(call) == {"id", "uuid", "caller_id", "callee_id", "call_type", "status"}
    assert (call["caller_id"], call["callee_id"], call["call_type"], call["status"]) == \
        (alice.id, bob.id, "audio", "initiated")
    assert isinstance(call["id"], int) and len(call["uuid"]) == 36


@pytest.mark.parametrize("body, status, words", [
    ({"callee_username": "nobody", "call_type": "video"}, 404, "callee not found"),
    ({"call_type": "video"}, 422, "callee_username is required"),
    ({"callee_username": "bob"}, 422, "call_type is required"),
    ({"callee_username": "bob", "call_type": "fax"}, 422, "call_type must be one of audio, video"),
    ({"callee_username": "alice", "call_type": "video"}, 422, "cannot call yourself"),
])
async def test_call_refusals(api: Api, body: dict[str, str], status: int, words: str) -> None:
    alice = await api.party("alice")
    await api.party("bob")
    reply = await api.request("POST", "/api/v1/calls/by-username", party=alice, body=body)
    assert reply.status == status
    assert words in reply.body["error"]


async def test_a_caller_or_callee_with_a_live_call_is_busy_until_it_ends(api: Api) -> None:
    alice, bob, carol = await api.party("alice"), await api.party("bob"), await api.party("carol")
    call = await api.start_call(alice, bob)
    for caller, callee, who in ((carol, bob, "callee"), (carol, alice, "callee"), (alice, carol, "caller"),
                                (bob, carol, "caller")):
        reply = await api.request("POST", "/api/v1/calls/by-username", party=caller,
                                  body={"callee_username": callee.username, "call_type": "video"})
        assert reply.status == 409 and reply.body == {"error": f"{who} is already in a call"}
    assert (await api.act(bob, call, "accept")).status == 200
    busy = await api.request("POST", "/api/v1/calls/by-username", party=carol,
                             body={"callee_username": "alice", "call_type": "video"})
    assert busy.status == 409  # accepted is busy too
    assert (await api.act(alice, call, "reject")).status == 403
    assert (await api.act(bob, call, "cancel")).status == 403
    assert (await api.act(alice, call, "cancel")).status == 409  # no longer initiated
    await api.start_call(carol, await api.party("dave"))  # others are not busy


async def test_incoming_lists_initiated_calls_naming_the_requester_newest_first(api: Api) -> None:
    alice, bob, carol, dave = [await api.party(n) for n in ("alice", "bob", "carol", "dave")]
    first = await api.start_call(alice, bob)
    assert (await api.act(alice, first, "cancel")).status == 200
    second = await api.start_call(alice, bob)
    assert (await api.act(bob, second, "reject")).status == 200
    third = await api.start_call(carol, bob)
    await api.start_call(alice, dave)
    listed = await api.request("GET", "/api/v1/calls/incoming", party=bob)
    assert listed.status == 200
    assert listed.body == {"calls": [third]}
    assert (await api.request("GET", "/api/v1/calls/incoming", party=carol)).body == {"calls": []}


async def test_incoming_is_newest_first(server: EmbeddedRoomServer, api: Api) -> None:
    # through the API the busy rule keeps one initiated call per callee; rows written straight
    # into the store stand for calls an older version of the service let through
    alice, bob, carol = await api.party("alice"), await api.party("bob"), await api.party("carol")
    old = server.store.add_call(alice.id, bob.id, "audio", 1.0)
    new = server.store.add_call(carol.id, bob.id, "video", 2.0)
    listed = await api.request("GET", "/api/v1/calls/incoming", party=bob)
    assert [c["uuid"] for c in listed.body["calls"]] == [new.uuid, old.uuid]


@pytest.mark.parametrize("action, by, status", [
    ("accept", "callee", "accepted"), ("reject", "callee", "rejected"), ("cancel", "caller", "cancelled"),
])
async def test_answers_set_the_status_and_only_the_right_party_may_answer(
        api: Api, action: str, by: str, status: str) -> None:
    alice, bob, eve = await api.party("alice"), await api.party("bob"), await api.party("eve")
    call = await api.start_call(alice, bob)
    actor, other = (bob, alice) if by == "callee" else (alice, bob)
    wrong = await api.act(other, call, action)
    assert wrong.status == 403 and f"only the {by}" in wrong.body["error"]
    stranger = await api.act(eve, call, action)
    assert stranger.status == 403 and stranger.body == {"error": "not a party of this call"}
    done = await api.act(actor, call, action)
    assert done.status == 200 and done.body["call"]["status"] == status
    again = await api.act(actor, call, action)
    assert again.status == 409 and again.body == {"error": f"call is {status}, not initiated"}
    for party in (alice, bob):
        assert await api.status(party, call) == status


async def test_get_call_is_for_its_parties(api: Api) -> None:
    alice, bob, eve = await api.party("alice"), await api.party("bob"), await api.party("eve")
    call = await api.start_call(alice, bob)
    for party in (alice, bob):
        reply = await api.request("GET", f"/api/v1/calls/{call['uuid']}", party=party)
        assert reply.status == 200 and reply.body == {"call": call}
    assert (await api.request("GET", f"/api/v1/calls/{call['uuid']}", party=eve)).status == 403


@pytest.mark.parametrize("uuid", ["00000000-0000-0000-0000-000000000000", "nope", "%ED%A0%80", "x" * 300])
async def test_unknown_calls_are_404(api: Api, uuid: str) -> None:
    alice = await api.party("alice")
    for method, path in (("GET", f"/api/v1/calls/{uuid}"), ("POST", f"/api/v1/calls/{uuid}/accept"),
                         ("POST", f"/api/v1/calls/{uuid}/cancel")):
        reply = await api.request(method, path, party=alice)
        assert reply.status == 404 and reply.body == {"error": "call not found"}


async def test_an_unanswered_call_becomes_missed_and_frees_both(make_server: ServerFactory) -> None:
    server = await make_server(ring_timeout_s=0.3)
    api = Api(server.url)
    try:
        alice, bob = await api.party("alice"), await api.party("bob")
        call = await api.start_call(alice, bob)
        await api.await_status(bob, call, "missed")
        assert (await api.request("GET", "/api/v1/calls/incoming", party=bob)).body == {"calls": []}
        assert (await api.act(bob, call, "accept")).status == 409
        await api.start_call(bob, alice)  # nobody is busy any more
        accepted = await api.start_call(await api.party("carol"), await api.party("dave"))
    finally:
        await api.close()
    assert accepted["status"] == "initiated"


async def test_an_accepted_call_is_not_missed(make_server: ServerFactory) -> None:
    server = await make_server(ring_timeout_s=0.2)
    api = Api(server.url)
    try:
        alice, bob, carol, dave = [await api.party(n) for n in ("alice", "bob", "carol", "dave")]
        call = await api.start_call(alice, bob)
        assert (await api.act(bob, call, "accept")).status == 200
        control = await api.start_call(carol, dave)  # created later: its timer fires after the first one's
        await api.await_status(carol, control, "missed")
        assert await api.status(alice, call) == "accepted"
    finally:
        await api.close()


@pytest.mark.parametrize("method, path, status", [
    ("GET", "/api/v1/nothing", 404), ("GET", "/api/v1/auth/login", 405), ("DELETE", "/api/v1/calls/incoming", 405),
])
async def test_unknown_routes_and_methods_answer_json(api: Api, method: str, path: str, status: int) -> None:
    reply = await api.request(method, path)
    assert reply.status == status and isinstance(reply.body["error"], str)
