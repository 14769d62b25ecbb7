"""1601 contents and unsolicited 1004 replies in every dialect (docs/backends/kkim.md#invite-notice, docs/backends/kkim.md#peer-actions)."""

from __future__ import annotations

import pytest

from callprobe.backends.kkim.protocol import call_notice as cn
from callprobe.backends.kkim.protocol._pb.openim import rtc_pb2


def _invitation(**overrides: object) -> rtc_pb2.InvitationInfo:
    fields: dict[str, object] = {
        "inviterUserID": "alice", "inviteeUserIDList": ["bob", "carol"], "roomID": "room-42",
        "timeout": 60, "mediaType": "video", "platformID": 5, "sessionType": 1,
        "initiateTime": 1766630084691, "busyLineUserIDList": ["carol"],
    }
    fields.update(overrides)
    return rtc_pb2.InvitationInfo(**fields)  # type: ignore[arg-type]


def _wrapper(action: str, inv: rtc_pb2.InvitationInfo | None = None, user: str = "bob",
             platform: int = 0) -> bytes:
    req = rtc_pb2.SignalReq()
    inner = getattr(req, action)
    inner.invitation.CopyFrom(inv or _invitation())
    inner.userID = user
    if platform:
        inner.opUserPlatformID = platform
    return req.SerializeToString()


# ---------------------------------------------------------------- bare form


def test_bare_signal_invite_req() -> None:
    content = rtc_pb2.SignalInviteReq(invitation=_invitation(), userID="alice").SerializeToString()
    notice = cn.decode_1601(content)
    assert notice == cn.CallNotice(
        action="invite", room_id="room-42", dialect=cn.DIALECT_BARE_INVITE, inviter="alice",
        invitees=("bob", "carol"), media_type="video", timeout_s=60, op_user_id="alice",
        platform_id=0, busy=("carol",),
    )


def test_bare_and_wrapper_both_start_with_tag_0x0a() -> None:
    bare = rtc_pb2.SignalInviteReq(invitation=_invitation()).SerializeToString()
    assert bare[0] == 0x0A and _wrapper("invite")[0] == 0x0A


# ------------------------------------------------------------- wrapper form


@pytest.mark.parametrize("action", ["invite", "inviteInGroup", "cancel", "hungUp"])
def test_signal_req_wrapper_for_each_action(action: str) -> None:
    notice = cn.decode_1601(_wrapper(action, user="bob"))
    assert notice is not None
    assert (notice.action, notice.dialect, notice.op_user_id, notice.room_id, notice.inviter) == (
        action, cn.DIALECT_SIGNAL_REQ, "bob", "room-42", "alice")
    assert notice.invitees == ("bob", "carol") and notice.platform_id == 0


@pytest.mark.parametrize("action", ["accept", "reject"])
def test_accept_and_reject_carry_the_op_user_platform(action: str) -> None:
    notice = cn.decode_1601(_wrapper(action, user="bob", platform=2))
    assert notice is not None
    assert (notice.action, notice.op_user_id, notice.platform_id) == (action, "bob", 2)


def test_get_token_by_room_id_is_not_a_call_notice() -> None:
    req = rtc_pb2.SignalReq()
    req.getTokenByRoomID.roomID = "room-42"
    req.getTokenByRoomID.userID = "bob"
    assert cn.decode_1601(req.SerializeToString()) is None


def test_from_signal_req_names_the_dialect_given() -> None:
    req = rtc_pb2.SignalReq.FromString(_wrapper("cancel"))
    notice = cn.from_signal_req(req, dialect="history")
    assert notice is not None and notice.dialect == "history" and notice.action == "cancel"
    assert cn.from_signal_req(rtc_pb2.SignalReq()) is None


# ----------------------------------------------------------------- garbage


