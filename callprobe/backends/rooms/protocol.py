"""The call-room service's wire format and call rules, pure (``docs/backends/rooms.md``).

Room messages are JSON objects ``{type, call_id, user_id, timestamp, data}``;
REST replies are JSON with a ``call`` / ``calls`` / ``user`` / ``token``, or a
refusal ``{error}`` with an HTTP status. Every name comes from
``config.RoomsOptions`` (a deployment may rename any of them), and reading is
tolerant: ids may be integers or strings, extra fields are ignored, a
message of an unknown type is reported, never fatal.

The client-side call states are one table (``TRANSITIONS``), in the spirit
of the KKIM call state machine: what this agent knows of a call, and which
neutral notice each server input gives, whichever path carried it (a room
notice or a polled status).

Rules of the table:

* a caller's call is ``calling`` until the callee answers; a callee's is
  ``ringing`` from the first poll that lists it until it answers;
* ``answered`` holds until someone ends the call (room ``end``, or status
  ``ended``);
* ``over`` is final: later inputs give no notice;
* a status seen on a ringing call that this device did not cause (accepted
  or rejected elsewhere) ends its ring as ``cancelled``: another device of
  the same user took the call.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import Enum
from typing import Any

from callprobe.backends.rooms.config import RoomsOptions


class CallState(str, Enum):
    """What this agent knows of one call."""

    CALLING = "calling"      # caller: placed, no answer yet
    RINGING = "ringing"      # callee: listed as incoming, not answered by this device
    ANSWERED = "answered"    # accepted: the parties may meet in the room
    OVER = "over"            # ended for this agent


#: Inputs: a call status (polled or in a room notice) or the room ``end`` message.
END = "end"

#: (state, input) -> (next state, the neutral notice for this agent or None).
TRANSITIONS: dict[tuple[CallState, str], tuple[CallState, str | None]] = {
    (CallState.CALLING, "accepted"): (CallState.ANSWERED, "answered"),
    (CallState.CALLING, "rejected"): (CallState.OVER, "rejected"),
    (CallState.CALLING, "missed"): (CallState.OVER, "call_timeout"),
    (CallState.CALLING, "cancelled"): (CallState.OVER, None),       # its own cancel
    (CallState.CALLING, "ended"): (CallState.OVER, "hung_up"),
    (CallState.CALLING, END): (CallState.OVER, "hung_up"),
    (CallState.RINGING, "cancelled"): (CallState.OVER, "cancelled"),
    (CallState.RINGING, "missed"): (CallState.OVER, "call_timeout"),
    (CallState.RINGING, "accepted"): (CallState.OVER, "cancelled"),  # another device accepted
    (CallState.RINGING, "rejected"): (CallState.OVER, "cancelled"),  # another device declined
    (CallState.RINGING, "ended"): (CallState.OVER, "cancelled"),
    (CallState.RINGING, END): (CallState.OVER, "cancelled"),
    (CallState.ANSWERED, "ended"): (CallState.OVER, "hung_up"),
    (CallState.ANSWERED, END): (CallState.OVER, "hung_up"),
}

#: Why a REST refusal happened, by status (``docs/backends/rooms.md#rest-api``).
STATUS_TEXT: dict[int, str] = {
    400: "the body is not a JSON object, or the request is not a WebSocket upgrade",
    401: "no token, a bad or expired token, or bad credentials",
    403: "not a party of the call, or not the party allowed to do this",
    404: "unknown user or call",
    405: "wrong method for this path",
    408: "the body came too slowly",
    409: "username taken, a party already in a call, or the call is no longer initiated",
    413: "the body is too large",
    422: "a field is missing or invalid",
    500: "the server failed while handling the request",
    503: "the server has too many connections",
}


def explain_status(status: int) -> str:
    """A refusal's HTTP status in words (``HTTP 409: ...``)."""
    text = STATUS_TEXT.get(status, "unexpected reply" if status < 500 else "server error")
    return f"HTTP {status}: {text}"


def user_key(value: Any) -> str:
    """A user id as text, whatever JSON type carried it (``7`` and ``"7"`` are one user)."""
    if isinstance(value, bool) or value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def loads(body: bytes | str) -> Any:
    """JSON of a reply or a message; ``None`` when it is not JSON."""
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None


@dataclass(frozen=True)
class RoomCall:
    """A call as a REST reply describes it."""

    uuid: str
    id: str = ""
    caller_id: str = ""
    callee_id: str = ""
    call_type: str = ""
    status: str = ""


