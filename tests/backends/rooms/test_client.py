"""The call-room client core in memory: REST replies and room messages in, events, notices and frames out.

No socket, no clock: each test hands the core the replies and messages a
server would send and reads what it asks for. ``Pump`` drains the outputs.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from callprobe.backends.rooms.client import (
    PATH_POLL,
    PATH_ROOM,
    Deliver,
    Frame,
    Leave,
    Record,
    RoomsClient,
    Timer,
)
from callprobe.backends.rooms.config import RoomsOptions
from callprobe.backends.rooms.protocol import TRANSITIONS, CallState
from callprobe.timeline.events import (
    Answered,
    CallTimeout,
    Cancelled,
    Event,
    HungUp,
    InviteAcked,
    InviteRefused,
    JoinNotice,
    LoginFailed,
    LoginOk,
    Note,
    Rejected,
    Ringing,
    RoomJoined,
    SignalReceived,
    SignalSent,
    WsClosed,
    WsRefused,
)

ROOM = "9b6c6d1e-0000-4000-8000-000000000001"
GRACE_MS = 500.0


class Pump:
    """The core's outputs, sorted by kind."""

    def __init__(self, client: RoomsClient) -> None:
        self.client = client
        self.events: list[Event] = []
        self.notices: list[Any] = []
        self.frames: list[dict[str, Any]] = []
        self.leaves: list[str] = []
        self.timers: list[float] = []

    def __call__(self) -> Pump:
        for out in self.client.outputs():
            if isinstance(out, Record):
                self.events.append(out.event)
            elif isinstance(out, Deliver):
                self.notices.append(out.notice)
            elif isinstance(out, Frame):
                self.frames.append(json.loads(out.text))
            elif isinstance(out, Leave):
                self.leaves.append(out.room_id)
            elif isinstance(out, Timer):
                self.timers.append(out.due_ms)
        return self

    def of(self, cls: type[Any]) -> list[Any]:
        return [e for e in self.events if isinstance(e, cls)]


def call(status: str = "initiated", caller: int = 1, callee: int = 2, uuid: str = ROOM) -> dict[str, Any]:
    return {"id": 7, "uuid": uuid, "caller_id": caller, "callee_id": callee, "call_type": "audio", "status": status}


def msg(kind: str, user_id: Any, data: Any = None) -> str:
    return json.dumps({"type": kind, "call_id": ROOM, "user_id": user_id, "timestamp": 1767225600, "data": data})


def logged_in(name: str = "alice", uid: int = 1, names: RoomsOptions | None = None) -> tuple[RoomsClient, Pump]:
    client = RoomsClient(agent=name, username=name, names=names or RoomsOptions(), notice_grace_ms=GRACE_MS)
    pump = Pump(client)
    assert client.on_login(200, {"token": "t-" + name, "user": {"id": uid, "username": name}}, 3.0, "u").ok
    pump()
    return client, pump


def caller_with_call() -> tuple[RoomsClient, Pump]:
    client, pump = logged_in()
    client.invite("2", "bob", "audio", 60)
    assert client.on_invite_reply(201, {"call": call()}, "2", "audio").ok
    pump()
    return client, pump


def in_room(client: RoomsClient, pump: Pump, users: list[int]) -> None:
    client.on_room_open(ROOM, 1.0)
    client.on_room_text(ROOM, msg("connection", client.user_id, {"users": users}), authenticated=True)
    pump()


# ------------------------------------------------------------------ login


def test_login_keeps_the_token_and_the_integer_id() -> None:
    client, pump = logged_in("alice", 41)
    assert (client.token, client.user_id) == ("t-alice", "41")
    [ok] = pump.of(LoginOk)
    assert ok.user_id == "41" and ok.mode == "password"


