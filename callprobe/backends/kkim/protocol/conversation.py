"""Conversation IDs (docs/backends/kkim.md#conversation-ids).

Single chats are ``si_`` plus the two user IDs sorted byte-wise and joined by
``_``; notification variants swap the prefix for ``n``.
"""

from __future__ import annotations

from callprobe.backends.kkim.protocol.constants import SessionType


def single_chat_id(user_a: str, user_b: str) -> str:
    """``si_<lo>_<hi>`` with the pair sorted by their UTF-8 bytes."""
    lo, hi = sorted((user_a, user_b), key=lambda uid: uid.encode())
    return f"si_{lo}_{hi}"


def conversation_id(session_type: int, send_id: str, recv_id: str, group_id: str = "") -> str:
    """Conversation of a message as the server files it."""
    if session_type == SessionType.SINGLE_CHAT:
        return single_chat_id(send_id, recv_id)
    if session_type == SessionType.READ_GROUP_CHAT:
        return f"sg_{group_id}"
    if session_type == SessionType.WRITE_GROUP_CHAT:
        return f"g_{group_id}"
    if session_type == SessionType.NOTIFICATION_CHAT:
        lo, hi = sorted((send_id, recv_id), key=lambda uid: uid.encode())
        return f"sn_{lo}_{hi}"
    raise ValueError(f"unknown sessionType {session_type}")


def notification_id(conversation: str) -> str:
    """Notification twin of a conversation: its prefix replaced by ``n``."""
    _prefix, sep, rest = conversation.partition("_")
    if not sep:
        raise ValueError(f"not a conversation ID: {conversation!r}")
    return f"n_{rest}"


def is_notification(conversation: str) -> bool:
    """``n_`` conversations are pushed in ``notificationMsgs``, the rest in ``msgs``."""
    return conversation.startswith("n_")
