"""The rooms driver against the reference call-room server: login, invite, ring, answers, rooms, refusals."""

from __future__ import annotations

import asyncio
from typing import Any, TypeVar

import pytest

from callprobe.backends.base import DriverError, DriverNotice
from callprobe.backends.rooms.driver import RoomsDriver, RoomsInviteRefused, RoomsRefused
from callprobe.backends.rooms.server import EmbeddedRoomServer
from callprobe.timeline.events import (
    Answered,
    Cancelled,
    Event,
    HungUp,
    JoinNotice,
    LoginFailed,
    Rejected,
    Ringing,
    RoomJoined,
    SignalReceived,
    WsClosed,
    WsRefused,
)
from callprobe.timeline.recorder import Timeline
from tests.backends.rooms.driver.conftest import DriverFactory, ServerFactory

E = TypeVar("E", bound=Event)
WAIT_S = 5.0


async def notice(driver: RoomsDriver, kind: str) -> DriverNotice:
    """The driver's next notice of ``kind`` (others are skipped)."""
    async with asyncio.timeout(WAIT_S):
        while True:
            got = await driver.notices.get()
            if got.kind == kind:
                return got


async def event(timeline: Timeline, cls: type[E], agent: str, room: str = "", **match: Any) -> E:
    """The first such event (waiting for it), matching ``match`` on its attributes."""
    async with asyncio.timeout(WAIT_S):
        while True:
            for e in timeline.events:
                if (isinstance(e, cls) and e.agent == agent and (not room or e.room_id == room)
                        and all(getattr(e, k) == v for k, v in match.items())):
                    return e
            await asyncio.sleep(0.01)


def of(timeline: Timeline, cls: type[E], agent: str) -> list[E]:
    return [e for e in timeline.events if isinstance(e, cls) and e.agent == agent]


async def ringing_call(server: EmbeddedRoomServer, drivers: DriverFactory) -> tuple[RoomsDriver, RoomsDriver, str]:
    alice, bob = await drivers(server, "alice"), await drivers(server, "bob")
    room = (await alice.invite([bob.identity], "audio", 60)).room_id
    assert (await notice(bob, "ringing")).room_id == room
    return alice, bob, room


# ------------------------------------------------------------------ login


async def test_login_learns_the_integer_id(server: EmbeddedRoomServer, drivers: DriverFactory) -> None:
    alice = await drivers(server, "alice")
    assert alice.identity.user_id.isdigit() and alice.identity.username == "alice"
    assert alice.connected
    user = server.store.credentials("alice")
    assert user is not None and alice.identity.user_id == str(user[0].id)


async def test_an_unknown_account_is_refused_with_status_and_words(server: EmbeddedRoomServer,
                                                                   drivers: DriverFactory,
                                                                   timeline: Timeline) -> None:
    alice = await drivers(server, "alice", connect=False, register=False)
    with pytest.raises(RoomsRefused) as info:
        await alice.login()
    assert info.value.http_status == 401 and "invalid username or password" in str(info.value)
    [failed] = of(timeline, LoginFailed, "alice")
    assert failed.status == 401 and failed.user_id == "alice"


# ------------------------------------------------------------------ invite and ring


async def test_the_ring_is_the_first_poll_that_lists_the_call(server: EmbeddedRoomServer, drivers: DriverFactory,
                                                              timeline: Timeline) -> None:
    alice, _bob, room = await ringing_call(server, drivers)
    invited = next(e for e in timeline.events if e.kind == "invite_sent")
    ring = await event(timeline, Ringing, "bob", room)
    assert ring.inviter == alice.identity.user_id and ring.via == "incoming_poll"
    assert 0 < ring.t_ms - invited.t_ms < 1000  # a 100 ms poll


async def test_a_call_to_an_unknown_user_is_refused_404(server: EmbeddedRoomServer, drivers: DriverFactory) -> None:
    alice = await drivers(server, "alice")
    ghost = alice.identity.__class__("ghost", "ghost", username="ghost")
    with pytest.raises(RoomsInviteRefused) as info:
        await alice.invite([ghost], "video", 60)
    assert info.value.http_status == 404 and info.value.busy == ()