@pytest.mark.parametrize(("status", "body", "words"), [
    (401, {"error": "invalid username or password"}, "invalid username or password"),
    (200, {"token": "t"}, "no token and user id"),
    (503, None, ""),
])
def test_a_refused_login_says_why(status: int, body: Any, words: str) -> None:
    client = RoomsClient(agent="a", username="alice", names=RoomsOptions(), notice_grace_ms=GRACE_MS)
    outcome = client.on_login(status, body, 2.0, "http://x/api/v1/auth/login")
    assert not outcome.ok and outcome.status == status and words in outcome.err_msg
    [failed] = Pump(client)().of(LoginFailed)
    assert failed.status == status and failed.user_id == "alice"
    assert (f"HTTP {status}" in failed.reason) if status != 200 else "lacks token" in failed.reason


def test_register_tolerates_an_existing_account() -> None:
    client = RoomsClient(agent="a", username="alice", names=RoomsOptions(), notice_grace_ms=GRACE_MS)
    assert client.on_register(409, {"error": "username already taken"}).ok
    assert not client.on_register(422, {"error": "password must be 6 to 128 characters"}).ok


# ------------------------------------------------------------------ invite


def test_a_created_call_is_the_room_from_now_on() -> None:
    client, pump = caller_with_call()
    [acked] = pump.of(InviteAcked)
    assert acked.room_id == acked.server_room_id == ROOM and acked.status == "initiated"
    assert client.status_wanted() == [ROOM]  # the caller polls its unanswered call


@pytest.mark.parametrize(("status", "error", "busy"), [
    (404, "callee not found", []),
    (409, "callee is already in a call", ["2"]),
    (409, "caller is already in a call", ["1"]),
])
def test_a_refused_invite_names_the_busy_party(status: int, error: str, busy: list[str]) -> None:
    client, pump = logged_in()
    client.invite("2", "bob", "video", 60)
    outcome = client.on_invite_reply(status, {"error": error}, "2", "video")
    assert not outcome.ok and outcome.status == status
    [refused] = pump().of(InviteRefused)
    assert (refused.status, refused.err_msg, refused.busy) == (status, error, busy)
    assert f"HTTP {status}" in refused.explanation


# ------------------------------------------------------------------ ring


def test_the_first_poll_that_lists_a_call_rings_once() -> None:
    client, pump = logged_in("bob", 2)
    client.on_incoming(200, {"calls": []})
    client.on_incoming(200, {"calls": [call()]})
    client.on_incoming(200, {"calls": [call()]})
    pump()
    [ring] = pump.of(Ringing)
    assert (ring.room_id, ring.inviter, ring.media, ring.via) == (ROOM, "1", "audio", "incoming_poll")
    [notice] = pump.notices
    assert (notice.kind, notice.room_id, notice.peer, notice.data["media"]) == ("ringing", ROOM, "1", "audio")


def test_newest_first_lists_ring_in_the_order_the_calls_came() -> None:
    client, pump = logged_in("bob", 2)
    older, newer = call(uuid="a" * 36), call(uuid="b" * 36)
    client.on_incoming(200, {"calls": [newer, older]})
    assert [r.room_id for r in pump().of(Ringing)] == [older["uuid"], newer["uuid"]]


@pytest.mark.parametrize(("status", "notice", "cls"), [
    ("cancelled", "cancelled", Cancelled),
    ("missed", "call_timeout", CallTimeout),
    ("accepted", "cancelled", Cancelled),  # another device of this user took the call
])
def test_a_call_that_leaves_the_list_is_checked_and_ends_the_ring(status: str, notice: str, cls: type[Any]) -> None:
    client, pump = logged_in("bob", 2)
    client.on_incoming(200, {"calls": [call()]})
    client.on_incoming(200, {"calls": []})
    assert client.status_wanted() == [ROOM]
    client.on_status(ROOM, 200, {"call": call(status)}, 900.0)
    pump()
    [ended] = pump.of(cls)
    assert ended.polled and ended.path == PATH_POLL and ended.action == status
    assert pump.notices[-1].kind == notice
    assert client.status_wanted() == []


def test_an_unreadable_incoming_list_is_noted_once() -> None:
    client, pump = logged_in("bob", 2)
    for _ in range(3):
        client.on_incoming(401, {"error": "token expired"})
    [note] = [e for e in pump().of(Note) if e.note == "incoming_poll_failed"]
    assert "HTTP 401" in note.text and "token expired" in note.text


# ------------------------------------------------------------------ answers


