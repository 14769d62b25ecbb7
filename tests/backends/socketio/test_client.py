"""The Socket.IO client core in memory: emits and their acknowledgements, the two ring paths,
answers for the caller and for the callee's other devices, refusals, heartbeat, closing."""

from __future__ import annotations

import dataclasses

from callprobe.backends.socketio.client import Fail, Reply
from callprobe.backends.socketio.config import SocketioOptions
from callprobe.timeline.events import (
    Answered,
    CallTimeout,
    Cancelled,
    FrameIn,
    HeartbeatMissed,
    HeartbeatReply,
    HungUp,
    InviteAcked,
    InviteRefused,
    InviteSent,
    Note,
    Presence,
    Rejected,
    RequestTimeout,
    Ringing,
    SignalReceived,
    TextReceived,
    WsClosed,
)
from tests.backends.socketio.fakes import BOB_ID, MemoryChat, chat, delivered, invitation, kinds, recorded, row


def only(events: list[object], cls: type) -> list[object]:
    return [e for e in events if isinstance(e, cls)]


# ---------------------------------------------------------------- emits


def test_invite_sends_the_id_as_an_integer_by_default_and_as_text_when_asked() -> None:
    mem = chat()
    mem.client.invite(BOB_ID, "video", 30, mem.now_ms)
    mem.client.invite(BOB_ID, "audio", 30, mem.now_ms, id_type="string")
    out = mem.pump()
    first, second = mem.emits
    assert (first.event, first.payload) == ("call_invitation", {"target_user_id": 2, "call_type": "video"})
    assert second.payload == {"target_user_id": "2", "call_type": "audio"}
    assert [e.id_type for e in only(recorded(out), InviteSent)] == ["int", "string"]
    assert first.ack_id != second.ack_id


def test_renamed_events_and_dotted_fields_shape_the_payload() -> None:
    opts = dataclasses.replace(SocketioOptions(), id_type="string",
                               events={**SocketioOptions().events, "invite": "call_invite"},
                               fields={**SocketioOptions().fields, "target_user_id": "to.id", "call_type": "media"})
    mem = chat(options=opts)
    mem.client.invite(BOB_ID, "video", 30, 0.0)
    mem.pump()
    assert (mem.last().event, mem.last().payload) == ("call_invite", {"to": {"id": "2"}, "media": "video"})


def test_an_invite_acknowledged_ringing_names_the_call_and_its_room() -> None:
    mem = chat()
    ack_id = mem.client.invite(BOB_ID, "video", 30, 0.0)
    mem.pump()
    mem.tick(4)
    out = mem.ack(mem.last(), {"call_id": "c1", "room_name": "call-c1", "status": "ringing"})
    [acked] = only(recorded(out), InviteAcked)
    assert (acked.room_id, acked.status, acked.room_name) == ("c1", "ringing", "call-c1")
    assert any(isinstance(o, Reply) and o.ack_id == ack_id for o in out)
    outcome = mem.client.invite_outcome(ack_id)
    assert (outcome.call_id, outcome.status, outcome.refused) == ("c1", "ringing", False)
    [frame] = [e for e in recorded(out) if isinstance(e, FrameIn)]
    assert frame.latency_ms == 4.0


def test_busy_and_errors_are_refusals_with_the_servers_words() -> None:
    mem = chat()
    busy = mem.client.invite(BOB_ID, "video", 30, 0.0)
    mem.pump()
    out = mem.ack(mem.last(), {"status": "busy"})
    [refused] = only(recorded(out), InviteRefused)
    assert refused.busy == [BOB_ID] and mem.client.invite_outcome(busy).busy == (BOB_ID,)
    error = mem.client.invite(BOB_ID, "video", 30, 0.0)
    mem.pump()
    out = mem.ack(mem.last(), {"error": "user 2 not found"})
    [refused] = only(recorded(out), InviteRefused)
    assert refused.err_msg == "user 2 not found" and "user 2 not found" in refused.explanation
    assert mem.client.invite_outcome(error).refused