async def test_a_busy_callee_is_refused_409_and_named(server: EmbeddedRoomServer, drivers: DriverFactory) -> None:
    _alice, bob, _ = await ringing_call(server, drivers)
    carol = await drivers(server, "carol")
    with pytest.raises(RoomsInviteRefused) as info:
        await carol.invite([bob.identity], "audio", 60)
    assert info.value.http_status == 409 and info.value.busy == (bob.identity.user_id,)


async def test_one_callee_at_a_time(server: EmbeddedRoomServer, drivers: DriverFactory) -> None:
    alice, bob = await drivers(server, "alice"), await drivers(server, "bob")
    with pytest.raises(DriverError, match="one user at a time"):
        await alice.invite([bob.identity, bob.identity], "audio", 60)


# ------------------------------------------------------------------ join orders


@pytest.mark.parametrize("order", ["caller-first", "callee-first"])
async def test_join_notices_in_both_orders(server: EmbeddedRoomServer, drivers: DriverFactory, timeline: Timeline,
                                           order: str) -> None:
    alice, bob, room = await ringing_call(server, drivers)
    (first, a), (second, b) = (("alice", alice), ("bob", bob)) if order == "caller-first" else (
        ("bob", bob), ("alice", alice))
    await a.join_room(room)
    entered = await event(timeline, RoomJoined, first, room)
    await b.join_room(room)
    came = await event(timeline, RoomJoined, second, room)
    told = await event(timeline, JoinNotice, first, room, notice="join")
    assert (entered.order, came.order) == (1, 2)
    assert entered.join_order == came.join_order == told.join_order == order
    assert came.users == [a.identity.user_id, b.identity.user_id]
    assert (told.user, told.username) == (b.identity.user_id, second)
    assert entered.identity == a.identity.user_id and came.identity == b.identity.user_id
    assert entered.authenticated is True


async def test_the_lost_join_of_a_callee_that_came_first(make_server: ServerFactory, drivers: DriverFactory,
                                                         timeline: Timeline) -> None:
    server = await make_server(faults=(("join-lost-callee-first", ""),))
    alice, bob, room = await ringing_call(server, drivers)
    await bob.join_room(room)
    await alice.join_room(room)
    await event(timeline, RoomJoined, "alice", room)
    await asyncio.sleep(0.3)
    assert of(timeline, JoinNotice, "bob") == []


async def test_a_refused_join_keeps_its_status(server: EmbeddedRoomServer, drivers: DriverFactory,
                                              timeline: Timeline) -> None:
    _alice, _bob, room = await ringing_call(server, drivers)
    carol = await drivers(server, "carol")
    with pytest.raises(RoomsRefused) as info:
        await carol.join_room(room)
    assert info.value.http_status == 403
    [refused] = of(timeline, WsRefused, "carol")
    assert (refused.room_id, refused.status, refused.err_msg) == (room, 403, "not a party of this call")


async def test_a_join_with_only_a_user_id_is_refused_401(server: EmbeddedRoomServer, drivers: DriverFactory,
                                                        timeline: Timeline) -> None:
    alice = await drivers(server, "alice", identity=("user_id_header",))
    bob = await drivers(server, "bob")
    room = (await alice.invite([bob.identity], "audio", 60)).room_id
    with pytest.raises(RoomsRefused) as info:
        await alice.join_room(room)
    assert info.value.http_status == 401


# ------------------------------------------------------------------ answers and ends


async def test_the_caller_in_the_room_hears_the_accept(server: EmbeddedRoomServer, drivers: DriverFactory,
                                                      timeline: Timeline) -> None:
    alice, bob, room = await ringing_call(server, drivers)
    await alice.join_room(room)
    await bob.accept(room)
    answered = await notice(alice, "answered")
    assert (answered.path, answered.peer) == ("room_notice", bob.identity.user_id)


async def test_a_caller_outside_the_room_learns_the_accept_from_the_status(server: EmbeddedRoomServer,
                                                                          drivers: DriverFactory) -> None:
    alice, bob, room = await ringing_call(server, drivers)
    await bob.accept(room)
    answered = await notice(alice, "answered")
    assert answered.path == "status_poll" and answered.data["polled"]


