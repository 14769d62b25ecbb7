"""The rules on how a server found the callee, on hand-built timelines: an offline answer to a
connected callee, the id's JSON type deciding delivery, rings by some of a backend's paths only;
and the catalogue's words in the backend's own terms."""

from __future__ import annotations

import dataclasses

from callprobe.analysis.diagnostics import CATALOGUE, diagnose_timeline, first_broken_link
from callprobe.analysis.diagnostics.findings import BACKEND_WORDS, Severity
from callprobe.timeline.events import Event
from tests.analysis.diagnostics.timeline_fakes import ALICE, BOB, CTX, TL

PATHS = ["call_invitation", "message"]


def connected(tl: TL, online: bool = True) -> None:
    tl("", "run_started", backend="socketio")
    tl.connect(ALICE)
    tl.connect(BOB)
    if online:
        tl(ALICE, "presence", user="u_bob", status="online")
    else:
        tl(BOB, "ws_closed", code=1000, reason="client disconnect", by="client")
        tl(ALICE, "presence", user="u_bob", status="offline")
    tl.text(ALICE, BOB, pushed=online)


def invite(tl: TL, room: str, id_type: str, status: str, rang: bool, second: bool = True) -> None:
    tl(ALICE, "invite_sent", callees=["u_bob"], media="video", id_type=id_type)
    tl(ALICE, "invite_acked", room_id=room, server_room_id=room, status=status, room_name=f"call-{room}")
    if rang:
        tl(BOB, "ringing", room_id=room, inviter="u_alice", media="video", via="message", ring_paths=PATHS,
           room_name=f"call-{room}")
        if second:
            tl(BOB, "note", room_id=room, note="second_arrival", action="invite", path="call_invitation",
               first_path="message")


def codes(events: list[Event]) -> dict[str, str]:
    return {f.code: f.severity.value for f in diagnose_timeline(events, CTX)}


def test_offline_while_connected_is_named_with_its_evidence() -> None:
    tl = TL()
    connected(tl)
    invite(tl, "c1", "string", "offline", rang=False)
    found = diagnose_timeline(tl.finish(), CTX)
    assert [(f.code, f.severity) for f in found] == [("INVITE_ACKED_OFFLINE", Severity.ERROR)]
    [f] = found
    assert [e.kind for e in f.evidence] == ["invite_sent", "invite_acked", "ws_open", "presence"]
    assert "announced it online" in f.detail and "as a string" in f.detail and f.link == "ringing"


def test_offline_for_a_callee_really_offline_is_no_finding() -> None:
    tl = TL()
    connected(tl, online=False)
    invite(tl, "c1", "int", "offline", rang=False)
    assert "INVITE_ACKED_OFFLINE" not in codes(tl.finish())
    assert "INVITE_NOT_DELIVERED" not in codes(tl.events)


def test_one_type_ringing_and_the_other_not_names_the_type_and_nothing_else() -> None:
    tl = TL()
    connected(tl)
    invite(tl, "c1", "string", "offline", rang=False)
    tl(ALICE, "cancel_sent", room_id="c1")
    invite(tl, "c2", "int", "ringing", rang=True)
    found = diagnose_timeline(tl.finish(), CTX)
    assert codes(tl.events) == {"ID_TYPE_DECIDES_DELIVERY": "error"}
    first = first_broken_link(found)
    assert first is not None and first.code == "ID_TYPE_DECIDES_DELIVERY"
    assert "finds the callee (bob) with an integer id but not with a string id" in first.detail
    assert "accept a string id and convert it" in first.hint


def test_the_reverse_direction_says_so() -> None:
    tl = TL()
    connected(tl)
    invite(tl, "c1", "int", "ringing", rang=False)
    invite(tl, "c2", "string", "ringing", rang=True)
    [f] = diagnose_timeline(tl.finish(), CTX)
    assert f.code == "ID_TYPE_DECIDES_DELIVERY" and "with a string id but not with an integer id" in f.detail


