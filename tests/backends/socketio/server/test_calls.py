"""The call state machine and busy rule, as pure tables (no sockets)."""

from __future__ import annotations

import dataclasses

import pytest

from callprobe.backends.socketio.server.calls import (
    NOT_FOUND,
    TRANSITIONS,
    Action,
    Call,
    CallRefused,
    OpenCalls,
    Status,
    step,
)

CALLER, CALLEE, STRANGER = 1, 2, 3


def call(status: Status = Status.PENDING, rang: bool = True, call_id: str = "c1") -> Call:
    return Call(call_id=call_id, caller_id=CALLER, callee_id=CALLEE, caller_name="alice", call_type="video",
                status=status, rang=rang, created=0.0)


@pytest.mark.parametrize(("status", "action", "by", "after"), [
    (Status.PENDING, Action.ACCEPT, CALLEE, Status.ACCEPTED),
    (Status.PENDING, Action.REJECT, CALLEE, Status.REJECTED),
    (Status.PENDING, Action.CANCEL, CALLER, Status.CANCELLED),
    (Status.PENDING, Action.TIMEOUT, None, Status.MISSED),
    (Status.ACCEPTED, Action.END, CALLER, Status.ENDED),
    (Status.ACCEPTED, Action.END, CALLEE, Status.ENDED),
])
def test_allowed_transitions(status: Status, action: Action, by: int | None, after: Status) -> None:
    assert step(call(status), action, by).status is after


def test_every_other_state_action_pair_is_refused_naming_the_state() -> None:
    for status in Status:
        for action in Action:
            if (status, action) in TRANSITIONS:
                continue
            with pytest.raises(CallRefused, match=f"call is {status}: cannot {action} it"):
                step(call(status), action, CALLER if action is not Action.TIMEOUT else None)


@pytest.mark.parametrize(("action", "by", "who"), [
    (Action.ACCEPT, CALLER, "the callee"), (Action.REJECT, CALLER, "the callee"),
    (Action.CANCEL, CALLEE, "the caller"), (Action.TIMEOUT, CALLER, "the server"),
])
def test_wrong_party_is_refused(action: Action, by: int, who: str) -> None:
    with pytest.raises(CallRefused, match=f"only {who} can {action}"):
        step(call(), action, by)


def test_a_stranger_does_not_see_the_call() -> None:
    with pytest.raises(CallRefused, match=NOT_FOUND):
        step(call(), Action.ACCEPT, STRANGER)


def test_ringing_and_accepted_calls_make_both_parties_busy() -> None:
    calls = OpenCalls()
    calls.put(call(Status.PENDING, rang=True))
    assert calls.busy_with(CALLER) is not None and calls.busy_with(CALLEE) is not None
    calls.put(call(Status.ACCEPTED))
    assert calls.busy_with(CALLEE) == call(Status.ACCEPTED)
    assert calls.busy_with(STRANGER) is None


def test_an_invitation_that_did_not_ring_makes_nobody_busy() -> None:
    calls = OpenCalls()
    calls.put(call(Status.PENDING, rang=False))
    assert calls.busy_with(CALLER) is None and calls.busy_with(CALLEE) is None
    assert len(calls) == 1 and calls.pending() == [call(Status.PENDING, rang=False)]


def test_finished_calls_leave_the_index() -> None:
    calls = OpenCalls()
    calls.put(call())
    calls.put(dataclasses.replace(call(), status=Status.ENDED))
    assert len(calls) == 0 and calls.get("c1") is None and calls.busy_with(CALLER) is None


def test_invitation_payload_and_room_name() -> None:
    assert call().room_name == "call-c1"
    assert call().invitation() == {"call_id": "c1", "room_name": "call-c1", "caller_id": CALLER,
                                   "caller_name": "alice", "call_type": "video", "status": "pending"}
