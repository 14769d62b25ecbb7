"""Expectation judging on hand-built timelines (pure logic)."""

from __future__ import annotations

from callprobe.analysis.expectations import FAIL, PASS, PENDING, Window, judge
from callprobe.scenario.model import Expectation
from callprobe.timeline.events import Event
from tests.analysis.test_metrics import ANSWERED_CALL, ev


def Exp(event: str = "", agent: str | None = None, absent: bool = False, outcome: str | None = None,
        direction: str | None = None, call_index: int | None = None) -> Expectation:
    """An expectation as the loader would build it (line and text do not matter here)."""
    return Expectation(0, "", event=event or None, agent=agent, absent=absent, outcome=outcome,
                       direction=direction, call_index=call_index)


AGENTS = {"alice": "alice", "bob": "bob"}


def j(exp: Exp, events: list[Event], anchor: float, deadline: float, now: float) -> tuple[str, str]:
    v = judge(exp, events, Window(anchor, deadline), now, AGENTS)
    return v.state, v.detail


def test_event_within_window_passes() -> None:
    state, detail = j(Exp("ringing", "bob"), ANSWERED_CALL, 10, 3010, 20)
    assert state == PASS and "ringing on bob" in detail


def test_pending_until_deadline_then_fail_naming_what_was_seen() -> None:
    events = ANSWERED_CALL[:3]
    assert j(Exp("ringing", "bob"), events, 10, 3010, 100)[0] == PENDING
    state, detail = j(Exp("ringing", "bob"), events, 10, 3010, 3011)
    assert state == FAIL and "no ringing on bob" in detail and "bob saw nothing" in detail


def test_late_event_fails_with_its_time() -> None:
    state, detail = j(Exp("hung_up", "bob"), ANSWERED_CALL, 2000, 2002, 2010)
    assert state == FAIL and "late" in detail


def test_event_before_anchor_does_not_count() -> None:
    state, _ = j(Exp("ringing", "bob"), ANSWERED_CALL, 20, 3020, 3021)
    assert state == FAIL


def test_absent_expectation() -> None:
    assert j(Exp("ringing", "alice", absent=True), ANSWERED_CALL, 10, 1010, 500)[0] == PENDING
    assert j(Exp("ringing", "alice", absent=True), ANSWERED_CALL, 10, 1010, 1011)[0] == PASS
    state, detail = j(Exp("ringing", "bob", absent=True), ANSWERED_CALL, 10, 1010, 500)
    assert state == FAIL and "expected none" in detail


def test_ice_connected_without_agent_needs_both_legs() -> None:
    assert j(Exp("ice_connected"), ANSWERED_CALL, 100, 5100, 200)[0] == PASS
    only_bob = [e for e in ANSWERED_CALL if not (e.kind == "pc_state" and e.agent == "alice")]
    state, detail = j(Exp("ice_connected"), only_bob, 100, 5100, 5101)
    assert state == FAIL and "alice" in detail


def test_media_flowing_directions() -> None:
    assert j(Exp("media_flowing", "alice", direction="to"), ANSWERED_CALL, 0, 1, 5)[0] == PASS
    state, detail = j(Exp("media_flowing", direction="both"), ANSWERED_CALL, 0, 1, 5)
    assert state == FAIL and "bob" in detail
    assert j(Exp("media_flowing", "alice", direction="from"), ANSWERED_CALL, 0, 1, 5)[0] == FAIL


def test_outcome_and_busy() -> None:
    assert j(Exp(outcome="answered"), ANSWERED_CALL, 0, 10, 11)[0] == PASS
    state, detail = j(Exp(outcome="rejected"), ANSWERED_CALL, 0, 10, 11)
    assert state == FAIL and "answered" in detail
    busy = [ev(0, "carol", "invite_sent", callees=["bob"]), ev(2, "carol", "invite_refused", err_code=1802)]
    assert j(Exp("busy", "carol"), busy, 0, 3000, 5)[0] == PASS
    assert j(Exp(outcome="busy"), busy, 0, 10, 11)[0] == PASS
