"""The call state machine and the busy rule, pure (``docs/backends/socketio.md#call-states``).

Rules, in one place:

* A call starts ``pending``. From there the callee accepts (``accepted``) or
  rejects (``rejected``), the caller cancels (``cancelled``), or the ring
  timer runs out (``missed``). An ``accepted`` call ends (``ended``) when
  either party hangs up. Every other (state, action) pair is refused with the
  state named, and nothing changes.
* Only the two parties may act on a call; to anybody else it does not exist
  ("call not found"), so call ids cannot be probed.
* A user is **busy** while it is caller or callee of a call that is
  ``accepted``, or ``pending`` *and rang* (the callee was online when invited).
  An invitation stored for an offline callee makes nobody busy.

``OpenCalls`` indexes the calls still ``pending`` or ``accepted``; finished
calls live only in the store.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from enum import Enum, StrEnum


class Status(StrEnum):
    """``extra_data.call_invitation.status`` of the invitation message."""

    PENDING = "pending"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    MISSED = "missed"
    ENDED = "ended"


class Action(StrEnum):
    ACCEPT = "accept"
    REJECT = "reject"
    CANCEL = "cancel"
    END = "end"
    TIMEOUT = "timeout"


class Actor(Enum):
    """Who may take an action."""

    CALLER = "the caller"
    CALLEE = "the callee"
    EITHER = "either party"
    SERVER = "the server"


#: (state, action) -> (who may take it, next state). Anything absent is refused.
TRANSITIONS: dict[tuple[Status, Action], tuple[Actor, Status]] = {
    (Status.PENDING, Action.ACCEPT): (Actor.CALLEE, Status.ACCEPTED),
    (Status.PENDING, Action.REJECT): (Actor.CALLEE, Status.REJECTED),
    (Status.PENDING, Action.CANCEL): (Actor.CALLER, Status.CANCELLED),
    (Status.PENDING, Action.TIMEOUT): (Actor.SERVER, Status.MISSED),
    (Status.ACCEPTED, Action.END): (Actor.EITHER, Status.ENDED),
}

#: states in which a call is still open (kept in ``OpenCalls``)
OPEN_STATES = frozenset({Status.PENDING, Status.ACCEPTED})

NOT_FOUND = "call not found"


class CallRefused(Exception):
    """An action the table does not allow; ``str()`` is the acknowledgement's ``error``."""


@dataclass(frozen=True)
class Call:
    """One call; ``message_id`` is its invitation's system message."""

    call_id: str
    caller_id: int
    callee_id: int
    caller_name: str
    call_type: str
    status: Status
    rang: bool
    created: float          # Unix seconds, for the ring timer across restarts
    message_id: int = 0

    @property
    def room_name(self) -> str:
        """The conference room both parties join in the field."""
        return f"call-{self.call_id}"

    def party(self, user_id: int) -> bool:
        return user_id in (self.caller_id, self.callee_id)

    def other(self, user_id: int) -> int:
        """The party that is not ``user_id``."""
        return self.callee_id if user_id == self.caller_id else self.caller_id

    def invitation(self) -> dict[str, object]:
        """``extra_data.call_invitation`` of the system message."""
        return {"call_id": self.call_id, "room_name": self.room_name, "caller_id": self.caller_id,
                "caller_name": self.caller_name, "call_type": self.call_type, "status": str(self.status)}


def _may(actor: Actor, call: Call, by: int | None) -> bool:
    if actor is Actor.SERVER:
        return by is None
    if actor is Actor.CALLER:
        return by == call.caller_id
    if actor is Actor.CALLEE:
        return by == call.callee_id
    return by is not None and call.party(by)


def step(call: Call, action: Action, by: int | None) -> Call:
    """``call`` after ``action`` by user ``by`` (``None``: the server's ring timer).

    Raises:
        CallRefused: ``by`` is not a party, may not take ``action``, or the
            call's state does not allow it.
    """
    if by is not None and not call.party(by):
        raise CallRefused(NOT_FOUND)
    rule = TRANSITIONS.get((call.status, action))
    if rule is None:
        raise CallRefused(f"call is {call.status}: cannot {action} it")
    actor, after = rule
    if not _may(actor, call, by):
        raise CallRefused(f"only {actor.value} can {action} this call")
    return dataclasses.replace(call, status=after)


class OpenCalls:
    """The calls still ``pending`` or ``accepted``, indexed by party, and the busy rule over them."""

    def __init__(self) -> None:
        self._calls: dict[str, Call] = {}
        self._of_user: dict[int, set[str]] = {}

    def __len__(self) -> int:
        return len(self._calls)

    def get(self, call_id: str) -> Call | None:
        return self._calls.get(call_id)

    def put(self, call: Call) -> None:
        """Record ``call``'s current state; a finished call leaves the index."""
        if call.status in OPEN_STATES:
            self._calls[call.call_id] = call
            for user in (call.caller_id, call.callee_id):
                self._of_user.setdefault(user, set()).add(call.call_id)
            return
        self._calls.pop(call.call_id, None)
        for user in (call.caller_id, call.callee_id):
            ids = self._of_user.get(user)
            if ids is not None:
                ids.discard(call.call_id)
                if not ids:
                    del self._of_user[user]

    def busy_with(self, user_id: int) -> Call | None:
        """The call that makes ``user_id`` busy, if any."""
        for call_id in self._of_user.get(user_id, ()):
            call = self._calls[call_id]
            if call.status is Status.ACCEPTED or call.rang:
                return call
        return None

    def pending(self) -> list[Call]:
        return [c for c in self._calls.values() if c.status is Status.PENDING]
