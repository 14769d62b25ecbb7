"""Call-room rules on hand-built timelines: join notices in either order, identities, a polled answer."""

from __future__ import annotations

from dataclasses import replace

import pytest

from callprobe.analysis.diagnostics import CATALOGUE, diagnose_timeline
from callprobe.analysis.diagnostics.findings import BACKEND_WORDS, Finding, Severity
from callprobe.analysis.diagnostics.rules.room import ROOM_ANSWER_HINT
from tests.analysis.diagnostics.timeline_fakes import ALICE, BOB, CTX, TL


def call(tl: TL) -> None:
    tl("", "run_started", backend="rooms")
    tl.connect(ALICE)
    tl.connect(BOB)
    tl.invite()
    tl.accept()


def errors(tl: TL) -> list[Finding]:
    return [f for f in diagnose_timeline(tl.finish(), CTX) if f.severity is Severity.ERROR]


@pytest.mark.parametrize("first", [ALICE, BOB])
def test_join_to_whoever_was_first_is_healthy(first: str) -> None:
    tl = TL()
    call(tl)
    second = BOB if first == ALICE else ALICE
    tl.enter_room(first)
    tl.enter_room(second, users=[f"u_{first}", f"u_{second}"])
    tl.join_notice(first, about=second)
    assert errors(tl) == []


@pytest.mark.parametrize(("first", "words"), [
    (BOB, "callee joined first, caller second: the callee never got join"),
    (ALICE, "caller joined first, callee second: the caller never got join"),
])
def test_a_lost_join_names_the_order_that_lost_it(first: str, words: str) -> None:
    tl = TL()
    call(tl)
    second = BOB if first == ALICE else ALICE
    tl.enter_room(first)
    tl.enter_room(second, users=[f"u_{first}", f"u_{second}"])
    [f] = errors(tl)
    assert f.code == "JOIN_NOTICE_MISSING" and f.detail.startswith(words) and f.agent == first
    assert [e.kind for e in f.evidence] == ["room_joined", "ws_open", "room_joined"]


def test_a_late_join_is_late() -> None:
    tl = TL()
    call(tl)
    tl.enter_room(BOB)
    tl.enter_room(ALICE, users=["u_bob", "u_alice"])
    tl(BOB, "join_notice", dt=3500.0, room_id="r1", notice="join", user="u_alice")
    [f] = errors(tl)
    assert f.code == "JOIN_NOTICE_MISSING" and f.detail.startswith("late:")


def test_a_party_that_left_before_the_other_came_is_owed_nothing() -> None:
    tl = TL()
    call(tl)
    tl.enter_room(BOB)
    tl(BOB, "ws_closed", room_id="r1", code=1000, by="client")
    tl.enter_room(ALICE)
    assert errors(tl) == []


def test_a_newcomer_never_acknowledged() -> None:
    tl = TL()
    call(tl)
    tl(ALICE, "ws_open", room_id="r1", latency_ms=1.0)
    [f] = errors(tl)
    assert f.code == "JOIN_NOTICE_MISSING" and "never acknowledged" in f.detail


def test_an_inconclusive_join_is_not_judged_before_its_deadline() -> None:
    tl = TL()
    call(tl)
    tl.enter_room(BOB)
    tl.enter_room(ALICE, users=["u_bob", "u_alice"])
    assert [f for f in diagnose_timeline(tl.events, CTX) if f.severity is Severity.ERROR] == []


def test_collapsed_default_identities_give_default_identity_not_a_lost_join() -> None:
    tl = TL()
    call(tl)
    fake = "test-user-r1"
    tl.enter_room(ALICE, identity=fake, users=[fake], authenticated=False)
    tl.enter_room(BOB, identity=fake, users=[fake], authenticated=False)
    found = errors(tl)
    assert {f.code for f in found} == {"DEFAULT_IDENTITY"} and {f.agent for f in found} == {ALICE, BOB}
    assert "no join notice can be sent" in found[0].detail and "with no token" in found[0].detail


def test_an_entry_without_a_token_is_unauthenticated() -> None:
    tl = TL()
    call(tl)
    tl.enter_room(ALICE, authenticated=False)
    [f] = errors(tl)
    assert f.code == "UNAUTHENTICATED_ACCEPTED" and "without a token" in f.detail


def test_a_probe_admitted_under_a_default_identity_is_not_also_unauthenticated() -> None:
    tl = TL()
    tl("probe", "step_started", step="probe_no_token")
    tl("probe", "step_finished", step="probe_no_token", ok=True, outcome="accepted", status=101,
       identity="test-user-x", claimed="", reason="a room join with no token and no user id")
    [f] = errors(tl)
    assert f.code == "DEFAULT_IDENTITY" and f.detail.startswith("a room join with no token")


