"""The ladder model and its terminal rendering."""

from __future__ import annotations

from typing import Any

from rich.console import Console

from callprobe.analysis.diagnostics import diagnose_timeline
from callprobe.analysis.diagnostics.findings import make_finding
from callprobe.backends.kkim.protocol.constants import explain_err_code
from callprobe.reporters.ladder.model import (
    ERROR,
    GATEWAY,
    MEDIA,
    Ladder,
    build_ladder,
)
from callprobe.reporters.ladder.pairs import pair_frames
from callprobe.reporters.ladder.text import render_ladder, render_ladder_text
from callprobe.timeline.events import Event, make_event
from tests.analysis.diagnostics.timeline_fakes import ALICE, BOB, CTX, TL, healthy_walk
from tests.fakes import fields


def small_call() -> list[Event]:
    tl = TL()
    tl.connect(ALICE)
    tl.connect(BOB)
    tl.invite()
    tl.accept()
    tl.sdp()
    tl.ice()
    tl.hangup()
    return tl.finish()


def arrows(ladder: Ladder) -> list[tuple[str, str, str]]:
    return [(r.src, r.dst, r.label) for r in ladder.arrows]


def test_columns_are_caller_gateway_callee_then_other_devices() -> None:
    tl = TL()
    tl.connect(ALICE)
    tl.connect(BOB)
    tl.connect("bob-2", user="u_bob")
    tl.invite()
    tl("bob-2", "ringing", room_id="r1", inviter="u_alice", media="video")
    tl.connect("carol")
    ladder = build_ladder(tl.finish(), ctx=CTX)
    assert [(c.key, c.role) for c in ladder.columns] == [
        (ALICE, "caller"), (GATEWAY, "gateway"), (BOB, "callee"), ("bob-2", "callee"), ("carol", "agent")]
    assert [c.label for c in ladder.columns] == [
        "alice (caller)", "gateway", "bob (callee)", "bob-2 (callee device)", "carol"]


def test_columns_are_inferred_without_context() -> None:
    ladder = build_ladder(small_call())
    assert [c.role for c in ladder.columns] == ["caller", "gateway", "callee"]
    assert ladder.columns[0].key == ALICE and ladder.columns[2].key == BOB


def test_a_frame_and_what_it_meant_become_one_arrow_in_each_direction() -> None:
    ladder = build_ladder(small_call(), ctx=CTX)
    got = arrows(ladder)
    assert (ALICE, GATEWAY, "invite video ·1004") in got
    assert (GATEWAY, ALICE, "invite ok room=r1 ·1004") in got
    assert (GATEWAY, BOB, "ringing room=r1 ·2001") in got
    assert (GATEWAY, ALICE, "answered ·1004") in got
    assert (GATEWAY, BOB, "hung up ·1004") in got
    labels = [label for _, _, label in got]
    assert not any(label.startswith("SendSignalMsg") for label in labels)  # all 1004 frames merged
    invite_row = next(r for r in ladder.rows if r.label.startswith("invite video"))
    assert [e.kind for e in invite_row.events] == ["frame_out", "invite_sent"]


def test_webrtc_is_one_direct_line_between_the_agents() -> None:
    ladder = build_ladder(small_call(), ctx=CTX)
    direct = [r for r in ladder.rows if r.direct]
    assert [(r.src, r.dst, r.style) for r in direct] == [(ALICE, BOB, MEDIA)]
    assert direct[0].label == "ICE+DTLS connected host↔host"
    assert len(direct[0].events) == 2  # both agents' "connected" on one line


def test_sendmsg_acks_and_own_echoes_are_folded_unless_asked_for() -> None:
    tl = TL()
    tl.connect(ALICE)
    tl.connect(BOB)
    tl.text(ALICE, BOB)
    tl(ALICE, "frame_in", req_identifier=2001, msg_incr="", size=200, err_code=0,
       msgs=[{"content_type": 101, "send_id": "u_alice", "seq": 1}])
    events = tl.finish()
    plain = arrows(build_ladder(events, ctx=CTX))
    assert (GATEWAY, ALICE, "SendMsg 1003") not in plain
    assert not any(label.startswith("push") for _, _, label in plain)
    with_echo = arrows(build_ladder(events, ctx=CTX, echoes=True))
    assert (GATEWAY, ALICE, "push [101]") in with_echo


