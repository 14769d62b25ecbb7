"""State shared by every connection of one gateway, and the delivery path.

``GatewayCore`` owns the store, the token authority, the hub and the call
book, and is the single place where a push leaves for its connections, so
the push faults (``drop-all-pushes``, ``push-delay``) apply to every push
alike (2001 messages, unsolicited 1004 call notices, 2005 tips). It also
files messages in conversations and says which a user may read, where the
``conversation-by-id`` fault makes it behave as a server that parses
conversation IDs.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import random
import time
from collections.abc import Callable, Iterable

from callprobe.backends.kkim.protocol._pb.openim import sdkws_pb2
from callprobe.backends.kkim.protocol.constants import (
    MsgStatus,
    Platform,
    ReqIdentifier,
)
from callprobe.backends.kkim.protocol.conversation import single_chat_id
from callprobe.backends.kkim.protocol.envelope import Response, encode_response
from callprobe.backends.kkim.server.auth import Authority
from callprobe.backends.kkim.server.faults import Faults
from callprobe.backends.kkim.server.hub import Hub, Peer
from callprobe.backends.kkim.server.logsafe import quoted
from callprobe.backends.kkim.server.store import Conversation, Store
from callprobe.settings import GatewaySettings

log = logging.getLogger("callprobe.server.kkim")

#: actions a handler asks to run after its reply is queued (pushes, closes, kicks)
FollowUps = list[Callable[[], None]]


def now_ms() -> int:
    return int(time.time() * 1000)


def server_msg_id(send_id: str) -> str:
    """md5 hex of time, sender and a random number, as upstream (docs/backends/kkim.md#messages)."""
    seed = f"{time.time_ns()}-{send_id}-{random.getrandbits(64)}"
    return hashlib.md5(seed.encode()).hexdigest()


class GatewayCore:
    """Everything one gateway instance knows."""

    def __init__(self, settings: GatewaySettings, store: Store) -> None:
        self.settings = settings
        self.store = store
        self.faults = Faults.from_pairs(settings.faults)
        self.authority = Authority(settings.secret, settings.token_expire_s, store, settings.admin_users)
        self.hub = Hub()
        #: called with a user ID when that user's last connection has closed
        self.offline_hooks: list[Callable[[str], None]] = []
        self._conn_seq = 0
        self.stats = {"pushes": 0, "requests": 0, "bad_frames": 0}

    def next_conn_id(self, user_id: str, platform_id: int) -> str:
        """``'user'/platform#n``: unique, and safe to log (the user ID is quoted)."""
        self._conn_seq += 1
        return f"{quoted(user_id)}/{platform_id}#{self._conn_seq}"

    # connections

    def connect(self, peer: Peer) -> None:
        """Register a connection, kicking what it replaces (policy 1, docs/backends/kkim.md#multi-login)."""
        replaced = self.hub.register(peer)
        for old in replaced:
            log.info("kick %s: new login of %s on platform %d", old.conn_id, quoted(peer.user_id), peer.platform_id)
            old.kick()
        if not self.authority.is_admin(peer.user_id):
            self.store.kick_tokens(peer.user_id, peer.platform_id, keep=peer.token)
        self.online_changed(peer.user_id)

    def disconnect(self, peer: Peer) -> None:
        """Unregister a closing connection; the first call per connection counts."""
        if self.hub.unregister(peer):
            self.online_changed(peer.user_id)
            if not self.hub.peers(peer.user_id):
                for hook in self.offline_hooks:
                    hook(peer.user_id)

    def online_changed(self, user_id: str) -> None:
        """Push 2005 tips to the user's subscribers (docs/backends/kkim.md#request-identifiers)."""
        watchers = self.hub.subscribers(user_id)
        if not watchers:
            return
        tips = sdkws_pb2.SubUserOnlineStatusTips()
        tips.subscribers.add(userID=user_id, onlinePlatformIDs=self.hub.platforms(user_id))
        resp = Response(ReqIdentifier.SUB_USER_ONLINE_STATUS, data=tips.SerializeToString())
        self._send_now(watchers, encode_response(resp))

    # delivery

    def deliver(self, user_ids: Iterable[str], resp: Response, exclude_conn: str | None = None) -> int:
        """Push ``resp`` to every online connection of the users; returns how many."""
        if self.faults.drop_all_pushes:
            return 0
        peers: list[Peer] = []
        for uid in dict.fromkeys(user_ids):
            for peer in self.hub.peers(uid):
                if peer.conn_id == exclude_conn:
                    continue
                if peer.background and peer.platform_id == Platform.IOS:
                    continue  # upstream skips iOS connections in background (docs/backends/kkim.md#messages)
                peers.append(peer)
        if not peers:
            return 0
        envelope = encode_response(resp)
        delay = self.faults.push_delay_ms
        if delay:
            asyncio.get_running_loop().call_later(delay / 1000, self._send_now, peers, envelope)
        else:
            self._send_now(peers, envelope)
        return len(peers)

    def _send_now(self, peers: list[Peer], envelope: bytes) -> None:
        for peer in peers:
            peer.send_envelope(envelope)
        self.stats["pushes"] += len(peers)

    def store_message(self, msg: sdkws_pb2.MsgData) -> str:
        """Store a message in the single chat of its sender and recipient; set seq; return the chat's ID.

        Fault ``conversation-by-id``: the chat is the wire ID itself, shared by
        every pair of users that makes it.
        """
        if msg.status == MsgStatus.SENDING:
            msg.status = MsgStatus.SEND_SUCCESS
        if self.faults.conversation_by_id:
            wire = single_chat_id(msg.sendID, msg.recvID)
            self.store.append_message(wire, msg)
            return wire
        key = self.store.single_chat(msg.sendID, msg.recvID)
        self.store.append_message(key, msg)
        return self.store.wire_id(key)

    def conversations_of(self, user_id: str) -> dict[str, Conversation]:
        """The conversations ``user_id`` may read, by wire ID: the stored pairs it belongs to.

        Fault ``conversation-by-id``: every single chat whose ID reads as one
        of the user's (``Store.conversations_named``).
        """
        if self.faults.conversation_by_id:
            return self.store.conversations_named(user_id)
        return self.store.conversations_of(user_id)

    @staticmethod
    def push_payload(conversation_id: str, msg: sdkws_pb2.MsgData) -> bytes:
        """A PushMessages with one message in ``msgs`` (never an ``n_`` conversation here)."""
        push = sdkws_pb2.PushMessages()
        push.msgs[conversation_id].Msgs.append(msg)
        return push.SerializeToString()

    def push_message(self, conversation_id: str, msg: sdkws_pb2.MsgData, to: Iterable[str],
                     operation_id: str) -> int:
        """2001 push of one stored message to the users' connections."""
        resp = Response(ReqIdentifier.PUSH_MSG, msg_incr="", operation_id=operation_id,
                        data=self.push_payload(conversation_id, msg))
        return self.deliver(to, resp)
