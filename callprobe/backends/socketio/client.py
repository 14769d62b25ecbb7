"""The Socket.IO chat client, sans I/O: decoded events and acknowledgements in; emits, events, notices out.

``SocketioClient`` holds everything one connection's client side knows and
decides, and nothing that waits: which emits await an acknowledgement (and
which were abandoned), the calls this agent knows, the Engine.IO heartbeat
bookkeeping, and the translation of the server's events into the neutral
timeline kinds and ``DriverNotice``s the KKIM driver uses
(``docs/architecture.md#backends``). Time is passed in (``now_ms``), never
read. The thin ``connection.SocketioConnection`` owns python-socketio's
client, the clock and the deadlines, and feeds it.

Every input queues *outputs*, drained in order by ``outputs()``: ``Emit``
(an event to send, with the id its acknowledgement will carry), ``Record``
(a timeline event), ``Deliver`` (a notice for the agent), ``Reply`` (the
acknowledgement of a pending emit) and ``Fail`` (an emit that will never be
acknowledged).

How the server's events map (``docs/backends/socketio.md#events``):

* the invitation event, or a ``message`` row whose ``extra_data`` holds the
  invitation, rings the callee: the first to arrive is ``Ringing`` (``via``
  names it), the second a ``second_arrival`` note;
* the answer event is ``Answered``/``Rejected`` for the caller (the join/accept
  notice) and ``Cancelled`` for the callee's other devices (answered elsewhere);
* the cancel, end and missed events are ``Cancelled``, ``HungUp`` and ``CallTimeout``;
* relayed signals are ``SignalReceived``; text rows from others ``TextReceived``;
  the sender's own echo is a note; ``user_status`` is ``Presence``.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

from callprobe.backends.base import ClientCore, Deliver, DriverNotice, Record
from callprobe.backends.socketio.config import SocketioOptions
from callprobe.backends.socketio.protocol import Invitation, Payloads, first_arg, get, id_text, json_size
from callprobe.timeline.events import (
    AcceptSent,
    ActionAcked,
    ActionRefused,
    CancelSent,
    FrameIn,
    FrameOut,
    HangupSent,
    HeartbeatMissed,
    HeartbeatReply,
    InviteAcked,
    InviteRefused,
    InviteSent,
    Note,
    Presence,
    RejectSent,
    RequestTimeout,
    Ringing,
    SignalReceived,
    SignalSent,
    TextReceived,
    TextSent,
    WsClosed,
    peer_action_type,
)

#: ``server_reason`` of a callee device's ring ended because another device of the user answered.
ANSWERED_ELSEWHERE = "answered-elsewhere"
REJECTED_ELSEWHERE = "rejected-elsewhere"

#: Words for the reasons python-socketio gives a disconnect.
CLOSE_WORDS = {
    "client disconnect": "closed by this client",
    "server disconnect": "the server ended the Socket.IO session",
    "transport error": "the transport failed (the connection dropped, or a frame the server refused made it "
                       "close the socket)",
    "transport close": "the transport was closed",
    "ping timeout": "no Engine.IO ping from the server within pingInterval + pingTimeout",
}

#: The neutral action of each emit role, for refusals and acknowledgements.
ACTION_OF = {"send_message": "send_text", "send_signal": "send_signal", "cancel": "cancel", "end": "hungUp"}


# ---------------------------------------------------------------- outputs


@dataclass(frozen=True)
class Emit:
    ack_id: str
    event: str
    payload: dict[str, Any]


@dataclass(frozen=True)
class Reply:
    ack_id: str
    data: Any


@dataclass(frozen=True)
class Fail:
    ack_id: str
    explanation: str


Output = Emit | Record | Deliver | Reply | Fail


# ---------------------------------------------------------------- outcomes


@dataclass(frozen=True)
class InviteOutcome:
    """The acknowledgement of an invitation: the call, or a refusal (busy included)."""

    call_id: str = ""
    room_name: str = ""
    status: str = ""
    busy: tuple[str, ...] = ()
    refused: bool = False
    err_msg: str = ""
    explanation: str = ""


@dataclass(frozen=True)
class ActionOutcome:
    refused: bool = False
    err_msg: str = ""
    explanation: str = ""
    data: Any = None


@dataclass
class _Pending:
    role: str                # the emit's role (config.EVENTS key)
    event: str               # its name on the wire
    sent_ms: float
    call_id: str = ""
    peer: str = ""
    action: str = ""         # accept / reject for a response


@dataclass
class CallInfo:
    """One call this agent knows."""

    call_id: str
    role: str                # "inviter" | "invitee"
    peer: str                # the other party's user id
    opened_ms: float
    room_name: str = ""
    ended: bool = False
    arrivals: dict[str, tuple[str, float]] = field(default_factory=dict)  # action -> (path, t_ms)


@dataclass
class KnownCalls:
    """The calls this agent knows, kept across reconnects."""

    calls: dict[str, CallInfo] = field(default_factory=dict)

    def get(self, call_id: str) -> CallInfo | None:
        return self.calls.get(call_id)

    def add(self, info: CallInfo) -> CallInfo:
        return self.calls.setdefault(info.call_id, info)

    def end(self, call_id: str) -> None:
        info = self.calls.get(call_id)
        if info is not None:
            info.ended = True


# ---------------------------------------------------------------- the client


class SocketioClient(ClientCore[Emit | Reply | Fail]):
    """One connection's client side, without I/O.

    Args:
        agent: timeline agent name.
        user_id: this user's id as text (what login returned).
        options: the deployment's names (``config.SocketioOptions``).
        calls: the calls this agent knows, kept across reconnects.
    """

    def __init__(self, *, agent: str, user_id: str, options: SocketioOptions,
                 calls: KnownCalls | None = None) -> None:
        super().__init__()
        self.agent, self.user_id, self.options = agent, user_id, options
        self.p = Payloads(options)
        self.calls = calls if calls is not None else KnownCalls()
        self.closed = False
        self._ids = itertools.count(1)
        self._pending: dict[str, _Pending] = {}
        self._abandoned: set[str] = set()
        self._invites: dict[str, InviteOutcome] = {}
        self._actions: dict[str, ActionOutcome] = {}
        self._pings = 0
        self._last_ping_ms: float | None = None
        self.ping_interval_s: float | None = None
        self.ping_timeout_s: float | None = None
        ev = options.events
        self._handlers = {
            ev["message"]: self._on_message,
            ev["invitation"]: self._on_invitation,
            ev["response"]: self._on_response,
            ev["cancelled"]: self._on_cancelled,
            ev["ended"]: self._on_ended,
            ev["missed"]: self._on_missed,
            ev["signal"]: self._on_signal,
            ev["user_status"]: self._on_user_status,
            ev["error"]: self._on_error_event,
        }

    # ------------------------------------------------------------ emits

    def _emit(self, role: str, payload: dict[str, Any], now_ms: float, **pending: Any) -> str:
        ack_id = str(next(self._ids))
        event = self.options.events[role]
        self._pending[ack_id] = _Pending(role, event, now_ms, **pending)
        self._record(FrameOut(label=f"emit {event}", msg_incr=ack_id, size=json_size(payload), encoding="json"))
        self._out.append(Emit(ack_id, event, payload))
        return ack_id

    def send_text(self, peer: str, text: str, now_ms: float) -> str:
        """A text message to ``peer`` (S4), asking for an acknowledgement."""
        self._record(TextSent(to=peer, length=len(text)))
        return self._emit("send_message", self.p.send_message(peer, text, self.options.id_type), now_ms, peer=peer)

    def invite(self, peer: str, media: str, timeout_s: int, now_ms: float, id_type: str | None = None) -> str:
        """Invite ``peer``, its id sent as ``id_type`` (default: the deployment's)."""
        kind = id_type or self.options.id_type
        self._record(InviteSent(callees=[peer], media=media, timeout_s=timeout_s, id_type=kind))
        return self._emit("invite", self.p.invite(peer, media, kind), now_ms, peer=peer)

    def respond(self, call_id: str, accepted: bool, now_ms: float) -> str:
        info = self.calls.get(call_id)
        peer = info.peer if info is not None else ""
        sent = AcceptSent if accepted else RejectSent
        self._record(sent(room_id=call_id, peer=peer))
        return self._emit("respond", self.p.respond(call_id, accepted), now_ms, call_id=call_id, peer=peer,
                          action="accept" if accepted else "reject")

    def cancel(self, call_id: str, now_ms: float) -> str:
        info = self.calls.get(call_id)
        self._record(CancelSent(room_id=call_id, peer=info.peer if info is not None else ""))
        return self._emit("cancel", self.p.call_ref(call_id), now_ms, call_id=call_id, action="cancel")

    def end(self, call_id: str, now_ms: float) -> str:
        info = self.calls.get(call_id)
        self._record(HangupSent(room_id=call_id, peer=info.peer if info is not None else ""))
        return self._emit("end", self.p.call_ref(call_id), now_ms, call_id=call_id, action="hungUp")

    def send_signal(self, peer: str, call_id: str, signal_type: str, data: Any, now_ms: float) -> str:
        self._record(SignalSent(room_id=call_id, signal_type=signal_type, to=peer, form=self.options.events["signal"]))
        payload = self.p.signal(call_id, peer, signal_type, data, self.options.id_type)
        return self._emit("send_signal", payload, now_ms, call_id=call_id, peer=peer)

    def abandon(self, ack_id: str, setting: str, seconds: float) -> None:
        """The I/O layer gave up waiting: a later acknowledgement is recorded as late."""
        pending = self._pending.pop(ack_id, None)
        if pending is None:
            return
        self._abandoned.add(ack_id)
        self._record(RequestTimeout(label=f"ack {pending.event}", msg_incr=ack_id, setting=setting, seconds=seconds))

    # ------------------------------------------------------------ outcomes

    def invite_outcome(self, ack_id: str) -> InviteOutcome:
        return self._invites.pop(ack_id, InviteOutcome(refused=True, err_msg="no acknowledgement"))

    def action_outcome(self, ack_id: str) -> ActionOutcome:
        return self._actions.pop(ack_id, ActionOutcome())

    # ------------------------------------------------------------ acknowledgements

    def receive_ack(self, ack_id: str, args: list[Any] | tuple[Any, ...], now_ms: float) -> None:
        """The server acknowledged emit ``ack_id`` with ``args``."""
        data = first_arg(args)
        pending = self._pending.pop(ack_id, None)
        if pending is None:
            late = ack_id in self._abandoned
            self._record(FrameIn(label="ack", msg_incr=ack_id, size=json_size(data), data_form="json", late=late,
                                 error="" if late else "an acknowledgement for no pending emit"))
            return
        error = self.p.text(data, "error") if isinstance(data, dict) else ""
        self._record(FrameIn(label=f"ack {pending.event}", msg_incr=ack_id, size=json_size(data), data_form="json",
                             latency_ms=round(now_ms - pending.sent_ms, 3), err_msg=error))
        if pending.role == "invite":
            self._invites[ack_id] = self._invite_ack(pending, data, now_ms)
        else:
            self._actions[ack_id] = self._action_ack(pending, data, error)
        self._out.append(Reply(ack_id, data))

    def _invite_ack(self, pending: _Pending, data: Any, now_ms: float) -> InviteOutcome:
        error = self.p.text(data, "error") if isinstance(data, dict) else "the acknowledgement is not an object"
        status = self.p.text(data, "status") if isinstance(data, dict) else ""
        call_id = self.p.text(data, "call_id") if isinstance(data, dict) else ""
        if status == "busy":
            explanation = "the callee is in another call (the server answered status busy; nothing was stored)"
            self._record(InviteRefused(err_msg="busy", explanation=explanation, busy=[pending.peer],
                                       busy_from_reply=True))
            return InviteOutcome(status=status, busy=(pending.peer,), refused=True, err_msg="busy",
                                 explanation=explanation)
        if error or not call_id:
            words = error or f"the acknowledgement names no call ({self.options.fields['call_id']} missing)"
            explanation = f"the server refused the invitation: {words}"
            self._record(InviteRefused(err_msg=words, explanation=explanation))
            return InviteOutcome(refused=True, err_msg=words, explanation=explanation)
        room_name = self.p.text(data, "room_name")
        self.calls.add(CallInfo(call_id, "inviter", pending.peer, now_ms, room_name))
        self._record(InviteAcked(room_id=call_id, server_room_id=call_id, status=status, room_name=room_name))
        return InviteOutcome(call_id=call_id, room_name=room_name, status=status)

    def _action_ack(self, pending: _Pending, data: Any, error: str) -> ActionOutcome:
        action = pending.action or ACTION_OF.get(pending.role, pending.role)
        if error or not isinstance(data, dict):
            words = error or "the acknowledgement is not an object"
            explanation = f"the server refused {pending.event}: {words}"
            self._record(ActionRefused(room_id=pending.call_id, action=action, err_msg=words,
                                       explanation=explanation))
            return ActionOutcome(True, words, explanation, data)
        if pending.role == "send_message":
            self._record(ActionAcked(action=action, server_msg_id=self.p.ident(data, "row_id")))
        else:
            self._record(ActionAcked(room_id=pending.call_id, action=action))
        if pending.call_id and action in ("reject", "cancel", "hungUp"):
            self.calls.end(pending.call_id)
        return ActionOutcome(data=data)

    # ------------------------------------------------------------ heartbeat

    def opened(self, ping_interval_s: float | None, ping_timeout_s: float | None, now_ms: float) -> None:
        """The Engine.IO session is open with these negotiated heartbeat values."""
        self.ping_interval_s, self.ping_timeout_s = ping_interval_s, ping_timeout_s
        self._last_ping_ms = now_ms

    def ping(self, now_ms: float) -> int:
        """The server pinged (Engine.IO v4: the server pings, the client answers with a pong)."""
        self._pings += 1
        self._last_ping_ms = now_ms
        # no round trip to time: the client only answers (docs/backends/socketio.md#heartbeat)
        self._record(HeartbeatReply(number=self._pings, rtt_ms=0.0, form="engineio_ping"))
        return self._pings

    @property
    def pings(self) -> int:
        return self._pings

    @property
    def last_ping_ms(self) -> float | None:
        return self._last_ping_ms

    def ping_overdue(self, now_ms: float) -> bool:
        """Whether the server's next ping is past pingInterval + pingTimeout (then recorded as missed)."""
        if self._last_ping_ms is None or self.ping_interval_s is None or self.ping_timeout_s is None:
            return False
        allowed = self.ping_interval_s + self.ping_timeout_s
        if now_ms - self._last_ping_ms < allowed * 1000.0:
            return False
        self._record(HeartbeatMissed(number=self._pings + 1, setting="pingInterval+pingTimeout", seconds=allowed))
        self._last_ping_ms = now_ms  # one record per silence
        return True

    # ------------------------------------------------------------ events

    def receive_event(self, name: str, args: list[Any] | tuple[Any, ...], now_ms: float) -> None:
        """The server emitted ``name`` with ``args``."""
        data = first_arg(args)
        handler = self._handlers.get(name)
        if name != self.options.events["user_status"]:  # presence goes to every socket: its own kind only
            self._record(FrameIn(label=f"event {name}", size=json_size(data), data_form="json"))
        if handler is None:
            self._record(Note(note="event_ignored", text=f"event {name!r} is not one this backend's client handles"))
            return
        if not isinstance(data, dict):
            self._record(Note(note="event_not_an_object", text=f"event {name!r} carried {type(data).__name__}"))
            return
        handler(data, now_ms)

    def _on_message(self, data: dict[str, Any], now_ms: float) -> None:
        row = self.p.row(data)
        if row is None:
            self._record(Note(note="message_unreadable", text="a message event without a sender"))
            return
        if row.sender_id == self.user_id:
            # S4: the server echoes a message to the sender's own room: recorded, never acted upon
            self._record(Note(note="own_echo", extra={"row_id": row.row_id, "message_type": row.message_type,
                                                      "to": row.receiver_id}))
            return
        if row.invitation is not None:
            self._ring(row.invitation, self.options.events["message"], now_ms, seq=row.row_id)
            return
        if row.raw_invitation is not None:
            self._record(Note(note="invitation_unreadable", extra={"row_id": row.row_id}))
            return
        if row.message_type and row.message_type != "text":
            self._record(Note(note="message_ignored", extra={"row_id": row.row_id,
                                                             "message_type": row.message_type}))
            return
        seq = int(row.row_id) if row.row_id.isdecimal() else 0
        self._record(TextReceived(sender=row.sender_id, client_msg_id=row.row_id, seq=seq, via="push",
                                  form=row.message_type or "text"))
        self._deliver(DriverNotice("text_received", peer=row.sender_id, path="push",
                                   data={"text": row.text, "client_msg_id": row.row_id}))

    def _on_invitation(self, data: dict[str, Any], now_ms: float) -> None:
        inv = self.p.invitation(data)
        if inv is None:
            self._record(Note(note="invitation_unreadable", text="an invitation event without a call id"))
            return
        self._ring(inv, self.options.events["invitation"], now_ms)

    def _ring(self, inv: Invitation, path: str, now_ms: float, seq: str = "") -> None:
        """The first path to bring an invitation rings; a later one is a ``second_arrival``."""
        if inv.caller_id == self.user_id:
            self._record(Note(note="own_invitation", room_id=inv.call_id, extra={"path": path}))
            return
        if inv.status and inv.status != "pending":
            self._record(Note(note="invitation_not_pending", room_id=inv.call_id,
                              extra={"path": path, "status": inv.status}))
            return
        info = self.calls.get(inv.call_id)
        earlier = info.arrivals.get("invite") if info is not None else None
        if earlier is not None:
            self._record(Note(note="second_arrival", room_id=inv.call_id,
                              extra={"action": "invite", "path": path, "first_path": earlier[0],
                                     "latency_diff_ms": round(now_ms - earlier[1], 3)}))
            return
        info = self.calls.add(CallInfo(inv.call_id, "invitee", inv.caller_id, now_ms, inv.room_name))
        info.arrivals["invite"] = (path, now_ms)
        ev = self.options.events
        paths = list(dict.fromkeys((ev["invitation"], ev["message"])))
        self._record(Ringing(room_id=inv.call_id, inviter=inv.caller_id, media=inv.call_type, via=path,
                             invitees=[self.user_id], room_name=inv.room_name, ring_paths=paths,
                             seq=int(seq) if seq.isdecimal() else 0))
        self._deliver(DriverNotice("ringing", room_id=inv.call_id, peer=inv.caller_id, path=path,
                                   data={"media": inv.call_type, "room_name": inv.room_name,
                                         "caller_name": inv.caller_name}))

    def _peer_action(self, kind: str, call_id: str, path: str, by: str, now_ms: float, action: str,
                     server_reason: str = "") -> None:
        info = self.calls.get(call_id)
        key = f"{kind}:{action}"
        if info is not None and key in info.arrivals:
            first_path, first_ms = info.arrivals[key]
            self._record(Note(note="second_arrival", room_id=call_id,
                              extra={"action": action, "path": path, "first_path": first_path,
                                     "latency_diff_ms": round(now_ms - first_ms, 3), "notice_kind": kind}))
            return
        if info is not None:
            info.arrivals[key] = (path, now_ms)
        self._record(peer_action_type(kind)(room_id=call_id, path=path, by=by, action=action,
                                            unknown_room=info is None, server_reason=server_reason))
        self._deliver(DriverNotice(kind, room_id=call_id, peer=by or (info.peer if info else ""), path=path,
                                   data={"action": action, "server_reason": server_reason}))
        if kind != "answered":
            self.calls.end(call_id)

    def _on_response(self, data: dict[str, Any], now_ms: float) -> None:
        call_id = self.p.text(data, "call_id")
        accepted = self.p.text(data, "accepted").lower() in ("true", "1")
        responder = self.p.ident(data, "responder_id")
        path = self.options.events["response"]
        info = self.calls.get(call_id)
        mine = info.role == "invitee" if info is not None else responder == self.user_id
        if mine:
            # S6: another device of this user answered: this device stops ringing
            reason = ANSWERED_ELSEWHERE if accepted else REJECTED_ELSEWHERE
            self._peer_action("cancelled", call_id, path, responder, now_ms, "accept" if accepted else "reject",
                              server_reason=reason)
            return
        self._peer_action("answered" if accepted else "rejected", call_id, path, responder, now_ms,
                          "accept" if accepted else "reject")

    def _on_cancelled(self, data: dict[str, Any], now_ms: float) -> None:
        self._peer_action("cancelled", self.p.text(data, "call_id"), self.options.events["cancelled"],
                          self.p.ident(data, "by"), now_ms, "cancel")

    def _on_ended(self, data: dict[str, Any], now_ms: float) -> None:
        self._peer_action("hung_up", self.p.text(data, "call_id"), self.options.events["ended"],
                          self.p.ident(data, "by"), now_ms, "hungUp")

    def _on_missed(self, data: dict[str, Any], now_ms: float) -> None:
        call_id = self.p.text(data, "call_id")
        info = self.calls.get(call_id)
        # the server's ring timer: the caller's call was not answered, the callee's ring is over
        action = "reject" if info is not None and info.role == "inviter" else "cancel"
        self._peer_action("call_timeout", call_id, self.options.events["missed"], "", now_ms, action,
                          server_reason="timeout")

    def _on_signal(self, data: dict[str, Any], now_ms: float) -> None:
        call_id = self.p.text(data, "call_id")
        signal_type = self.p.text(data, "signal_type")
        sender = self.p.ident(data, "from_user_id")
        payload = get(data, self.options.fields["signal_data"])
        path = self.options.events["signal"]
        self._record(SignalReceived(room_id=call_id, signal_type=signal_type, sender=sender, form=path))
        self._deliver(DriverNotice("signal_received", room_id=call_id, peer=sender, path=path,
                                   data={"signal_type": signal_type, "data": payload, "form": path}))

    def _on_user_status(self, data: dict[str, Any], now_ms: float) -> None:
        self._record(Presence(user=self.p.ident(data, "user_id"), status=self.p.text(data, "status")))

    def _on_error_event(self, data: dict[str, Any], now_ms: float) -> None:
        """A refusal sent as an event: it answers the oldest emit of that event still waiting."""
        event = str(data.get("event") or "")
        error = self.p.text(data, "error")
        waiting = next((ack_id for ack_id, p in self._pending.items() if p.event == event), None)
        if waiting is None:
            self._record(Note(note="server_error", text=error, extra={"event": event}))
            return
        self.receive_ack(waiting, [{self.options.fields["error"]: error}], now_ms)

    # ------------------------------------------------------------ closing

    def connection_closed(self, reason: str, by: str, now_ms: float) -> None:
        """The connection is gone: record why, fail every pending emit, tell the agent."""
        if self.closed:
            return
        self.closed = True
        overdue = self.ping_overdue(now_ms) if by == "server" else False
        words = CLOSE_WORDS.get(reason, reason or "no reason given")
        if overdue:
            words += "; the server's pings had stopped (pingInterval + pingTimeout passed without one)"
        pending = list(self._pending.items())
        if pending and by == "server":
            ack_id, first = pending[0]
            words += f"; {now_ms - first.sent_ms:.0f} ms after emit {first.event} (ack {ack_id}), never acknowledged"
        code = 1000 if reason in ("client disconnect", "server disconnect") else 1006
        self._record(WsClosed(code=code, reason=reason, by=by, explanation=words))
        for ack_id, _ in pending:
            self._out.append(Fail(ack_id, words))
        self._pending.clear()
        self._deliver(DriverNotice("disconnected", data={"code": code, "reason": reason, "by": by,
                                                         "explanation": words}))


__all__ = ["ActionOutcome", "CallInfo", "Deliver", "Emit", "Fail", "InviteOutcome", "KnownCalls", "Record",
           "Reply", "SocketioClient", "id_text"]