def test_heartbeats_can_be_left_out() -> None:
    events = healthy_walk()
    assert any(r.label == "ping" for r in build_ladder(events, ctx=CTX).rows)
    assert not any(r.label in ("ping", "pong") for r in build_ladder(events, ctx=CTX, heartbeats=False).rows)


def test_findings_sit_on_the_row_of_their_evidence() -> None:
    tl = TL()
    tl.connect(ALICE)
    tl.connect(BOB)
    tl.text(ALICE, BOB)
    tl.invite(ring_room="r-x")
    tl.accept()
    tl.sdp()
    tl.ice(ok=False)
    events = tl.finish()
    found = diagnose_timeline(events, CTX)
    ladder = build_ladder(events, found, CTX)
    ring = next(r for r in ladder.rows if r.label.startswith("ringing"))
    assert [f.code for f in ring.findings] == ["ROOM_ID_MISMATCH"]
    failed = next(r for r in ladder.rows if r.label == "ICE failed")
    assert failed.direct and failed.style == ERROR
    assert [f.code for f in failed.findings] == ["ICE_FAILED", "ICE_FAILED"]
    assert ladder.first_broken is not None and ladder.first_broken.code == "ROOM_ID_MISMATCH"
    placed = [f for r in ladder.rows for f in r.findings]
    assert len(placed) == len(found) and ladder.unplaced == ()


def test_a_finding_without_a_drawn_event_gets_its_own_note_row() -> None:
    events = small_call()
    marker = make_event("step_finished", 4000.0, ALICE, step="history", ok=True, found=False)
    f = make_finding("HISTORY_PAYLOAD_MISSING", (marker,), agent="nobody-drawn")
    timeless = make_finding("LOGIN_FAILED", ())
    ladder = build_ladder(events, [f, timeless], CTX)
    note = next(r for r in ladder.rows if r.findings)
    assert note.is_note and note.src == GATEWAY and note.t_ms == 4000.0
    assert ladder.unplaced == (timeless,)


def test_run_level_notes_go_on_the_gateway_column() -> None:
    tl = TL()
    tl("", "step_started", step="invite")
    tl.connect(ALICE)
    ladder = build_ladder(tl.finish(), ctx=CTX)
    step = ladder.rows[0]
    assert step.is_note and step.src == GATEWAY and step.label == "▸ invite"


def test_rich_render_shows_columns_arrows_labels_and_findings() -> None:
    tl = TL()
    tl.connect(ALICE)
    tl.connect(BOB)
    tl.text(ALICE, BOB)
    tl.invite(ring_room="r-x")
    events = tl.finish()
    ladder = build_ladder(events, diagnose_timeline(events, CTX), CTX)
    console = Console(record=True, width=160, color_system=None)
    console.print(render_ladder(ladder, width=120))
    text = console.export_text()
    for needle in ("alice (caller)", "gateway", "bob (callee)", "invite video ·1004",
                   "ringing room=r-x ·2001", "✖ ROOM_ID_MISMATCH", "first broken link: ringing",
                   "hint: The server assigns the roomID"):
        assert needle in text, needle
    ring_line = next(line for line in text.splitlines() if "ringing room=r-x" in line)
    assert ring_line.index("├") < ring_line.index("▶")  # gateway to callee, left to right
    invite_ok = next(line for line in text.splitlines() if "invite ok" in line)
    assert invite_ok.index("◀") < invite_ok.index("┤")  # gateway back to caller


def test_plain_text_render_of_a_healthy_run_says_no_findings() -> None:
    events = healthy_walk()
    text = render_ladder_text(build_ladder(events, diagnose_timeline(events, CTX), CTX), width=120)
    assert "no findings" in text and "ICE+DTLS connected" in text
    assert "\x1b[" not in text
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) >= len(build_ladder(events, ctx=CTX).rows) + 1


