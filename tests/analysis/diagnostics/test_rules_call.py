"""Rules for the call itself: push paths, invite, answer, SDP, ICE, media, hangup, history, state."""

from __future__ import annotations

from dataclasses import replace

import pytest

from callprobe.analysis.diagnostics import diagnose_timeline, first_broken_link
from callprobe.analysis.diagnostics.findings import (
    RELAY_FAILED_HINT,
    TURN_HINT,
    Severity,
)
from callprobe.analysis.diagnostics.links import Link
from tests.analysis.diagnostics.timeline_fakes import ALICE, BOB, CAROL, CTX, TL, codes


def call_up_to_ringing(tl: TL, **invite: object) -> None:
    tl.connect(ALICE)
    tl.connect(BOB)
    tl.text(ALICE, BOB)
    tl.invite(**invite)  # type: ignore[arg-type]


def full_call(tl: TL) -> None:
    call_up_to_ringing(tl)
    tl.accept()
    tl.sdp()
    tl.ice()
    tl.media()
    tl.hangup()


# PUSH_PATH_BROKEN vs INVITE_NOT_DELIVERED

def test_nothing_pushed_at_all_is_push_path_broken_not_invite_not_delivered() -> None:
    tl = TL()
    tl.connect(ALICE)
    tl.connect(BOB)
    tl.text(ALICE, BOB, pushed=False)
    tl.invite(rang=False)
    found = diagnose_timeline(tl.finish(), CTX)
    assert codes(found) == {"PUSH_PATH_BROKEN"}
    f = found[0]
    assert f.agent == BOB and "did not ring either" in f.detail
    assert {e.kind for e in f.evidence} == {"text_sent", "invite_sent"}


def test_text_pushed_is_not_push_path_broken() -> None:
    tl = TL()
    tl.connect(ALICE)
    tl.connect(BOB)
    tl.text(ALICE, BOB)
    assert diagnose_timeline(tl.finish(), CTX) == []


def test_invite_not_rung_while_a_text_was_pushed_is_invite_not_delivered() -> None:
    tl = TL()
    call_up_to_ringing(tl, rang=False)
    found = diagnose_timeline(tl.finish(), CTX)
    assert codes(found) == {"INVITE_NOT_DELIVERED"}
    f = found[0]
    assert f.agent == BOB and "text message was pushed" in f.detail
    assert [e.kind for e in f.evidence] == ["invite_sent", "invite_acked", "text_received"]
    assert f.link == Link.RINGING.value


def test_invite_not_rung_without_a_text_probe_says_push_path_is_not_ruled_out() -> None:
    tl = TL()
    tl.connect(ALICE)
    tl.connect(BOB)
    tl.invite(rang=False)
    found = diagnose_timeline(tl.finish(), CTX)
    assert codes(found) == {"INVITE_NOT_DELIVERED"} and "not ruled out" in found[0].detail


def test_ring_after_the_deadline_is_a_late_invite_with_the_ring_as_evidence() -> None:
    tl = TL()
    call_up_to_ringing(tl, ring_dt=7000.0)
    found = diagnose_timeline(tl.finish(), CTX)
    assert [(f.code, f.severity) for f in found] == [("INVITE_NOT_DELIVERED", Severity.ERROR)]
    f = found[0]
    assert "late" in f.detail and "3000 ms" in f.detail
    assert [e.kind for e in f.evidence] == ["invite_sent", "ringing"]


def test_invite_to_a_disconnected_callee_is_not_an_undelivered_invite() -> None:
    tl = TL()
    tl.connect(ALICE)
    tl.connect(BOB)
    tl(BOB, "ws_closed", code=1000, by="client")
    tl.invite(rang=False)
    assert diagnose_timeline(tl.finish(), CTX) == []


def test_missing_ring_is_inconclusive_when_the_timeline_ends_before_the_deadline() -> None:
    tl = TL()
    call_up_to_ringing(tl, rang=False)
    assert diagnose_timeline(tl.events, CTX) == []  # no finish(): 10 ms after the invite


# INVITE_REJECTED_BY_SERVER vs STALE_CALL_STATE

def test_invite_refused_for_an_unknown_user_is_rejected_by_server() -> None:
    tl = TL()
    tl.connect(ALICE)
    tl.invite(refused=1003)
    found = diagnose_timeline(tl.finish(), CTX)
    assert codes(found) == {"INVITE_REJECTED_BY_SERVER"}
    assert "1003" in found[0].detail and "user does not exist" in found[0].detail


