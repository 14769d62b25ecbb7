"""The call-room service driver: REST calls, a polled ring, one WebSocket per call room.

The decisions are the sans-I/O ``client.RoomsClient``'s; requests, polls,
room sockets and timers are ``connection.RoomsConnection``'s. This module
puts them behind the engine's ``Driver`` interface
(``docs/backends/rooms.md``): agents are named by username and learn their
integer id at login (``identity.user_id`` from then on); an invite is "call
by username"; the callee's ring is the first incoming poll that lists the
call; accept, reject and cancel go over REST; offers, answers, candidates
and the hang-up (``end``) go through the call's room, which each party joins
with ``join_room`` (the agent decides when: the call's join order).
Refusals raise ``DriverError``s carrying the HTTP status and the server's words.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

from callprobe.backends.base import (
    AgentIdentity,
    Driver,
    DriverError,
    DriverSpec,
    InviteRefusedError,
    InviteResult,
    MediaKind,
)
from callprobe.backends.rooms.client import Outcome, RoomsClient
from callprobe.backends.rooms.config import RoomsOptions
from callprobe.backends.rooms.connection import JoinRefused, RoomsConnection
from callprobe.errors import DeadlineExceeded, ServerUnreachable
from callprobe.settings import ClientSettings
from callprobe.timeline.events import LoginFailed, Note
from callprobe.timeline.recorder import Timeline

#: The password of accounts a scenario or a walk names without one (the reference server wants 6 or more).
DEFAULT_PASSWORD = "callprobe-password"


class RoomsRefused(DriverError):
    """The server refused a request: its HTTP status (``http_status``) and words."""

    def __init__(self, operation: str, http_status: int, err_msg: str, explanation: str = "") -> None:
        super().__init__(operation, 0, err_msg, explanation)
        self.http_status = http_status
        text = f"{operation} refused: HTTP {http_status} {err_msg}".rstrip()
        self.message = text + (f" ({explanation})" if explanation else "")


class RoomsInviteRefused(InviteRefusedError):
    """"Call by username" refused: 404 unknown callee, 409 busy, ..."""

    def __init__(self, outcome: Outcome) -> None:
        super().__init__(0, outcome.err_msg, outcome.explanation, outcome.busy)
        self.http_status = outcome.status
        self.message = f"invite refused: HTTP {outcome.status} {outcome.err_msg}".rstrip()


def _wall_s() -> int:
    return int(time.time())


class RoomsDriver(Driver):
    """One agent on a call-room service.

    Args:
        base_url: the server, ``http://host:port``.
        options: the deployment's names (``config.RoomsOptions``).
        password: the account's password.
        register: create the account (register endpoint) before logging in.
    """

    family = "rooms"
    has_rooms = True

    def __init__(self, identity: AgentIdentity, timeline: Timeline, settings: ClientSettings, *,
                 base_url: str, options: RoomsOptions | None = None, password: str = "",
                 register: bool = False) -> None:
        super().__init__(identity, timeline, settings)
        self.base_url = base_url.rstrip("/")
        self.options = options or RoomsOptions()
        self.password = password or DEFAULT_PASSWORD
        self.register = register
        self.client = RoomsClient(agent=identity.name, username=identity.login_name, names=self.options,
                                  notice_grace_ms=settings.room_notice_grace_s * 1000.0)
        self._conn: RoomsConnection | None = None

    @property
    def conn(self) -> RoomsConnection:
        """The HTTP session, polls and rooms; made at the first use, in the caller's context
        (an agent logs in inside its network namespace)."""
        if self._conn is None:
            self._conn = RoomsConnection(client=self.client, base_url=self.base_url, timeline=self.timeline,
                                         settings=self.settings, on_notice=self.notices.put_nowait,
                                         poll_interval_s=self.options.poll_interval_s)
        return self._conn

    # ------------------------------------------------------------ login

    async def login(self) -> None:
        """Register (when asked), log in, keep the token and the integer id."""
        conn, creds = self.conn, self.client.credentials(self.password)
        url = self.base_url + self.options.path("login")
        try:
            if self.register:
                reply = await conn.request("POST", self.options.path("register"), creds, auth=False,
                                           setting="login_timeout_s")
                self.client.on_register(reply.status, reply.body)
                conn.flush()
            reply = await conn.request("POST", self.options.path("login"), creds, auth=False,
                                       setting="login_timeout_s")
        except (ServerUnreachable, DeadlineExceeded) as exc:
            self._record(LoginFailed(mode="password", reason=str(exc), url=url, user_id=self.client.username))
            raise
        outcome = self.client.on_login(reply.status, reply.body, reply.latency_ms, url)
        conn.flush()
        if not outcome.ok:
            raise RoomsRefused("login", outcome.status, outcome.err_msg, outcome.explanation)
        self.identity = dataclasses.replace(self.identity, user_id=self.client.user_id,
                                            username=self.client.username)

    # ------------------------------------------------------------ connection

    async def connect(self) -> None:
        """Start the incoming poll (the ring); the first poll must be answered, or the connect fails."""
        if self.connected:
            return
        if not self.client.token:
            await self.login()
        reply = await self.conn.poll_once()
        if reply.status != 200:
            msg = reply.body.get(self.options.key("error"), "") if isinstance(reply.body, dict) else ""
            raise RoomsRefused("connect (incoming poll)", reply.status, str(msg))
        self.conn.start_polling()
        self._record(Note(note="polling", text=f"incoming calls polled every {self.options.poll_interval_s:g} s"))

    async def disconnect(self) -> None:
        """Go offline: no more polls, out of every room (the login is kept)."""
        if self._conn is not None:
            await self._conn.stop_polling()
            await self._conn.leave_all()

    @property
    def connected(self) -> bool:
        return self._conn is not None and self._conn.polling

    # ------------------------------------------------------------ calls

    async def invite(self, callees: list[AgentIdentity], media: MediaKind, timeout_s: int) -> InviteResult:
        """"Call by username": one callee; the call's uuid is its room from now on."""
        if len(callees) != 1:
            raise DriverError("invite", 0, "the call-room service calls one user at a time")
        callee = callees[0]
        body = self.client.invite(callee.user_id, callee.login_name, media, timeout_s)
        self.conn.flush()
        reply = await self.conn.request("POST", self.options.path("call_by_username"), body)
        outcome = self.client.on_invite_reply(reply.status, reply.body, callee.user_id, media)
        self.conn.flush()
        if not outcome.ok:
            raise RoomsInviteRefused(outcome)
        return InviteResult(outcome.room_id)

    async def _act(self, action: str, room_id: str) -> None:
        path = self.client.act(action, room_id)
        self.conn.flush()
        reply = await self.conn.request("POST", path)
        outcome = self.client.on_action_reply(action, room_id, reply.status, reply.body)
        self.conn.flush()
        if not outcome.ok:
            raise RoomsRefused(action, outcome.status, outcome.err_msg, outcome.explanation)

    async def accept(self, room_id: str) -> None:
        await self._act("accept", room_id)

    async def reject(self, room_id: str) -> None:
        await self._act("reject", room_id)

    async def cancel(self, room_id: str) -> None:
        await self._act("cancel", room_id)
        await self.conn.leave(room_id)

    async def hangup(self, room_id: str) -> None:
        """``end`` in the room (joined first if this agent is not in it), then leave."""
        if not self.conn.in_room(room_id):
            self._record(Note(note="join_to_hang_up", room_id=room_id,
                              text="not in the call's room: joining it to send end"))
            await self.join_room(room_id)
        self.client.hangup(room_id, _wall_s())
        self.conn.flush()
        await self.conn.leave(room_id)

    async def join_room(self, room_id: str) -> None:
        try:
            await self.conn.join(room_id)
        except JoinRefused as exc:
            from callprobe.backends.rooms import protocol

            words = protocol.refusal_text(protocol.loads(exc.body), self.options) if exc.body else ""
            raise RoomsRefused("join_room", exc.status, words, protocol.explain_status(exc.status)
                               if exc.status else str(exc)) from None

    async def leave_room(self, room_id: str) -> None:
        """Close the room socket (the call goes on: leaving ends nothing)."""
        await self.conn.leave(room_id)

    async def send_signal(self, peer: str, room_id: str, signal_type: str, data: Any) -> None:
        """Through the room, once the peer is in it (until then the signal waits)."""
        self.client.send_signal(room_id, signal_type, data, _wall_s())
        self.conn.flush()

    async def send_text(self, peer: AgentIdentity, text: str) -> None:
        raise DriverError("send_text", 0, "the call-room service has no text messages")

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            await conn.close()


def create_driver(spec: DriverSpec) -> RoomsDriver:
    """The rooms driver for one agent (the registry's entry point)."""
    server, agent = spec.server, spec.agent
    options = getattr(server, "backend", None)
    if not isinstance(options, RoomsOptions):
        options = RoomsOptions()
    return RoomsDriver(spec.identity, spec.timeline, spec.settings, base_url=spec.endpoints.server,
                       options=options, password=getattr(agent, "password", "") or "",
                       register=spec.register or options.register)


__all__ = ["DEFAULT_PASSWORD", "RoomsDriver", "RoomsInviteRefused", "RoomsRefused", "create_driver"]