def test_both_types_failing_is_not_about_the_type() -> None:
    tl = TL()
    connected(tl)
    invite(tl, "c1", "string", "offline", rang=False)
    invite(tl, "c2", "int", "offline", rang=False)
    assert codes(tl.finish()) == {"INVITE_ACKED_OFFLINE": "error"}


def test_the_walks_id_type_probe_alone_is_judged_only_against_the_walks_invite() -> None:
    tl = TL()
    connected(tl)
    tl("", "step_started", step="id_type")
    invite(tl, "c1", "string", "ringing", rang=False)
    tl("", "step_finished", step="id_type", ok=True)
    assert codes(tl.finish()) == {}  # neither INVITE_NOT_DELIVERED nor INVITE_ACKED_OFFLINE on its own


def test_a_ring_by_one_of_two_paths_is_a_warning_naming_the_missing_one() -> None:
    tl = TL()
    connected(tl)
    invite(tl, "c1", "int", "ringing", rang=True, second=False)
    found = diagnose_timeline(tl.finish(), CTX)
    assert [(f.code, f.severity) for f in found] == [("INVITE_NOT_DELIVERED", Severity.WARNING)]
    assert "call_invitation never came" in found[0].detail and first_broken_link(found) is None
    both = TL()
    connected(both)
    invite(both, "c1", "int", "ringing", rang=True)
    assert codes(both.finish()) == {}


def test_a_ring_path_is_not_judged_missing_before_its_deadline_or_the_calls_end() -> None:
    tl = TL()
    connected(tl)
    invite(tl, "c1", "int", "ringing", rang=True, second=False)
    assert codes(tl.events) == {}  # the timeline ends at the ring: too soon to say
    tl(BOB, "cancelled", room_id="c1", path="call_cancelled", by="u_alice")
    assert codes(tl.events) == {"INVITE_NOT_DELIVERED": "warning"}


def test_conference_room_names_that_differ_are_a_room_mismatch() -> None:
    tl = TL()
    connected(tl)
    invite(tl, "c1", "int", "ringing", rang=True)
    tl.events[-2] = dataclasses.replace(tl.events[-2], room_name="call-other")  # type: ignore[call-arg]
    found = diagnose_timeline(tl.finish(), CTX)
    assert [f.code for f in found] == ["ROOM_ID_MISMATCH"] and "different rooms" in found[0].detail


def test_catalogue_words_follow_the_backend_of_the_run() -> None:
    tl = TL()
    connected(tl)
    tl.probe("probe_no_token", "accepted", 101)
    [f] = diagnose_timeline(tl.finish(), CTX)
    words = BACKEND_WORDS["socketio"]["UNAUTHENTICATED_ACCEPTED"]
    assert (f.title, f.hint) == words and "1602" in CATALOGUE["UNAUTHENTICATED_ACCEPTED"].hint
    kkim = TL()
    kkim("", "run_started", backend="kkim")
    kkim.probe("probe_no_token", "accepted", 101)
    [g] = diagnose_timeline(kkim.finish(), CTX)
    assert g.hint == CATALOGUE["UNAUTHENTICATED_ACCEPTED"].hint


def test_every_socketio_word_replaces_kkim_terms() -> None:
    for code, (title, hint) in BACKEND_WORDS["socketio"].items():
        assert code in CATALOGUE and hint
        for text in (title, hint):
            assert not any(word in text for word in ("1601", "1004", "errCode", "contentType", "roomID")), code


def test_an_agent_named_by_username_is_known_by_the_id_its_login_returned() -> None:
    from callprobe.analysis.index import TimelineIndex
    from callprobe.timeline.events import make_event

    events = [make_event("login_ok", 1.0, "bob", user_id="2", username="bob"),
              make_event("login_ok", 2.0, "carol", user_id="carol")]
    index = TimelineIndex(events, {"bob": "bob", "carol": "carol", "dave": "dave"})
    assert (index.user_of("bob"), index.user_of("carol"), index.user_of("dave")) == ("2", "carol", "dave")
    assert index.agents_of("2") == ("bob",)
    # a mapping that names the agent otherwise is kept: the login names another user
    other = TimelineIndex(events, {"bob": "u_bob"})
    assert other.user_of("bob") == "u_bob"
