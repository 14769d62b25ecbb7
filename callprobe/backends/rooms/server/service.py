"""Calls: creation, answers, ring timers and the room notices they cause (``docs/backends/rooms.md#calls``).

The REST API and the room socket both act on calls through this one
service; it applies the state machine of ``calls`` and translates its errors
to HTTP refusals here, in one place. Each transition is stored (committed)
before the notice goes out and before the caller of the service replies.
"""

from __future__ import annotations

import asyncio
import time
from http import HTTPStatus

from callprobe.backends.rooms.server import messages
from callprobe.backends.rooms.server.calls import (
    CALL_TYPES,
    Action,
    Role,
    Status,
    WrongParty,
    WrongState,
    step,
)
from callprobe.backends.rooms.server.errors import Refusal
from callprobe.backends.rooms.server.faults import Faults
from callprobe.backends.rooms.server.log import log, who
from callprobe.backends.rooms.server.messages import UserKey
from callprobe.backends.rooms.server.room import RoomHub
from callprobe.backends.rooms.server.store import Call, Store, User
from callprobe.settings import RoomServerSettings

_UUID_CHARS = frozenset("0123456789abcdef-")

#: the room notice each REST answer sends, and to which party
_NOTICES: dict[Action, tuple[str, str]] = {
    Action.ACCEPT: (messages.ACCEPTED, "caller"),
    Action.REJECT: (messages.REJECTED, "caller"),
    Action.CANCEL: (messages.CANCELLED, "callee"),
}


def _role(call: Call, user: User) -> Role:
    if user.id == call.caller_id:
        return Role.CALLER
    if user.id == call.callee_id:
        return Role.CALLEE
    raise Refusal(HTTPStatus.FORBIDDEN, "not a party of this call")


class CallService:
    """Every change to a call goes through here."""

    def __init__(self, store: Store, hub: RoomHub, settings: RoomServerSettings, faults: Faults) -> None:
        self.store = store
        self.hub = hub
        self.settings = settings
        self.faults = faults
        self._timers: dict[str, asyncio.TimerHandle] = {}

    # ------------------------------------------------------------ life cycle

    def start(self) -> None:
        """Re-arm the ring timer of every call still ringing (a restart keeps the deadline)."""
        now = time.time()
        for call in self.store.ringing():
            self._arm(call, call.created_at + self.settings.ring_timeout_s - now)

    def stop(self) -> None:
        for handle in self._timers.values():
            handle.cancel()
        self._timers.clear()

    # ------------------------------------------------------------ lookups

    def find(self, call_uuid: str) -> Call:
        """The call ``call_uuid`` names; 404 otherwise (also for text that cannot be a uuid)."""
        call = None
        if len(call_uuid) == 36 and set(call_uuid) <= _UUID_CHARS:
            call = self.store.call(call_uuid)
        if call is None:
            raise Refusal(HTTPStatus.NOT_FOUND, "call not found")
        return call

    def visible(self, user: User, call_uuid: str) -> Call:
        """A call for one of its parties; 404 unknown, 403 someone else's."""
        call = self.find(call_uuid)
        _role(call, user)
        return call

    def incoming(self, user: User) -> list[Call]:
        return self.store.incoming(user.id)

    # ------------------------------------------------------------ changes

    def create(self, caller: User, callee_username: str, call_type: str) -> Call:
        """A new ``initiated`` call; 422 bad fields, 404 unknown callee, 409 someone busy."""
        if call_type not in CALL_TYPES:
            raise Refusal(HTTPStatus.UNPROCESSABLE_ENTITY, f"call_type must be one of {', '.join(CALL_TYPES)}")
        found = self.store.credentials(callee_username)
        if found is None:
            raise Refusal(HTTPStatus.NOT_FOUND, "callee not found")
        callee = found[0]
        if callee.id == caller.id:
            raise Refusal(HTTPStatus.UNPROCESSABLE_ENTITY, "cannot call yourself")
        busy = self.store.busy_call(caller.id, callee.id)
        if busy is not None:
            party = "caller" if caller.id in (busy.caller_id, busy.callee_id) else "callee"
            raise Refusal(HTTPStatus.CONFLICT, f"{party} is already in a call")
        call = self.store.add_call(caller.id, callee.id, call_type, time.time())
        log.info("call %s %s: user %d calls user %d (%s)", call.uuid, call.status.value, caller.id,
                 callee.id, call_type)
        self._arm(call, self.settings.ring_timeout_s)
        return call

    def answer(self, user: User, call_uuid: str, action: Action) -> Call:
        """Accept, reject or cancel over REST; then the room notice to the other party."""
        call = self.find(call_uuid)
        role = _role(call, user)
        call = self._transition(call, action, role, user.id)
        kind, to = _NOTICES[action]
        target = call.caller_id if to == "caller" else call.callee_id
        if action is Action.ACCEPT and self.faults.accept_not_relayed:
            log.info("fault accept-not-relayed: no accepted notice to the caller of call %s", call.uuid)
            return call
        sent = self.hub.notify(call.uuid, target, messages.answer_notice(kind, call, user.id, time.time()))
        log.info("call %s: %s notice %s the %s", call.uuid, kind, "sent to" if sent else "not in the room for", to)
        return call

    def end_from_room(self, call: Call, sender: UserKey) -> Call:
        """A room ``end``: ``ended`` from initiated or accepted; a final call stays as it is."""
        current = self.store.call(call.uuid) or call
        role = Role.CALLER if sender == current.caller_id else Role.CALLEE if sender == current.callee_id else Role.ANY
        return self._transition(current, Action.END, role, sender)

    def _transition(self, call: Call, action: Action, role: Role, actor: UserKey) -> Call:
        try:
            after = step(call.status, action, role)
        except WrongParty as exc:
            raise Refusal(HTTPStatus.FORBIDDEN, str(exc)) from None
        except WrongState as exc:
            raise Refusal(HTTPStatus.CONFLICT, str(exc)) from None
        if after is call.status:
            return call
        updated = self.store.set_status(call, after, time.time())
        if after is not Status.INITIATED:
            handle = self._timers.pop(call.uuid, None)
            if handle is not None:
                handle.cancel()
        log.info("call %s %s -> %s (%s by %s)", call.uuid, call.status.value, after.value, action.value,
                 who(actor))
        return updated

    def _arm(self, call: Call, delay: float) -> None:
        loop = asyncio.get_running_loop()
        self._timers[call.uuid] = loop.call_later(max(0.0, delay), self._ring_timeout, call.uuid)

    def _ring_timeout(self, call_uuid: str) -> None:
        self._timers.pop(call_uuid, None)
        call = self.store.call(call_uuid)
        if call is not None and call.status is Status.INITIATED:
            self._transition(call, Action.RING_TIMEOUT, Role.SERVER, "server")
