"""The call state machine of the reference gateway, pure and table-driven.

Rules (docs/backends/kkim.md#call-signaling):

* A call is created by an invite and lives in a room whose ID the gateway
  assigns. It is ``RINGING`` until an invitee accepts, then ``ACTIVE``, and
  ``ENDED`` once nobody is left to talk to. Ended calls are forgotten, so a
  later action naming their room is "call not found" (1801).
* Each invitee is ``RINGING``, ``ACCEPTED`` or ``GONE`` (rejected, hung up,
  timed out, disconnected). A user is *busy* while ringing or accepted in any live call, and
  while inviting one; inviting a busy user is 1802 with the user listed.
* ``TRANSITIONS`` maps (call state, event, actor role) to the nominal next
  state, the actor's next role and symbolic effects. A missing key means the
  action is not valid here and is refused as 1801. After every transition
  ``_settle`` ends a call nobody can continue (no invitee ringing or accepted;
  an active call left without an accepted invitee), cancelling whoever still
  rings.
* A party whose last connection closed cannot act any more (a crashed client
  never hangs up), so ``leave`` applies ``DISCONNECT`` to each of its calls,
  ending its part as the matching action would: the inviter of a ringing call
  cancels it, a ringing invitee rejects it, and a party of an answered call
  hangs up. ``Rule.relay_as`` names that action; the notices carry the reason
  ``disconnected``.
* Effects say *who must be told what*; they never name connections. Devices
  are opaque strings the caller passes in, so "the callee's other devices get
  a cancel" is expressed as ``Notify(..., exclude_device=...)``.
* Time comes in as numbers (seconds on any monotonic clock); the machine never
  reads a clock and owns no timers: ``StartTimer``/``StopTimer`` ask the I/O
  layer to call ``timeout()`` later.
* Every transition returns a ``Transition`` record whose ``str()`` is one log
  line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from callprobe.backends.kkim.protocol.constants import ErrCode
from callprobe.backends.kkim.protocol.errors import BusinessError


class CallState(str, Enum):
    RINGING = "ringing"
    ACTIVE = "active"
    ENDED = "ended"


class Role(str, Enum):
    """Who acts, relative to the call."""

    INVITER = "inviter"
    RINGING = "ringing"      # an invitee not yet answered
    ACCEPTED = "accepted"    # an invitee in the call
    GONE = "gone"            # an invitee who rejected, left or timed out
    SERVER = "server"        # the gateway itself (timeouts)


class CallEvent(str, Enum):
    """Events after the invite; a user's action is named as its SignalReq oneof."""

    ACCEPT = "accept"
    REJECT = "reject"
    CANCEL = "cancel"
    HANGUP = "hungUp"
    TIMEOUT = "timeout"          # the gateway: nobody answered in time
    DISCONNECT = "disconnect"    # the gateway: the actor's last connection closed


class Sym(str, Enum):
    """Symbolic effects in the transition table, expanded by ``_expand``."""

    TELL_INVITER = "tell the inviter (all devices) the action"
    TELL_RINGING = "tell every ringing invitee (all devices) the action"
    TELL_ACCEPTED = "tell every other accepted invitee the action"
    CANCEL_OWN_OTHER_DEVICES = "cancel the actor's other devices"
    TIMEOUT_CANCEL_RINGING = "cancel every ringing invitee: no answer"
    TIMEOUT_REJECT_TO_INVITER = "tell the inviter 'reject': no answer"


@dataclass(frozen=True)
class Rule:
    """``relay_as``: the action the others are told, when not the event itself."""

    next_state: CallState
    actor_becomes: Role | None
    effects: tuple[Sym, ...]
    relay_as: CallEvent | None = None


_S, _E, _R = CallState, CallEvent, Role
_NO_ANSWER = (Sym.TIMEOUT_CANCEL_RINGING, Sym.TIMEOUT_REJECT_TO_INVITER)

