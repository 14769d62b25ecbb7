"""Event payloads checked into typed values (``docs/backends/socketio.md#events``).

Each ``parse_*`` takes the event's arguments as the client sent them and
returns a frozen dataclass, or raises ``BadPayload`` whose text becomes the
acknowledgement's ``error``. User ids are integers; a decimal string such as
``"7"`` is accepted and converted (clients in the field send either), and the
raw value is kept for the ``target-id-type`` fault.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from callprobe.backends.socketio.server.limits import encodable

MESSAGE_TYPES = ("text", "image", "file")     # what a client may send; "system" is the server's
CALL_TYPES = ("video", "audio")
SIGNAL_TYPES = ("offer", "answer", "candidate")
MAX_CALL_ID_CHARS = 64
_DECIMAL = re.compile(r"-?[0-9]{1,18}")


class BadPayload(Exception):
    """A payload the server refuses; ``str()`` is the acknowledgement's ``error``."""


@dataclass(frozen=True)
class SendMessage:
    target: int
    message: str
    message_type: str


@dataclass(frozen=True)
class Invitation:
    target: int
    raw_target: object      # as sent: the target-id-type fault looks users up with it
    call_type: str


@dataclass(frozen=True)
class Response:
    call_id: str
    accepted: bool


@dataclass(frozen=True)
class CallRef:
    call_id: str


@dataclass(frozen=True)
class Signal:
    call_id: str
    target: int
    signal_type: str
    data: Any


def payload_object(args: list[Any]) -> dict[str, Any]:
    """The event's one argument, which must be a JSON object."""
    if not args:
        raise BadPayload("payload missing: send one JSON object")
    if not isinstance(args[0], dict):
        raise BadPayload(f"payload must be a JSON object, not {_json_type(args[0])}")
    return args[0]


def user_id(body: dict[str, Any], key: str) -> int:
    """``body[key]`` as a user id: a JSON integer, or a decimal string."""
    if key not in body:
        raise BadPayload(f"{key} is required")
    value = body[key]
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) < 10**18:
        return value
    if isinstance(value, str):
        if _DECIMAL.fullmatch(value):
            return int(value)
        raise BadPayload(f"{key} must be an integer user id; this string is not a decimal number")
    raise BadPayload(f"{key} must be an integer user id, not {_json_type(value)}")


def text(body: dict[str, Any], key: str, max_chars: int, default: str | None = None) -> str:
    """``body[key]`` as a non-empty string of at most ``max_chars`` that encodes as UTF-8."""
    value = body.get(key, default)
    if value is None:
        raise BadPayload(f"{key} is required")
    if not isinstance(value, str):
        raise BadPayload(f"{key} must be a string, not {_json_type(value)}")
    if not value:
        raise BadPayload(f"{key} must not be empty")
    if len(value) > max_chars:
        raise BadPayload(f"{key} longer than {max_chars} characters")
    if not encodable(value):
        raise BadPayload(f"{key} is not valid Unicode (lone surrogate)")
    return value


def choice(body: dict[str, Any], key: str, allowed: tuple[str, ...], default: str | None = None) -> str:
    value = body.get(key, default)
    if value not in allowed:
        shown = "missing" if value is None else f"{value!r}"[:40]
        raise BadPayload(f"{key} must be one of {', '.join(allowed)} ({shown})")
    assert isinstance(value, str)
    return value


def call_id(body: dict[str, Any]) -> str:
    return text(body, "call_id", MAX_CALL_ID_CHARS)


def parse_send_message(args: list[Any], max_chars: int) -> SendMessage:
    body = payload_object(args)
    if body.get("type") == "system":
        raise BadPayload("type system is for messages the server makes")
    return SendMessage(target=user_id(body, "target_user_id"), message=text(body, "message", max_chars),
                       message_type=choice(body, "type", MESSAGE_TYPES, "text"))


def parse_invitation(args: list[Any]) -> Invitation:
    body = payload_object(args)
    return Invitation(target=user_id(body, "target_user_id"), raw_target=body["target_user_id"],
                      call_type=choice(body, "call_type", CALL_TYPES, "video"))


def parse_response(args: list[Any]) -> Response:
    body = payload_object(args)
    accepted = body.get("accepted")
    if not isinstance(accepted, bool):
        raise BadPayload(f"accepted must be true or false, not {_json_type(accepted)}")
    return Response(call_id=call_id(body), accepted=accepted)


def parse_call_ref(args: list[Any]) -> CallRef:
    return CallRef(call_id=call_id(payload_object(args)))


def parse_signal(args: list[Any]) -> Signal:
    body = payload_object(args)
    return Signal(call_id=call_id(body), target=user_id(body, "target_user_id"),
                  signal_type=choice(body, "signal_type", SIGNAL_TYPES), data=body.get("data"))


def _json_type(value: object) -> str:
    """The JSON name of a value's type, for error texts (never the value itself)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "NaN" if isinstance(value, float) and math.isnan(value) else "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object" if isinstance(value, dict) else type(value).__name__