def test_driver_order_pairs_each_frame_with_its_meaning_and_folds_sendmsg_acks() -> None:
    tl = TL()
    tl.connect(ALICE)
    tl(ALICE, "text_sent", to="u_bob", client_msg_id="c1")
    tl(ALICE, "frame_out", req_identifier=1003, msg_incr="1", size=100)
    tl(ALICE, "frame_in", req_identifier=1003, msg_incr="1", size=60, err_code=0)
    tl(ALICE, "action_acked", action="send_text", client_msg_id="c1")
    tl(ALICE, "invite_sent", callees=["u_bob"], room_id="tmp-9", media="audio")
    tl(ALICE, "frame_out", req_identifier=1004, msg_incr="2", size=100)
    tl(ALICE, "frame_in", req_identifier=1004, msg_incr="2", size=60, err_code=1003)
    tl(ALICE, "request_failed", req_identifier=1004, msg_incr="2", err_code=1003, err_msg="x",
       explanation=explain_err_code(1003))
    tl(ALICE, "invite_refused", err_code=1003, err_msg="x", busy=[], room_id="tmp-9",
       explanation=explain_err_code(1003))
    ladder = build_ladder(tl.finish(), ctx=CTX)
    calls = [(r.src, r.dst, r.label, r.style) for r in ladder.arrows][2:]
    assert calls == [
        (ALICE, GATEWAY, "text to u_bob ·1003", "request"),
        (ALICE, GATEWAY, "invite audio ·1004", "request"),
        (GATEWAY, ALICE, f"invite refused {explain_err_code(1003)} ·1004", ERROR),
    ]
    refused = ladder.arrows[-1]
    assert [e.kind for e in refused.events] == ["frame_in", "request_failed", "invite_refused"]


def test_two_calls_get_two_webrtc_lines() -> None:
    tl = TL()
    tl.connect(ALICE)
    tl.connect(BOB)
    for room in ("r1", "r2"):
        tl.invite(room=room)
        tl.accept(room=room)
        tl.sdp(room=room)
        tl.ice()
        tl.hangup(room=room)
    direct = [r for r in build_ladder(tl.finish(), ctx=CTX).rows if r.direct]
    assert [r.label for r in direct] == ["ICE+DTLS connected host↔host"] * 2


# ------------------------------------------------------------------ which frame carried which meaning
#
# Timelines below carry the fields the KKIM driver records (callprobe/backends/kkim/driver.py,
# kkim_connection.py): a 2001 FRAME_IN's ``msgs`` summary, a notice's ``path``, an
# ack's ``temp_room_id``/``room_id``/``client_msg_id``, REQUEST_FAILED's ``msg_incr``.

ROOM, TMP = "696ee2ac", "tmp_u_alice_1"


def ev(t: float, agent: str, kind: str, **fields: Any) -> Event:
    return make_event(kind, t, agent, **fields)


def push(t: float, agent: str, *msgs: tuple[int, str, int, str]) -> Event:
    """A 2001 FRAME_IN holding (content_type, send_id, seq, client_msg_id) messages."""
    return ev(t, agent, "frame_in", req_identifier=2001, msg_incr="", size=300, err_code=0,
              msgs=[{"map": "msgs", "conversation": "si_u_alice_u_bob", "content_type": ct, "send_id": who,
                     "seq": seq, "client_msg_id": cid} for ct, who, seq, cid in msgs])


def unsolicited(t: float, agent: str) -> Event:
    return ev(t, agent, "frame_in", req_identifier=1004, msg_incr="", size=166, err_code=0)


def out(t: float, agent: str, req: int, incr: str) -> Event:
    return ev(t, agent, "frame_out", req_identifier=req, msg_incr=incr, size=700)


def reply(t: float, agent: str, req: int, incr: str, err: int = 0) -> Event:
    return ev(t, agent, "frame_in", req_identifier=req, msg_incr=incr, size=160, err_code=err,
              latency_ms=2.0)


def meanings(events: list[Event]) -> dict[float, list[str]]:
    """Frame time -> what it was paired with (kind, or ``note:<name>``), the main one first."""
    got = pair_frames(events).meant
    return {events[f].t_ms: [f"note:{fields(events[j]).get('note')}" if events[j].kind == "note" else events[j].kind
                             for j in meant] for f, meant in got.items()}