def test_a_probe_admitted_as_the_user_it_claimed_is_unauthenticated_and_says_how() -> None:
    tl = TL()
    tl("probe", "step_started", step="probe_other_user")
    tl("probe", "step_finished", step="probe_other_user", ok=True, outcome="accepted", status=101,
       identity="u_bob", claimed="u_bob", reason="a room join with alice's token naming bob as its user id")
    [f] = errors(tl)
    assert f.code == "UNAUTHENTICATED_ACCEPTED"
    assert f.detail == ("a room join with alice's token naming bob as its user id was accepted (HTTP 101) and "
                        "admitted as user u_bob")


def test_a_probe_whose_claim_was_ignored_is_no_hole() -> None:
    tl = TL()
    tl("alice", "step_started", step="probe_other_user")
    tl("alice", "step_finished", step="probe_other_user", ok=True, outcome="accepted", status=101,
       identity="u_alice", claimed="u_bob")
    assert errors(tl) == []


def test_a_caller_in_the_room_that_only_polled_the_answer_lost_the_notice() -> None:
    tl = TL()
    tl("", "run_started", backend="rooms")
    tl.connect(ALICE)
    tl.connect(BOB)
    tl.invite()
    tl.enter_room(ALICE)
    tl.accept(delivered=False)
    tl(ALICE, "answered", dt=1000.0, room_id="r1", path="status_poll", by="u_bob", polled=True)
    [f] = errors(tl)
    assert f.code == "ANSWER_NOT_DELIVERED" and f.hint == ROOM_ANSWER_HINT
    assert "was in the call room, but the accepted notice never came" in f.detail
    assert [e.kind for e in f.evidence] == ["accept_sent", "room_joined", "answered"]


def test_a_caller_outside_the_room_may_poll() -> None:
    tl = TL()
    call(tl)
    tl(ALICE, "answered", room_id="r1", path="status_poll", by="u_bob", polled=True)
    assert errors(tl) == []


def test_hints_take_the_backends_words() -> None:
    tl = TL()
    tl("", "run_started", backend="rooms")
    tl.probe("probe_no_token", "refused", 500)
    [f] = errors(tl)
    assert "room join" in f.hint and "1602" not in f.hint
    kkim = TL()
    kkim("", "run_started", backend="kkim")
    kkim.probe("probe_no_token", "refused", 500)
    [g] = errors(kkim)
    assert "1602" in g.hint and g.hint != f.hint
    refused = TL()
    refused("", "run_started", backend="rooms")
    refused.connect(ALICE)
    refused(BOB, "ws_refused", status=403)
    [h] = [x for x in errors(refused) if x.code == "HANDSHAKE_REFUSED"]
    assert h.hint == BACKEND_WORDS["rooms"]["HANDSHAKE_REFUSED"][1] != CATALOGUE["HANDSHAKE_REFUSED"].hint


@pytest.mark.parametrize("backend", ["socketio", "rooms"])
def test_every_code_speaks_of_its_backend_only(backend: str) -> None:
    """The words a finding of ``backend`` gets by default (its own, else the catalogue's) name no KKIM part."""
    kkim = ("1601", "1004", "errCode", "sendID", "contentType", "platformID", "gateway", "OpenIM")
    for code, info in CATALOGUE.items():
        title, hint = BACKEND_WORDS[backend].get(code, ("", ""))
        said = (title or info.title) + " " + (hint or info.hint)
        assert not [w for w in kkim if w in said], (code, said)


def test_rules_judge_join_notices_only_when_the_answer_link_was_tried() -> None:
    tl = TL()
    call(tl)
    tl.enter_room(BOB)
    tl.enter_room(ALICE, users=["u_bob", "u_alice"])
    ctx = replace(CTX, probes=frozenset({"login", "handshake"}))
    assert [f for f in diagnose_timeline(tl.finish(), ctx) if f.code == "JOIN_NOTICE_MISSING"] == []


def test_leaving_a_room_is_no_disconnect() -> None:
    """bob left call 1's room; call 2 never rings him: that is judged, he is still reachable."""
    tl = TL()
    call(tl)
    tl.enter_room(BOB)
    tl.enter_room(ALICE, users=["u_bob", "u_alice"])
    tl.join_notice(BOB, about=ALICE)
    tl.hangup()
    tl(BOB, "ws_closed", room_id="r1", code=1000, by="client")
    tl.invite(room="r2", own_room="tmp-2", rang=False)
    assert [f.code for f in errors(tl)] == ["INVITE_NOT_DELIVERED"]
