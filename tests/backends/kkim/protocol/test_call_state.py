"""The pure call state machine: every row of the table, errors, timers, logs."""

from __future__ import annotations

import pytest

from callprobe.backends.kkim.protocol.call_state import (
    REASON_DISCONNECTED,
    REASON_ENDED,
    REASON_OTHER_DEVICE,
    REASON_TIMEOUT,
    TRANSITIONS,
    CallEvent,
    CallNotFound,
    CallRegistry,
    CallState,
    Ended,
    Notify,
    Ring,
    Role,
    StartTimer,
    StopTimer,
    UserBusy,
)
from callprobe.backends.kkim.protocol.constants import ErrCode


def ring(book: CallRegistry, room: str = "r1", inviter: str = "alice", invitees: tuple[str, ...] = ("bob",),
         now: float = 100.0, timeout: float = 30.0) -> None:
    book.invite(room, inviter, list(invitees), now, timeout, "audio")


def notices(effects: tuple[object, ...]) -> list[tuple[str, str, str]]:
    return [(e.user_id, e.action, e.reason) for e in effects if isinstance(e, Notify)]


def test_invite_rings_every_invitee_and_starts_the_timer() -> None:
    book = CallRegistry()
    out = book.invite("r1", "alice", ["bob", "carol"], 10.0, 60.0, "video")
    assert out.effects == (Ring("bob", "r1"), Ring("carol", "r1"), StartTimer("r1", 70.0))
    assert out.busy == ()
    call = book.get("r1")
    assert call is not None and call.state is CallState.RINGING
    assert book.is_busy("alice") and book.is_busy("bob") and book.is_busy("carol")
    assert str(out.transition) == (
        "call r1: invite by alice (inviter): none -> ringing; effects: ring bob, ring carol, timer at 70.000")


def test_accept_tells_the_inviter_and_cancels_the_callees_other_devices() -> None:
    book = CallRegistry()
    ring(book)
    out = book.act("r1", CallEvent.ACCEPT, "bob", device="bob#2")
    assert notices(out.effects) == [("alice", "accept", ""), ("bob", "cancel", REASON_OTHER_DEVICE)]
    own = next(e for e in out.effects if isinstance(e, Notify) and e.user_id == "bob")
    assert own.exclude_device == "bob#2" and own.record is False
    assert StopTimer("r1") in out.effects
    call = book.get("r1")
    assert call is not None and call.state is CallState.ACTIVE and call.invitees["bob"] is Role.ACCEPTED


def test_reject_ends_a_one_to_one_call_and_frees_both_users() -> None:
    book = CallRegistry()
    ring(book)
    out = book.act("r1", CallEvent.REJECT, "bob", device="d")
    assert notices(out.effects)[0] == ("alice", "reject", "")
    assert out.effects[-1] == Ended("r1", "reject", ("alice", "bob"))
    assert book.get("r1") is None
    assert not book.is_busy("alice") and not book.is_busy("bob")


def test_cancel_by_the_inviter_tells_each_ringing_invitee_once() -> None:
    book = CallRegistry()
    ring(book, invitees=("bob", "carol"))
    out = book.act("r1", CallEvent.CANCEL, "alice")
    assert notices(out.effects) == [("bob", "cancel", ""), ("carol", "cancel", "")]
    assert isinstance(out.effects[-1], Ended)


@pytest.mark.parametrize("who", ["alice", "bob"])
def test_hangup_of_an_answered_call_by_either_side_tells_the_other(who: str) -> None:
    book = CallRegistry()
    ring(book)
    book.act("r1", CallEvent.ACCEPT, "bob")
    out = book.act("r1", CallEvent.HANGUP, who)
    other = "bob" if who == "alice" else "alice"
    assert notices(out.effects) == [(other, "hungUp", "")]
    assert out.transition.after == "ended" and book.get("r1") is None


def test_hangup_while_ringing_by_the_inviter_is_relayed_as_hangup() -> None:
    book = CallRegistry()
    ring(book)
    out = book.act("r1", CallEvent.HANGUP, "alice")
    assert notices(out.effects) == [("bob", "hungUp", "")]
    assert book.get("r1") is None


def test_timeout_cancels_invitees_and_tells_the_inviter_reject() -> None:
    book = CallRegistry()
    ring(book, now=0.0, timeout=5.0)
    assert book.timeout("r1", 4.9) is None
    assert book.due(4.9) == [] and book.due(5.0) == ["r1"]
    out = book.timeout("r1", 5.0)
    assert out is not None
    assert notices(out.effects) == [("bob", "cancel", REASON_TIMEOUT), ("alice", "reject", REASON_TIMEOUT)]
    assert out.effects[-1] == Ended("r1", "timeout", ("alice", "bob"))
    assert book.get("r1") is None


