"""The call state machine and the strict JSON reader, as pure functions."""

from __future__ import annotations

import pytest

from callprobe.backends.rooms.server import jsontext
from callprobe.backends.rooms.server.calls import (
    ACTORS,
    BUSY,
    FINAL,
    TRANSITIONS,
    Action,
    Role,
    Status,
    WrongParty,
    WrongState,
    step,
)


def test_every_status_is_busy_or_final_and_only_initiated_or_accepted_move() -> None:
    assert set(Status) == BUSY | FINAL and not BUSY & FINAL
    assert {before for before, _ in TRANSITIONS} == BUSY


@pytest.mark.parametrize("status", list(Status))
@pytest.mark.parametrize("action", list(Action))
def test_step_follows_the_table(status: Status, action: Action) -> None:
    role = next(iter(ACTORS[action]))
    if (status, action) in TRANSITIONS:
        assert step(status, action, role) is TRANSITIONS[(status, action)]
    elif action is Action.END and status in FINAL:
        assert step(status, action, role) is status  # nothing changes, nothing refused
    else:
        with pytest.raises(WrongState, match=f"call is {status.value}, not initiated"):
            step(status, action, role)


@pytest.mark.parametrize("action, wrong", [
    (Action.ACCEPT, Role.CALLER), (Action.REJECT, Role.CALLER), (Action.CANCEL, Role.CALLEE),
    (Action.RING_TIMEOUT, Role.CALLER), (Action.ACCEPT, Role.ANY),
])
def test_the_wrong_party_is_refused_before_the_state_is_looked_at(action: Action, wrong: Role) -> None:
    with pytest.raises(WrongParty, match=f"can {action.value} a call"):
        step(Status.ENDED, action, wrong)


@pytest.mark.parametrize("text, value", [
    ('{"a": [1, 2.5, "x", null, true]}', {"a": [1, 2.5, "x", None, True]}),
    ('"\\ud83d\\ude00"', "\U0001f600"),  # a surrogate *pair* is one character: fine
    (b'{"k": "\xc3\xa9"}', {"k": "é"}),
])
def test_strict_json_accepts_json(text: str | bytes, value: object) -> None:
    assert jsontext.loads(text, 4) == value


@pytest.mark.parametrize("text, words", [
    ("NaN", "NaN is not JSON"), ("[Infinity]", "Infinity is not JSON"), ("1e400", "out of range"),
    ('"\\udc00"', "lone surrogate at index 0"), ('{"\\ud800": 1}', "lone surrogate"),
    ("[[[[[]]]]]", "nested deeper than 4"), ("[" * 100_000, "nested deeper than 4"),
    (b"\x80", "not UTF-8 (byte 0)"), ("{'a': 1}", "not JSON"), ("1" * 5000, "not JSON"),
])
def test_strict_json_refuses_what_json_would_let_through(text: str | bytes, words: str) -> None:
    with pytest.raises(jsontext.JsonRefused, match=words.replace("(", r"\(").replace(")", r"\)")):
        jsontext.loads(text, 4)


def test_depth_counts_containers() -> None:
    assert jsontext.loads("[[[[1]]]]", 4) == [[[[1]]]]
    with pytest.raises(jsontext.JsonRefused):
        jsontext.loads("[[[[[1]]]]]", 4)
