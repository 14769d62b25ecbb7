"""The sans-I/O KKIM client core, driven in memory: no socket, no event loop, a clock the test moves."""

from __future__ import annotations

from callprobe.backends.kkim.client import Fail, KkimClient, Reply
from callprobe.backends.kkim.protocol._pb.openim import rtc_pb2
from callprobe.timeline.events import (
    ActionRefused,
    Answered,
    FrameIn,
    FrameOut,
    HeartbeatMissed,
    HeartbeatReply,
    InviteAcked,
    InviteRefused,
    InviteSent,
    Note,
    RequestTimeout,
    Ringing,
    WsClosed,
)
from tests.backends.kkim.driver.scripted import invitation, msg, signal_req
from tests.fakes import MemoryGateway, delivered, recorded


def client(user: str = "alice", **kw: object) -> tuple[KkimClient, MemoryGateway]:
    c = KkimClient(agent=user, user_id=user, platform_id=5, token="t", **kw)  # type: ignore[arg-type]
    return c, MemoryGateway(c)


def invite_ack(room: str, busy: tuple[str, ...] = ()) -> bytes:
    resp = rtc_pb2.SignalResp()
    resp.invite.roomID = room
    resp.invite.busyLineUserIDList.extend(busy)
    return resp.SerializeToString()


def test_a_request_is_one_frame_out_and_its_reply_is_matched_by_msg_incr() -> None:
    c, gw = client()
    incr = c.send_request(1001, b"x", gw.now_ms)
    out = gw.pump()
    [req] = gw.requests
    assert req.msg_incr == incr and req.req_identifier == 1001 and req.send_id == "alice"
    [frame_out] = recorded(out)
    assert isinstance(frame_out, FrameOut) and frame_out.msg_incr == incr and frame_out.label.startswith("1001")
    gw.tick(12.5)
    out = gw.reply(req, b"ok")
    [frame_in] = recorded(out)
    assert isinstance(frame_in, FrameIn) and frame_in.latency_ms == 12.5
    assert [o.msg_incr for o in out if isinstance(o, Reply)] == [incr]


def test_an_abandoned_request_makes_its_late_reply_a_note_not_a_reply() -> None:
    c, gw = client()
    incr = c.send_request(1001, b"", 0.0)
    gw.pump()
    c.abandon(incr, "request_timeout_s", 5.0)
    [timeout] = recorded(gw.pump())
    assert isinstance(timeout, RequestTimeout) and timeout.setting == "request_timeout_s"
    out = gw.reply(gw.requests[0])
    assert not [o for o in out if isinstance(o, Reply)]
    frame, note = recorded(out)
    assert isinstance(frame, FrameIn) and frame.late and isinstance(note, Note) and note.note == "late_reply"


def test_the_invite_reply_adopts_the_server_room_before_the_next_frame_is_read() -> None:
    c, gw = client()
    incr = c.invite(["bob"], "audio", 30, gw.now_ms, wall_ms=1)
    sent = recorded(gw.pump())
    assert isinstance(sent[0], InviteSent) and sent[0].room_id.startswith("tmp_alice_")
    out = gw.reply(gw.requests[0], invite_ack("SERVER-ROOM"))
    acked = [e for e in recorded(out) if isinstance(e, InviteAcked)]
    assert acked and acked[0].room_id == "SERVER-ROOM" and acked[0].adopted
    assert c.invite_outcome(incr).room_id == "SERVER-ROOM"
    # the accept that follows at once is filed under the server's room
    accept = signal_req("accept", invitation("alice", "bob", "SERVER-ROOM"), "bob")
    out = gw.push(msg("bob", "alice", 1601, accept.SerializeToString(), seq=2))
    [answered] = [e for e in recorded(out) if isinstance(e, Answered)]
    assert answered.room_id == "SERVER-ROOM" and answered.by == "bob" and not answered.unknown_room
    assert [n.kind for n in delivered(out)] == ["answered"]


def test_keeping_the_temporary_room_is_a_choice_that_reproduces_call_not_found() -> None:
    c, gw = client(adopt_server_room_id=False)
    incr = c.invite(["bob"], "audio", 30, 0.0, wall_ms=1)
    gw.pump()
    gw.reply(gw.requests[0], invite_ack("SERVER-ROOM"))
    assert c.invite_outcome(incr).room_id.startswith("tmp_alice_")