def test_invite_without_reply_is_rejected_by_server_naming_the_setting() -> None:
    tl = TL()
    tl.connect(ALICE)
    tl(ALICE, "invite_sent", callees=["u_bob"], room_id="tmp", media="audio")
    tl(ALICE, "request_timeout", dt=5000, req_identifier=1004, msg_incr="2",
       setting="request_timeout_s", seconds=5.0)
    found = diagnose_timeline(tl.finish(), CTX)
    assert codes(found) == {"INVITE_REJECTED_BY_SERVER"} and "request_timeout_s" in found[0].detail


def test_acknowledged_invite_is_not_rejected() -> None:
    tl = TL()
    call_up_to_ringing(tl)
    assert diagnose_timeline(tl.finish(), CTX) == []


def test_busy_after_the_call_ended_is_stale_call_state() -> None:
    tl = TL()
    full_call(tl)
    tl.invite(room="r2", refused=1802, busy=["u_bob"])
    found = diagnose_timeline(tl.finish(), CTX)
    assert codes(found) == {"STALE_CALL_STATE"}
    f = found[0]
    assert "u_bob" in f.detail and "room r1" in f.detail
    assert [e.kind for e in f.evidence] == ["invite_sent", "invite_refused", "hangup_sent"]


def test_busy_while_the_callee_really_is_in_a_call_is_no_finding() -> None:
    tl = TL()
    call_up_to_ringing(tl)
    tl.accept()
    tl.connect(CAROL)
    tl.invite(caller=CAROL, room="r9", refused=1802, busy=["u_bob"])
    found = diagnose_timeline(tl.finish(), CTX)
    assert codes(found, None) == set()


# INVITE_MALFORMED and ROOM_ID_MISMATCH

def test_ring_without_room_and_from_a_stranger_is_malformed() -> None:
    tl = TL()
    call_up_to_ringing(tl, ring_fields={"room_id": "", "inviter": "\u0001garbage", "media": "audio"})
    found = diagnose_timeline(tl.finish(), CTX)
    assert codes(found) == {"INVITE_MALFORMED"}
    d = found[0].detail
    assert "no roomID" in d and "garbage" in d and "media 'audio' instead of 'video'" in d


def test_undecodable_call_notice_is_malformed_not_undelivered() -> None:
    tl = TL()
    call_up_to_ringing(tl, rang=False)
    tl(BOB, "notice_undecodable", content_type=1601, reason="neither dialect decodes", size=40)
    found = diagnose_timeline(tl.finish(), CTX)
    assert codes(found) == {"INVITE_MALFORMED"} and "neither dialect" in found[0].detail


def test_ring_with_another_room_id_is_room_id_mismatch_only() -> None:
    tl = TL()
    call_up_to_ringing(tl, ring_room="r-other")
    found = diagnose_timeline(tl.finish(), CTX)
    assert codes(found) == {"ROOM_ID_MISMATCH"}
    f = found[0]
    assert "'r1'" in f.detail and "'r-other'" in f.detail
    assert [e.kind for e in f.evidence] == ["invite_acked", "ringing"]


def test_hangup_under_the_temporary_room_id_is_room_id_mismatch() -> None:
    tl = TL()
    call_up_to_ringing(tl)
    tl.accept()
    tl(ALICE, "hangup_sent", room_id="tmp-1")
    tl(ALICE, "action_refused", action="hungUp", err_code=1801, err_msg="call not found")
    found = diagnose_timeline(tl.finish(), CTX)
    assert "ROOM_ID_MISMATCH" in codes(found)
    f = next(f for f in found if f.code == "ROOM_ID_MISMATCH")
    assert "'tmp-1'" in f.detail and f.evidence[-1].err_code == 1801


def test_ring_with_the_acked_room_id_is_not_a_mismatch() -> None:
    tl = TL()
    full_call(tl)
    assert diagnose_timeline(tl.finish(), CTX) == []


# ANSWER_NOT_DELIVERED

