"""Room messages: what a client may send and what the server sends (``docs/backends/rooms.md#messages``).

Every message on a room socket, either way, is a JSON object
``{type, call_id, user_id, timestamp, data}``: ``call_id`` is the call's uuid,
``user_id`` the user the message is about (the sender of a relayed message,
the newcomer of ``join``), ``timestamp`` Unix seconds. The server stamps
``call_id``, ``user_id`` and ``timestamp`` itself; from a client it reads only
``type`` and ``data``. This module is pure: text in, values out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from callprobe.backends.rooms.server import jsontext
from callprobe.backends.rooms.server.store import Call

#: types a client sends that the server relays to the other party unchanged
RELAYED: tuple[str, ...] = ("offer", "answer", "ice-candidate")
#: a client's ``end`` ends the call, then is relayed like the others
END = "end"
CLIENT_TYPES: tuple[str, ...] = (*RELAYED, END)

#: types only the server sends
CONNECTION, JOIN, LEAVE, ERROR = "connection", "join", "leave", "error"
ACCEPTED, REJECTED, CANCELLED = "accepted", "rejected", "cancelled"

UserKey = int | str  # an integer user id, or the string a default identity gets


class BadMessage(ValueError):
    """A frame the server cannot act on; the text goes back to the sender in an ``error`` message."""


@dataclass(frozen=True)
class ClientMessage:
    type: str
    data: Any


def parse(text: str, max_depth: int) -> ClientMessage:
    """A client's frame to a ``ClientMessage``.

    Raises:
        BadMessage: not strict JSON (``jsontext.loads``), not an object, no
            string ``type``, or a type a client does not send.
    """
    try:
        value = jsontext.loads(text, max_depth)
    except jsontext.JsonRefused as exc:
        raise BadMessage(str(exc)) from None
    if not isinstance(value, dict):
        raise BadMessage(f"message must be a JSON object, not {_kind(value)}")
    kind = value.get("type")
    if not isinstance(kind, str):
        raise BadMessage("message needs a string field type" if kind is None
                         else f"field type must be a string, not {_kind(kind)}")
    if kind not in CLIENT_TYPES:
        raise BadMessage(f"unknown message type {kind[:40]!r}: a client sends {', '.join(CLIENT_TYPES)}")
    return ClientMessage(kind, value.get("data"))


def _kind(value: Any) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean",
            type(None): "null"}.get(type(value), "a number")


def message(kind: str, call_uuid: str, user_id: UserKey, now: float, data: Any = None) -> dict[str, Any]:
    """One server message in the common shape."""
    return {"type": kind, "call_id": call_uuid, "user_id": user_id, "timestamp": int(now), "data": data}


def connection(call_uuid: str, newcomer: UserKey, users: list[UserKey], now: float) -> dict[str, Any]:
    """To the newcomer: who is in the room now, the newcomer included."""
    return message(CONNECTION, call_uuid, newcomer, now, {"users": users})


def join(call_uuid: str, newcomer: UserKey, username: str, now: float) -> dict[str, Any]:
    """To everyone already in the room: who came in."""
    return message(JOIN, call_uuid, newcomer, now, {"user": {"id": newcomer, "username": username}})


def leave(call_uuid: str, leaver: UserKey, username: str, now: float) -> dict[str, Any]:
    """To everyone still in the room: who went."""
    return message(LEAVE, call_uuid, leaver, now, {"user": {"id": leaver, "username": username}})


def answer_notice(kind: str, call: Call, actor: int, now: float) -> dict[str, Any]:
    """``accepted``/``rejected`` to the caller, ``cancelled`` to the callee, with the call as it is now."""
    return message(kind, call.uuid, actor, now, {"call": call.to_json()})


def relayed(msg: ClientMessage, call_uuid: str, sender: UserKey, now: float) -> dict[str, Any]:
    return message(msg.type, call_uuid, sender, now, msg.data)


def error(call_uuid: str, user_id: UserKey, reason: str, now: float) -> dict[str, Any]:
    """To the sender of a frame the server could not act on; the socket stays open."""
    return message(ERROR, call_uuid, user_id, now, {"error": reason})
