"""Socket.IO connect, disconnect and chat/call events (``docs/backends/socketio.md#events``).

``ChatHandlers`` owns presence, the open calls and their ring timers. Every
event handler returns the acknowledgement's data: the stored row, ``{ok:
true}``, an invitation's ``{call_id, room_name, status}``, or ``{error}`` for a
refusal (logged on one WARNING line). Writes are committed before a handler
returns, so an acknowledged message or call survives a restart.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
import urllib.parse
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from socketio.exceptions import ConnectionRefusedError as SioConnectionRefused

from callprobe.backends.socketio.server.auth import TokenError, Tokens, hash_password
from callprobe.backends.socketio.server.calls import (
    NOT_FOUND,
    Action,
    Call,
    CallRefused,
    OpenCalls,
    Status,
    step,
)
from callprobe.backends.socketio.server.faults import Faults
from callprobe.backends.socketio.server.limits import quote
from callprobe.backends.socketio.server.payloads import (
    BadPayload,
    parse_call_ref,
    parse_invitation,
    parse_response,
    parse_send_message,
    parse_signal,
)
from callprobe.backends.socketio.server.presence import Identity, Presence, user_room
from callprobe.backends.socketio.server.store import Store
from callprobe.settings import ChatServerSettings

log = logging.getLogger("callprobe.server.socketio")

Ack = dict[str, Any]
#: the user a connect without a valid token becomes under accept-any-token, when it names nobody
DEFAULT_USERNAME = "test-user"
#: a handshake URL with more parameters than this is refused before any is read
_MAX_QUERY_FIELDS = 50


class Emitter(Protocol):
    """The part of ``socketio.AsyncServer`` the handlers use."""

    async def emit(self, event: str, data: Any = None, to: Any = None, skip_sid: Any = None) -> None: ...

    async def enter_room(self, sid: str, room: str) -> None: ...


class Refused(Exception):
    """A connect the server refuses; ``str()`` is the ``connect_error`` message."""


EventHandler = Callable[[Identity, str, list[Any]], Awaitable[Ack]]


class ChatHandlers:
    """The chat backend's behaviour on top of a Socket.IO server."""

    def __init__(self, sio: Emitter, store: Store, tokens: Tokens, faults: Faults,
                 settings: ChatServerSettings) -> None:
        self.sio, self.store, self.tokens, self.faults, self.settings = sio, store, tokens, faults, settings
        self.presence = Presence()
        self.calls = OpenCalls()
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.events: dict[str, EventHandler] = {
            "send_message": self.send_message,
            "call_invitation": self.call_invitation,
            "call_response": self.call_response,
            "call_cancel": self.call_cancel,
            "call_end": self.call_end,
            "webrtc_signal": self.webrtc_signal,
        }

    # ------------------------------------------------------- life cycle

    def restore_calls(self) -> None:
        """Reload open calls after a restart: busy rule and ring timers as before it."""
        for call in self.store.open_calls():
            self.calls.put(call)
            if call.status is Status.PENDING:
                self._arm_ring_timer(call)

    def stop(self) -> None:
        for handle in self._timers.values():
            handle.cancel()
        self._timers.clear()
        for task in self._tasks:
            task.cancel()

    # ------------------------------------------------ connect/disconnect

    async def connect(self, sid: str, environ: dict[str, Any], auth: Any) -> None:
        """Authenticate, join ``user_<id>``, tell the other sockets the user is online."""
        peer = _remote(environ)
        try:
            identity = self._authenticate(environ, auth)
        except Refused as exc:
            log.warning("connect from %s refused: %s", peer, exc)
            raise SioConnectionRefused(str(exc)) from None
        self.presence.add(sid, identity)
        await self.sio.enter_room(sid, identity.room)
        log.info("user %d %s connected from %s (sid %s, %d socket(s))", identity.user_id,
                 quote(identity.username), peer, sid, len(self.presence.connected_users[identity.user_id]))
        await self.sio.emit("user_status", {"user_id": identity.user_id, "status": "online"}, skip_sid=sid)

    async def disconnect(self, sid: str, reason: Any = None) -> None:
        """Forget the socket; the user's last one going broadcasts ``offline``."""
        identity, last = self.presence.remove(sid)
        if identity is None:
            return
        log.info("user %d disconnected (sid %s, %s)%s", identity.user_id, sid, reason,
                 ", now offline" if last else "")
        if last:
            await self.sio.emit("user_status", {"user_id": identity.user_id, "status": "offline"})

    def _authenticate(self, environ: dict[str, Any], auth: Any) -> Identity:
        try:
            query = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""), max_num_fields=_MAX_QUERY_FIELDS)
        except ValueError:
            raise Refused(f"more than {_MAX_QUERY_FIELDS} query parameters") from None
        token = auth.get("token") if isinstance(auth, dict) and "token" in auth else _first(query, "token")
        try:
            if token is None:
                raise TokenError("no token: send auth {token} or the query parameter token")
            user = self.store.user(self.tokens.user_id(token))
            if user is None:
                raise TokenError("the token names a user that does not exist")
            return Identity(user.id, user.username)
        except TokenError as exc:
            if not self.faults.accept_any_token:
                raise Refused(str(exc)) from None
            identity = self._any_identity(auth, query)
            log.warning("fault accept-any-token: connect with a bad token (%s) accepted as user %d",
                        exc, identity.user_id)
            return identity

    def _any_identity(self, auth: Any, query: dict[str, list[str]]) -> Identity:
        """Who a tokenless connect becomes: the ``user_id`` it names, else ``test-user``."""
        raw = auth.get("user_id") if isinstance(auth, dict) and "user_id" in auth else _first(query, "user_id")
        if isinstance(raw, str) and raw.isdecimal() and len(raw) <= 18:
            raw = int(raw)
        if isinstance(raw, int) and not isinstance(raw, bool):
            user = self.store.user(raw)
            if user is not None:
                return Identity(user.id, user.username)
        found = self.store.credentials(DEFAULT_USERNAME)
        user = found[0] if found else self.store.add_user(DEFAULT_USERNAME, hash_password(secrets.token_hex(), 1))
        return Identity(user.id, user.username)

    # ---------------------------------------------------------- dispatch

    async def event(self, sid: str, name: str, args: list[Any]) -> Ack:
        """Run event ``name``; refusals become ``{error}`` and one WARNING line."""
        identity = self.presence.identity(sid)
        if identity is None:
            return {"error": "not connected"}
        handler = self.events.get(name)
        if handler is None:
            log.warning("user %d sent unknown event %s", identity.user_id, quote(name))
            return {"error": f"unknown event {quote(name)}"}
        try:
            return await handler(identity, sid, args)
        except (BadPayload, CallRefused) as exc:
            log.warning("user %d: %s refused: %s", identity.user_id, name, exc)
            return {"error": str(exc)}

    # ------------------------------------------------------------ events

    async def send_message(self, me: Identity, sid: str, args: list[Any]) -> Ack:
        """Store a text message; push it to the target's room and the sender's own room."""
        sent = parse_send_message(args, self.settings.max_message_chars)
        target = self._user(sent.target)
        row = self.store.add_message(me.user_id, target, sent.message, sent.message_type)
        await self.sio.emit("message", row, to=[user_room(target), me.room])
        return row

    async def call_invitation(self, me: Identity, sid: str, args: list[Any]) -> Ack:
        """Store the invitation; ring the callee if online, else acknowledge ``offline``."""
        invite = parse_invitation(args)
        callee = self._user(invite.target)
        if callee == me.user_id:
            raise BadPayload("cannot call yourself")
        own = self.calls.busy_with(me.user_id)
        if own is not None:
            raise BadPayload(f"you are already in call {own.call_id} ({own.status})")
        if self.calls.busy_with(callee) is not None:
            log.info("user %d invited busy user %d", me.user_id, callee)
            return {"status": "busy"}
        # the target-id-type fault: connected_users is looked up with the id as sent
        online = self.presence.online(invite.raw_target if self.faults.target_id_type else callee)
        call = Call(call_id=uuid.uuid4().hex, caller_id=me.user_id, callee_id=callee, caller_name=me.username,
                    call_type=invite.call_type, status=Status.PENDING, rang=online, created=time.time())
        call, row = self.store.add_call(call, f"{me.username} invites you to a {call.call_type} call")
        self.calls.put(call)
        self._arm_ring_timer(call)
        log.info("call %s: user %d invites user %d (%s), %s", call.call_id, me.user_id, callee,
                 call.call_type, "ringing" if online else "callee offline, stored")
        if online:
            await self.sio.emit("message", row, to=user_room(callee))
            if not self.faults.call_event_only_message:
                notice = {k: v for k, v in call.invitation().items() if k != "status"}
                await self.sio.emit("call_invitation", notice, to=user_room(callee))
        return {"call_id": call.call_id, "room_name": call.room_name, "status": "ringing" if online else "offline"}

    async def call_response(self, me: Identity, sid: str, args: list[Any]) -> Ack:
        """The callee's answer: to the caller's room and to the callee's other sockets."""
        answer = parse_response(args)
        call = self._transition(answer.call_id, Action.ACCEPT if answer.accepted else Action.REJECT, me)
        notice = {"call_id": call.call_id, "accepted": answer.accepted, "responder_id": me.user_id}
        rooms = [me.room] if self.faults.response_not_relayed else [user_room(call.caller_id), me.room]
        await self.sio.emit("call_response", notice, to=rooms, skip_sid=sid)
        return {"ok": True}

    async def call_cancel(self, me: Identity, sid: str, args: list[Any]) -> Ack:
        call = self._transition(parse_call_ref(args).call_id, Action.CANCEL, me)
        await self.sio.emit("call_cancelled", {"call_id": call.call_id, "by": me.user_id},
                            to=user_room(call.callee_id))
        return {"ok": True}

    async def call_end(self, me: Identity, sid: str, args: list[Any]) -> Ack:
        call = self._transition(parse_call_ref(args).call_id, Action.END, me)
        await self.sio.emit("call_ended", {"call_id": call.call_id, "by": me.user_id},
                            to=user_room(call.other(me.user_id)))
        return {"ok": True}

    async def webrtc_signal(self, me: Identity, sid: str, args: list[Any]) -> Ack:
        """Relay an offer, answer or candidate to the other party, adding ``from_user_id``."""
        signal = parse_signal(args)
        call = self._call(signal.call_id, me)
        if signal.target != call.other(me.user_id):
            raise BadPayload("target_user_id is not the other party of this call")
        if self.faults.signal_drops_candidates and signal.signal_type == "candidate":
            log.info("fault signal-drops-candidates: candidate of call %s from user %d dropped",
                     call.call_id, me.user_id)
            return {"ok": True}
        relay = {"call_id": call.call_id, "target_user_id": signal.target, "signal_type": signal.signal_type,
                 "data": signal.data, "from_user_id": me.user_id}
        await self.sio.emit("webrtc_signal", relay, to=user_room(signal.target))
        return {"ok": True}

    # ----------------------------------------------------------- helpers

    def _user(self, user_id: int) -> int:
        if self.store.user(user_id) is None:
            raise BadPayload(f"user {user_id} not found")
        return user_id

    def _call(self, call_id: str, me: Identity) -> Call:
        """A call ``me`` is a party of; "call not found" for anybody else."""
        call = self.calls.get(call_id) or self.store.call(call_id)
        if call is None or not call.party(me.user_id):
            raise CallRefused(NOT_FOUND)
        return call

    def _transition(self, call_id: str, action: Action, me: Identity | None) -> Call:
        """Apply ``action`` (by ``me``, or the ring timer) and commit it before anyone hears of it."""
        before = self._call(call_id, me) if me is not None else self.calls.get(call_id)
        if before is None:
            raise CallRefused(NOT_FOUND)
        after = step(before, action, None if me is None else me.user_id)
        self.store.set_call_status(after)
        self.calls.put(after)
        if after.status is not Status.PENDING:
            handle = self._timers.pop(call_id, None)
            if handle is not None:
                handle.cancel()
        log.info("call %s: %s -> %s (%s by %s)", call_id, before.status, after.status, action,
                 "the ring timer" if me is None else f"user {me.user_id}")
        return after

    def _arm_ring_timer(self, call: Call) -> None:
        delay = max(0.0, call.created + self.settings.ring_timeout_s - time.time())
        loop = asyncio.get_running_loop()
        self._timers[call.call_id] = loop.call_later(delay, self._ring_timeout, call.call_id)

    def _ring_timeout(self, call_id: str) -> None:
        self._timers.pop(call_id, None)
        task = asyncio.get_running_loop().create_task(self._miss(call_id))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _miss(self, call_id: str) -> None:
        """A pending call nobody answered in ``ring_timeout_s``: ``missed``, both parties told."""
        call = self.calls.get(call_id)
        if call is None or call.status is not Status.PENDING:
            return
        call = self._transition(call_id, Action.TIMEOUT, None)
        await self.sio.emit("call_missed", {"call_id": call_id},
                            to=[user_room(call.caller_id), user_room(call.callee_id)])


def _first(query: dict[str, list[str]], key: str) -> str | None:
    values = query.get(key)
    return values[0] if values else None


def _remote(environ: dict[str, Any]) -> str:
    request = environ.get("aiohttp.request")
    remote = getattr(request, "remote", None)
    return str(remote) if remote else "?"