def test_a_caller_in_the_room_is_told_by_the_accepted_notice() -> None:
    client, pump = caller_with_call()
    in_room(client, pump, [1])
    client.on_room_text(ROOM, msg("accepted", 2, {"call": call("accepted")}))
    [answered] = pump().of(Answered)
    assert (answered.path, answered.by, answered.polled) == (PATH_ROOM, "2", False)
    assert client.status_wanted() == []


def test_a_polled_answer_waits_for_its_room_notice() -> None:
    client, pump = caller_with_call()
    in_room(client, pump, [1])
    client.on_status(ROOM, 200, {"call": call("accepted")}, 100.0)
    assert pump().timers == [100.0 + GRACE_MS] and pump.of(Answered) == []
    client.on_room_text(ROOM, msg("accepted", 2, {"call": call("accepted")}))
    client.tick(700.0)
    [answered] = pump().of(Answered)
    assert answered.path == PATH_ROOM  # the poll only overtook the notice


def test_a_polled_answer_without_its_notice_is_taken_after_the_grace() -> None:
    client, pump = caller_with_call()
    in_room(client, pump, [1])
    client.on_status(ROOM, 200, {"call": call("accepted")}, 100.0)
    client.tick(599.0)
    assert pump().of(Answered) == []
    client.tick(600.0)
    [answered] = pump().of(Answered)
    assert answered.polled and answered.path == PATH_POLL
    assert "no accepted notice in the room" in answered.server_reason


def test_a_caller_outside_the_room_takes_the_polled_answer_at_once() -> None:
    client, pump = caller_with_call()
    client.on_status(ROOM, 200, {"call": call("accepted")}, 100.0)
    [answered] = pump().of(Answered)
    assert answered.polled and pump.timers == []
    assert [n.kind for n in pump.notices] == ["answered"]


@pytest.mark.parametrize(("status", "cls"), [("rejected", Rejected), ("missed", CallTimeout)])
def test_other_polled_outcomes_end_the_call(status: str, cls: type[Any]) -> None:
    client, pump = caller_with_call()
    client.on_status(ROOM, 200, {"call": call(status)}, 100.0)
    [ended] = pump().of(cls)
    assert ended.polled
    client.on_status(ROOM, 200, {"call": call("ended")}, 200.0)  # over: no second notice
    assert len(pump().of(cls)) == 1 and pump.of(HungUp) == []


def test_an_own_action_in_flight_is_not_mistaken_for_another_device() -> None:
    client, pump = logged_in("bob", 2)
    client.on_incoming(200, {"calls": [call()]})
    client.act("accept", ROOM)
    client.on_incoming(200, {"calls": []})
    client.on_status(ROOM, 200, {"call": call("accepted")}, 50.0)
    assert pump().of(Cancelled) == []
    assert client.on_action_reply("accept", ROOM, 200, {"call": call("accepted")}).ok
    assert client.calls[ROOM].state is CallState.ANSWERED


def test_a_refused_action_keeps_its_status_and_words() -> None:
    client, pump = logged_in("bob", 2)
    client.on_incoming(200, {"calls": [call()]})
    client.act("accept", ROOM)
    outcome = client.on_action_reply("accept", ROOM, 409, {"error": "call is no longer initiated"})
    assert not outcome.ok and outcome.status == 409
    refused = pump().events[-1]
    assert refused.kind == "action_refused" and refused.status == 409


def test_the_state_table_covers_every_ending_of_a_ringing_or_calling_call() -> None:
    for state in (CallState.CALLING, CallState.RINGING):
        for status in ("rejected", "cancelled", "missed", "ended"):
            assert (state, status) in TRANSITIONS
    assert all(nxt is not CallState.CALLING for nxt, _ in TRANSITIONS.values())


# ------------------------------------------------------------------ the room


