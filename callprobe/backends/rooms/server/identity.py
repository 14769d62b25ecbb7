"""Who is joining a call room (``docs/backends/rooms.md#joining-a-room``).

A healthy server takes the identity from a token (``token`` query parameter,
else ``Authorization: Bearer``); a ``user_id`` query parameter or an
``X-User-ID`` header, when present, must name the same user. Three faults
reproduce how the field service got this wrong:

* ``handshake-crash``: a join without a token fails with HTTP 500 and an
  empty body (the handler read an identity that was not there).
* ``trust-user-id``: a ``user_id`` / ``X-User-ID`` is taken as the identity
  with no token check at all.
* ``default-identity``: a join with neither token nor user id becomes the
  user ``test-user-<call uuid>``; it is not checked against the call's
  parties, and every such join of one call is the same room entry.

Pure: the token check and the user lookup are passed in.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http import HTTPStatus

from callprobe.backends.rooms.server.errors import HandshakeCrash, Refusal
from callprobe.backends.rooms.server.faults import Faults
from callprobe.backends.rooms.server.messages import UserKey
from callprobe.backends.rooms.server.store import MAX_ID, User

#: where an identity came from, for logs and tests
VIA_TOKEN, VIA_USER_ID, VIA_DEFAULT = "token", "user_id", "default"


@dataclass(frozen=True)
class Identity:
    key: UserKey          # the user id, or ``test-user-<call uuid>`` for a default identity
    username: str
    via: str

    @property
    def checked(self) -> bool:
        """Whether the join must name a party of the call (a default identity is let in regardless)."""
        return self.via != VIA_DEFAULT


def bearer(headers: Mapping[str, str]) -> str:
    """The token of an ``Authorization: Bearer <token>`` header, or ``""``."""
    scheme, _, token = headers.get("Authorization", "").strip().partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def _claimed(query: Mapping[str, str], headers: Mapping[str, str]) -> list[tuple[str, str]]:
    """The ``(where, value)`` of each user id the request names besides its token."""
    found = [("user_id", query["user_id"])] if "user_id" in query else []
    if "X-User-ID" in headers:
        found.append(("X-User-ID", headers["X-User-ID"]))
    return found


def _user_id(text: str) -> int | None:
    text = text.strip()
    if not text.isascii() or not text.isdigit() or len(text) > 19:
        return None
    value = int(text)
    return value if 0 < value <= MAX_ID else None


def resolve(call_uuid: str, query: Mapping[str, str], headers: Mapping[str, str], faults: Faults,
            token_user: Callable[[str], User], lookup: Callable[[int], User | None]) -> Identity:
    """The identity a room join runs under.

    Args:
        call_uuid: the ``{call_uuid}`` of the path (names a default identity).
        query: the request's query parameters (first value of each).
        headers: the request's headers (case-insensitive mapping).
        faults: the active faults.
        token_user: the user a token names; raises ``Refusal`` (401) otherwise.
        lookup: a user by id, for ``trust-user-id``.

    Raises:
        Refusal: 401 without a usable token, 403 for a user id naming
            another user than the token, 400 for a non-numeric id trusted
            by ``trust-user-id``.
        HandshakeCrash: ``handshake-crash`` and no token.
    """
    claimed = _claimed(query, headers)
    if faults.trust_user_id and claimed:
        where, text = claimed[0]
        user_id = _user_id(text)
        if user_id is None:
            raise Refusal(HTTPStatus.BAD_REQUEST, f"{where} must be a user id (a positive integer)")
        user = lookup(user_id)
        return Identity(user_id, user.username if user else "", VIA_USER_ID)
    token = query.get("token", "").strip() or bearer(headers)
    if token:
        user = token_user(token)
        for where, text in claimed:
            if _user_id(text) != user.id:
                raise Refusal(HTTPStatus.FORBIDDEN, f"{where} does not name the token's user")
        return Identity(user.id, user.username, VIA_TOKEN)
    if faults.handshake_crash:
        raise HandshakeCrash("room join without a token")
    if faults.default_identity and not claimed:
        name = f"test-user-{call_uuid}"
        return Identity(name, name, VIA_DEFAULT)
    raise Refusal(HTTPStatus.UNAUTHORIZED, "authorization required: a token query parameter or "
                                           "an Authorization: Bearer header")