#: (call state, event, actor role) -> rule. Anything absent is refused (1801).
TRANSITIONS: dict[tuple[CallState, CallEvent, Role], Rule] = {
    # an invitee answers: the inviter learns it, the invitee's other devices stop ringing
    (_S.RINGING, _E.ACCEPT, _R.RINGING): Rule(_S.ACTIVE, _R.ACCEPTED, (Sym.TELL_INVITER, Sym.CANCEL_OWN_OTHER_DEVICES)),
    (_S.ACTIVE, _E.ACCEPT, _R.RINGING): Rule(_S.ACTIVE, _R.ACCEPTED, (Sym.TELL_INVITER, Sym.CANCEL_OWN_OTHER_DEVICES)),
    # an invitee declines (a hangup while ringing counts as declining)
    (_S.RINGING, _E.REJECT, _R.RINGING): Rule(_S.RINGING, _R.GONE, (Sym.TELL_INVITER, Sym.CANCEL_OWN_OTHER_DEVICES)),
    (_S.ACTIVE, _E.REJECT, _R.RINGING): Rule(_S.ACTIVE, _R.GONE, (Sym.TELL_INVITER, Sym.CANCEL_OWN_OTHER_DEVICES)),
    (_S.RINGING, _E.HANGUP, _R.RINGING): Rule(_S.RINGING, _R.GONE, (Sym.TELL_INVITER, Sym.CANCEL_OWN_OTHER_DEVICES)),
    (_S.ACTIVE, _E.HANGUP, _R.RINGING): Rule(_S.ACTIVE, _R.GONE, (Sym.TELL_INVITER, Sym.CANCEL_OWN_OTHER_DEVICES)),
    # the inviter gives up before an answer (cancel, or hangup relayed as such)
    (_S.RINGING, _E.CANCEL, _R.INVITER): Rule(_S.ENDED, None, (Sym.TELL_RINGING,)),
    (_S.RINGING, _E.HANGUP, _R.INVITER): Rule(_S.ENDED, None, (Sym.TELL_RINGING,)),
    # hanging up an answered call
    (_S.ACTIVE, _E.HANGUP, _R.INVITER): Rule(_S.ENDED, None, (Sym.TELL_ACCEPTED,)),
    (_S.ACTIVE, _E.HANGUP, _R.ACCEPTED): Rule(_S.ACTIVE, _R.GONE, (Sym.TELL_INVITER, Sym.TELL_ACCEPTED)),
    # nobody answered in time (docs/backends/kkim.md#ring-timeout)
    (_S.RINGING, _E.TIMEOUT, _R.SERVER): Rule(_S.ENDED, None, _NO_ANSWER),
    (_S.ACTIVE, _E.TIMEOUT, _R.SERVER): Rule(_S.ACTIVE, None, _NO_ANSWER),
    # the actor's last connection closed: it left as by the matching action;
    # none of its devices is left to be told
    (_S.RINGING, _E.DISCONNECT, _R.INVITER): Rule(_S.ENDED, None, (Sym.TELL_RINGING,), _E.CANCEL),
    (_S.ACTIVE, _E.DISCONNECT, _R.INVITER): Rule(_S.ENDED, None, (Sym.TELL_ACCEPTED,), _E.HANGUP),
    (_S.RINGING, _E.DISCONNECT, _R.RINGING): Rule(_S.RINGING, _R.GONE, (Sym.TELL_INVITER,), _E.REJECT),
    (_S.ACTIVE, _E.DISCONNECT, _R.RINGING): Rule(_S.ACTIVE, _R.GONE, (Sym.TELL_INVITER,), _E.REJECT),
    (_S.ACTIVE, _E.DISCONNECT, _R.ACCEPTED): Rule(_S.ACTIVE, _R.GONE, (Sym.TELL_INVITER, Sym.TELL_ACCEPTED),
                                                  _E.HANGUP),
}

# ------------------------------------------------------------------ effects

REASON_ACTION = ""          # the actor's own request is relayed
REASON_TIMEOUT = "timeout"  # the gateway ended an unanswered invite
REASON_ENDED = "ended"      # the call ended around a still-ringing invitee
REASON_OTHER_DEVICE = "answered-elsewhere"
REASON_DISCONNECTED = "disconnected"  # the actor's last connection closed

#: the reason the notices of an event carry, when not the actor's own request
_EVENT_REASON = {CallEvent.DISCONNECT: REASON_DISCONNECTED}


@dataclass(frozen=True)
class Ring:
    """Push the invite to every online device of ``user_id``."""

    user_id: str
    room_id: str


@dataclass(frozen=True)
class Notify:
    """Tell ``user_id`` about an action (a SignalResp oneof name).

    ``op_user_id`` did it (empty for the server); ``exclude_device`` is the
    acting device, which must not be told; ``record`` asks for a 1601 history
    record in the conversation of ``op_user_id`` (or ``peer_id``) and
    ``user_id``; ``peer_id`` is the other party of that conversation when the
    server acts.
    """

    user_id: str
    action: str
    room_id: str
    op_user_id: str = ""
    peer_id: str = ""
    exclude_device: str | None = None
    record: bool = True
    reason: str = REASON_ACTION


@dataclass(frozen=True)
class StartTimer:
    room_id: str
    deadline: float


@dataclass(frozen=True)
class StopTimer:
    room_id: str


@dataclass(frozen=True)
class Ended:
    """The call is over and forgotten; ``reason`` is the event that ended it."""

    room_id: str
    reason: str
    users: tuple[str, ...]


Effect = Ring | Notify | StartTimer | StopTimer | Ended