def recorded_call() -> list[Event]:
    """The walk's text, invite and answer from a recorded run (67-93 ms), field for field.

    The caller's echo of its own 1601 invite (78.7) sits three events before the
    unsolicited 1004 that carries the answer (92.1): pairing by nearness gave the
    echo the ``answered`` notice, and the 1004 frame the echo's note.
    """
    text, invite = "169277c6", "c7ab719e"
    return [
        ev(67.17, ALICE, "text_sent", to="u_bob", client_msg_id=text, length=27),
        out(67.38, ALICE, 1003, "1"),
        reply(70.01, ALICE, 1003, "1"),
        push(70.19, ALICE, (101, "u_alice", 1, text)),
        ev(70.22, ALICE, "note", note="own_echo", content_type=101, client_msg_id=text, seq=1, status=2),
        push(70.35, BOB, (101, "u_alice", 1, text)),
        ev(70.40, BOB, "text_received", client_msg_id=text, seq=1, via="push", **{"from": "u_alice"}),
        ev(70.57, ALICE, "action_acked", action="send_text", client_msg_id=text, server_msg_id="s1"),
        ev(71.22, ALICE, "invite_sent", callees=["u_bob"], room_id=TMP, media="video", timeout_s=30),
        out(71.38, ALICE, 1004, "2"),
        reply(78.51, ALICE, 1004, "2"),
        ev(78.58, ALICE, "invite_acked", room_id=ROOM, server_room_id=ROOM, temp_room_id=TMP, busy=[],
           adopted=True),
        push(78.73, ALICE, (1601, "u_alice", 2, invite)),
        ev(78.83, ALICE, "note", note="own_echo", content_type=1601, client_msg_id=invite, seq=2, status=2,
           action="invite", room_id=ROOM, dialect="bare-SignalInviteReq"),
        push(78.95, BOB, (1601, "u_alice", 2, invite)),
        ev(79.04, BOB, "ringing", room_id=ROOM, inviter="u_alice", media="video",
           dialect="bare-SignalInviteReq", via="push_1601", platform=5, timeout_s=30, seq=2,
           invitees=["u_bob"]),
        ev(89.39, BOB, "accept_sent", room_id=ROOM, peer="u_alice"),
        out(89.62, BOB, 1004, "1"),
        reply(91.98, BOB, 1004, "1"),
        unsolicited(92.10, ALICE),
        ev(92.22, ALICE, "answered", room_id=ROOM, path="unsolicited_1004", by="u_bob",
           dialect="unsolicited-1004-SignalResp", action="accept"),
        ev(93.34, ALICE, "peer_created", room_id=ROOM, media="video", ice_servers=[]),
        ev(95.00, BOB, "action_acked", action="accept", room_id=ROOM, resp_payload="accept"),
    ]


def test_recorded_call_labels_the_own_echo_and_the_answer_by_what_they_carried() -> None:
    ladder = build_ladder(recorded_call(), ctx=CTX, echoes=True)
    row = {r.t_ms: r for r in ladder.arrows}
    echo, answer = row[78.73], row[92.10]
    assert (echo.src, echo.dst, echo.label) == (GATEWAY, ALICE, "own_echo ·2001/1601")
    assert [e.kind for e in echo.events] == ["frame_in", "note"]
    assert (answer.src, answer.dst, answer.label) == (GATEWAY, ALICE, "answered ·1004")
    assert [e.kind for e in answer.events] == ["frame_in", "answered"]
    assert arrows(ladder) == [
        (ALICE, GATEWAY, "text to u_bob ·1003"),
        (GATEWAY, ALICE, "own_echo ·2001/101"),
        (GATEWAY, BOB, "text from u_alice ·2001/101"),
        (ALICE, GATEWAY, "invite video ·1004"),
        (GATEWAY, ALICE, f"invite ok room={ROOM} ·1004"),
        (GATEWAY, ALICE, "own_echo ·2001/1601"),
        (GATEWAY, BOB, f"ringing room={ROOM} ·2001/1601"),
        (BOB, GATEWAY, f"accept room={ROOM} ·1004"),
        (GATEWAY, BOB, "accept ok ·1004"),      # the ack written 3 ms later, after other frames
        (GATEWAY, ALICE, "answered ·1004"),
    ]
    assert not any(r.is_note and r.kind == "note" for r in ladder.rows)  # every driver note found its frame
    text = render_ladder_text(ladder, width=120)
    assert "answered ·2001/1601" not in text and "own_echo ·1004" not in text


def drawn(events: list[Event]) -> dict[float, list[str]]:
    """Arrow time -> the meanings drawn on it (kind, ``note:<name>``, or the client_msg_id)."""
    return {r.t_ms: [str(fields(e).get("client_msg_id") or (f"note:{fields(e).get('note')}" if e.kind == "note" else e.kind))
                     for e in r.events if e.kind not in ("frame_in", "frame_out")]
            for r in build_ladder(events, ctx=CTX, echoes=True).arrows}