def test_a_busy_refusal_names_the_busy_users() -> None:
    c, gw = client()
    incr = c.invite(["bob"], "audio", 30, 0.0, wall_ms=1)
    gw.pump()
    out = gw.reply(gw.requests[0], err_code=1802, err_msg="user is already in a call")
    [refused] = [e for e in recorded(out) if isinstance(e, InviteRefused)]
    assert refused.busy == ["bob"] and not refused.busy_from_reply
    outcome = c.invite_outcome(incr)
    assert outcome.refused and outcome.busy == ("bob",) and outcome.err_code == 1802


def test_a_ring_is_filed_once_whichever_path_brings_it_first() -> None:
    _c, gw = client("bob")
    inv = invitation("carol", "bob", "R9")
    bare = rtc_pb2.SignalInviteReq(invitation=inv, userID="carol").SerializeToString()
    first = gw.push(msg("carol", "bob", 1601, bare, seq=1))
    again = gw.push(msg("carol", "bob", 1601, bare, seq=2))
    [ring] = [e for e in recorded(first) if isinstance(e, Ringing)]
    assert ring.room_id == "R9" and ring.inviter == "carol" and ring.via == "push_1601"
    assert [n.kind for n in delivered(first)] == ["ringing"] and delivered(again) == []
    assert any(isinstance(e, Note) and e.note == "second_arrival" for e in recorded(again))


def test_a_ring_records_who_sent_the_notice_as_well_as_whom_it_names() -> None:
    """A 1601 pushed as sent by someone other than the inviter it names is filed as that inviter's call:
    the ring keeps the notice's sender and msgFrom, so a forgery can be told apart."""
    _c, gw = client("bob")
    inv = invitation("alice", "bob", "FORGED")
    bare = rtc_pb2.SignalInviteReq(invitation=inv, userID="alice").SerializeToString()
    [ring] = [e for e in recorded(gw.push(msg("mallory", "bob", 1601, bare, msg_from=200))) if isinstance(e, Ringing)]
    assert (ring.inviter, ring.sender, ring.msg_from) == ("alice", "mallory", 200)


def test_a_message_sent_as_given_is_one_1003_and_its_refusal_comes_back() -> None:
    c, gw = client("mallory")
    forged = msg("mallory", "bob", 1601, b"x", msg_from=200)
    incr = c.send_message(forged, gw.now_ms)
    gw.pump()
    [req] = gw.requests
    assert req.req_identifier == 1003 and req.data == forged.SerializeToString()
    out = gw.reply(req, err_code=1002, err_msg="token invalid")
    [refused] = [e for e in recorded(out) if isinstance(e, ActionRefused)]
    assert refused.action == "send_message" and refused.err_code == 1002
    outcome = c.action_outcome(incr)
    assert outcome.refused and outcome.err_code == 1002


def test_a_missed_pong_is_recorded_and_a_late_pong_still_measured() -> None:
    c, gw = client()
    number = c.ping(0.0)
    gw.pump()
    assert gw.pings == ['{"type":"ping"}']
    c.ping_deadline(number, "heartbeat_reply_timeout_s", 5.0)
    [missed] = recorded(gw.pump())
    assert isinstance(missed, HeartbeatMissed) and missed.number == number
    c.receive_text('{"type":"pong"}', 7000.0)
    [reply] = recorded(gw.pump())
    assert isinstance(reply, HeartbeatReply) and reply.late and reply.rtt_ms == 7000.0
    assert c.pong_rtt(number) == 7000.0


def test_a_close_fails_every_pending_request_and_names_the_one_it_followed() -> None:
    c, gw = client()
    incr = c.send_request(1004, b"x", 100.0)
    gw.pump()
    c.connection_closed(1006, "", "server", 350.0)
    out = gw.pump()
    closed = next(e for e in recorded(out) if isinstance(e, WsClosed))
    assert closed.by == "server" and closed.after_request is not None
    assert closed.after_request["msg_incr"] == incr and closed.after_request["ms_before_close"] == 250.0
    assert "250 ms after request 1004" in closed.explanation
    assert [o.msg_incr for o in out if isinstance(o, Fail)] == [incr]
    assert [n.kind for n in delivered(out)] == ["disconnected"]
    c.connection_closed(1006, "", "server", 400.0)  # twice: nothing more
    assert gw.pump() == []


def test_garbage_is_recorded_and_never_raises() -> None:
    c, gw = client()
    c.receive_binary(b"\x00\x01 not an envelope", 0.0)
    c.receive_text("not a heartbeat", 0.0)
    notes = [e.note for e in recorded(gw.pump()) if isinstance(e, Note)]
    assert notes == ["undecodable_frame", "unexpected_text_frame"]
