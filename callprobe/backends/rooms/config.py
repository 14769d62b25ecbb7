"""The rooms family's ``server.backend`` block: the names a call-room deployment uses.

Deployments of such homegrown services differ in exactly these details
(``docs/backends/rooms.md#tolerant-clients``): the REST paths, the room
message types, the JSON field names, where a room join carries its identity
and how often a client polls. Every key is optional; the defaults are the
reference server's (``docs/backends/rooms.md``). ``parse_options`` is pure:
each problem goes to ``sink.error`` with its field path, so ``callprobe
validate`` reports it as ``FILE:LINE: server.backend.KEY: ...``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from callprobe.backends.options import BackendOptions, FieldPath, OptionsSink, check_keys, names_override

#: REST paths and the room URL; ``{uuid}`` stands for the call's uuid.
DEFAULT_PATHS: dict[str, str] = {
    "register": "/api/v1/auth/register",
    "login": "/api/v1/auth/login",
    "call_by_username": "/api/v1/calls/by-username",
    "incoming": "/api/v1/calls/incoming",
    "call": "/api/v1/calls/{uuid}",
    "accept": "/api/v1/calls/{uuid}/accept",
    "reject": "/api/v1/calls/{uuid}/reject",
    "cancel": "/api/v1/calls/{uuid}/cancel",
    "room": "/ws/call/{uuid}",
}

#: Paths that name one call.
CALL_PATHS = ("call", "accept", "reject", "cancel", "room")

#: Room message types, by what they mean (``docs/backends/rooms.md#messages``).
DEFAULT_MESSAGES: dict[str, str] = {
    "connection": "connection",
    "join": "join",
    "leave": "leave",
    "offer": "offer",
    "answer": "answer",
    "candidate": "ice-candidate",
    "end": "end",
    "accepted": "accepted",
    "rejected": "rejected",
    "cancelled": "cancelled",
    "error": "error",
}

#: JSON field names (REST bodies and room messages) and the names of the identity parameters.
DEFAULT_FIELDS: dict[str, str] = {
    # room message envelope
    "type": "type",
    "call_id": "call_id",
    "user_id": "user_id",
    "timestamp": "timestamp",
    "data": "data",
    "users": "users",           # connection: the ids in the room
    "user": "user",             # join/leave: who; login/register reply: the user
    # users and calls
    "id": "id",
    "uuid": "uuid",
    "username": "username",
    "password": "password",
    "token": "token",           # login reply
    "call": "call",
    "calls": "calls",           # incoming reply
    "callee_username": "callee_username",
    "call_type": "call_type",
    "caller_id": "caller_id",
    "callee_id": "callee_id",
    "status": "status",
    "error": "error",           # a refusal's text
    # where a room join carries the identity
    "token_param": "token",         # query parameter
    "user_id_param": "user_id",     # query parameter
    "user_id_header": "X-User-ID",  # header
}

#: Call statuses, by what they mean (``docs/backends/rooms.md#call-states``).
DEFAULT_STATUSES: dict[str, str] = {
    "initiated": "initiated",
    "accepted": "accepted",
    "rejected": "rejected",
    "cancelled": "cancelled",
    "missed": "missed",
    "ended": "ended",
}

#: Where a room join may carry the identity: the token (query or header) and the user id (query or header).
IDENTITY_PLACES = ("token_query", "authorization_header", "user_id_query", "user_id_header")
DEFAULT_IDENTITY = ("token_query", "user_id_query")

DEFAULT_POLL_INTERVAL_S = 0.5
MAX_POLL_INTERVAL_S = 60.0

_KEYS = ("family", "paths", "messages", "fields", "statuses", "identity", "poll_interval", "register")


@dataclass(frozen=True)
class RoomsOptions(BackendOptions):
    """A call-room deployment's names and the client's choices.

    Attributes:
        paths, messages, fields, statuses: what this deployment calls each
            default name (the keys of ``DEFAULT_PATHS`` ...).
        identity: where a room join carries the identity (``IDENTITY_PLACES``);
            empty: no identity at all, as the field client that crashed the
            handshake (``docs/field-failures.md#handshake-crash``).
        poll_interval_s: how often the incoming list and a placed call's
            status are polled (the ring is poll-bound).
        register: create the accounts through the register endpoint when
            login refuses them.
    """

    family: str = "rooms"
    paths: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_PATHS))
    messages: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_MESSAGES))
    fields: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_FIELDS))
    statuses: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_STATUSES))
    identity: tuple[str, ...] = DEFAULT_IDENTITY
    poll_interval_s: float = DEFAULT_POLL_INTERVAL_S
    register: bool = False

    def path(self, name: str, uuid: str = "") -> str:
        return self.paths[name].replace("{uuid}", uuid)

    def message(self, name: str) -> str:
        return self.messages[name]

    def key(self, name: str) -> str:
        """The JSON field (or identity parameter) this deployment calls ``name``."""
        return self.fields[name]

    def status(self, name: str) -> str:
        return self.statuses[name]


def parse_options(sink: OptionsSink, path: FieldPath, given: Mapping[str, Any]) -> RoomsOptions:
    """Check a ``server.backend`` block of family ``rooms``; problems go to ``sink``."""
    check_keys(sink, path, given, _KEYS)
    paths = names_override(sink, path + ("paths",), given.get("paths"), DEFAULT_PATHS, "path")
    for name, value in paths.items():
        if not value.startswith("/"):
            sink.error(path + ("paths", name), f"expected a path starting with '/', got {value!r}")
        elif name in CALL_PATHS and "{uuid}" not in value:
            sink.error(path + ("paths", name), f"expected a path naming the call as {{uuid}}, got {value!r}")
    messages = names_override(sink, path + ("messages",), given.get("messages"), DEFAULT_MESSAGES,
                              "message type")
    _distinct(sink, path + ("messages",), messages, given.get("messages"))
    fields = names_override(sink, path + ("fields",), given.get("fields"), DEFAULT_FIELDS, "field")
    statuses = names_override(sink, path + ("statuses",), given.get("statuses"), DEFAULT_STATUSES, "status")
    _distinct(sink, path + ("statuses",), statuses, given.get("statuses"))
    return RoomsOptions(paths=paths, messages=messages, fields=fields, statuses=statuses,
                        identity=_identity(sink, path + ("identity",), given.get("identity", DEFAULT_IDENTITY)),
                        poll_interval_s=_interval(sink, path + ("poll_interval",), given.get("poll_interval")),
                        register=_flag(sink, path + ("register",), given.get("register", False)))


def _distinct(sink: OptionsSink, path: FieldPath, names: Mapping[str, str], given: Any) -> None:
    """Two meanings under one name could not be told apart when they arrive."""
    seen: dict[str, str] = {}
    for key, value in names.items():
        if value in seen:
            where = key if isinstance(given, Mapping) and key in given else seen[value]
            sink.error(path + (where,), f"{key!r} and {seen[value]!r} would both be {value!r}; "
                                        "each needs its own name")
        seen.setdefault(value, key)


def _identity(sink: OptionsSink, path: FieldPath, given: Any) -> tuple[str, ...]:
    items = [given] if isinstance(given, str) else given
    if not isinstance(items, (list, tuple)):
        sink.error(path, f"expected a list of places: {', '.join(IDENTITY_PLACES)} (an empty list: no identity)")
        return DEFAULT_IDENTITY
    out: list[str] = []
    for index, item in enumerate(items):
        where = path + (index,) if not isinstance(given, str) else path
        if item not in IDENTITY_PLACES:
            sink.error(where, f"unknown place {item!r}; expected one of: {', '.join(IDENTITY_PLACES)}")
        elif item in out:
            sink.error(where, f"{item!r} is listed twice")
        else:
            out.append(item)
    return tuple(out)


def _interval(sink: OptionsSink, path: FieldPath, given: Any) -> float:
    if given is None:
        return DEFAULT_POLL_INTERVAL_S
    from callprobe.scenario.values import parse_duration

    try:
        return parse_duration(given, MAX_POLL_INTERVAL_S)
    except ValueError as exc:
        sink.error(path, str(exc))
        return DEFAULT_POLL_INTERVAL_S


def _flag(sink: OptionsSink, path: FieldPath, given: Any) -> bool:
    if not isinstance(given, bool):
        sink.error(path, f"expected true or false, got {given!r}")
        return False
    return given


__all__ = ["DEFAULT_FIELDS", "DEFAULT_IDENTITY", "DEFAULT_MESSAGES", "DEFAULT_PATHS", "DEFAULT_STATUSES",
           "IDENTITY_PLACES", "RoomsOptions", "parse_options"]