def test_connection_and_join_say_who_is_in_the_room_and_in_which_order() -> None:
    client, pump = logged_in("bob", 2)
    client.on_incoming(200, {"calls": [call()]})
    client.act("accept", ROOM)
    client.on_action_reply("accept", ROOM, 200, {"call": call("accepted")})
    in_room(client, pump, [2])
    [entered] = pump.of(RoomJoined)
    assert (entered.order, entered.users, entered.identity, entered.join_order, entered.authenticated) == (
        1, ["2"], "2", "callee-first", True)
    client.on_room_text(ROOM, msg("join", 1, {"user": {"id": 1, "username": "alice"}}))
    client.on_room_text(ROOM, msg("leave", 1, {"user": {"id": 1, "username": "alice"}}))
    join, leave = pump().of(JoinNotice)
    assert (join.notice, join.user, join.username, join.join_order) == ("join", "1", "alice", "callee-first")
    assert leave.notice == "leave"


def test_the_second_in_reads_the_order_from_its_connection() -> None:
    client, pump = caller_with_call()
    in_room(client, pump, [2, 1])
    [entered] = pump.of(RoomJoined)
    assert (entered.order, entered.join_order) == (2, "callee-first")


def test_a_default_identity_is_read_back_from_connection() -> None:
    client, pump = caller_with_call()
    client.on_room_open(ROOM, 1.0)
    fake = f"test-user-{ROOM}"
    client.on_room_text(ROOM, msg("connection", fake, {"users": [fake]}), authenticated=False)
    [entered] = pump().of(RoomJoined)
    assert (entered.identity, entered.users, entered.order, entered.authenticated) == (fake, [fake], 1, False)


def test_signals_wait_until_the_peer_is_in_the_room() -> None:
    client, pump = caller_with_call()
    client.send_signal(ROOM, "offer", {"type": "offer", "sdp": "v=0\r\n"}, 1767225600)
    assert pump().frames == [] and client.waiting_signals(ROOM) == 1
    in_room(client, pump, [1])
    assert pump.frames == []  # alone in the room: nobody to relay to
    client.send_signal(ROOM, "candidate", {"candidate": "", "sdpMid": "0"}, 1767225600)
    client.on_room_text(ROOM, msg("join", 2, {"user": {"id": 2, "username": "bob"}}))
    pump()
    assert [f["type"] for f in pump.frames] == ["offer", "ice-candidate"]
    assert pump.frames[0] == {"type": "offer", "call_id": ROOM, "user_id": 1, "timestamp": 1767225600,
                              "data": {"type": "offer", "sdp": "v=0\r\n"}}
    assert [s.signal_type for s in pump.of(SignalSent)] == ["offer", "candidate"]


def test_a_peer_that_speaks_in_the_room_is_there_even_without_join() -> None:
    client, pump = logged_in("bob", 2)
    client.on_incoming(200, {"calls": [call()]})
    client.act("accept", ROOM)
    client.on_action_reply("accept", ROOM, 200, {"call": call("accepted")})
    in_room(client, pump, [2])
    client.send_signal(ROOM, "answer", {"type": "answer", "sdp": "v=0\r\n"}, 0)
    assert pump().frames == []
    client.on_room_text(ROOM, msg("offer", 1, "v=0\r\nm=audio 9 x\r\n"))  # no join ever came
    pump()
    [received] = pump.of(SignalReceived)
    assert received.sender == "1" and received.form == "room"
    assert pump.notices[-1].data["data"] == {"type": "offer", "sdp": "v=0\r\nm=audio 9 x\r\n"}
    assert [f["type"] for f in pump.frames] == ["answer"]


def test_an_answer_notice_is_no_sign_that_the_callee_is_in_the_room() -> None:
    client, pump = caller_with_call()
    in_room(client, pump, [1])
    client.send_signal(ROOM, "offer", {"type": "offer", "sdp": "v=0\r\n"}, 0)
    client.on_room_text(ROOM, msg("accepted", 2, {"call": call("accepted")}))  # bob accepted over REST
    assert pump().frames == []  # bob is not in the room yet: the offer would reach nobody
    client.on_room_text(ROOM, msg("join", 2, {"user": {"id": 2, "username": "bob"}}))
    assert [f["type"] for f in pump().frames] == ["offer"]


