"""What an ordinary user must not do on a KKIM server: read another pair's conversation, ring in another's name.

The KKIM walk's two probes (``analysis.diagnostics.links``) record what they
saw in their step markers; these rules decide from the markers and the
callee's rings alone, on hand-made timelines.
"""

from __future__ import annotations

from callprobe.analysis.calls import build_calls, forged_rooms
from callprobe.analysis.diagnostics import CATALOGUE, diagnose_timeline, first_broken_link
from callprobe.analysis.diagnostics.findings import Severity, for_backend
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
    assert "stored" in f.hint and "never from the conversation ID string" in f.hint


def test_only_a_message_between_the_first_pair_is_a_leak() -> None:
    """The reader's own conversation, and messages of users of neither pair, are not the other pair's."""
    tl = TL()
    tl.conversation_probe(leaked=True)
    events = tl.finish()
    [marker] = [e for e in events if isinstance(e, StepFinished) and e.step == "conversation_leak"]
    marker.extra["pulled"][1].update(send_id="u_x0", recv_id="u_x9")  # not the pair (u_x0, u_x1_u_x2)
    assert list(diagnose_timeline(events, CTX)) == []


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
    marker, *rings = f.evidence
    assert isinstance(marker, StepFinished) and marker.step == "forged_invite"
    assert [(r.room_id, r.sender) for r in rings if isinstance(r, Ringing)] == [(FORGED_ROOM, "u_forger"),
                                                                                (f"{FORGED_ROOM}-u", "u_forger")]
    assert "u_forger sent u_bob (bob) call invitations" in f.detail
    assert "a system (msgFrom 200) one and an ordinary user's (msgFrom 100) one" in f.detail
    assert "naming u_alice as the inviter" in f.detail and "pushed as sent by u_forger" in f.detail
    assert "msgFrom 200" in f.hint and "1000-5000" in f.hint and "sender itself as the inviter" in f.hint


def test_a_server_that_only_refuses_system_messages_still_relays_the_users_forgery() -> None:
    """The half fix: msgFrom 200 refused, the same invitation as the forger's own message rings."""
    tl = TL()
    tl.connect(ALICE)
    tl.connect(BOB)
    tl.forged_invite_probe(relayed=(100,))
    [f] = diagnose_timeline(tl.finish(), CTX)
    assert f.code == "FORGED_INVITE_RELAYED"
    assert "an ordinary user's (msgFrom 100) one" in f.detail and "system" not in f.detail.split(";")[1]
    assert "it refused the msgFrom 200 one (errCode 1002)" in f.detail


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
    assert forged_rooms(index) == {FORGED_ROOM, f"{FORGED_ROOM}-u", "callprobe-forged-2", "callprobe-forged-2-u"}
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
    leak = TL()
    leak.conversation_probe(leaked=True)
    [g] = diagnose_timeline(leak.finish(), CTX)
    for backend in ("socketio", "rooms"):
        for finding in (f, g):
            worded = for_backend(finding, backend)
            for kkim_term in ("1601", "msgFrom", "1003", "si_", "SendMsg", "errCode"):
                assert kkim_term not in worded.title + worded.hint, (backend, finding.code, kkim_term)
            assert worded.hint != CATALOGUE[finding.code].hint
