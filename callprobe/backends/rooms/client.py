"""The call-room client, sans I/O: REST replies and room messages in; frames, events and notices out.

``RoomsClient`` holds everything one agent's client side knows and decides
about the call-room service (``docs/backends/rooms.md``), and nothing that
waits: the login it got, the calls it placed or was offered (each in the
state table of ``protocol.TRANSITIONS``), who is in each call room, the
signals waiting for the peer to be there, and the translation of room
notices and polled statuses into neutral notices. Time is passed in
(``now_ms``), never read. The thin ``connection.RoomsConnection`` makes the
HTTP requests and holds the room sockets, feeding each reply and message
here, as websockets splits its protocol from its asyncio connection
(``docs/architecture.md#backends``). The mapping to neutral events is in
``docs/backends/rooms.md#callprobes-client``.

Every input queues *outputs*, drained in order by ``outputs()``: ``Record``
(a timeline event), ``Deliver`` (a notice for the agent), ``Frame`` (a text
for a room socket), ``Leave`` (close a room socket once its frames are out)
and ``Timer`` (call ``tick`` at that time).

How an answer is learned (``docs/backends/rooms.md#tolerant-clients``): a
caller in the room is told by the ``accepted`` notice; when that does not
come, the call's status (polled) tells. A polled answer of a caller that is
in the room waits ``notice_grace_ms`` for its notice, so a poll that merely
overtook the notice is not taken for a lost one; the notice's path
(``room_notice`` or ``status_poll``, and ``polled``) goes on the event.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from callprobe.backends.base import ClientCore, Deliver, DriverNotice, Record
from callprobe.backends.rooms import protocol
from callprobe.backends.rooms.config import RoomsOptions
from callprobe.backends.rooms.protocol import END, TRANSITIONS, CallState, Message, explain_status
from callprobe.timeline.events import (
    AcceptSent,
    ActionAcked,
    ActionRefused,
    ActionSent,
    CancelSent,
    HangupSent,
    InviteAcked,
    InviteRefused,
    InviteSent,
    JoinNotice,
    LoginFailed,
    LoginOk,
    Note,
    RejectSent,
    Ringing,
    RoomJoined,
    SignalReceived,
    SignalSent,
    WsClosed,
    WsConnecting,
    WsOpen,
    WsRefused,
    peer_action_type,
)

#: How a notice reached this agent (``PeerAction.path``, ``DriverNotice.path``).
PATH_ROOM = "room_notice"
PATH_POLL = "status_poll"
#: How a ring reached the callee.
VIA_POLL = "incoming_poll"
#: ``form`` of signals relayed through the room.
FORM_ROOM = "room"

#: Call actions over REST, and the event each records.
ACTIONS: dict[str, type[ActionSent]] = {"accept": AcceptSent, "reject": RejectSent, "cancel": CancelSent}

#: Statuses a room notice also carries: a polled one waits for its notice a moment.
_NOTIFIED = ("accepted", "rejected", "cancelled")

#: Messages a party sends into the room (relayed by the server): their sender is in the room.
#: ``accepted`` and the like name the party who acted over REST, wherever it is.
_RELAYED = ("offer", "answer", "candidate", "end")

_BODY_PREVIEW = 300


# ---------------------------------------------------------------- outputs


@dataclass(frozen=True)
class Frame:
    room_id: str
    text: str


@dataclass(frozen=True)
class Leave:
    room_id: str


@dataclass(frozen=True)
class Timer:
    due_ms: float


Output = Record | Deliver | Frame | Leave | Timer


# ---------------------------------------------------------------- outcomes


@dataclass(frozen=True)
class Outcome:
    """A REST reply: accepted (``ok``) or refused with a status and the server's words."""

    ok: bool
    status: int = 0
    err_msg: str = ""
    explanation: str = ""
    room_id: str = ""
    busy: tuple[str, ...] = ()


@dataclass(frozen=True)
class JoinPlan:
    """How to ask for a room: path, query, headers, and whether a credential goes with it."""

    path: str
    query: dict[str, str]
    headers: dict[str, str]
    authenticated: bool


@dataclass
class _Call:
    room_id: str
    role: str                        # "caller" | "callee"
    peer_id: str
    media: str
    state: CallState
    acting: str = ""                 # a REST action on its way
    in_room: bool = False
    members: set[str] = field(default_factory=set)
    pending: list[tuple[str, str]] = field(default_factory=list)   # (signal type, frame) waiting for the peer
    polled: dict[str, float] = field(default_factory=dict)         # status -> when a poll saw it
    join_order: str = ""

    def other_role(self) -> str:
        return "callee" if self.role == "caller" else "caller"