def read_call(obj: Any, names: RoomsOptions) -> RoomCall | None:
    """A call object (``{id, uuid, caller_id, callee_id, call_type, status}``); ``None`` without a uuid."""
    if not isinstance(obj, dict):
        return None
    uuid = obj.get(names.key("uuid"))
    if not isinstance(uuid, str) or not uuid:
        return None
    return RoomCall(uuid=uuid, id=user_key(obj.get(names.key("id"))),
                    caller_id=user_key(obj.get(names.key("caller_id"))),
                    callee_id=user_key(obj.get(names.key("callee_id"))),
                    call_type=str(obj.get(names.key("call_type")) or ""),
                    status=str(obj.get(names.key("status")) or ""))


def reply_call(body: Any, names: RoomsOptions) -> RoomCall | None:
    """The ``call`` of a reply (``{"call": {...}}``), or the reply itself when it is the call."""
    if isinstance(body, dict) and names.key("call") in body:
        return read_call(body[names.key("call")], names)
    return read_call(body, names)


def reply_calls(body: Any, names: RoomsOptions) -> list[RoomCall] | None:
    """The calls of an incoming-list reply (``{"calls": [...]}`` or a bare list); ``None`` when unreadable."""
    items = body.get(names.key("calls")) if isinstance(body, dict) else body
    if not isinstance(items, list):
        return None
    return [c for c in (read_call(item, names) for item in items) if c is not None]


def refusal_text(body: Any, names: RoomsOptions) -> str:
    """The ``{error}`` text of a refusal, or ``""``."""
    if isinstance(body, dict):
        text = body.get(names.key("error"))
        if isinstance(text, str):
            return text
        if isinstance(text, dict) and isinstance(text.get("message"), str):
            return str(text["message"])
    return ""


@dataclass(frozen=True)
class Login:
    """What login told: the token and the user's integer id (as text)."""

    token: str
    user_id: str
    username: str


def read_login(body: Any, names: RoomsOptions) -> Login | None:
    """``{token, user: {id, username}}``; ``None`` without a token and an id."""
    if not isinstance(body, dict):
        return None
    token = body.get(names.key("token"))
    user = body.get(names.key("user"))
    uid = user_key(user.get(names.key("id"))) if isinstance(user, dict) else ""
    if not isinstance(token, str) or not token or not uid:
        return None
    username = user.get(names.key("username")) if isinstance(user, dict) else ""
    return Login(token, uid, str(username or ""))


# ---------------------------------------------------------------- room messages


@dataclass(frozen=True)
class Message:
    """One room message as received: its type name (as this deployment says it) and the rest."""

    type: str
    call_id: str
    user_id: str
    data: Any


def read_message(text: str | bytes, names: RoomsOptions) -> Message | None:
    """A room message; ``None`` when it is not a JSON object with a string type."""
    obj = loads(text)
    if not isinstance(obj, dict):
        return None
    kind = obj.get(names.key("type"))
    if not isinstance(kind, str):
        return None
    return Message(kind, user_key(obj.get(names.key("call_id"))), user_key(obj.get(names.key("user_id"))),
                   obj.get(names.key("data")))


def encode_message(names: RoomsOptions, kind: str, call_uuid: str, user_id: str, data: Any,
                   wall_s: int) -> str:
    """A room message from this client: the whole envelope (the reference server reads only type and data)."""
    uid: Any = int(user_id) if user_id.isdigit() else user_id
    return json.dumps({names.key("type"): names.message(kind), names.key("call_id"): call_uuid,
                       names.key("user_id"): uid, names.key("timestamp"): wall_s, names.key("data"): data},
                      separators=(",", ":"))


def message_kind(names: RoomsOptions, type_name: str) -> str:
    """What a received type name means (a key of ``DEFAULT_MESSAGES``), or ``""``."""
    for kind, name in names.messages.items():
        if name == type_name:
            return kind
    return ""


def status_meaning(names: RoomsOptions, status: str) -> str:
    """What a received status means (a key of ``DEFAULT_STATUSES``), or ``""``."""
    for meaning, name in names.statuses.items():
        if name == status:
            return meaning
    return ""


def joined_users(data: Any, names: RoomsOptions) -> list[str]:
    """``connection``: the ids in the room, newcomer included."""
    users = data.get(names.key("users")) if isinstance(data, dict) else data
    return [user_key(u) for u in users if user_key(u)] if isinstance(users, list) else []


def notice_user(data: Any, names: RoomsOptions) -> tuple[str, str]:
    """``join``/``leave``: ``(id, username)`` of the user named."""
    user = data.get(names.key("user")) if isinstance(data, dict) else None
    if not isinstance(user, dict):
        return "", ""
    return user_key(user.get(names.key("id"))), str(user.get(names.key("username")) or "")


def signal_payload(kind: str, data: Any) -> Any:
    """An offer or answer as an ``RTCSessionDescriptionInit``: a bare SDP text is wrapped."""
    if kind in ("offer", "answer") and isinstance(data, str) and data.lstrip().startswith("v=0"):
        return {"type": kind, "sdp": data}
    return data
