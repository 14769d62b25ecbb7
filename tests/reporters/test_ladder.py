"""The ladder model and its terminal rendering."""

from __future__ import annotations

from rich.console import Console

from callprobe.diagnostics import diagnose_timeline
from callprobe.diagnostics.findings import make_finding
from callprobe.events import Event, Kind
from callprobe.protocol.constants import explain_err_code
from callprobe.reporters.ladder import (
    ERROR,
    GATEWAY,
    MEDIA,
    Ladder,
    build_ladder,
    render_ladder,
    render_ladder_text,
)
from tests.diagnostics.timeline_fakes import ALICE, BOB, CTX, TL, healthy_walk


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
    tl("bob-2", Kind.RINGING, room_id="r1", inviter="u_alice", media="video")
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
    tl(ALICE, Kind.FRAME_IN, req_identifier=2001, msg_incr="", size=200, err_code=0,
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
    marker = Event(4000.0, ALICE, "step_finished", {"step": "history", "ok": True, "found": False})
    f = make_finding("HISTORY_PAYLOAD_MISSING", (marker,), agent="nobody-drawn")
    timeless = make_finding("LOGIN_FAILED", ())
    ladder = build_ladder(events, [f, timeless], CTX)
    note = next(r for r in ladder.rows if r.findings)
    assert note.is_note and note.src == GATEWAY and note.t_ms == 4000.0
    assert ladder.unplaced == (timeless,)


def test_run_level_notes_go_on_the_gateway_column() -> None:
    tl = TL()
    tl("", Kind.STEP_STARTED, step="invite")
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
    tl(ALICE, Kind.TEXT_SENT, to="u_bob", client_msg_id="c1")
    tl(ALICE, Kind.FRAME_OUT, req_identifier=1003, msg_incr="1", size=100)
    tl(ALICE, Kind.FRAME_IN, req_identifier=1003, msg_incr="1", size=60, err_code=0)
    tl(ALICE, Kind.ACTION_ACKED, action="send_text", client_msg_id="c1")
    tl(ALICE, Kind.INVITE_SENT, callees=["u_bob"], room_id="tmp-9", media="audio")
    tl(ALICE, Kind.FRAME_OUT, req_identifier=1004, msg_incr="2", size=100)
    tl(ALICE, Kind.FRAME_IN, req_identifier=1004, msg_incr="2", size=60, err_code=1003)
    tl(ALICE, Kind.REQUEST_FAILED, req_identifier=1004, msg_incr="2", err_code=1003, err_msg="x")
    tl(ALICE, Kind.INVITE_REFUSED, err_code=1003, err_msg="x", busy=[], room_id="tmp-9")
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
