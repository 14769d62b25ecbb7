"""Conversation IDs as the server files messages (docs/backends/kkim.md#conversation-ids)."""

from __future__ import annotations

import pytest

from callprobe.backends.kkim.protocol import conversation as conv
from callprobe.backends.kkim.protocol.constants import SessionType


def test_single_chat_sorted_pair() -> None:
    assert conv.single_chat_id("bob", "alice") == "si_alice_bob"
    assert conv.single_chat_id("alice", "bob") == "si_alice_bob"
    assert conv.single_chat_id("u1", "u1") == "si_u1_u1"


def test_byte_order_not_case_folded_or_numeric() -> None:
    assert conv.single_chat_id("b", "B") == "si_B_b"        # 'B' (0x42) < 'b' (0x62)
    assert conv.single_chat_id("10", "9") == "si_10_9"      # strings, not numbers
    assert conv.single_chat_id("\u00e9", "z") == "si_z_\u00e9"


@pytest.mark.parametrize(("session", "expected"), [
    (SessionType.SINGLE_CHAT, "si_a_b"),
    (SessionType.WRITE_GROUP_CHAT, "g_grp"),
    (SessionType.READ_GROUP_CHAT, "sg_grp"),
    (SessionType.NOTIFICATION_CHAT, "sn_a_b"),
])
def test_conversation_id_by_session_type(session: int, expected: str) -> None:
    assert conv.conversation_id(session, "b", "a", group_id="grp") == expected


def test_unknown_session_type_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="unknown sessionType 9"):
        conv.conversation_id(9, "a", "b")


@pytest.mark.parametrize(("cid", "expected"), [
    ("si_a_b", "n_a_b"), ("sg_grp", "n_grp"), ("sn_a_b", "n_a_b"), ("n_a_a", "n_a_a"),
])
def test_notification_twin(cid: str, expected: str) -> None:
    assert conv.notification_id(cid) == expected
    assert conv.is_notification(expected)


def test_notification_id_of_garbage() -> None:
    with pytest.raises(ValueError, match="not a conversation ID"):
        conv.notification_id("nounderscore")


def test_only_n_prefix_goes_to_notification_msgs() -> None:
    assert not conv.is_notification("sn_a_b")
    assert not conv.is_notification("si_n_b")