def test_accept_never_told_to_the_caller_is_answer_not_delivered() -> None:
    tl = TL()
    call_up_to_ringing(tl)
    tl.accept(delivered=False)
    found = diagnose_timeline(tl.finish(), CTX)
    assert codes(found) == {"ANSWER_NOT_DELIVERED"}
    assert found[0].agent == ALICE and "bob accepted" in found[0].detail


def test_reject_scenario_run_yields_no_answer_or_media_findings() -> None:
    tl = TL()
    call_up_to_ringing(tl)
    tl.accept(reject=True)
    tl.close_all(ALICE, BOB)
    assert diagnose_timeline(tl.finish(), CTX) == []


def test_lost_reject_is_answer_not_delivered() -> None:
    tl = TL()
    call_up_to_ringing(tl)
    tl.accept(reject=True, delivered=False)
    found = diagnose_timeline(tl.finish(), CTX)
    assert codes(found) == {"ANSWER_NOT_DELIVERED"} and "rejected" in found[0].detail


def test_answer_link_not_exercised_is_not_judged() -> None:
    tl = TL()
    call_up_to_ringing(tl)
    tl.accept(delivered=False)
    ctx = CTX.with_probes(link for link in Link if link is not Link.ANSWER)
    assert diagnose_timeline(tl.finish(), ctx) == []


# SDP_NOT_RELAYED vs ICE_FAILED

def test_offer_never_reaching_the_callee_is_sdp_not_relayed_and_not_ice_failed() -> None:
    tl = TL()
    call_up_to_ringing(tl)
    tl.accept()
    tl.sdp(offer=False)
    tl(ALICE, "peer_failed", dt=10000, reason="not connected in time", setting="ice_connect_timeout_s")
    found = diagnose_timeline(tl.finish(), CTX)
    assert codes(found) == {"SDP_NOT_RELAYED"}
    assert found[0].agent == BOB and "offer" in found[0].detail


def test_lost_answer_is_sdp_not_relayed() -> None:
    tl = TL()
    call_up_to_ringing(tl)
    tl.accept()
    tl.sdp(answer=False)
    found = diagnose_timeline(tl.finish(), CTX)
    assert codes(found) == {"SDP_NOT_RELAYED"} and found[0].agent == ALICE


def test_sdp_crossed_but_ice_failed_without_relay_candidates_hints_turn() -> None:
    tl = TL()
    call_up_to_ringing(tl)
    tl.accept()
    tl.sdp()
    tl.ice(ok=False)
    found = diagnose_timeline(tl.finish(), CTX)
    assert codes(found) == {"ICE_FAILED"}
    f = found[0]
    assert f.hint == TURN_HINT and "no relay candidates: configure TURN" in f.hint
    assert "local candidates: host" in f.detail


def test_dropped_candidates_are_ice_failed_with_the_relay_hint_not_sdp() -> None:
    tl = TL()
    call_up_to_ringing(tl)
    tl.accept()
    tl.sdp(candidates=False)
    tl.ice(ok=False)
    found = diagnose_timeline(tl.finish(), CTX)
    assert codes(found) == {"ICE_FAILED"}
    f = found[0]
    assert "candidate" in f.detail and "relayed none" in f.hint and f.hint != TURN_HINT


def test_relay_candidates_present_but_ice_failed_say_the_relay_failed() -> None:
    tl = TL()
    call_up_to_ringing(tl)
    tl.accept()
    tl.sdp(local=("host", "relay"))
    tl.ice(ok=False)
    found = diagnose_timeline(tl.finish(), CTX)
    assert codes(found) == {"ICE_FAILED"}
    for f in found:
        assert f.hint == RELAY_FAILED_HINT and "local candidates: host, relay" in f.detail


TURN = {"urls": ["turn:198.51.100.1:3478?transport=udp"], "username": "probe"}


@pytest.mark.parametrize("verdict, words", [
    ("turn-auth-failed", "refused the username and credential"),
    ("unreachable", "Nothing answered at the TURN address"),
])
def test_turn_configured_without_relay_is_turn_unavailable_with_the_probe_verdict(
        verdict: str, words: str) -> None:
    tl = TL()
    call_up_to_ringing(tl)
    tl.accept()
    tl.sdp(ice_servers=[TURN], local=("host", "srflx"))
    tl(ALICE, "turn_probe", url=TURN["urls"][0], verdict=verdict, ok=False,
       detail=f"probe said {verdict}")
    tl.ice(ok=False)
    found = diagnose_timeline(tl.finish(), CTX)
    assert codes(found) == {"TURN_UNAVAILABLE"}
    alice = next(f for f in found if f.agent == ALICE)
    assert words in alice.hint and f"probe said {verdict}" in alice.detail
    assert alice.severity is Severity.ERROR and alice.link == "ice"
    assert any(e.kind == "turn_probe" for e in alice.evidence)
    bob = next(f for f in found if f.agent == BOB)  # no probe recorded: the catalogue's hint
    assert "callprobe ice-check" in bob.hint