def test_a_notice_by_unsolicited_1004_takes_the_1004_frame_not_an_earlier_push() -> None:
    events = [
        push(1.0, ALICE, (1601, "u_alice", 4, "e1")),
        ev(2.0, ALICE, "note", note="own_echo", content_type=1601, client_msg_id="e1", seq=4),
        unsolicited(3.0, ALICE),
        ev(4.0, ALICE, "answered", room_id="r1", path="unsolicited_1004", by="u_bob"),
    ]
    assert meanings(events) == {1.0: ["note:own_echo"], 3.0: ["answered"]}
    labels = [r.label for r in build_ladder(events, ctx=CTX, echoes=True).arrows]
    assert labels == ["own_echo ·2001/1601", "answered ·1004"]


def test_a_notice_by_push_1601_takes_the_push_holding_a_1601_message() -> None:
    events = [
        unsolicited(1.0, ALICE),
        ev(2.0, ALICE, "note", note="unsolicited_1004_ignored", err_code=0, payload=None),
        push(3.0, ALICE, (1601, "u_bob", 7, "n1")),
        ev(4.0, ALICE, "hung_up", room_id="r1", path="push_1601", by="u_bob", seq=7),
        push(5.0, ALICE, (101, "u_bob", 8, "t1"), (1601, "u_bob", 9, "n2")),
        ev(6.0, ALICE, "text_received", client_msg_id="t1", seq=8, via="push", **{"from": "u_bob"}),
        ev(7.0, ALICE, "note", note="second_arrival", action="hungUp", room_id="r1", path="push_1601"),
    ]
    assert meanings(events) == {1.0: ["note:unsolicited_1004_ignored"], 3.0: ["hung_up"],
                                5.0: ["text_received", "note:second_arrival"]}
    labels = [r.label for r in build_ladder(events, ctx=CTX).arrows]
    assert labels == ["unsolicited_1004_ignored ·1004", "hung up ·2001/1601",
                      "text from u_bob ·2001/101,1601"]


def test_own_echo_notes_find_their_message_by_content_type_and_client_msg_id() -> None:
    events = [
        push(1.0, ALICE, (110, "u_alice", 1, "a")),
        push(2.0, ALICE, (110, "u_alice", 2, "b")),
        ev(3.0, ALICE, "note", note="own_echo", content_type=110, client_msg_id="b", seq=2),
        ev(4.0, ALICE, "note", note="own_echo", content_type=110, client_msg_id="a", seq=1),
        push(5.0, ALICE, (101, "u_alice", 3, "c"), (1601, "u_alice", 4, "d")),
        ev(6.0, ALICE, "note", note="own_echo", content_type=1601, client_msg_id="d", seq=4),
        ev(7.0, ALICE, "note", note="own_echo", content_type=101, client_msg_id="c", seq=3),
        push(8.0, ALICE, (101, "u_alice", 5, "")),
        ev(9.0, ALICE, "note", note="own_echo", content_type=1601, seq=6),  # says another message
    ]
    pairing = pair_frames(events)
    ids = {events[f].t_ms: [fields(events[j]).get("client_msg_id") for j in got] for f, got in pairing.meant.items()}
    assert ids == {1.0: ["a"], 2.0: ["b"], 5.0: ["d", "c"]}
    assert {t: m for t, m in drawn(events).items() if m} == {1.0: ["a"], 2.0: ["b"], 5.0: ["d", "c"]}
    assert 7 not in pairing.meant and any(r.is_note and r.t_ms == 9.0 for r in build_ladder(events).rows)


