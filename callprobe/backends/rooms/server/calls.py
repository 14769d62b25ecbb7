"""The call state machine, as a table (``docs/backends/rooms.md#call-states``).

Rules:

* A call is created ``initiated`` by its caller.
* While ``initiated``: the callee may ``accept`` or ``reject``, the caller may
  ``cancel``, the server turns it ``missed`` when ``ring_timeout_s`` passes,
  and either party may ``end`` it from the room.
* While ``accepted``: either party may ``end`` it from the room.
* ``rejected``, ``cancelled``, ``missed`` and ``ended`` are final. An ``end``
  on a final call changes nothing (the room still relays the message); any
  other action on a call that is not ``initiated`` is a conflict (HTTP 409).
* A user is *busy* while caller or callee of an ``initiated`` or ``accepted``
  call: a new call naming a busy user is a conflict (409).

This module is pure: who acts is passed in, and the service translates its
two errors into HTTP statuses in one place.
"""

from __future__ import annotations

from enum import Enum


class Status(str, Enum):
    INITIATED = "initiated"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    MISSED = "missed"
    ENDED = "ended"


class Action(str, Enum):
    ACCEPT = "accept"
    REJECT = "reject"
    CANCEL = "cancel"
    RING_TIMEOUT = "ring-timeout"
    END = "end"


class Role(str, Enum):
    CALLER = "caller"
    CALLEE = "callee"
    SERVER = "server"
    ANY = "any"          # anyone in the room: either party, or an identity a fault let in


#: who may take each action
ACTORS: dict[Action, frozenset[Role]] = {
    Action.ACCEPT: frozenset({Role.CALLEE}),
    Action.REJECT: frozenset({Role.CALLEE}),
    Action.CANCEL: frozenset({Role.CALLER}),
    Action.RING_TIMEOUT: frozenset({Role.SERVER}),
    Action.END: frozenset({Role.CALLER, Role.CALLEE, Role.ANY}),
}

#: (status, action) -> the status after it; a missing pair is a conflict
TRANSITIONS: dict[tuple[Status, Action], Status] = {
    (Status.INITIATED, Action.ACCEPT): Status.ACCEPTED,
    (Status.INITIATED, Action.REJECT): Status.REJECTED,
    (Status.INITIATED, Action.CANCEL): Status.CANCELLED,
    (Status.INITIATED, Action.RING_TIMEOUT): Status.MISSED,
    (Status.INITIATED, Action.END): Status.ENDED,
    (Status.ACCEPTED, Action.END): Status.ENDED,
}

BUSY: frozenset[Status] = frozenset({Status.INITIATED, Status.ACCEPTED})
FINAL: frozenset[Status] = frozenset({Status.REJECTED, Status.CANCELLED, Status.MISSED, Status.ENDED})

CALL_TYPES: tuple[str, ...] = ("audio", "video")


class WrongParty(Exception):
    """The actor may not take this action (the service answers 403)."""


class WrongState(Exception):
    """The call's status does not allow this action (the service answers 409)."""


def step(status: Status, action: Action, role: Role) -> Status:
    """The status after ``role`` takes ``action`` on a call in ``status``.

    Returns ``status`` itself for an ``end`` on a final call (nothing changes).

    Raises:
        WrongParty: ``role`` may not take ``action``.
        WrongState: ``action`` is not allowed in ``status``.
    """
    if role not in ACTORS[action]:
        who = " or ".join(sorted(r.value for r in ACTORS[action] if r is not Role.ANY))
        raise WrongParty(f"only the {who} can {action.value} a call")
    after = TRANSITIONS.get((status, action))
    if after is not None:
        return after
    if action is Action.END and status in FINAL:
        return status
    raise WrongState(f"call is {status.value}, not {Status.INITIATED.value}")