def test_turn_without_relay_on_a_call_that_connected_is_only_a_warning() -> None:
    tl = TL()
    call_up_to_ringing(tl)
    tl.accept()
    tl.sdp(ice_servers=[TURN])
    tl.ice()
    found = diagnose_timeline(tl.finish(), CTX)
    assert codes(found) == set() and codes(found, None) == {"TURN_UNAVAILABLE"}
    assert {f.severity for f in found} == {Severity.WARNING}
    assert first_broken_link(found) is None


def test_no_local_candidates_is_its_own_code_naming_the_relay_only_policy() -> None:
    tl = TL()
    call_up_to_ringing(tl)
    tl.accept()
    tl.sdp(relay_only=True, local=())
    tl.ice(ok=False)
    found = diagnose_timeline(tl.finish(), CTX)
    assert codes(found) == {"NO_LOCAL_CANDIDATES"}
    assert all("relay-only policy" in f.detail for f in found)
    tl = TL()
    call_up_to_ringing(tl)
    tl.accept()
    tl.sdp(local=())
    tl.ice(ok=False)
    found = diagnose_timeline(tl.finish(), CTX)
    assert codes(found) == {"NO_LOCAL_CANDIDATES"}
    assert all("no usable local address" in f.detail for f in found)


# MEDIA_NOT_FLOWING

def test_connected_without_video_frames_is_media_not_flowing() -> None:
    tl = TL()
    call_up_to_ringing(tl)
    tl.accept()
    tl.sdp()
    tl.ice()
    tl.media(video=0)
    found = diagnose_timeline(tl.finish(), CTX)
    assert codes(found) == {"MEDIA_NOT_FLOWING"}
    assert {f.agent for f in found} == {ALICE, BOB}
    assert "no video frames" in found[0].detail


def test_media_timeout_is_media_not_flowing() -> None:
    tl = TL()
    call_up_to_ringing(tl)
    tl.accept()
    tl.sdp()
    tl.ice()
    tl(BOB, "peer_failed", dt=5000, reason="no media frame", setting="media_timeout_s")
    found = diagnose_timeline(tl.finish(), CTX)
    assert codes(found) == {"MEDIA_NOT_FLOWING"} and found[0].agent == BOB


def test_frames_flowing_is_healthy() -> None:
    tl = TL()
    full_call(tl)
    tl.close_all(ALICE, BOB)
    assert diagnose_timeline(tl.finish(), CTX) == []


def test_media_probe_without_any_media_record_is_reported_when_probes_are_explicit() -> None:
    tl = TL()
    call_up_to_ringing(tl)
    tl.accept()
    tl.sdp()
    tl.ice()
    events = tl.finish()
    assert diagnose_timeline(events, CTX) == []  # run: no media step, nothing to judge
    walk = CTX.with_probes(Link)
    assert codes(diagnose_timeline(events, walk)) == {"MEDIA_NOT_FLOWING"}


# HANGUP_NOT_DELIVERED

def test_hangup_never_reaching_the_callee_is_hangup_not_delivered() -> None:
    tl = TL()
    call_up_to_ringing(tl)
    tl.accept()
    tl.hangup(delivered=False)
    tl(ALICE, "action_refused", action="hungUp", err_code=1801, err_msg="call not found")
    found = diagnose_timeline(tl.finish(), CTX)
    assert codes(found) == {"HANGUP_NOT_DELIVERED"}
    f = found[0]
    assert f.agent == BOB and "1801" in f.detail


def test_lost_cancel_is_hangup_not_delivered() -> None:
    tl = TL()
    call_up_to_ringing(tl)
    tl.hangup(cancel=True, delivered=False)
    found = diagnose_timeline(tl.finish(), CTX)
    assert codes(found) == {"HANGUP_NOT_DELIVERED"} and "cancel" in found[0].detail


