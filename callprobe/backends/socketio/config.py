"""The socketio family's ``server.backend`` block: the names a deployment gives its API.

Homegrown FastAPI + Socket.IO chat backends share a design and differ in its
names (``docs/backends/socketio.md#what-a-tolerant-client-must-cope-with``):
REST paths, event names, field names, the JSON type of user ids, the
Socket.IO path and namespace. Every name the reference server uses is a
default here; a scenario overrides the ones its deployment spells
differently. ``parse_options`` is pure: it reports every problem through the
checker's sink (file, line and field) and always returns usable options.

Events and fields are keyed by *role*, not by name, because one name may
serve two roles (``call_invitation`` is what the caller emits and what the
callee is pushed) and a deployment may split them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from callprobe.backends.options import BackendOptions, FieldPath, OptionsSink, check_keys, names_override

#: REST endpoints, relative to the server's base URL (``docs/backends/socketio.md#rest-api``).
PATHS: dict[str, str] = {
    "register": "/api/v1/auth/register",
    "login": "/api/v1/auth/login",
    "history": "/api/v1/chat/messages",
}

#: Socket.IO events by role: what a client emits, and what the server pushes
#: (``docs/backends/socketio.md#events``).
EVENTS: dict[str, str] = {
    "send_message": "send_message",      # emit: a text message
    "message": "message",                # push: a stored message row (texts, echoes, invitations)
    "invite": "call_invitation",         # emit: the caller's invitation
    "invitation": "call_invitation",     # push: the invitation to the callee
    "respond": "call_response",          # emit: the callee's accept or reject
    "response": "call_response",         # push: the answer, to the caller and the callee's other devices
    "cancel": "call_cancel",             # emit: the caller gives up before an answer
    "cancelled": "call_cancelled",       # push: to the callee
    "end": "call_end",                   # emit: hang up an answered call
    "ended": "call_ended",               # push: to the other party
    "missed": "call_missed",             # push: the server's ring timer ran out
    "send_signal": "webrtc_signal",      # emit: SDP or an ICE candidate for the peer
    "signal": "webrtc_signal",           # push: the peer's SDP or candidate
    "user_status": "user_status",        # push: a user came online or went offline
    "error": "error",                    # push: an event refused without an acknowledgement
}

#: Fields by role, each a dotted path into a JSON object (``a.b`` reads ``{"a": {"b": ...}}``).
FIELDS: dict[str, str] = {
    # what the client sends
    "target_user_id": "target_user_id",  # send_message, call_invitation, webrtc_signal
    "text": "message",                   # send_message's text, and a message row's text
    "text_type": "type",                 # send_message's message type ("text")
    "call_type": "call_type",            # "video" | "audio"
    "call_id": "call_id",
    "accepted": "accepted",              # call_response
    "signal_type": "signal_type",        # "offer" | "answer" | "candidate"
    "signal_data": "data",
    "auth_token": "token",               # the connect's auth object (or query parameter)
    # what the server sends
    "room_name": "room_name",
    "caller_id": "caller_id",
    "caller_name": "caller_name",
    "responder_id": "responder_id",
    "by": "by",                          # call_cancelled, call_ended
    "from_user_id": "from_user_id",      # a relayed webrtc_signal
    "status": "status",                  # an invitation's acknowledgement; user_status
    "user_id": "user_id",                # user_status
    "error": "error",                    # a refused event's acknowledgement
    "ok": "ok",                          # an action's acknowledgement
    # message rows (pushed and in history)
    "row_id": "id",
    "sender_id": "sender_id",
    "receiver_id": "receiver_id",
    "message_type": "message_type",      # "text" | "system" ...
    "invitation": "extra_data.call_invitation",
    # REST bodies
    "access_token": "access_token",      # login reply
    "login_user_id": "user.id",          # login reply
    "history_messages": "messages",      # history reply
    "history_peer": "user_id",           # history query parameter naming the peer
    "detail": "detail",                  # a refusal's words
}

ID_TYPES = ("int", "string")
TRANSPORTS = ("websocket", "polling")
MEDIA_MODES = ("peer", "conference")
TOKEN_PLACES = ("auth", "query")

#: The password agents use when the scenario gives them none (the embedded server takes any).
DEFAULT_PASSWORD = "callprobe-probe"

KEYS = ("family", "paths", "events", "fields", "id_type", "path", "namespace", "transport", "media",
        "auto_register", "token_in", "history_limit")


@dataclass(frozen=True)
class SocketioOptions(BackendOptions):
    """One deployment's names and choices; every default is the reference server's.

    Attributes:
        paths: REST endpoint by role (``PATHS``).
        events: Socket.IO event name by role (``EVENTS``).
        fields: dotted field path by role (``FIELDS``).
        id_type: the JSON type user ids are sent as: ``int`` (``7``) or
            ``string`` (``"7"``), as real clients differ.
        path: the Socket.IO path on the server (``/socket.io``).
        namespace: the Socket.IO namespace (``/``).
        transport: ``websocket`` (only) or ``polling`` (long-polling only).
        media: ``peer`` (WebRTC between the agents over the signal event) or
            ``conference`` (no peer media: both parties must get the same room name).
        auto_register: create each agent's account before logging in (an
            existing account is fine); the embedded server always gets them.
        token_in: where the connect carries the token: ``auth`` or ``query``.
        history_limit: rows per history page.
    """

    family: str = "socketio"
    paths: Mapping[str, str] = field(default_factory=lambda: dict(PATHS), hash=False)
    events: Mapping[str, str] = field(default_factory=lambda: dict(EVENTS), hash=False)
    fields: Mapping[str, str] = field(default_factory=lambda: dict(FIELDS), hash=False)
    id_type: str = "int"
    path: str = "/socket.io"
    namespace: str = "/"
    transport: str = "websocket"
    media: str = "peer"
    auto_register: bool = False
    token_in: str = "auth"
    history_limit: int = 50


def parse_options(sink: OptionsSink, path: FieldPath, given: Mapping[str, Any]) -> SocketioOptions:
    """``server.backend`` for ``family: socketio``; problems go to ``sink`` with their field."""
    check_keys(sink, path, given, KEYS)
    paths = names_override(sink, path + ("paths",), given.get("paths"), PATHS, "REST path")
    for key, value in paths.items():
        if key in (given.get("paths") or {}) and not value.startswith("/"):
            sink.error(path + ("paths", key), f"expected a path starting with '/', like {PATHS[key]}, got {value!r}")
    events = names_override(sink, path + ("events",), given.get("events"), EVENTS, "event")
    fields = names_override(sink, path + ("fields",), given.get("fields"), FIELDS, "field")
    for key, value in fields.items():
        if key in (given.get("fields") or {}) and any(not part for part in value.split(".")):
            sink.error(path + ("fields", key), f"expected a field name or a dotted path like a.b, got {value!r}")
    out = SocketioOptions(
        paths=paths, events=events, fields=fields,
        id_type=_choice(sink, path, given, "id_type", ID_TYPES, "int"),
        path=_slash(sink, path, given, "path", "/socket.io"),
        namespace=_slash(sink, path, given, "namespace", "/"),
        transport=_choice(sink, path, given, "transport", TRANSPORTS, "websocket"),
        media=_choice(sink, path, given, "media", MEDIA_MODES, "peer"),
        auto_register=_flag(sink, path, given, "auto_register", False),
        token_in=_choice(sink, path, given, "token_in", TOKEN_PLACES, "auth"),
        history_limit=_count(sink, path, given, "history_limit", 50, 1, 1000),
    )
    return out


def _choice(sink: OptionsSink, path: FieldPath, given: Mapping[str, Any], key: str, allowed: tuple[str, ...],
            default: str) -> str:
    if key not in given:
        return default
    value = given[key]
    if isinstance(value, str) and value in allowed:
        return value
    sink.error(path + (key,), f"expected {' or '.join(allowed)}, got {value!r}")
    return default


def _slash(sink: OptionsSink, path: FieldPath, given: Mapping[str, Any], key: str, default: str) -> str:
    if key not in given:
        return default
    text = sink.text(path + (key,), given[key]).strip()
    if not text.startswith("/") or any(c.isspace() for c in text):
        sink.error(path + (key,), f"expected a path starting with '/' and without spaces, like {default}, "
                                  f"got {given[key]!r}")
        return default
    return text


def _flag(sink: OptionsSink, path: FieldPath, given: Mapping[str, Any], key: str, default: bool) -> bool:
    if key not in given:
        return default
    value = given[key]
    if isinstance(value, bool):
        return value
    sink.error(path + (key,), f"expected true or false, got {value!r}")
    return default


def _count(sink: OptionsSink, path: FieldPath, given: Mapping[str, Any], key: str, default: int, low: int,
           high: int) -> int:
    if key not in given:
        return default
    value = given[key]
    if isinstance(value, int) and not isinstance(value, bool) and low <= value <= high:
        return value
    sink.error(path + (key,), f"expected a whole number from {low} to {high}, got {value!r}")
    return default
