"""What an ordinary user must not do on a KKIM server: read another pair's conversation, ring in another's name.

The KKIM walk's two probes (``analysis.diagnostics.links``) record what they
saw in their step markers; these rules decide from the markers and the
callee's rings alone, on hand-made timelines.
"""

from __future__ import annotations

from callprobe.analysis.calls import build_calls, forged_rooms
from callprobe.analysis.diagnostics import CATALOGUE, diagnose_timeline, first_broken_link
from callprobe.analysis.diagnostics.findings import BACKEND_WORDS, Severity, for_backend
from callprobe.analysis.diagnostics.view import TimelineView
from callprobe.analysis.index import TimelineIndex
from callprobe.timeline.events import Ringing, StepFinished
from tests.analysis.diagnostics.timeline_fakes import (
    ALICE,
    BOB,
    CONVERSATION,
    CTX,
    FORGED_ROOM,
    TL,
    codes,
    healthy_walk,
)


def _findings(tl: TL) -> list[object]:
    return list(diagnose_timeline(tl.finish(), CTX))


# ---------------------------------------------------------------- conversation leak


def test_a_pull_holding_only_the_readers_own_message_is_fine() -> None:
    tl = TL()
    tl.conversation_probe()
    assert _findings(tl) == []


def test_a_message_of_the_other_pair_in_the_pull_is_a_conversation_leak() -> None:
    tl = TL()
    tl.conversation_probe(leaked=True)
    [f] = diagnose_timeline(tl.finish(), CTX)
    assert (f.code, f.severity, f.link) == ("CONVERSATION_LEAK", Severity.ERROR, "history")
    assert "(u_x0, u_x1_u_x2) and (u_x0_u_x1, u_x2)" in f.detail and CONVERSATION in f.detail
    assert "u_x2 pulled it" in f.detail and "seq 2 from u_x0 to u_x1_u_x2" in f.detail
    [marker] = f.evidence
    assert isinstance(marker, StepFinished) and marker.step == "conversation_leak"
    assert [m["send_id"] for m in marker.extra["pulled"]] == ["u_x2", "u_x0"]  # the pull reply itself
    assert "stored" in f.hint and "never from the conversation ID string" in f.hint


def test_a_probe_the_server_kept_from_running_is_no_finding() -> None:
    tl = TL()
    tl.conversation_probe(checked=False)
    assert _findings(tl) == []


# ---------------------------------------------------------------- forged invitation


def test_a_refused_forgery_is_the_healthy_outcome() -> None:
    tl = TL()
    tl.connect(ALICE)
    tl.connect(BOB)
    tl.forged_invite_probe()
    assert _findings(tl) == []


def test_a_ring_for_the_forged_invitation_is_forged_invite_relayed() -> None:
    tl = TL()
    tl.connect(ALICE)
    tl.connect(BOB)
    tl.forged_invite_probe(relayed=True)
    [f] = diagnose_timeline(tl.finish(), CTX)
    assert (f.code, f.severity, f.link, f.agent) == ("FORGED_INVITE_RELAYED", Severity.ERROR, "auth_probes", BOB)
    marker, ring = f.evidence
    assert isinstance(marker, StepFinished) and marker.extra["forged"]["msg_from"] == 200
    assert isinstance(ring, Ringing) and ring.room_id == FORGED_ROOM and ring.sender == "u_forger"
    assert "u_forger sent u_bob (bob) a system (msgFrom 200) call invitation" in f.detail
    assert "naming u_alice as the inviter" in f.detail and "pushed as sent by u_forger" in f.detail
    assert "msgFrom 200" in f.hint and "1000-5000" in f.hint and "sender itself as the inviter" in f.hint


def test_the_forged_ring_is_no_call_of_the_walk() -> None:
    """After the walk's last call: no ROOM_ID_MISMATCH, no malformed invite, no call, no open room."""
    events = healthy_walk()
    tl = TL()
    tl.events, tl.t = events[:-1], events[-2].t_ms
    tl.forged_invite_probe(relayed=True, room="callprobe-forged-2")
    found = diagnose_timeline(tl.finish(), CTX)
    assert [f.code for f in found] == ["FORGED_INVITE_RELAYED"]
    first = first_broken_link(found)
    assert first is not None and first.code == "FORGED_INVITE_RELAYED"
    index = TimelineIndex(tl.events)
    assert forged_rooms(index) == {FORGED_ROOM, "callprobe-forged-2"}
    assert all(ring.room_id in ("r1", "r2") for call in build_calls(index) for _, ring in call.ringing)
    assert "callprobe-forged-2" not in {room.room_id for room in TimelineView(tl.events, CTX).rooms()}


def test_a_ring_in_a_room_no_probe_forged_is_judged_as_a_call() -> None:
    tl = TL()
    tl.connect(ALICE)
    tl.connect(BOB)
    tl(BOB, "ringing", room_id="elsewhere", inviter="u_alice", media="video", via="push_1601",
       **{"from": "u_mallory"})
    assert "FORGED_INVITE_RELAYED" not in codes(diagnose_timeline(tl.finish(), CTX), None)


def test_the_healthy_walk_with_both_probes_fine_has_no_finding() -> None:
    assert diagnose_timeline(healthy_walk(), CTX) == []


def test_other_backends_get_words_without_kkim_terms() -> None:
    tl = TL()
    tl.connect(ALICE)
    tl.connect(BOB)
    tl.forged_invite_probe(relayed=True)
    [f] = diagnose_timeline(tl.finish(), CTX)
    for backend in ("socketio", "rooms"):
        said = for_backend(f, backend).hint
        assert said == BACKEND_WORDS[backend]["FORGED_INVITE_RELAYED"][1] != CATALOGUE[f.code].hint