def test_an_error_sent_as_an_event_answers_the_emit_waiting_for_it() -> None:
    mem = chat()
    ack_id = mem.client.cancel("c9", 0.0)
    mem.pump()
    out = mem.push("error", {"event": "call_cancel", "error": "call not found"})
    assert any(isinstance(o, Reply) and o.ack_id == ack_id for o in out)
    outcome = mem.client.action_outcome(ack_id)
    assert outcome.refused and outcome.err_msg == "call not found"
    assert "action_refused" in kinds(out)


def test_an_abandoned_emit_is_recorded_and_its_late_ack_marked_late() -> None:
    mem = chat()
    ack_id = mem.client.send_text(BOB_ID, "hi", 0.0)
    mem.pump()
    mem.client.abandon(ack_id, "request_timeout_s", 5.0)
    [timeout] = only(recorded(mem.pump()), RequestTimeout)
    assert timeout.setting == "request_timeout_s"
    out = mem.ack(mem.last(), {"id": 1})
    [frame] = recorded(out)
    assert isinstance(frame, FrameIn) and frame.late is True
    assert not any(isinstance(o, Reply) for o in out)


# ---------------------------------------------------------------- ringing


def test_the_first_ring_path_rings_and_the_second_is_a_note() -> None:
    mem = chat(BOB_ID, "bob")
    out = mem.push("message", row(7, 1, 2, "alice invites you", "system", invitation()))
    [ring] = only(recorded(out), Ringing)
    assert (ring.via, ring.room_id, ring.inviter, ring.room_name) == ("message", "c1", "1", "call-c1")
    assert ring.ring_paths == ["call_invitation", "message"] and ring.seq == 7
    [notice] = delivered(out)
    assert (notice.kind, notice.room_id, notice.peer, notice.path) == ("ringing", "c1", "1", "message")
    mem.tick(2)
    out = mem.push("call_invitation", invitation(status=None))
    assert not only(recorded(out), Ringing) and not delivered(out)
    [note] = only(recorded(out), Note)
    assert note.note == "second_arrival"
    assert (note.extra["path"], note.extra["first_path"], note.extra["latency_diff_ms"]) == \
        ("call_invitation", "message", 2.0)


def test_the_event_alone_rings_too() -> None:
    mem = chat(BOB_ID, "bob")
    out = mem.push("call_invitation", invitation(status=None))
    [ring] = only(recorded(out), Ringing)
    assert ring.via == "call_invitation" and ring.media == "video"


def test_extra_data_as_json_text_is_read() -> None:
    import json

    mem = chat(BOB_ID, "bob")
    data = row(3, 1, 2, "x", "system")
    data["extra_data"] = json.dumps({"call_invitation": invitation("c5")})
    [ring] = only(recorded(mem.push("message", data)), Ringing)
    assert ring.room_id == "c5"


def test_texts_from_others_are_received_and_the_own_echo_is_only_noted() -> None:
    mem = chat(BOB_ID, "bob")
    out = mem.push("message", row(4, 1, 2, "hello"))
    [text] = only(recorded(out), TextReceived)
    assert (text.sender, text.client_msg_id, text.seq) == ("1", "4", 4)
    assert delivered(out)[0].data["text"] == "hello"
    echo = mem.push("message", row(5, 2, 1, "mine"))
    assert [n.note for n in only(recorded(echo), Note)] == ["own_echo"] and not delivered(echo)


def test_a_finished_invitation_does_not_ring() -> None:
    mem = chat(BOB_ID, "bob")
    out = mem.push("message", row(7, 1, 2, "x", "system", invitation(status="ended")))
    assert not only(recorded(out), Ringing)
    assert only(recorded(out), Note)[0].note == "invitation_not_pending"


# ---------------------------------------------------------------- answers and endings


def _calling() -> MemoryChat:
    mem = chat()
    mem.client.invite(BOB_ID, "video", 30, 0.0)
    mem.pump()
    mem.ack(mem.last(), {"call_id": "c1", "room_name": "call-c1", "status": "ringing"})
    return mem