def test_delivered_hangup_is_healthy() -> None:
    tl = TL()
    call_up_to_ringing(tl)
    tl.accept()
    tl.hangup()
    assert diagnose_timeline(tl.finish(), CTX) == []


# HISTORY_PAYLOAD_MISSING

def test_history_record_without_content_is_history_payload_missing() -> None:
    tl = TL()
    full_call(tl)
    tl.history(complete=False)
    found = diagnose_timeline(tl.finish(), CTX)
    assert codes(found) == {"HISTORY_PAYLOAD_MISSING"}
    assert "without content" in found[0].detail


def test_history_without_the_record_is_history_payload_missing() -> None:
    tl = TL()
    tl.history(found=False)
    found = diagnose_timeline(tl.finish(), CTX)
    assert codes(found) == {"HISTORY_PAYLOAD_MISSING"} and "no record" in found[0].detail


def test_complete_history_record_is_healthy() -> None:
    tl = TL()
    tl.history()
    assert diagnose_timeline(tl.finish(), CTX) == []


# context behaviour

def test_expected_codes_are_kept_but_lowered_to_info() -> None:
    tl = TL()
    call_up_to_ringing(tl)
    tl.accept(delivered=False)
    ctx = replace(CTX, expected=frozenset({"ANSWER_NOT_DELIVERED"}))
    found = diagnose_timeline(tl.finish(), ctx)
    assert [(f.code, f.severity) for f in found] == [("ANSWER_NOT_DELIVERED", Severity.INFO)]


def test_context_inferred_from_the_timeline_alone_finds_the_same_fault() -> None:
    tl = TL()
    call_up_to_ringing(tl, rang=False)
    found = diagnose_timeline(tl.finish())  # no context: users from the connection URLs
    assert codes(found) == {"INVITE_NOT_DELIVERED"} and found[0].agent == BOB


def test_peer_failures_as_the_rtc_peer_records_them() -> None:
    tl = TL()
    call_up_to_ringing(tl)
    tl.accept()
    tl.sdp()
    tl(BOB, "peer_failed", reason="invalid offer: no m-line", setting="")
    assert diagnose_timeline(tl.finish(), CTX) == []  # a bad SDP is not an ICE failure
    tl = TL()
    call_up_to_ringing(tl)
    tl.accept()
    tl.sdp()
    tl(ALICE, "peer_failed", dt=10000, reason="no relay candidates: configure TURN",
       setting="ice_connect_timeout_s", seconds=10.0, state="connecting", ice_state="checking",
       local_candidates=1, remote_candidates=1)
    found = diagnose_timeline(tl.finish(), CTX)
    assert codes(found) == {"ICE_FAILED"}
    assert found[0].hint == TURN_HINT and "(no relay candidates: configure TURN)" in found[0].detail


def test_driver_recording_order_send_before_frame_and_failure_before_refusal() -> None:
    tl = TL()
    tl.connect(ALICE)
    tl.connect(BOB)
    tl(ALICE, "invite_sent", callees=["u_bob"], room_id="tmp-9", media="audio", timeout_s=30)
    tl(ALICE, "frame_out", req_identifier=1004, msg_incr="1", size=100)
    tl(ALICE, "frame_in", req_identifier=1004, msg_incr="1", size=60, err_code=1003)
    tl(ALICE, "request_failed", req_identifier=1004, msg_incr="1", err_code=1003, err_msg="x")
    tl(ALICE, "invite_refused", err_code=1003, err_msg="x", busy=[], room_id="tmp-9")
    found = diagnose_timeline(tl.finish(), CTX)
    assert [f.code for f in found] == ["INVITE_REJECTED_BY_SERVER"]
    assert found[0].evidence[-1].kind == "invite_refused"


def test_each_call_of_a_run_is_judged_on_its_own_peer_connection() -> None:
    tl = TL()
    full_call(tl)
    tl.invite(room="r2", own_room="tmp-2")
    tl.accept(room="r2")
    tl.sdp(room="r2")
    tl.ice()
    tl.media(video=0)
    tl.hangup(room="r2")
    found = diagnose_timeline(tl.finish(), CTX)
    assert codes(found) == {"MEDIA_NOT_FLOWING"}
    assert all(f.at_ms is not None and f.at_ms > 4000 for f in found)  # the second call only
