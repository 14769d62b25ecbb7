"""Client-side call bookkeeping for the KKIM driver, pure and clock-free.

A client must resend the *whole* invitation with every accept, reject, cancel
and hangup (docs/backends/kkim.md#call-signaling), under the server's roomID
(docs/backends/kkim.md#room-ids). It learns
invitations from two places: its own invite (then the server's reply renames
the room) and a ringing 1601 push. Peer actions may reach it twice, once as an
unsolicited 1004 SignalResp and once as a 1601 SignalReq record
(docs/backends/kkim.md#peer-actions); the first arrival is the notice, the second only a note.

Rules:

* ``ACTION_NOTICE`` maps a SignalReq/SignalResp oneof name to the neutral
  notice kind (``callprobe.backends.base.NOTICE_KINDS``).
* A cancel or reject is a *timeout* when the server did it: it says so (the
  operationID ``call-timeout`` of an unsolicited 1004, ``ex`` ``{"reason":
  "timeout"}`` on a 1601 record), no operating user is named, or it arrived
  once the invitation's ``timeout`` had run out.
* An unsolicited SignalResp for reject, cancel or hungUp carries no roomID;
  it is attributed to the newest call still open, and flagged as inferred.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from callprobe.backends.kkim.protocol._pb.openim import rtc_pb2
from callprobe.backends.kkim.protocol.call_notice import DIALECT_BARE_INVITE

#: SignalReq/SignalResp oneof name -> neutral notice kind.
ACTION_NOTICE = {
    "accept": "answered",
    "reject": "rejected",
    "cancel": "cancelled",
    "hungUp": "hung_up",
}

#: A cancel/reject this close to the ring deadline counts as the server's timeout.
TIMEOUT_SLACK_MS = 250.0

PATH_1004 = "unsolicited_1004"
PATH_1601 = "push_1601"


@dataclass
class CallRecord:
    """One call this agent knows about."""

    room_id: str
    invitation: rtc_pb2.InvitationInfo
    role: str                      # "inviter" | "invitee"
    opened_ms: float               # timeline ms when the invite was sent or rang
    temp_room_id: str = ""         # the client's own roomID before the server's reply
    ended: bool = False

    @property
    def invitee_count(self) -> int:
        return len(self.invitation.inviteeUserIDList)

    @property
    def parties(self) -> tuple[str, ...]:
        inv = self.invitation
        return (inv.inviterUserID, *inv.inviteeUserIDList)

    def peer_of(self, user_id: str) -> str:
        """The other party as this agent sees it (the inviter, or the first invitee)."""
        if self.invitation.inviterUserID != user_id:
            return self.invitation.inviterUserID
        others = [u for u in self.invitation.inviteeUserIDList if u != user_id]
        return others[0] if others else ""

    def ring_deadline_ms(self) -> float | None:
        timeout = self.invitation.timeout
        return self.opened_ms + timeout * 1000.0 if timeout > 0 else None


@dataclass
class Arrival:
    """How and when a peer action first reached this agent."""

    kind: str
    path: str
    t_ms: float
    matched: bool = False           # its copy by the other path has arrived too


@dataclass
class KnownCalls:
    """The calls this agent knows: invitations by room, and the first arrival of each peer action."""

    rooms: dict[str, CallRecord] = field(default_factory=dict)
    arrivals: dict[tuple[str, str], list[Arrival]] = field(default_factory=dict)

    def add(self, room_id: str, invitation: rtc_pb2.InvitationInfo, role: str, t_ms: float,
            temp_room_id: str = "") -> CallRecord:
        inv = rtc_pb2.InvitationInfo()
        inv.CopyFrom(invitation)
        inv.roomID = room_id
        record = CallRecord(room_id, inv, role, t_ms, temp_room_id)
        self.rooms[room_id] = record
        return record

    def get(self, room_id: str) -> CallRecord | None:
        return self.rooms.get(room_id)

    def open_calls(self) -> list[CallRecord]:
        return [r for r in self.rooms.values() if not r.ended]

    def resolve(self, room_id: str) -> tuple[str, bool]:
        """The room an action belongs to, and whether it had to be inferred."""
        if room_id:
            return room_id, False
        candidates = self.open_calls() or list(self.rooms.values())
        if not candidates:
            return "", True
        return max(candidates, key=lambda r: r.opened_ms).room_id, True

    def end(self, room_id: str) -> None:
        record = self.rooms.get(room_id)
        if record is not None:
            record.ended = True

    def first_arrival(self, room_id: str, action: str, path: str, t_ms: float, kind: str) -> Arrival | None:
        """Register an arrival; return the earlier one when this is the same notice by its other path.

        A server sends each notice once per path, so a second arrival by the
        *same* path is a different notice: in a call to several users, each
        invitee that declines is one more reject, even when neither path names
        who acted (``docs/backends/kkim.md#peer-actions``).
        """
        seen = self.arrivals.setdefault((room_id, action), [])
        if action in ("invite", "inviteInGroup") and seen:
            return seen[0]  # an invitation rings once, however often it is pushed
        other_path = next((a for a in seen if a.path != path and not a.matched), None)
        if other_path is not None:
            other_path.matched = True
            return other_path
        seen.append(Arrival(kind, path, t_ms))
        return None


#: operationID of an unsolicited notice the server sends on its own account -> reason
SERVER_OPERATION_REASON = {
    "call-timeout": "timeout",
    "answered-elsewhere": "answered-elsewhere",
    "call-ended": "ended",
}


def server_reason_1004(operation_id: str) -> str:
    """Why the server itself sent a 1004 notice, from its operationID ("" if a user acted)."""
    return SERVER_OPERATION_REASON.get(operation_id, "")


def server_reason_1601(ex: str) -> str:
    """Why the server wrote a 1601 record, from ``MsgData.ex`` ``{"reason": ...}``."""
    try:
        obj = json.loads(ex) if ex else None
    except ValueError:
        return ""
    reason = obj.get("reason") if isinstance(obj, dict) else None
    return reason if isinstance(reason, str) else ""


def notice_kind(action: str, *, op_user: str | None, record: CallRecord | None, t_ms: float,
                server_reason: str = "") -> str:
    """Neutral kind of a peer action; ``op_user`` None when the path does not say.

    Cancel and reject become ``call_timeout`` when the server says it timed
    the call out, when it acted with no operating user, or when the ring
    deadline of the invitation had passed and no party is named.
    """
    kind = ACTION_NOTICE.get(action, action)
    if action not in ("cancel", "reject"):
        return kind
    if server_reason == "timeout" or op_user == "":
        return "call_timeout"
    if record is not None:
        deadline = record.ring_deadline_ms()
        late = deadline is not None and t_ms >= deadline - TIMEOUT_SLACK_MS
        if late and (op_user is None or op_user not in record.parties):
            return "call_timeout"
    return kind


def invitation_from_1601(content: bytes, dialect: str) -> tuple[rtc_pb2.InvitationInfo, str]:
    """The InvitationInfo and operating user inside a 1601 content of a known dialect."""
    if dialect == DIALECT_BARE_INVITE:
        bare = rtc_pb2.SignalInviteReq()
        bare.ParseFromString(content)
        return bare.invitation, bare.userID
    wrapper = rtc_pb2.SignalReq()
    wrapper.ParseFromString(content)
    action = wrapper.WhichOneof("payload")
    inner = getattr(wrapper, action) if action else None
    if inner is None or not hasattr(inner, "invitation"):
        return rtc_pb2.InvitationInfo(), ""
    return inner.invitation, inner.userID