def test_end_hangs_up_and_leaves_the_room() -> None:
    client, pump = caller_with_call()
    in_room(client, pump, [1, 2])
    client.on_room_text(ROOM, msg("accepted", 2))
    client.on_room_text(ROOM, msg("end", 2, {"reason": "hangup"}))
    [hung] = pump().of(HungUp)
    assert (hung.path, hung.by) == (PATH_ROOM, "2") and pump.leaves == [ROOM]


def test_hanging_up_sends_end_then_leaves() -> None:
    client, pump = caller_with_call()
    in_room(client, pump, [1, 2])
    client.hangup(ROOM, 1767225600)
    pump()
    assert [f["type"] for f in pump.frames] == ["end"] and pump.leaves == [ROOM]


def test_refusals_and_closes_of_a_room_are_recorded_with_its_call() -> None:
    client, pump = caller_with_call()
    client.on_room_refused(ROOM, 500, b"")
    client.on_room_refused(ROOM, 403, b'{"error": "not a party of this call"}')
    crash, forbidden = pump().of(WsRefused)
    assert (crash.room_id, crash.status, crash.body) == (ROOM, 500, "")
    assert "empty body" in crash.explanation
    assert (forbidden.status, forbidden.err_msg) == (403, "not a party of this call")
    client.on_room_closed(ROOM, 1001, "server shutting down", "server")
    [closed] = pump().of(WsClosed)
    assert (closed.room_id, closed.code, closed.by) == (ROOM, 1001, "server")


@pytest.mark.parametrize("text", ["not json", "[]", '{"type": 3}'])
def test_unreadable_room_messages_are_noted_not_fatal(text: str) -> None:
    client, pump = caller_with_call()
    client.on_room_text(ROOM, text)
    assert pump().of(Note)[-1].note == "room_message_unreadable"


def test_unknown_types_and_errors_are_noted() -> None:
    client, pump = caller_with_call()
    client.on_room_text(ROOM, msg("typing", 2))
    client.on_room_text(ROOM, msg("error", 1, {"error": "unknown message type"}))
    ignored, error = pump().of(Note)[-2:]
    assert ignored.note == "room_message_ignored" and ignored.extra["type"] == "typing"
    assert error.note == "room_error" and "unknown message type" in error.text


# ------------------------------------------------------------------ a deployment's own names


def test_renamed_names_are_read_and_written() -> None:
    names = RoomsOptions(
        messages={**RoomsOptions().messages, "connection": "welcome", "join": "peer-joined", "candidate": "cand"},
        fields={**RoomsOptions().fields, "type": "kind", "user_id": "uid", "users": "members", "uuid": "call_uuid",
                "token": "access_token", "token_param": "jwt", "user_id_header": "X-Uid"},
        identity=("token_query", "user_id_header"))
    client = RoomsClient(agent="alice", username="alice", names=names, notice_grace_ms=GRACE_MS)
    pump = Pump(client)
    assert client.on_login(200, {"access_token": "tok", "user": {"id": "1", "username": "alice"}}, 1.0, "u").ok
    plan = client.join_plan(ROOM)
    assert plan.query == {"jwt": "tok"} and plan.headers == {"X-Uid": "1"} and plan.authenticated
    client.invite("2", "bob", "audio", 60)
    client.on_invite_reply(201, {"call": {"call_uuid": ROOM, "caller_id": 1, "callee_id": 2}}, "2", "audio")
    client.on_room_open(ROOM, 1.0)
    client.on_room_text(ROOM, json.dumps({"kind": "welcome", "uid": 1, "data": {"members": [1]}}))
    client.on_room_text(ROOM, json.dumps({"kind": "peer-joined", "uid": 2, "data": {"user": {"id": 2}}}))
    client.send_signal(ROOM, "candidate", {"candidate": "", "sdpMid": "0"}, 0)
    pump()
    assert [e.kind for e in pump.events if e.kind in ("room_joined", "join_notice")] == ["room_joined",
                                                                                         "join_notice"]
    assert pump.frames[0]["kind"] == "cand" and pump.frames[0]["uid"] == 1


def test_no_identity_places_send_no_identity() -> None:
    client, _ = logged_in(names=RoomsOptions(identity=()))
    plan = client.join_plan(ROOM)
    assert (plan.query, plan.headers, plan.authenticated) == ({}, {}, False)