# ---------------------------------------------------------------- the client


class RoomsClient(ClientCore[Frame | Leave | Timer]):
    """One agent's client side of the call-room service, without I/O.

    Args:
        agent: timeline agent name.
        username: the login name (agents are named by username).
        names: the deployment's names (``config.RoomsOptions``).
        notice_grace_ms: how long a polled answer waits for its room notice.
    """

    def __init__(self, *, agent: str, username: str, names: RoomsOptions, notice_grace_ms: float) -> None:
        super().__init__()
        self.agent = agent
        self.username = username
        self.names = names
        self.notice_grace_ms = notice_grace_ms
        self.user_id = ""
        self.token = ""
        self.calls: dict[str, _Call] = {}
        self._check: set[str] = set()     # ringing calls the incoming list dropped: their status tells why
        self._poll_failed = False

    def _refusal(self, status: int, body: Any) -> tuple[str, str]:
        """``(err_msg, explanation)`` of a refused request."""
        return protocol.refusal_text(body, self.names), explain_status(status)

    # ------------------------------------------------------------ login

    def credentials(self, password: str) -> dict[str, str]:
        """The register and login body."""
        return {self.names.key("username"): self.username, self.names.key("password"): password}

    def on_register(self, status: int, body: Any) -> Outcome:
        """201 created, or 409 already there: either way login comes next."""
        if status in (200, 201, 409):
            self._record(Note(note="registered" if status != 409 else "already_registered",
                              text=f"register {self.username}: HTTP {status}"))
            return Outcome(True, status)
        msg, why = self._refusal(status, body)
        return Outcome(False, status, msg, why)

    def on_login(self, status: int, body: Any, latency_ms: float, url: str) -> Outcome:
        """Keep the token and the integer id; record LoginOk or LoginFailed."""
        login = protocol.read_login(body, self.names) if status == 200 else None
        if login is None:
            msg, why = self._refusal(status, body)
            if status == 200:
                msg, why = "no token and user id in the reply", "the login reply lacks token or user.id"
            self._record(LoginFailed(mode="password", status=status, err_msg=msg, reason=why, url=url,
                                     user_id=self.username))
            return Outcome(False, status, msg, why)
        self.token, self.user_id = login.token, login.user_id
        self._record(LoginOk(mode="password", latency_ms=round(latency_ms, 3), steps=["login"],
                             user_id=self.user_id, username=self.username))
        return Outcome(True, status)

    # ------------------------------------------------------------ invite

    def invite(self, callee_id: str, callee_username: str, media: str, timeout_s: int) -> dict[str, str]:
        """Record the invite; return the body of "call by username"."""
        self._record(InviteSent(callees=[callee_id], media=media, timeout_s=timeout_s))
        return {self.names.key("callee_username"): callee_username, self.names.key("call_type"): media}

    def on_invite_reply(self, status: int, body: Any, callee_id: str, media: str) -> Outcome:
        """The created call (its uuid is the room from now on), or the refusal: 404 unknown, 409 busy."""
        call = protocol.reply_call(body, self.names) if 200 <= status < 300 else None
        if call is None:
            msg, why = self._refusal(status, body)
            if 200 <= status < 300:
                msg, why = "no call with a uuid in the reply", "the reply to call by username lacks call.uuid"
            busy: tuple[str, ...] = ()
            if status == 409:  # a party already has a call; the words say which, else the callee
                busy = (self.user_id,) if "caller" in msg.lower() else (callee_id,)
            self._record(InviteRefused(err_msg=msg, explanation=why, busy=list(busy), busy_from_reply=False,
                                       status=status))
            return Outcome(False, status, msg, why, busy=busy)
        peer = call.callee_id or callee_id
        self.calls[call.uuid] = _Call(call.uuid, "caller", peer, call.call_type or media, CallState.CALLING)
        self._record(InviteAcked(room_id=call.uuid, server_room_id=call.uuid, status=call.status))
        return Outcome(True, status, room_id=call.uuid)

    # ------------------------------------------------------------ polls

    def on_incoming(self, status: int, body: Any) -> None:
        """The incoming list: a call seen for the first time rings; a ringing call it dropped is checked."""
        calls = protocol.reply_calls(body, self.names) if status == 200 else None
        if calls is None:
            if not self._poll_failed:
                msg, why = self._refusal(status, body)
                self._record(Note(note="incoming_poll_failed", text=f"{why}" + (f": {msg}" if msg else ""),
                                  extra={"status": status}))
            self._poll_failed = True
            return
        self._poll_failed = False
        listed = {c.uuid for c in calls}
        for call in reversed(calls):  # the list is newest first: ring in the order they came
            if call.uuid not in self.calls and call.caller_id != self.user_id:
                self._ring(call)
        for room, known in self.calls.items():
            if known.role == "callee" and known.state is CallState.RINGING and room not in listed:
                self._check.add(room)

    def _ring(self, call: protocol.RoomCall) -> None:
        media = call.call_type or "video"
        self.calls[call.uuid] = _Call(call.uuid, "callee", call.caller_id, media, CallState.RINGING)
        self._record(Ringing(room_id=call.uuid, inviter=call.caller_id, media=media, via=VIA_POLL,
                             invitees=[call.callee_id or self.user_id]))
        self._deliver(DriverNotice("ringing", room_id=call.uuid, peer=call.caller_id, path=VIA_POLL,
                                   data={"media": media, "status": call.status}))

    def status_wanted(self) -> list[str]:
        """Calls whose status the next poll asks: placed and unanswered, or dropped from the incoming list."""
        placed = [r for r, c in self.calls.items() if c.role == "caller" and c.state is CallState.CALLING]
        return placed + sorted(self._check - set(placed))

    def on_status(self, room_id: str, status: int, body: Any, now_ms: float) -> None:
        """A polled call status."""
        self._check.discard(room_id)
        call = protocol.reply_call(body, self.names) if status == 200 else None
        known = self.calls.get(room_id)
        if call is None or known is None:
            if known is not None and known.role == "callee":
                msg, why = self._refusal(status, body)
                self._record(Note(note="status_poll_failed", room_id=room_id, text=why, extra={"error": msg}))
            return
        meaning = protocol.status_meaning(self.names, call.status)
        if meaning in ("", "initiated"):
            return
        if known.in_room and meaning in _NOTIFIED and (known.state, meaning) in TRANSITIONS:
            if meaning not in known.polled:
                known.polled[meaning] = now_ms
                self._out.append(Timer(now_ms + self.notice_grace_ms))
            return
        self._input(known, meaning, PATH_POLL, polled=True)

    def tick(self, now_ms: float) -> None:
        """Polled answers whose room notice did not come within ``notice_grace_ms``."""
        for known in list(self.calls.values()):
            for meaning, seen in list(known.polled.items()):
                if now_ms - seen >= self.notice_grace_ms:
                    del known.polled[meaning]
                    self._input(known, meaning, PATH_POLL, polled=True,
                                reason=f"no {self.names.message(meaning)} notice in the room within "
                                       f"{self.notice_grace_ms:.0f} ms of the poll that saw it")

    # ------------------------------------------------------------ the call state

    def _input(self, known: _Call, meaning: str, path: str, *, polled: bool = False,
               by: str = "", reason: str = "") -> None:
        if known.acting:
            return  # this agent's own action is on its way: its reply tells
        step = TRANSITIONS.get((known.state, meaning))
        if step is None:
            self._record(Note(note="call_input_ignored", room_id=known.room_id,
                              extra={"state": known.state.value, "input": meaning, "path": path}))
            return
        nxt, kind = step
        known.state = nxt
        known.polled.clear()
        if kind is not None:
            elsewhere = known.role == "callee" and meaning in ("accepted", "rejected")  # not by this device
            why = reason or (f"{meaning} on another device of this user" if elsewhere else "")
            actor = by or ("" if kind == "call_timeout" else known.peer_id)
            self._record(peer_action_type(kind)(room_id=known.room_id, path=path, by=actor, action=meaning,
                                                polled=polled, server_reason=why))
            self._deliver(DriverNotice(kind, room_id=known.room_id, peer=actor or known.peer_id, path=path,
                                       data={"action": meaning, "polled": polled, "server_reason": why}))
        if nxt is CallState.OVER:
            self._leave(known)

    def _leave(self, known: _Call) -> None:
        known.pending.clear()
        if known.in_room:
            self._out.append(Leave(known.room_id))

    # ------------------------------------------------------------ actions over REST

    def act(self, action: str, room_id: str) -> str:
        """Record accept/reject/cancel; return the path of its request."""
        known = self.calls.get(room_id)
        if known is not None:
            known.acting = action
        self._record(ACTIONS[action](room_id=room_id, peer=known.peer_id if known else ""))
        return self.names.path(action, room_id)

    def on_action_reply(self, action: str, room_id: str, status: int, body: Any) -> Outcome:
        known = self.calls.get(room_id)
        if known is not None:
            known.acting = ""
        if not 200 <= status < 300:
            msg, why = self._refusal(status, body)
            self._record(ActionRefused(room_id=room_id, action=action, err_msg=msg, explanation=why, status=status))
            return Outcome(False, status, msg, why, room_id=room_id)
        call = protocol.reply_call(body, self.names)
        self._record(ActionAcked(room_id=room_id, action=action, resp_payload=call.status if call else None))
        if known is not None:
            known.state = CallState.ANSWERED if action == "accept" else CallState.OVER
            known.polled.clear()
            if known.state is CallState.OVER:
                self._leave(known)
        return Outcome(True, status, room_id=room_id)

    # ------------------------------------------------------------ the room

    def join_plan(self, room_id: str) -> JoinPlan:
        """Path, query and headers of a room join, with the identity where ``names.identity`` says."""
        places, query, headers = self.names.identity, {}, {}
        if "token_query" in places:
            query[self.names.key("token_param")] = self.token
        if "authorization_header" in places:
            headers["Authorization"] = f"Bearer {self.token}"
        if "user_id_query" in places:
            query[self.names.key("user_id_param")] = self.user_id
        if "user_id_header" in places:
            headers[self.names.key("user_id_header")] = self.user_id
        authenticated = bool(self.token) and ("token_query" in places or "authorization_header" in places)
        return JoinPlan(self.names.path("room", room_id), query, headers, authenticated)

    def on_room_opening(self, room_id: str, url: str) -> None:
        self._record(WsConnecting(room_id=room_id, url=url, transport="websocket"))

    def on_room_open(self, room_id: str, latency_ms: float) -> None:
        self._record(WsOpen(room_id=room_id, latency_ms=round(latency_ms, 3)))
        known = self.calls.get(room_id)
        if known is not None:
            known.in_room = True
            known.members.clear()

    def on_room_refused(self, room_id: str, status: int, body: bytes, reason: str = "") -> None:
        text = body.decode("utf-8", "replace")
        msg = protocol.refusal_text(protocol.loads(body), self.names) if body else ""
        if status:
            why = explain_status(status) + ("" if body.strip() else ", with an empty body")
        else:
            why = reason or "no HTTP answer"
        self._record(WsRefused(room_id=room_id, status=status, err_msg=msg, body=text[:_BODY_PREVIEW],
                               explanation=why))

    def on_room_closed(self, room_id: str, code: int, reason: str, by: str) -> None:
        base = f"the room socket of call {room_id} closed"
        self._record(WsClosed(room_id=room_id, code=code, reason=reason, by=by,
                              explanation="closed by this client (left the room)" if by == "client"
                              else f"{base} by the server ({code}{': ' + reason if reason else ''})"))
        known = self.calls.get(room_id)
        if known is not None:
            known.in_room = False
            known.members.clear()

    def on_room_text(self, room_id: str, text: str, *, authenticated: bool | None = None) -> None:
        """One message from a room socket; ``authenticated``: whether its join carried a token."""
        msg = protocol.read_message(text, self.names)
        if msg is None:
            self._record(Note(note="room_message_unreadable", room_id=room_id, text=text[:120]))
            return
        kind = protocol.message_kind(self.names, msg.type)
        known = self.calls.get(room_id)
        if known is not None and kind in _RELAYED and msg.user_id and msg.user_id == known.peer_id:
            known.members.add(msg.user_id)  # the peer speaks in the room: it is there
        if kind == "connection":
            self._connection(room_id, known, msg, authenticated)
        elif kind in ("join", "leave"):
            self._join_notice(room_id, known, msg, kind)
        elif kind in ("offer", "answer", "candidate"):
            self._signal(room_id, known, msg, kind)
        elif kind in ("accepted", "rejected", "cancelled"):
            if known is not None:
                self._input(known, kind, PATH_ROOM, by=msg.user_id)
        elif kind == "end":
            if known is not None:
                self._input(known, END, PATH_ROOM, by=msg.user_id)
        elif kind == "error":
            data = msg.data
            words = data.get(self.names.key("error")) if isinstance(data, dict) else data
            self._record(Note(note="room_error", room_id=room_id, text=str(words)[:200]))
        else:
            self._record(Note(note="room_message_ignored", room_id=room_id, extra={"type": msg.type}))
        if known is not None:
            self._flush(known)

    def _connection(self, room_id: str, known: _Call | None, msg: Message, authenticated: bool | None) -> None:
        users = protocol.joined_users(msg.data, self.names)
        identity = msg.user_id
        me = identity if identity in users else self.user_id
        order = users.index(me) + 1 if me in users else len(users)
        join_order = ""
        if known is not None:
            first = known.role if order == 1 else known.other_role()
            join_order = known.join_order = f"{first}-first"
            known.members = {u for u in users if u not in (me, self.user_id)}
        self._record(RoomJoined(room_id=room_id, order=order, users=users, identity=identity,
                                join_order=join_order, authenticated=authenticated))

    def _join_notice(self, room_id: str, known: _Call | None, msg: Message, kind: str) -> None:
        uid, username = protocol.notice_user(msg.data, self.names)
        uid = uid or msg.user_id
        order = ""
        if known is not None:
            if kind == "join":
                known.members.add(uid)
                order = known.join_order or f"{known.role}-first"
            else:
                known.members.discard(uid)
                order = known.join_order
        self._record(JoinNotice(room_id=room_id, notice=kind, user=uid, username=username, join_order=order))

    def _signal(self, room_id: str, known: _Call | None, msg: Message, kind: str) -> None:
        if msg.user_id and msg.user_id == self.user_id:
            self._record(Note(note="own_echo", room_id=room_id, extra={"type": msg.type}))
            return
        data = protocol.signal_payload(kind, msg.data)
        self._record(SignalReceived(room_id=room_id, signal_type=kind, sender=msg.user_id, form=FORM_ROOM))
        self._deliver(DriverNotice("signal_received", room_id=room_id,
                                   peer=msg.user_id or (known.peer_id if known else ""), path=FORM_ROOM,
                                   data={"signal_type": kind, "data": data, "form": FORM_ROOM}))

    # ------------------------------------------------------------ sending in the room

    def send_signal(self, room_id: str, signal_type: str, data: Any, wall_s: int) -> None:
        """Queue an offer, answer or candidate; it goes out once the peer is in the room."""
        known = self.calls.get(room_id)
        if known is None:
            self._record(Note(note="signal_for_unknown_call", room_id=room_id, extra={"signal_type": signal_type}))
            return
        kind = "candidate" if signal_type == "candidate" else signal_type
        text = protocol.encode_message(self.names, kind, room_id, self.user_id, data, wall_s)
        known.pending.append((signal_type, text))
        self._flush(known)

    def _flush(self, known: _Call) -> None:
        if not known.in_room or known.peer_id not in known.members:
            return
        pending, known.pending = known.pending, []
        for signal_type, text in pending:
            self._out.append(Frame(known.room_id, text))
            self._record(SignalSent(room_id=known.room_id, signal_type=signal_type, to=known.peer_id,
                                    form=FORM_ROOM))

    def waiting_signals(self, room_id: str) -> int:
        """Signals queued for ``room_id`` until the peer is in the room."""
        known = self.calls.get(room_id)
        return len(known.pending) if known is not None else 0

    def hangup(self, room_id: str, wall_s: int) -> None:
        """Send ``end`` in the room (the caller of this must be in it) and leave."""
        known = self.calls.get(room_id)
        self._record(HangupSent(room_id=room_id, peer=known.peer_id if known else ""))
        self._out.append(Frame(room_id, protocol.encode_message(self.names, "end", room_id, self.user_id,
                                                                {"reason": "hangup"}, wall_s)))
        if known is not None:
            known.state = CallState.OVER
            known.polled.clear()
            known.pending.clear()
        self._out.append(Leave(room_id))



__all__ = ["ACTIONS", "FORM_ROOM", "PATH_POLL", "PATH_ROOM", "VIA_POLL", "Deliver", "Frame", "JoinPlan", "Leave",
           "Outcome", "Output", "Record", "RoomsClient", "Timer"]