@pytest.mark.parametrize("content", [
    b"", b"\x00", b"\xff" * 8, b"\x0a\x05abc", b"hello world", b'{"type":"webrtc_signal"}',
    rtc_pb2.SignalInviteReq(userID="alice").SerializeToString(),  # no invitation at all
])
def test_garbage_is_none(content: bytes) -> None:
    assert cn.decode_1601(content) is None


@pytest.mark.parametrize("overrides", [
    {"inviterUserID": ""},
    {"inviterUserID": "ali\x00ce"},
    {"inviterUserID": "a" * 257},
    {"inviteeUserIDList": ["bob", "\n"]},
    {"inviteeUserIDList": [""]},
    {"roomID": "room\x07"},
    {"timeout": 24 * 3600 + 1},
    {"timeout": 2**31 - 1},
    {"timeout": -1},
    {"mediaType": "hologram"},
], ids=lambda o: next(iter(o)) + "=" + repr(next(iter(o.values())))[:12])
def test_insane_invitations_are_refused_in_both_dialects(overrides: dict[str, object]) -> None:
    inv = _invitation(**overrides)
    assert not cn.sane_invitation(inv)
    assert cn.decode_1601(rtc_pb2.SignalInviteReq(invitation=inv).SerializeToString()) is None
    assert cn.decode_1601(_wrapper("invite", inv)) is None


@pytest.mark.parametrize("overrides", [
    {"timeout": 0}, {"timeout": 24 * 3600}, {"mediaType": ""}, {"mediaType": "audio"},
    {"roomID": ""}, {"inviteeUserIDList": []}, {"inviterUserID": "用户-1"},
    {"inviterUserID": "a" * 256},
])
def test_edge_of_sane_is_accepted(overrides: dict[str, object]) -> None:
    assert cn.sane_invitation(_invitation(**overrides))


def test_a_wrapper_is_never_misread_as_a_bare_invite() -> None:
    # Read as a bare SignalInviteReq, a wrapper's SignalInviteReq lands in
    # InvitationInfo: its inviterUserID is the raw invitation bytes.
    misread = rtc_pb2.SignalInviteReq.FromString(_wrapper("invite"))
    assert misread.HasField("invitation")
    assert not cn.sane_invitation(misread.invitation)
    notice = cn.decode_1601(_wrapper("invite"))
    assert notice is not None and notice.dialect == cn.DIALECT_SIGNAL_REQ


# -------------------------------------------------------------- SignalResp


def test_from_signal_resp_invite_carries_room_and_busy() -> None:
    resp = rtc_pb2.SignalResp()
    resp.invite.roomID = "srv-room"
    resp.invite.busyLineUserIDList.append("carol")
    notice = cn.from_signal_resp(resp)
    assert notice == cn.CallNotice(action="invite", room_id="srv-room",
                                   dialect=cn.DIALECT_SIGNAL_RESP, busy=("carol",))


@pytest.mark.parametrize(("action", "room"), [
    ("inviteInGroup", "g-room"), ("accept", "srv-room"),
    ("cancel", ""), ("hungUp", ""), ("reject", ""), ("getTokenByRoomID", ""),
])
def test_from_signal_resp_each_oneof(action: str, room: str) -> None:
    resp = rtc_pb2.SignalResp()
    inner = getattr(resp, action)
    inner.SetInParent()
    if room:
        inner.roomID = room
    wire = rtc_pb2.SignalResp.FromString(resp.SerializeToString())
    notice = cn.from_signal_resp(wire)
    assert notice is not None
    assert (notice.action, notice.room_id, notice.dialect) == (action, room, cn.DIALECT_SIGNAL_RESP)


def test_from_signal_resp_without_payload_is_none() -> None:
    assert cn.from_signal_resp(rtc_pb2.SignalResp()) is None


def test_actions_are_the_oneof_names_in_wire_order() -> None:
    fields = rtc_pb2.SignalReq.DESCRIPTOR.oneofs_by_name["payload"].fields
    assert tuple(f.name for f in fields) == cn.ACTIONS