@dataclass(frozen=True)
class Transition:
    """One applied transition; ``str()`` is a log line."""

    room_id: str
    event: str
    actor: str
    role: str
    before: str
    after: str
    effects: tuple[Effect, ...]

    def __str__(self) -> str:
        names = ", ".join(_effect_text(e) for e in self.effects) or "none"
        who = f"{self.actor} ({self.role})" if self.actor else self.role
        return f"call {self.room_id}: {self.event} by {who}: {self.before} -> {self.after}; effects: {names}"


def _effect_text(effect: Effect) -> str:
    if isinstance(effect, Notify):
        extra = f" except device {effect.exclude_device}" if effect.exclude_device else ""
        why = f" [{effect.reason}]" if effect.reason else ""
        return f"notify {effect.user_id} {effect.action}{why}{extra}"
    if isinstance(effect, Ring):
        return f"ring {effect.user_id}"
    if isinstance(effect, StartTimer):
        return f"timer at {effect.deadline:.3f}"
    if isinstance(effect, StopTimer):
        return "stop timer"
    return f"ended ({effect.reason})"


# ------------------------------------------------------------------- errors


class CallNotFound(BusinessError):
    """1801: unknown roomID, or an action the call's state does not allow."""

    code = "CALL_NOT_FOUND"

    def __init__(self, message: str) -> None:
        super().__init__(ErrCode.CALL_NOT_FOUND, message)


class UserBusy(BusinessError):
    """1802: an invitee (or the inviter) is already in a call."""

    code = "USER_BUSY"

    def __init__(self, busy: tuple[str, ...]) -> None:
        super().__init__(ErrCode.USER_BUSY, f"user is already in a call: {', '.join(busy)}")
        self.busy = busy


# --------------------------------------------------------------------- calls


@dataclass
class Call:
    """A live call; ``invitees`` maps each invitee to its role."""

    room_id: str
    inviter: str
    invitees: dict[str, Role]
    state: CallState
    created_at: float
    deadline: float
    media_type: str = ""

    def role_of(self, user_id: str) -> Role | None:
        if user_id == self.inviter:
            return Role.INVITER
        return self.invitees.get(user_id)

    def users(self) -> tuple[str, ...]:
        return (self.inviter, *self.invitees)

    def in_call(self, user_id: str) -> bool:
        role = self.role_of(user_id)
        return role in (Role.INVITER, Role.RINGING, Role.ACCEPTED)

    def with_role(self, role: Role) -> list[str]:
        return [uid for uid, r in self.invitees.items() if r is role]


@dataclass(frozen=True)
class Outcome:
    transition: Transition
    effects: tuple[Effect, ...]
    busy: tuple[str, ...] = ()


