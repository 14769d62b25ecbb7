"""The scenario language for call rooms (join_room, join_order) and for findings (expect finding)."""

from __future__ import annotations

import pytest

from callprobe.errors import ScenarioError
from callprobe.scenario.loader import load_scenario_text
from callprobe.scenario.model import Action, Expectation

ROOMS = "server: {backend: {family: rooms}}\n"
HEAD = "name: n\nagents: {alice: {}, bob: {}, carol: {}}\nsteps:\n  - connect: [alice, bob]\n"


def load(steps: str, server: str = ROOMS) -> tuple[Action | Expectation, ...]:
    return load_scenario_text(server + HEAD + steps, file="r.yaml").steps  # type: ignore[return-value]


def problem(steps: str, server: str = ROOMS) -> str:
    with pytest.raises(ScenarioError) as info:
        load(steps, server)
    return str(info.value)


def test_join_order_goes_with_the_invite() -> None:
    steps = load("  - invite: {from: alice, to: bob, join_order: callee-first}\n")
    invite = steps[1]
    assert isinstance(invite, Action) and invite.params["join_order"] == "callee-first"
    plain = load("  - invite: {from: alice, to: bob}\n")[1]
    assert isinstance(plain, Action) and "join_order" not in plain.params  # the backend's default


def test_join_room_steps_make_their_call_entered_by_the_steps() -> None:
    steps = load("  - invite: {from: alice, to: bob}\n  - accept: bob\n  - join_room: bob\n"
                 "  - join_room: {agent: alice}\n  - hangup: alice\n  - invite: {from: alice, to: bob}\n")
    first, second = [s for s in steps if isinstance(s, Action) and s.verb == "invite"]
    assert first.params["join_order"] == "steps" and "join_order" not in second.params
    joins = [s for s in steps if isinstance(s, Action) and s.verb == "join_room"]
    assert [j.agent for j in joins] == ["bob", "alice"]


@pytest.mark.parametrize(("steps", "where", "words"), [
    ("  - invite: {from: alice, to: bob, join_order: callee-first}\n",
     "r.yaml:6: steps[2].invite.join_order", "the kkim backend has no call rooms (backends with rooms: rooms)"),
    ("  - invite: {from: alice, to: bob}\n  - join_room: bob\n",
     "r.yaml:7: steps[3].join_room", "the kkim backend has no call rooms"),
])
def test_backends_without_rooms_refuse_room_steps(steps: str, where: str, words: str) -> None:
    text = problem(steps, server="server: {backend: {family: kkim}}\n")
    assert text.startswith(where) and words in text


@pytest.mark.parametrize(("steps", "where", "words"), [
    ("  - invite: {from: alice, to: bob, join_order: callee-first}\n  - join_room: bob\n",
     "steps[3].join_room", "already says join_order: callee-first"),
    ("  - join_room: alice\n", "steps[2].join_room", "no earlier invite involves it"),
    ("  - invite: {from: alice, to: bob}\n  - join_room: carol\n", "steps[3].join_room", "carol is not connected"),
    ("  - invite: {from: alice, to: bob, join_order: first}\n", "steps[2].invite.join_order", "caller-first"),
])
def test_room_step_mistakes(steps: str, where: str, words: str) -> None:
    text = problem(steps)
    assert where in text and words in text, text


def test_expect_finding_and_its_absence() -> None:
    steps = load("  - expect: {finding: JOIN_NOTICE_MISSING, within: 5s}\n"
                 "  - expect: {finding: ICE_FAILED, absent: true, for: 1s}\n", server="")
    found, absent = steps[1], steps[2]
    assert isinstance(found, Expectation) and (found.finding, found.within_s, found.absent) == (
        "JOIN_NOTICE_MISSING", 5.0, False)
    assert isinstance(absent, Expectation) and (absent.finding, absent.for_s, absent.absent) == ("ICE_FAILED", 1.0, True)
    assert found.event is None and found.outcome is None