def test_timeout_in_a_group_call_only_stops_the_unanswered() -> None:
    book = CallRegistry()
    ring(book, invitees=("bob", "carol"), now=0.0, timeout=5.0)
    book.act("r1", CallEvent.ACCEPT, "bob")
    out = book.timeout("r1", 6.0)
    assert out is not None
    assert ("carol", "cancel", REASON_TIMEOUT) in notices(out.effects)
    call = book.get("r1")
    assert call is not None and call.state is CallState.ACTIVE and call.invitees["carol"] is Role.GONE


def test_ending_a_group_call_cancels_those_still_ringing() -> None:
    book = CallRegistry()
    ring(book, invitees=("bob", "carol"))
    book.act("r1", CallEvent.ACCEPT, "bob")
    out = book.act("r1", CallEvent.HANGUP, "alice")
    assert notices(out.effects) == [("bob", "hungUp", ""), ("carol", "cancel", REASON_ENDED)]


def test_unknown_room_is_1801() -> None:
    with pytest.raises(CallNotFound) as info:
        CallRegistry().act("nope", CallEvent.ACCEPT, "bob")
    assert info.value.err_code == ErrCode.CALL_NOT_FOUND
    assert "nope" in str(info.value)


def test_outsider_and_invalid_actions_are_1801() -> None:
    book = CallRegistry()
    ring(book)
    with pytest.raises(CallNotFound, match="carol is not part"):
        book.act("r1", CallEvent.ACCEPT, "carol")
    with pytest.raises(CallNotFound, match="accept by the inviter"):
        book.act("r1", CallEvent.ACCEPT, "alice")
    book.act("r1", CallEvent.ACCEPT, "bob")
    with pytest.raises(CallNotFound, match=r"cancel by the inviter is not possible while the call .* is active"):
        book.act("r1", CallEvent.CANCEL, "alice")


def test_busy_invitee_is_1802_with_the_user_listed() -> None:
    book = CallRegistry()
    ring(book)
    with pytest.raises(UserBusy) as info:
        book.invite("r2", "carol", ["bob"], 0.0, 30.0)
    assert info.value.err_code == ErrCode.USER_BUSY and info.value.busy == ("bob",)


def test_busy_inviter_and_extra_busy_users() -> None:
    book = CallRegistry()
    ring(book)
    with pytest.raises(UserBusy) as info:
        book.invite("r2", "alice", ["carol"], 0.0, 30.0)
    assert info.value.busy == ("alice",)
    with pytest.raises(UserBusy) as leaked:
        book.invite("r3", "dave", ["erin"], 0.0, 30.0, also_busy=frozenset({"erin"}))
    assert leaked.value.busy == ("erin",)


def test_partly_busy_group_invite_rings_the_free_and_lists_the_busy() -> None:
    book = CallRegistry()
    ring(book)
    out = book.invite("r2", "carol", ["bob", "dave"], 0.0, 30.0)
    assert out.busy == ("bob",)
    assert [e for e in out.effects if isinstance(e, Ring)] == [Ring("dave", "r2")]


def test_duplicate_room_is_refused() -> None:
    book = CallRegistry()
    ring(book)
    with pytest.raises(CallNotFound, match="already exists"):
        ring(book, inviter="x", invitees=("y",))


def test_every_table_row_is_reachable_and_consistent() -> None:
    for (state, event, role), rule in TRANSITIONS.items():
        assert state is not CallState.ENDED
        assert (role is Role.SERVER) == (event is CallEvent.TIMEOUT)
        if rule.actor_becomes is not None:
            assert role in (Role.RINGING, Role.ACCEPTED)
        assert (rule.relay_as is not None) == (event is CallEvent.DISCONNECT)


def test_every_party_of_a_live_call_can_leave_it() -> None:
    """``leave`` never meets a missing row: each (state, role) a party can hold has one."""
    live = {(CallState.RINGING, Role.INVITER), (CallState.RINGING, Role.RINGING),
            (CallState.ACTIVE, Role.INVITER), (CallState.ACTIVE, Role.RINGING),
            (CallState.ACTIVE, Role.ACCEPTED)}
    rows = {(state, role) for state, event, role in TRANSITIONS if event is CallEvent.DISCONNECT}
    assert rows == live


# ------------------------------------------------------------- disconnects


def only_notices(effects: tuple[object, ...]) -> list[tuple[str, str, str, str]]:
    return [(e.user_id, e.action, e.reason, e.op_user_id) for e in effects if isinstance(e, Notify)]