@dataclass
class CallRegistry:
    """Every live call, and the transitions between their states."""

    calls: dict[str, Call] = field(default_factory=dict)

    # queries

    def get(self, room_id: str) -> Call | None:
        return self.calls.get(room_id)

    def calls_of(self, user_id: str) -> list[Call]:
        return [c for c in self.calls.values() if c.in_call(user_id)]

    def is_busy(self, user_id: str) -> bool:
        return any(c.in_call(user_id) for c in self.calls.values())

    # invite

    def invite(self, room_id: str, inviter: str, invitees: list[str], now: float,
               timeout_s: float, media_type: str = "",
               also_busy: frozenset[str] = frozenset()) -> Outcome:
        """Create a call; raise ``UserBusy`` when nobody can be rung.

        Invitees already in a call are left out and listed in ``busy``; if
        all of them are busy, or the inviter is, the invite is refused.
        """
        if room_id in self.calls:
            raise CallNotFound(f"room {room_id} already exists")
        unique = list(dict.fromkeys(invitees))
        busy = tuple(u for u in unique if u in also_busy or self.is_busy(u))
        free = [u for u in unique if u not in busy]
        if not free:
            raise UserBusy(busy)
        if inviter in also_busy or self.is_busy(inviter):
            raise UserBusy((inviter,))
        deadline = now + timeout_s
        call = Call(room_id, inviter, dict.fromkeys(free, Role.RINGING), CallState.RINGING,
                    created_at=now, deadline=deadline, media_type=media_type)
        self.calls[room_id] = call
        effects: tuple[Effect, ...] = (*(Ring(u, room_id) for u in free), StartTimer(room_id, deadline))
        transition = Transition(room_id, "invite", inviter, Role.INVITER.value, "none",
                                CallState.RINGING.value, effects)
        return Outcome(transition, effects, busy)

    # actions

    def act(self, room_id: str, event: CallEvent, actor: str, device: str | None = None) -> Outcome:
        """Apply a user's action (accept, reject, cancel, hungUp)."""
        call = self.calls.get(room_id)
        if call is None:
            raise CallNotFound(f"call not found: no live call in room {room_id!r}")
        role = call.role_of(actor)
        if role is None:
            raise CallNotFound(f"call not found: {actor} is not part of the call in room {room_id}")
        return self._apply(call, event, actor, role, device)

    def timeout(self, room_id: str, now: float) -> Outcome | None:
        """The ring timer fired; ``None`` if the call is gone or not yet due."""
        call = self.calls.get(room_id)
        if call is None or now < call.deadline:
            return None
        return self._apply(call, CallEvent.TIMEOUT, "", Role.SERVER, None)

    def leave(self, user_id: str) -> list[Outcome]:
        """The user's last connection closed: end its part in each of its calls.

        Every call the user is still in (inviting, ringing or answered) gets a
        ``DISCONNECT`` by the user; the caller decides when a user has left.
        """
        mine = [c for c in self.calls.values() if c.in_call(user_id)]
        out = []
        for call in mine:
            role = call.role_of(user_id)
            assert role is not None  # in_call
            out.append(self._apply(call, CallEvent.DISCONNECT, user_id, role, None))
        return out

    def due(self, now: float) -> list[str]:
        """Rooms whose ring deadline has passed with somebody still ringing."""
        return [c.room_id for c in self.calls.values()
                if now >= c.deadline and c.with_role(Role.RINGING)]

    # internals

    def _apply(self, call: Call, event: CallEvent, actor: str, role: Role,
               device: str | None) -> Outcome:
        rule = TRANSITIONS.get((call.state, event, role))
        if rule is None:
            raise CallNotFound(
                f"call not found: {event.value} by the {role.value} is not possible while the call "
                f"in room {call.room_id} is {call.state.value}")
        before = call.state
        effects = self._expand(call, rule.relay_as or event, _EVENT_REASON.get(event, REASON_ACTION),
                               actor, device, rule.effects)
        if rule.actor_becomes is not None and actor in call.invitees:
            call.invitees[actor] = rule.actor_becomes
        if event is CallEvent.TIMEOUT or Sym.TELL_RINGING in rule.effects:
            for uid in call.with_role(Role.RINGING):  # told already; settle must not cancel again
                call.invitees[uid] = Role.GONE
        call.state = rule.next_state
        effects += self._settle(call, event)
        transition = Transition(call.room_id, event.value, actor, role.value, before.value,
                                call.state.value, tuple(effects))
        return Outcome(transition, tuple(effects))

    def _expand(self, call: Call, relayed: CallEvent, reason: str, actor: str, device: str | None,
                syms: tuple[Sym, ...]) -> list[Effect]:
        room, action = call.room_id, relayed.value
        out: list[Effect] = []
        for sym in syms:
            if sym is Sym.TELL_INVITER:
                out.append(Notify(call.inviter, action, room, op_user_id=actor, reason=reason))
            elif sym is Sym.TELL_RINGING:
                out += [Notify(u, action, room, op_user_id=actor, reason=reason)
                        for u in call.with_role(Role.RINGING)]
            elif sym is Sym.TELL_ACCEPTED:
                out += [Notify(u, action, room, op_user_id=actor, reason=reason)
                        for u in call.with_role(Role.ACCEPTED) if u != actor]
            elif sym is Sym.CANCEL_OWN_OTHER_DEVICES:
                out.append(Notify(actor, CallEvent.CANCEL.value, room, op_user_id=actor,
                                  exclude_device=device, record=False, reason=REASON_OTHER_DEVICE))
            elif sym is Sym.TIMEOUT_CANCEL_RINGING:
                out += [Notify(u, CallEvent.CANCEL.value, room, peer_id=call.inviter,
                               reason=REASON_TIMEOUT) for u in call.with_role(Role.RINGING)]
            elif sym is Sym.TIMEOUT_REJECT_TO_INVITER:
                out += [Notify(call.inviter, CallEvent.REJECT.value, room, peer_id=u,
                               reason=REASON_TIMEOUT) for u in call.with_role(Role.RINGING)]
        return out

    def _settle(self, call: Call, event: CallEvent) -> list[Effect]:
        """End a call nobody can continue; stop the timer once nobody rings."""
        out: list[Effect] = []
        ringing = call.with_role(Role.RINGING)
        accepted = call.with_role(Role.ACCEPTED)
        if not accepted and (call.state is CallState.ACTIVE or (call.state is CallState.RINGING and not ringing)):
            call.state = CallState.ENDED
        if call.state is CallState.ENDED:
            out += [Notify(u, CallEvent.CANCEL.value, call.room_id, peer_id=call.inviter,
                           reason=REASON_ENDED) for u in ringing]
            for uid in ringing:
                call.invitees[uid] = Role.GONE
            out += [StopTimer(call.room_id), Ended(call.room_id, event.value, call.users())]
            del self.calls[call.room_id]
        elif not ringing:
            out.append(StopTimer(call.room_id))
        return out
