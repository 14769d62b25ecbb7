"""Read call notifications in every dialect a server may send.

See docs/backends/kkim.md#invite-notice and docs/backends/kkim.md#peer-actions.

A 1601 message's content is a bare ``SignalInviteReq`` (what KKIM's sample web
client decodes) or a whole ``SignalReq`` wrapper (OpenIM v2 style). Both begin
with tag 0x0A, so decoding the wrong one gives garbage rather than an error:
the reader tries both and keeps the one whose invitation is sane. Peer actions
may also arrive as an unsolicited 1004 Resp carrying a ``SignalResp``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from google.protobuf.message import DecodeError

from callprobe.backends.kkim.protocol._pb.openim import rtc_pb2

DIALECT_BARE_INVITE = "bare-SignalInviteReq"
DIALECT_SIGNAL_REQ = "SignalReq-wrapper"
DIALECT_SIGNAL_RESP = "unsolicited-1004-SignalResp"

#: SignalReq/SignalResp oneof names, in wire order.
ACTIONS = ("invite", "inviteInGroup", "cancel", "accept", "hungUp", "reject", "getTokenByRoomID")

_MAX_TIMEOUT_S = 24 * 3600


@dataclass(frozen=True)
class CallNotice:
    """A call event as a client learns it from the server.

    ``action`` is a SignalReq oneof name; ``op_user_id`` who did it, when the
    dialect says; ``dialect`` which encoding carried it.
    """

    action: str
    room_id: str
    dialect: str
    inviter: str = ""
    invitees: tuple[str, ...] = ()
    media_type: str = ""
    timeout_s: int = 0
    op_user_id: str = ""
    platform_id: int = 0
    busy: tuple[str, ...] = field(default=())


def _printable_id(text: str) -> bool:
    return 0 < len(text) <= 256 and text.isprintable()


def sane_invitation(inv: rtc_pb2.InvitationInfo) -> bool:
    """Plausible invitation: printable inviter and invitees, sane timeout and media."""
    if not _printable_id(inv.inviterUserID):
        return False
    if not all(_printable_id(uid) for uid in inv.inviteeUserIDList):
        return False
    if inv.roomID and not inv.roomID.isprintable():
        return False
    if not 0 <= inv.timeout <= _MAX_TIMEOUT_S:
        return False
    return inv.mediaType in ("", "audio", "video")


def _notice(action: str, inv: rtc_pb2.InvitationInfo, dialect: str, op_user: str = "",
            platform: int = 0) -> CallNotice:
    return CallNotice(
        action=action, room_id=inv.roomID, dialect=dialect, inviter=inv.inviterUserID,
        invitees=tuple(inv.inviteeUserIDList), media_type=inv.mediaType,
        timeout_s=inv.timeout, op_user_id=op_user, platform_id=platform,
        busy=tuple(inv.busyLineUserIDList),
    )


def from_signal_req(req: rtc_pb2.SignalReq, dialect: str = DIALECT_SIGNAL_REQ) -> CallNotice | None:
    """Notice from a decoded SignalReq; ``None`` if no sane payload is set."""
    action = req.WhichOneof("payload")
    if action is None or action == "getTokenByRoomID":
        return None
    inner = getattr(req, action)
    inv = inner.invitation
    if not sane_invitation(inv):
        return None
    platform = getattr(inner, "opUserPlatformID", 0)
    return _notice(action, inv, dialect, op_user=inner.userID, platform=platform)


def decode_1601(content: bytes) -> CallNotice | None:
    """Decode a 1601 content in either dialect; ``None`` when neither is sane."""
    bare = rtc_pb2.SignalInviteReq()
    wrapper = rtc_pb2.SignalReq()
    bare_ok = wrapper_ok = True
    try:
        bare.ParseFromString(content)
    except DecodeError:
        bare_ok = False
    try:
        wrapper.ParseFromString(content)
    except DecodeError:
        wrapper_ok = False
    if bare_ok and bare.HasField("invitation") and sane_invitation(bare.invitation):
        return _notice("invite", bare.invitation, DIALECT_BARE_INVITE, op_user=bare.userID)
    if wrapper_ok:
        return from_signal_req(wrapper)
    return None


def from_signal_resp(resp: rtc_pb2.SignalResp) -> CallNotice | None:
    """Notice from an unsolicited 1004 SignalResp (a peer's action, docs/backends/kkim.md#peer-actions)."""
    action = resp.WhichOneof("payload")
    if action is None:
        return None
    inner = getattr(resp, action)
    room = getattr(inner, "roomID", "")
    busy = tuple(getattr(inner, "busyLineUserIDList", ()))
    return CallNotice(action=action, room_id=room, dialect=DIALECT_SIGNAL_RESP, busy=busy)