@pytest.mark.parametrize("state, leaver, told, ends", [
    # a ringing call the inviter left: the invitee gets a cancel
    ("ringing", "alice", [("bob", "cancel", REASON_DISCONNECTED, "alice")], True),
    # a ringing call whose only invitee left: the inviter gets a reject
    ("ringing", "bob", [("alice", "reject", REASON_DISCONNECTED, "bob")], True),
    # an answered call: the other party gets a hangup, whoever left
    ("active", "alice", [("bob", "hungUp", REASON_DISCONNECTED, "alice")], True),
    ("active", "bob", [("alice", "hungUp", REASON_DISCONNECTED, "bob")], True),
])
def test_leaving_ends_a_one_to_one_call_as_the_matching_action(
        state: str, leaver: str, told: list[tuple[str, str, str, str]], ends: bool) -> None:
    book = CallRegistry()
    ring(book)
    if state == "active":
        book.act("r1", CallEvent.ACCEPT, "bob")
    [out] = book.leave(leaver)
    assert only_notices(out.effects) == told
    assert out.effects[-1] == Ended("r1", "disconnect", ("alice", "bob"))
    assert StopTimer("r1") in out.effects
    assert book.get("r1") is None and not book.is_busy("alice") and not book.is_busy("bob")
    assert out.transition.event == "disconnect" and out.transition.actor == leaver


def test_leaving_a_group_call_keeps_it_for_the_others() -> None:
    book = CallRegistry()
    ring(book, invitees=("bob", "carol", "dave"))
    book.act("r1", CallEvent.ACCEPT, "bob")
    book.act("r1", CallEvent.ACCEPT, "carol")
    [out] = book.leave("dave")  # still ringing: the inviter hears a reject
    assert only_notices(out.effects) == [("alice", "reject", REASON_DISCONNECTED, "dave")]
    [out] = book.leave("bob")   # answered: the inviter and the other accepted hear a hangup
    assert only_notices(out.effects) == [("alice", "hungUp", REASON_DISCONNECTED, "bob"),
                                         ("carol", "hungUp", REASON_DISCONNECTED, "bob")]
    call = book.get("r1")
    assert call is not None and call.state is CallState.ACTIVE
    assert call.invitees == {"bob": Role.GONE, "carol": Role.ACCEPTED, "dave": Role.GONE}
    assert not book.is_busy("bob") and not book.is_busy("dave") and book.is_busy("carol")


def test_inviter_leaving_an_answered_group_call_ends_it_for_everyone() -> None:
    book = CallRegistry()
    ring(book, invitees=("bob", "carol"))
    book.act("r1", CallEvent.ACCEPT, "bob")
    [out] = book.leave("alice")
    assert only_notices(out.effects) == [("bob", "hungUp", REASON_DISCONNECTED, "alice"),
                                         ("carol", "cancel", REASON_ENDED, "")]
    assert book.get("r1") is None and book.calls_of("carol") == []


def test_leaving_ends_every_call_of_the_user_and_nothing_else() -> None:
    book = CallRegistry()
    ring(book, "r1", "alice", ("bob",))
    ring(book, "r2", "carol", ("dave",))
    assert book.leave("erin") == []
    outcomes = book.leave("bob")
    assert [o.transition.room_id for o in outcomes] == ["r1"]
    assert book.get("r2") is not None and book.get("r1") is None
    assert book.leave("bob") == []  # nothing left to end


def test_a_user_who_already_rejected_leaves_nothing_behind() -> None:
    book = CallRegistry()
    ring(book, invitees=("bob", "carol"))
    book.act("r1", CallEvent.REJECT, "bob")
    assert book.leave("bob") == []
    call = book.get("r1")
    assert call is not None and call.invitees["carol"] is Role.RINGING


def test_disconnect_log_line_names_the_relayed_action_and_reason() -> None:
    book = CallRegistry()
    ring(book)
    book.act("r1", CallEvent.ACCEPT, "bob")
    [out] = book.leave("bob")
    assert str(out.transition).startswith(
        "call r1: disconnect by bob (accepted): active -> ended; effects: notify alice hungUp [disconnected]")


def test_transition_log_names_event_roles_and_states() -> None:
    book = CallRegistry()
    ring(book)
    out = book.act("r1", CallEvent.REJECT, "bob", device="bob#1")
    text = str(out.transition)
    assert text.startswith("call r1: reject by bob (ringing): ringing -> ended; effects: notify alice reject")
    assert "except device bob#1" in text and "ended (reject)" in text
