"""Per-call room figures (join order, each party's notices, the join notice) and finding expectations."""

from __future__ import annotations

from callprobe.analysis.expectations import FAIL, PASS, PENDING, Window, judge
from callprobe.analysis.metrics import derive_calls
from callprobe.scenario.model import Expectation
from tests.analysis.diagnostics.timeline_fakes import ALICE, BOB, TL, USERS


def room_call(join: bool = True) -> TL:
    tl = TL()
    tl.connect(ALICE)
    tl.connect(BOB)
    tl.invite()
    tl.accept()
    tl.enter_room(BOB)
    tl.enter_room(ALICE, users=["u_bob", "u_alice"])
    if join:
        tl.join_notice(BOB, about=ALICE)
    return tl


def test_a_room_call_says_its_order_and_who_got_what_when() -> None:
    tl = room_call()
    [call] = derive_calls(tl.events)
    room = call.room
    assert room["join_order"] == "callee-first"
    assert {a: (j["role"], j["order"], j["own"]) for a, j in room["joined"].items()} == {
        BOB: ("callee", 1, True), ALICE: ("caller", 2, True)}
    assert [n["notice"] for n in room["notices"][BOB]] == ["connection", "join"]
    assert room["notices"][BOB][1]["user"] == USERS[ALICE] and room["notices"][ALICE][0]["users"] == ["u_bob", "u_alice"]
    jn = room["join_notice"]
    assert (jn["to"], jn["about"], jn["delivered"]) == (BOB, ALICE, True)
    assert jn["latency_ms"] == 20.0  # from alice's room socket opening to bob's join
    assert call.to_json()["room"] == room


def test_a_lost_join_is_not_delivered_and_a_call_without_a_room_has_no_figures() -> None:
    [call] = derive_calls(room_call(join=False).events)
    assert call.room["join_notice"] == {"to": BOB, "about": ALICE, "delivered": False, "latency_ms": None}
    plain = TL()
    plain.connect(ALICE)
    plain.connect(BOB)
    plain.invite()
    assert derive_calls(plain.events)[0].room == {}


def expect(code: str, absent: bool = False) -> Expectation:
    return Expectation(1, "expect", finding=code, absent=absent, within_s=1.0, for_s=1.0)


def test_a_finding_expectation_waits_for_the_rules_and_the_clock() -> None:
    tl = room_call(join=False)
    events = tl.events
    end = events[-1].t_ms
    window = Window(0.0, end + 5000.0)
    users = dict(USERS)
    # the join is not overdue yet: pending, then the clock alone makes it missing
    assert judge(expect("JOIN_NOTICE_MISSING"), events, window, end + 10.0, users).state == PENDING
    verdict = judge(expect("JOIN_NOTICE_MISSING"), events, window, end + 3500.0, users)
    assert verdict.state == PASS and "callee joined first, caller second" in verdict.detail
    assert judge(expect("JOIN_NOTICE_MISSING", absent=True), events, window, end + 3500.0, users).state == FAIL
    assert judge(expect("ICE_FAILED"), events, window, end + 6000.0, users).state == FAIL
    assert judge(expect("ICE_FAILED", absent=True), events, window, end + 6000.0, users).state == PASS