def test_the_callers_call_response_is_the_accept_notice() -> None:
    mem = _calling()
    out = mem.push("call_response", {"call_id": "c1", "accepted": True, "responder_id": 2})
    [answered] = only(recorded(out), Answered)
    assert (answered.path, answered.by, answered.room_id) == ("call_response", "2", "c1")
    assert delivered(out)[0].kind == "answered"


def test_a_rejection_reaches_the_caller_as_rejected() -> None:
    mem = _calling()
    out = mem.push("call_response", {"call_id": "c1", "accepted": False, "responder_id": 2})
    assert only(recorded(out), Rejected) and delivered(out)[0].kind == "rejected"


def test_another_device_answering_stops_this_one_ringing() -> None:
    mem = chat(BOB_ID, "bob_phone")
    mem.push("call_invitation", invitation(status=None))
    out = mem.push("call_response", {"call_id": "c1", "accepted": True, "responder_id": 2})
    [cancelled] = only(recorded(out), Cancelled)
    assert cancelled.server_reason == "answered-elsewhere" and delivered(out)[0].kind == "cancelled"


def test_cancel_end_and_missed_map_to_the_neutral_kinds() -> None:
    mem = chat(BOB_ID, "bob")
    mem.push("call_invitation", invitation("c1", status=None))
    assert only(recorded(mem.push("call_cancelled", {"call_id": "c1", "by": 1})), Cancelled)
    mem.push("call_invitation", invitation("c2", status=None))
    [missed] = only(recorded(mem.push("call_missed", {"call_id": "c2"})), CallTimeout)
    assert missed.action == "cancel" and missed.server_reason == "timeout"
    assert only(recorded(mem.push("call_ended", {"call_id": "c3", "by": 1})), HungUp)
    caller = _calling()
    [timeout] = only(recorded(caller.push("call_missed", {"call_id": "c1"})), CallTimeout)
    assert timeout.action == "reject"


def test_relayed_signals_reach_the_agent_with_their_data() -> None:
    mem = chat(BOB_ID, "bob")
    out = mem.push("webrtc_signal", {"call_id": "c1", "target_user_id": 2, "signal_type": "offer",
                                     "data": {"type": "offer", "sdp": "v=0"}, "from_user_id": 1})
    [got] = only(recorded(out), SignalReceived)
    assert (got.signal_type, got.sender, got.room_id) == ("offer", "1", "c1")
    assert delivered(out)[0].data["data"] == {"type": "offer", "sdp": "v=0"}


def test_user_status_is_presence_without_a_frame_record() -> None:
    mem = chat()
    out = mem.push("user_status", {"user_id": 2, "status": "online"})
    assert kinds(out) == ["presence"]
    [presence] = only(recorded(out), Presence)
    assert (presence.user, presence.status) == ("2", "online")


# ---------------------------------------------------------------- heartbeat and closing


def test_server_pings_are_heartbeats_and_a_silence_past_both_values_is_missed() -> None:
    mem = chat()
    mem.client.opened(25.0, 20.0, 0.0)
    mem.client.ping(25_000.0)
    [reply] = only(recorded(mem.pump()), HeartbeatReply)
    assert reply.form == "engineio_ping" and reply.number == 1
    assert not mem.client.ping_overdue(25_000.0 + 44_000.0)
    assert mem.client.ping_overdue(25_000.0 + 45_000.0)
    [missed] = only(recorded(mem.pump()), HeartbeatMissed)
    assert missed.seconds == 45.0


def test_a_close_fails_every_waiting_emit_and_tells_the_agent() -> None:
    mem = chat()
    ack_id = mem.client.invite(BOB_ID, "video", 30, 0.0)
    mem.pump()
    mem.client.connection_closed("transport error", "server", 10.0)
    out = mem.pump()
    [closed] = only(recorded(out), WsClosed)
    assert closed.by == "server" and closed.code == 1006 and "call_invitation" in closed.explanation
    assert [o.ack_id for o in out if isinstance(o, Fail)] == [ack_id]
    assert delivered(out)[-1].kind == "disconnected"
    mem.client.connection_closed("transport error", "server", 11.0)
    assert mem.pump() == []