async def test_a_lost_accepted_notice_is_learned_from_the_status(make_server: ServerFactory,
                                                                drivers: DriverFactory, timeline: Timeline) -> None:
    server = await make_server(faults=(("accept-not-relayed", ""),))
    alice, bob, room = await ringing_call(server, drivers)
    await alice.join_room(room)
    await bob.accept(room)
    await notice(alice, "answered")
    [answered] = of(timeline, Answered, "alice")
    assert answered.polled and answered.path == "status_poll" and "no accepted notice" in answered.server_reason


async def test_reject_reaches_the_caller_in_the_room(server: EmbeddedRoomServer, drivers: DriverFactory,
                                                    timeline: Timeline) -> None:
    alice, bob, room = await ringing_call(server, drivers)
    await alice.join_room(room)
    await bob.reject(room)
    await notice(alice, "rejected")
    [rejected] = of(timeline, Rejected, "alice")
    assert rejected.path == "room_notice"
    await event(timeline, WsClosed, "alice", room, by="client")  # the call is over: alice left the room


async def test_a_cancel_ends_the_ring_of_a_callee_outside_the_room(server: EmbeddedRoomServer,
                                                                  drivers: DriverFactory,
                                                                  timeline: Timeline) -> None:
    alice, bob, room = await ringing_call(server, drivers)
    await alice.cancel(room)
    await notice(bob, "cancelled")
    [cancelled] = of(timeline, Cancelled, "bob")
    assert cancelled.polled and cancelled.action == "cancelled"


async def test_media_signals_cross_the_room_and_end_hangs_up(server: EmbeddedRoomServer, drivers: DriverFactory,
                                                            timeline: Timeline) -> None:
    alice, bob, room = await ringing_call(server, drivers)
    await alice.join_room(room)
    await alice.send_signal(bob.identity.user_id, room, "offer", {"type": "offer", "sdp": "v=0\r\n"})
    await bob.accept(room)
    await bob.join_room(room)  # the offer waited for bob
    offer = await notice(bob, "signal_received")
    assert offer.data["signal_type"] == "offer" and offer.data["data"] == {"type": "offer", "sdp": "v=0\r\n"}
    await bob.send_signal(alice.identity.user_id, room, "candidate",
                          {"candidate": "candidate:1 1 udp 1 127.0.0.1 9 typ host", "sdpMid": "0"})
    assert (await notice(alice, "signal_received")).data["signal_type"] == "candidate"
    assert [s.signal_type for s in of(timeline, SignalReceived, "alice")] == ["candidate"]
    await alice.hangup(room)
    hung = await notice(bob, "hung_up")
    assert hung.path == "room_notice"
    assert [e.by for e in of(timeline, HungUp, "bob")] == [alice.identity.user_id]
    assert server.store.call(room) is not None and server.store.call(room).status.value == "ended"  # type: ignore[union-attr]


async def test_hanging_up_outside_the_room_joins_it_to_send_end(server: EmbeddedRoomServer,
                                                               drivers: DriverFactory) -> None:
    _alice, bob, room = await ringing_call(server, drivers)
    await bob.accept(room)
    await bob.hangup(room)
    assert server.store.call(room).status.value == "ended"  # type: ignore[union-attr]


async def test_the_room_has_no_text_messages(server: EmbeddedRoomServer, drivers: DriverFactory) -> None:
    alice, bob = await drivers(server, "alice"), await drivers(server, "bob")
    with pytest.raises(DriverError, match="no text messages"):
        await alice.send_text(bob.identity, "hi")


async def test_disconnect_and_close_stop_the_poll_and_leave_every_room(server: EmbeddedRoomServer,
                                                                     drivers: DriverFactory,
                                                                     timeline: Timeline) -> None:
    alice, _bob, room = await ringing_call(server, drivers)
    await alice.join_room(room)
    await alice.disconnect()
    assert not alice.connected
    await event(timeline, WsClosed, "alice", room, by="client")
    await alice.reconnect()
    assert alice.connected
    await alice.join_room(room)
    await alice.close()
    assert len(of(timeline, WsClosed, "alice")) == 2
    await alice.close()  # twice is fine
