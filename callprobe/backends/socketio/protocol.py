"""The Socket.IO chat backend's payloads, pure: build what a client emits, read what it is sent.

Every name comes from the deployment's ``SocketioOptions`` (fields are dotted
paths), so nothing here spells an event or a field itself. Reading is
tolerant (``docs/backends/socketio.md#what-a-tolerant-client-must-cope-with``):
ids may be numbers or decimal strings, ``extra_data`` may be an object or a
JSON text, a missing field is ``None``, never an exception.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from callprobe.backends.socketio.config import SocketioOptions

#: What ``get`` returns for a path that is not there.
MISSING: Any = None


def get(obj: Any, dotted: str) -> Any:
    """The value at ``dotted`` (``a.b.c``) inside nested objects, or None."""
    cur = obj
    for part in dotted.split("."):
        if not isinstance(cur, Mapping) or part not in cur:
            return MISSING
        cur = cur[part]
    return cur


def put(obj: dict[str, Any], dotted: str, value: Any) -> dict[str, Any]:
    """Set ``dotted`` in ``obj``, creating the objects on the way; returns ``obj``."""
    parts = dotted.split(".")
    cur = obj
    for part in parts[:-1]:
        nxt = cur.get(part)
        if not isinstance(nxt, dict):
            nxt = cur[part] = {}
        cur = nxt
    cur[parts[-1]] = value
    return obj


def wire_id(user_id: str, id_type: str) -> int | str:
    """A user id as the JSON type the deployment's clients send: ``7`` or ``"7"``.

    A non-decimal id cannot be an integer and is sent as text whatever ``id_type`` says.
    """
    if id_type == "int" and user_id.isdecimal():
        return int(user_id)
    return user_id


def id_text(value: Any) -> str:
    """An id the server sent (``7``, ``"7"``, ``7.0``) as the text the timeline names users by."""
    if isinstance(value, bool) or value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def json_size(payload: Any) -> int:
    try:
        return len(json.dumps(payload, separators=(",", ":"), default=str))
    except (TypeError, ValueError):
        return 0


@dataclass(frozen=True)
class Invitation:
    """A call invitation, from the invitation event or a message row's extra data."""

    call_id: str
    room_name: str
    caller_id: str
    caller_name: str
    call_type: str
    status: str = ""


@dataclass(frozen=True)
class Row:
    """A stored message, as pushed with the message event or listed by history."""

    row_id: str
    sender_id: str
    receiver_id: str
    text: str
    message_type: str
    invitation: Invitation | None
    raw_invitation: Any              # extra_data's invitation as sent (None when absent)


class Payloads:
    """Builds and reads one deployment's payloads."""

    def __init__(self, options: SocketioOptions) -> None:
        self.options = options
        self.f = options.fields
        self.events = options.events

    # ------------------------------------------------------------ emits

    def _with(self, pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for role, value in pairs:
            put(out, self.f[role], value)
        return out

    def send_message(self, target: str, text: str, id_type: str) -> dict[str, Any]:
        return self._with([("target_user_id", wire_id(target, id_type)), ("text", text), ("text_type", "text")])

    def invite(self, target: str, call_type: str, id_type: str) -> dict[str, Any]:
        return self._with([("target_user_id", wire_id(target, id_type)), ("call_type", call_type)])

    def respond(self, call_id: str, accepted: bool) -> dict[str, Any]:
        return self._with([("call_id", call_id), ("accepted", accepted)])

    def call_ref(self, call_id: str) -> dict[str, Any]:
        return self._with([("call_id", call_id)])

    def signal(self, call_id: str, target: str, signal_type: str, data: Any, id_type: str) -> dict[str, Any]:
        return self._with([("call_id", call_id), ("target_user_id", wire_id(target, id_type)),
                           ("signal_type", signal_type), ("signal_data", data)])

    def auth(self, token: str) -> dict[str, Any]:
        return self._with([("auth_token", token)])

    # ------------------------------------------------------------ reads

    def text(self, obj: Any, role: str) -> str:
        value = get(obj, self.f[role])
        return "" if value is None else str(value)

    def ident(self, obj: Any, role: str) -> str:
        return id_text(get(obj, self.f[role]))

    def invitation(self, obj: Any) -> Invitation | None:
        """An invitation object: the invitation event's payload, or a row's ``extra_data`` part."""
        if isinstance(obj, str):
            try:
                obj = json.loads(obj)
            except ValueError:
                return None
        if not isinstance(obj, Mapping):
            return None
        call_id = self.text(obj, "call_id")
        if not call_id:
            return None
        return Invitation(call_id=call_id, room_name=self.text(obj, "room_name"),
                          caller_id=self.ident(obj, "caller_id"), caller_name=self.text(obj, "caller_name"),
                          call_type=self.text(obj, "call_type"), status=self.text(obj, "status"))

    def raw_invitation(self, row: Any) -> Any:
        """``extra_data.call_invitation`` of a row as sent; ``extra_data`` given as JSON text is read too."""
        path = self.f["invitation"]
        head, _, rest = path.partition(".")
        container = get(row, head)
        if isinstance(container, str) and rest:
            try:
                container = json.loads(container)
            except ValueError:
                return None
            return get(container, rest)
        return get(row, path)

    def row(self, obj: Any) -> Row | None:
        """A message row; None when ``obj`` is not one (no sender)."""
        if not isinstance(obj, Mapping):
            return None
        sender = self.ident(obj, "sender_id")
        if not sender:
            return None
        raw = self.raw_invitation(obj)
        return Row(row_id=self.ident(obj, "row_id"), sender_id=sender, receiver_id=self.ident(obj, "receiver_id"),
                   text=self.text(obj, "text"), message_type=self.text(obj, "message_type"),
                   invitation=self.invitation(raw) if raw is not None else None, raw_invitation=raw)


#: What a whole invitation carries (``docs/backends/socketio.md#call-invitation``): the history probe's checklist.
INVITATION_PARTS = ("call_id", "room_name", "caller_id", "caller_name", "call_type", "status")


def missing_parts(payloads: Payloads, raw: Any) -> list[str]:
    """The parts of a stored invitation that are absent or empty (all of it when it is not an object)."""
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            raw = None
    if not isinstance(raw, Mapping):
        return [payloads.f["invitation"]]
    return [role for role in INVITATION_PARTS if get(raw, payloads.f[role]) in (None, "")]


def first_arg(args: list[Any] | tuple[Any, ...]) -> Any:
    """An event's or acknowledgement's data: its one argument, a list of several, or None."""
    if not args:
        return None
    return args[0] if len(args) == 1 else list(args)
