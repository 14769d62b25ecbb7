"""Call figures derived from hand-built timelines (pure logic)."""

from __future__ import annotations

from callprobe.analysis.metrics import derive_calls, media_flowing
from tests.fakes import ev

ANSWERED_CALL = [
    ev(0, "alice", "ws_open"),
    ev(10, "alice", "invite_sent", callees=["bob"], room_id="tmp", media="video"),
    ev(12, "alice", "invite_acked", room_id="R1"),
    ev(14, "bob", "ringing", room_id="R1", inviter="alice", dialect="bare-SignalInviteReq"),
    ev(100, "bob", "accept_sent", room_id="R1"),
    ev(103, "alice", "answered", room_id="R1", path="unsolicited_1004"),
    ev(110, "alice", "peer_created", room_id="R1"),
    ev(111, "bob", "peer_created", room_id="R1"),
    ev(112, "alice", "ice_candidate", room_id="R1", side="local", type="host"),
    ev(112, "alice", "ice_candidate", room_id="R1", side="local", type="srflx"),
    ev(113, "bob", "ice_candidate", room_id="R1", side="local", type="host"),
    ev(113, "bob", "ice_candidate", room_id="R1", side="remote", type="host"),
    ev(115, "alice", "signal_sent", room_id="R1", signal_type="offer"),
    ev(150, "bob", "pc_state", room_id="R1", state="connected"),
    ev(160, "alice", "pc_state", room_id="R1", state="connected"),
    ev(161, "alice", "selected_pair", room_id="R1", local="host", remote="host"),
    ev(200, "alice", "media_first_frame", room_id="R1", media="audio"),
    ev(210, "alice", "media_first_frame", room_id="R1", media="video"),
    ev(220, "bob", "media_first_frame", room_id="R1", media="audio"),
    ev(2000, "alice", "hangup_sent", room_id="R1"),
    ev(2004, "bob", "hung_up", room_id="R1", path="unsolicited_1004", by="alice"),
]


def test_answered_call_figures() -> None:
    [call] = derive_calls(ANSWERED_CALL)
    assert call.caller == "alice" and call.callee == "bob" and call.room_id == "R1"
    assert call.outcome == "answered"
    assert call.time_to_ring_ms == 4
    assert call.time_to_answer_ms == 93
    assert call.join_notice.delivered and call.join_notice.latency_ms == 3
    assert call.join_notice.path == "unsolicited_1004"
    assert call.ice["candidates"]["alice"] == {"host": 1, "srflx": 1, "prflx": 0, "relay": 0}
    assert call.ice["candidates"]["bob"]["host"] == 1  # remote candidates are not counted
    assert call.ice["selected"]["alice"] == {"local": "host", "remote": "host", "protocol": "",
                                             "local_address": "", "remote_address": ""}
    assert call.ice["connected_ms"] == 45
    assert call.hangup_notice.delivered and call.hangup_notice.latency_ms == 4
    assert media_flowing(call, "alice")
    assert not media_flowing(call, "bob")  # video call, bob decoded audio only


def test_join_notice_missing_is_reported_not_delivered() -> None:
    events = [e for e in ANSWERED_CALL if e.kind != "answered"]
    [call] = derive_calls(events)
    assert call.outcome == "answered"  # the callee did accept
    assert not call.join_notice.delivered and call.join_notice.latency_ms is None


def test_busy_and_refused_invites() -> None:
    events = [
        ev(0, "carol", "invite_sent", callees=["bob"], media="audio"),
        ev(3, "carol", "invite_refused", err_code=1802, busy=["bob"]),
        ev(5, "carol", "invite_sent", callees=["dave"], media="audio"),
        ev(6, "carol", "invite_refused", err_code=1003),
    ]
    busy, failed = derive_calls(events)
    assert busy.outcome == "busy" and busy.room_id == ""
    assert failed.outcome == "failed"


def test_rejected_cancelled_and_unanswered() -> None:
    base = [ev(0, "alice", "invite_sent", callees=["bob"]), ev(1, "alice", "invite_acked", room_id="R"),
            ev(2, "bob", "ringing", room_id="R")]
    [rejected] = derive_calls(base + [ev(5, "bob", "reject_sent", room_id="R"),
                                      ev(6, "alice", "rejected", room_id="R")])
    [cancelled] = derive_calls(base + [ev(5, "alice", "cancel_sent", room_id="R"),
                                       ev(6, "bob", "cancelled", room_id="R")])
    [timeout] = derive_calls(base + [ev(2000, "alice", "call_timeout", room_id="R"),
                                     ev(2000, "bob", "cancelled", room_id="R")])
    assert (rejected.outcome, cancelled.outcome, timeout.outcome) == ("rejected", "cancelled", "no-answer")


def test_events_of_other_rooms_do_not_leak_into_a_call() -> None:
    events = ANSWERED_CALL + [ev(3000, "alice", "invite_sent", callees=["bob"]),
                              ev(3001, "alice", "invite_acked", room_id="R2"),
                              ev(3002, "bob", "ringing", room_id="R2")]
    first, second = derive_calls(events)
    assert first.outcome == "answered" and second.outcome == "no-answer"
    assert second.time_to_ring_ms == 2 and second.ice["candidates"] == {}