def test_replies_go_by_msg_incr_and_acks_through_the_request_they_answer() -> None:
    events = [
        ev(1.0, ALICE, "text_sent", to="u_bob", client_msg_id="c1"),
        out(2.0, ALICE, 1003, "1"),
        ev(3.0, ALICE, "accept_sent", room_id="r1"),
        out(4.0, ALICE, 1004, "2"),
        reply(5.0, ALICE, 1004, "2"),                  # replies in the other order
        reply(6.0, ALICE, 1003, "1"),
        push(7.0, ALICE, (101, "u_alice", 1, "c1")),
        ev(8.0, ALICE, "note", note="own_echo", content_type=101, client_msg_id="c1", seq=1),
        ev(9.0, ALICE, "action_acked", action="send_text", client_msg_id="c1"),
        ev(10.0, ALICE, "action_acked", action="accept", room_id="r1"),
        ev(11.0, ALICE, "invite_sent", room_id=TMP, media="audio"),
        out(12.0, ALICE, 1004, "3"),
        reply(13.0, ALICE, 1004, "3"),
        ev(14.0, ALICE, "invite_acked", room_id=ROOM, temp_room_id=TMP),
        ev(15.0, ALICE, "hangup_sent", room_id=ROOM),
        out(16.0, ALICE, 1004, "4"),                   # its reply was never recorded
        ev(17.0, ALICE, "action_acked", action="hungUp", room_id=ROOM),
    ]
    pairing = pair_frames(events)
    got = meanings(events)
    assert got[5.0] == ["action_acked"] and fields(events[pairing.meant[4][0]]).get("action") == "accept"
    assert got[6.0] == ["action_acked"] and fields(events[pairing.meant[5][0]]).get("action") == "send_text"
    assert got[13.0] == ["invite_acked"] and 16 not in {j for m in pairing.meant.values() for j in m}
    assert {events[i].t_ms for i in pairing.replies} == {5.0, 6.0, 13.0}
    labels = [(r.t_ms, r.label) for r in build_ladder(events, ctx=CTX).rows]
    assert (5.0, "accept ok ·1004") in labels and (13.0, f"invite ok room={ROOM} ·1004") in labels
    assert (17.0, "hungUp ok") in labels       # on its own: it did not take an older reply


def test_request_failed_takes_the_reply_with_its_msg_incr() -> None:
    events = [
        ev(1.0, ALICE, "cancel_sent", room_id="r1"),
        out(2.0, ALICE, 1004, "3"),
        ev(3.0, ALICE, "text_sent", to="u_bob", client_msg_id="c9"),
        out(4.0, ALICE, 1003, "4"),
        reply(5.0, ALICE, 1003, "4", err=1302),
        reply(6.0, ALICE, 1004, "3", err=1003),
        ev(7.0, ALICE, "request_failed", label="SendSignalMsg", req_identifier=1004, msg_incr="3", err_code=1003,
           err_msg="x", explanation=explain_err_code(1003)),
        ev(8.0, ALICE, "request_failed", req_identifier=1003, msg_incr="4", err_code=1302, err_msg="y"),
    ]
    pairing = pair_frames(events)
    assert drawn(events)[5.0] == ["request_failed"] and drawn(events)[6.0] == ["request_failed"]
    assert [fields(events[j]).get("msg_incr") for j in pairing.meant[4]] == ["4"]
    assert [fields(events[j]).get("msg_incr") for j in pairing.meant[5]] == ["3"]
    rows = {r.t_ms: r for r in build_ladder(events, ctx=CTX).arrows}
    assert rows[6.0].label == f"SendSignalMsg failed {explain_err_code(1003)} ·1004"
    assert rows[6.0].style == ERROR


def test_received_text_and_signals_find_their_push_by_client_msg_id() -> None:
    events = [
        push(1.0, BOB, (110, "u_alice", 3, "s1")),
        push(2.0, BOB, (101, "u_alice", 4, "t1")),
        ev(3.0, BOB, "text_received", client_msg_id="t1", seq=4, via="push", **{"from": "u_alice"}),
        ev(4.0, BOB, "signal_received", signal_type="offer", room_id="r1", client_msg_id="s1",
           **{"from": "u_alice"}),
    ]
    assert meanings(events) == {1.0: ["signal_received"], 2.0: ["text_received"]}
    assert arrows(build_ladder(events, ctx=CTX)) == [
        (GATEWAY, BOB, "offer ·2001/110"), (GATEWAY, BOB, "text from u_alice ·2001/101")]


def test_sent_requests_take_the_frame_of_their_req_identifier_in_order() -> None:
    events = [
        ev(1.0, ALICE, "invite_sent", room_id=TMP, media="video"),
        ev(2.0, ALICE, "text_sent", to="u_bob", client_msg_id="c1"),
        out(3.0, ALICE, 1003, "1"),
        out(4.0, ALICE, 1004, "2"),
        ev(5.0, ALICE, "signal_sent", signal_type="offer", room_id="r1"),   # the connection was lost
        ev(6.0, ALICE, "signal_sent", signal_type="candidate", room_id="r1"),
        out(7.0, ALICE, 1003, "3"),
        out(8.0, ALICE, 1004, "4"),                     # frame first, then its meaning
        ev(9.0, ALICE, "hangup_sent", room_id="r1"),
    ]
    assert meanings(events) == {3.0: ["text_sent"], 4.0: ["invite_sent"], 7.0: ["signal_sent"],
                                8.0: ["hangup_sent"]}
    assert arrows(build_ladder(events, ctx=CTX)) == [
        (ALICE, GATEWAY, "text to u_bob ·1003"), (ALICE, GATEWAY, "invite video ·1004"),
        (ALICE, GATEWAY, "offer"), (ALICE, GATEWAY, "candidate ·1003"),
        (ALICE, GATEWAY, "hangup room=r1 ·1004")]


