"""Who is online: ``connected_users`` (user id -> the sids of its sockets, one per device).

Keys are ``int`` user ids. ``online`` looks a key up exactly as given, which is
what the ``target-id-type`` fault relies on: ``"7" in connected_users`` is false
while user 7 is online (``docs/backends/socketio.md#presence``).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Identity:
    """The user behind a socket."""

    user_id: int
    username: str

    @property
    def room(self) -> str:
        return user_room(self.user_id)


def user_room(user_id: object) -> str:
    """The Socket.IO room of a user's sockets: ``user_<id>``."""
    return f"user_{user_id}"


class Presence:
    """The sockets of each user; the server's only record of who is online."""

    def __init__(self) -> None:
        self.connected_users: dict[int, set[str]] = {}
        self._identity: dict[str, Identity] = {}

    def add(self, sid: str, identity: Identity) -> None:
        self._identity[sid] = identity
        self.connected_users.setdefault(identity.user_id, set()).add(sid)

    def remove(self, sid: str) -> tuple[Identity | None, bool]:
        """Forget ``sid``; returns its identity and whether it was the user's last socket."""
        identity = self._identity.pop(sid, None)
        if identity is None:
            return None, False
        sids = self.connected_users.get(identity.user_id, set())
        sids.discard(sid)
        if sids:
            return identity, False
        self.connected_users.pop(identity.user_id, None)
        return identity, True

    def identity(self, sid: str) -> Identity | None:
        return self._identity.get(sid)

    def online(self, key: object) -> bool:
        """Whether ``key`` is a key of ``connected_users``, compared as given (no conversion)."""
        try:
            return key in self.connected_users
        except TypeError:          # an unhashable raw id finds nobody, like a string does
            return False

    def __len__(self) -> int:
        return len(self._identity)
