"""Who is online: connections per user and platform, and the kick policy.

Multi-login policy 1 (docs/backends/kkim.md#multi-login): a new connection of a user on a platform replaces
every older connection of that user on the *same* platform; connections on
other platforms coexist. The hub only decides who is replaced; the session
sends the 2002 and closes, and the core marks the old tokens kicked.
"""

from __future__ import annotations

from typing import Protocol


class Peer(Protocol):
    """What the hub needs from a connection."""

    conn_id: str
    user_id: str
    platform_id: int
    token: str
    background: bool

    def send_envelope(self, envelope: bytes) -> None:
        """Queue one Resp (JSON bytes, uncompressed) for this connection."""

    def kick(self, identifier: int = 2002, reason: str = "") -> None:
        """Send ``identifier`` (2002 kick, 2003 forced logout) and close; it leaves the hub at once."""


class Hub:
    """Online connections and online-status subscriptions (2005)."""

    def __init__(self) -> None:
        self._by_user: dict[str, dict[str, Peer]] = {}
        self._subscribers: dict[str, dict[str, Peer]] = {}  # watched user -> conn_id -> peer
        self._watching: dict[str, set[str]] = {}  # conn_id -> watched users

    def register(self, peer: Peer) -> list[Peer]:
        """Add ``peer``; return the connections it replaces (same user and platform)."""
        mine = self._by_user.setdefault(peer.user_id, {})
        replaced = [p for p in mine.values() if p.platform_id == peer.platform_id]
        for old in replaced:
            del mine[old.conn_id]
        mine[peer.conn_id] = peer
        return replaced

    def unregister(self, peer: Peer) -> bool:
        """Remove ``peer`` (and its subscriptions); ``False`` if it was not online."""
        self.unsubscribe(peer, list(self._watching.get(peer.conn_id, ())))
        mine = self._by_user.get(peer.user_id)
        if not mine or mine.get(peer.conn_id) is not peer:
            return False
        del mine[peer.conn_id]
        if not mine:
            del self._by_user[peer.user_id]
        return True

    def peers(self, user_id: str) -> list[Peer]:
        return list(self._by_user.get(user_id, {}).values())

    def platforms(self, user_id: str) -> list[int]:
        return sorted({p.platform_id for p in self.peers(user_id)})

    def count(self) -> int:
        return sum(len(m) for m in self._by_user.values())

    def all_peers(self) -> list[Peer]:
        return [p for m in self._by_user.values() for p in m.values()]

    # 2005 online status

    def subscribe(self, peer: Peer, users: list[str]) -> None:
        mine = self._watching.setdefault(peer.conn_id, set())
        for uid in users:
            self._subscribers.setdefault(uid, {})[peer.conn_id] = peer
            mine.add(uid)

    def unsubscribe(self, peer: Peer, users: list[str]) -> None:
        mine = self._watching.get(peer.conn_id, set())
        for uid in users:
            mine.discard(uid)
            watchers = self._subscribers.get(uid)
            if watchers:
                watchers.pop(peer.conn_id, None)
                if not watchers:
                    del self._subscribers[uid]
        if not mine:
            self._watching.pop(peer.conn_id, None)

    def watching(self, peer: Peer) -> int:
        """How many users ``peer`` watches."""
        return len(self._watching.get(peer.conn_id, ()))

    def subscribers(self, user_id: str) -> list[Peer]:
        return list(self._subscribers.get(user_id, {}).values())