def test_meanings_without_keys_fall_back_to_the_nearest_frame_that_allows_them() -> None:
    events = [
        unsolicited(1.0, ALICE),
        push(2.0, ALICE, (101, "u_alice", 4, "e1")),
        ev(3.0, ALICE, "answered", room_id="r1", by="u_bob"),       # no path: a 101 push cannot be it
        ev(4.0, ALICE, "note", note="own_echo", content_type=101, client_msg_id="e1"),
        ev(5.0, BOB, "frame_in", req_identifier=2001, msg_incr="", size=300),   # no msgs summary
        ev(6.0, BOB, "ringing", room_id="r1"),
        reply(7.0, BOB, 1004, "2"),
        ev(8.0, BOB, "action_acked", action="reject"),
    ]
    assert meanings(events) == {1.0: ["answered"], 2.0: ["note:own_echo"], 5.0: ["ringing"],
                                7.0: ["action_acked"]}
    assert [r.label for r in build_ladder(events, ctx=CTX, echoes=True).arrows] == [
        "answered ·1004", "own_echo ·2001/101", "ringing room=r1 ·2001", "reject ok ·1004"]


def test_the_fallback_never_reaches_past_a_frame_that_holds_its_own_match() -> None:
    events = [
        ev(1.0, BOB, "frame_in", req_identifier=2001, msg_incr="", size=300),   # could carry anything
        push(2.0, BOB, (1601, "u_alice", 3, "n3")),
        ev(3.0, BOB, "ringing", room_id="r1", via="push_1601", seq=3),            # proven: 2.0
        ev(4.0, BOB, "cancelled", room_id="r1"),                                  # keyless
    ]
    assert meanings(events) == {2.0: ["ringing"]}
    ladder = build_ladder(events, ctx=CTX)
    assert arrows(ladder) == [(GATEWAY, BOB, "push"), (GATEWAY, BOB, "ringing room=r1 ·2001/1601"),
                              (GATEWAY, BOB, "cancelled")]


def test_kicks_late_replies_and_stray_frames_pair_by_what_they_name() -> None:
    events = [
        out(1.0, ALICE, 1001, "5"),
        ev(2.0, ALICE, "request_timeout", req_identifier=1001, msg_incr="5", setting="request_timeout_s",
           seconds=5),
        ev(3.0, ALICE, "frame_in", req_identifier=1001, msg_incr="5", size=60, err_code=0, late=True),
        ev(4.0, ALICE, "note", note="late_reply", req_identifier=1001, msg_incr="5"),
        ev(5.0, ALICE, "frame_in", req_identifier=1005, msg_incr="", size=60, err_code=0),
        ev(6.0, ALICE, "note", note="unhandled_frame", req_identifier=1005, msg_incr=""),
        ev(7.0, ALICE, "frame_in", req_identifier=2002, msg_incr="", size=60, err_code=0),
        ev(8.0, ALICE, "kicked", by="2002", text="another login took the connection"),
        ev(9.0, ALICE, "note", note="history_pulled", count=0),   # about no frame: stays a note
    ]
    assert meanings(events) == {3.0: ["note:late_reply"], 5.0: ["note:unhandled_frame"], 7.0: ["kicked"]}
    rows = build_ladder(events, ctx=CTX).rows
    assert [(r.t_ms, r.label) for r in rows if not r.is_note][-1] == (7.0, "kicked (2002) ·2002")
    assert any(r.is_note and r.label == "history_pulled" for r in rows)


def test_own_echo_pushes_are_folded_by_default() -> None:
    """Sender sync brings every message back to its sender; by default those
    arrows are left out, and ``echoes=True`` draws them."""
    events = recorded_call()
    plain = [r.label for r in build_ladder(events, ctx=CTX).arrows]
    full = [r.label for r in build_ladder(events, ctx=CTX, echoes=True).arrows]
    assert not any(label.startswith("own_echo") for label in plain)
    assert any(label.startswith("own_echo") for label in full)
    assert len(full) > len(plain)
