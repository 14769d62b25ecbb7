"""The Socket.IO chat backend driver: REST login, then calls and messages over one Socket.IO connection.

The decisions are the sans-I/O ``client.SocketioClient``'s; the socket, the
clock and the deadlines are ``connection.SocketioConnection``'s; register,
login and history are ``rest``'s. This module puts them behind the engine's
``Driver`` interface and turns refusals into ``DriverError``s.

Agents are named by username; login returns the integer id the backend names
users by, and from then on ``identity.user_id`` is that id, as text
(``docs/backends/socketio.md#ids``).
"""

from __future__ import annotations

import dataclasses
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
from callprobe.backends.socketio import rest
from callprobe.backends.socketio.client import KnownCalls, SocketioClient
from callprobe.backends.socketio.config import DEFAULT_PASSWORD, SocketioOptions
from callprobe.backends.socketio.connection import SocketClosed, SocketioConnection
from callprobe.errors import CallprobeError, DeadlineExceeded, ServerUnreachable
from callprobe.settings import ClientSettings
from callprobe.timeline.events import LoginFailed, LoginOk, Note
from callprobe.timeline.recorder import Timeline


class SocketioDriver(Driver):
    """One agent on a Socket.IO chat backend.

    Args:
        base_url: the server's base URL, ``http://host:port`` (REST and Socket.IO).
        options: the deployment's names (``config.SocketioOptions``).
        password: the account's password (``config.DEFAULT_PASSWORD`` when empty).
        register: create the account before logging in (an existing one is fine).
    """

    family = "socketio"

    def __init__(self, identity: AgentIdentity, timeline: Timeline, settings: ClientSettings, *,
                 base_url: str, options: SocketioOptions | None = None, password: str = "",
                 register: bool = False) -> None:
        super().__init__(identity, timeline, settings)
        self.username = identity.login_name
        self.base_url = base_url.rstrip("/")
        self.options = options or SocketioOptions()
        self.password = password or DEFAULT_PASSWORD
        self.register = register or self.options.auto_register
        self.token = ""
        self.calls = KnownCalls()
        self._conn: SocketioConnection | None = None

    @property
    def peer_media(self) -> bool:
        return self.options.media == "peer"

    # ------------------------------------------------------------ login

    async def login(self) -> None:
        """Register when asked, log in; keep the token and the id the server gave."""
        try:
            account = await rest.login(self.base_url, self.options, self.username, self.password, self.settings,
                                       create=self.register)
        except rest.RestRefused as exc:
            self._record(LoginFailed(mode="password", status=exc.http_status, err_msg=exc.detail,
                                     reason=f"{exc.operation} refused", url=exc.url, user_id=self.username))
            raise
        except (ServerUnreachable, DeadlineExceeded) as exc:
            self._record(LoginFailed(mode="password", reason=str(exc), url=self.base_url, user_id=self.username))
            raise
        self.token = account.token
        self.identity = dataclasses.replace(self.identity, user_id=account.user_id, username=self.username)
        self._record(LoginOk(mode="password", latency_ms=round(account.latency_ms, 3), steps=list(account.steps),
                             user_id=account.user_id, username=self.username))

    # ------------------------------------------------------------ connection

    async def connect(self) -> None:
        if self.connected:
            return
        if not self.token:
            await self.login()
        client = SocketioClient(agent=self.identity.name, user_id=self.identity.user_id, options=self.options,
                                calls=self.calls)
        conn = SocketioConnection(client=client, base_url=self.base_url, token=self.token, options=self.options,
                                  timeline=self.timeline, settings=self.settings, on_notice=self.notices.put_nowait)
        await conn.open()
        self._conn = conn

    async def disconnect(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            await conn.close()

    @property
    def connected(self) -> bool:
        return self._conn is not None and self._conn.is_open

    @property
    def connection(self) -> SocketioConnection | None:
        return self._conn

    def _open_connection(self, what: str) -> SocketioConnection:
        conn = self._conn
        if conn is None or not conn.is_open:
            raise SocketClosed(f"{self.identity.name}: {what}: not connected")
        return conn

    # ------------------------------------------------------------ calls

    async def invite(self, callees: list[AgentIdentity], media: MediaKind, timeout_s: int) -> InviteResult:
        return await self.invite_as(callees, media, timeout_s, self.options.id_type)

    async def invite_as(self, callees: list[AgentIdentity], media: MediaKind, timeout_s: int,
                        id_type: str) -> InviteResult:
        """Invite with the callee's id sent as ``id_type`` (``int`` or ``string``)."""
        if len(callees) != 1:
            raise CallprobeError(f"{self.identity.name}: the Socket.IO chat backend calls one user at a time, "
                                 f"not {len(callees)}")
        conn = self._open_connection("invite")
        ack_id = conn.client.invite(callees[0].user_id, media, timeout_s, conn.now_ms(), id_type=id_type)
        await conn.request(ack_id)
        outcome = conn.client.invite_outcome(ack_id)
        if outcome.refused:
            raise InviteRefusedError(0, outcome.err_msg, outcome.explanation, outcome.busy)
        return InviteResult(outcome.call_id)

    async def _act(self, what: str, ack_id: str, conn: SocketioConnection) -> None:
        await conn.request(ack_id)
        outcome = conn.client.action_outcome(ack_id)
        if outcome.refused:
            raise DriverError(what, 0, outcome.err_msg, outcome.explanation)

    async def accept(self, room_id: str) -> None:
        conn = self._open_connection("accept")
        await self._act("accept", conn.client.respond(room_id, True, conn.now_ms()), conn)

    async def reject(self, room_id: str) -> None:
        conn = self._open_connection("reject")
        await self._act("reject", conn.client.respond(room_id, False, conn.now_ms()), conn)

    async def cancel(self, room_id: str) -> None:
        conn = self._open_connection("cancel")
        await self._act("cancel", conn.client.cancel(room_id, conn.now_ms()), conn)

    async def hangup(self, room_id: str) -> None:
        conn = self._open_connection("hangup")
        await self._act("hangup", conn.client.end(room_id, conn.now_ms()), conn)

    async def send_signal(self, peer: str, room_id: str, signal_type: str, data: Any) -> None:
        if not self.peer_media:
            self._record(Note(note="signal_not_sent", room_id=room_id,
                              text="media: conference: no peer media is signalled"))
            return
        conn = self._open_connection("send_signal")
        await self._act("send_signal", conn.client.send_signal(peer, room_id, signal_type, data, conn.now_ms()), conn)

    # ------------------------------------------------------------ messages

    async def send_text(self, peer: AgentIdentity, text: str) -> None:
        conn = self._open_connection("send_text")
        await self._act("send_text", conn.client.send_text(peer.user_id, text, conn.now_ms()), conn)

    async def history(self, peer: str) -> list[dict[str, Any]]:
        """Page 1 of the conversation with user ``peer`` (an id), as the history API lists it."""
        if not self.token:
            await self.login()
        rows = await rest.history(self.base_url, self.options, self.token, peer, self.settings)
        self._record(Note(note="history_pulled", extra={"peer": peer, "count": len(rows)}))
        return rows

    async def wait_ping(self, seconds: float) -> bool:
        """Wait up to ``seconds`` for the server's next Engine.IO ping."""
        conn = self._conn
        return await conn.wait_ping(seconds) if conn is not None else False


def create_driver(spec: DriverSpec) -> SocketioDriver:
    """The socketio driver for one scenario agent (the registry's entry point)."""
    server, agent = spec.server, spec.agent
    options = getattr(server, "backend", None)
    if not isinstance(options, SocketioOptions):
        options = SocketioOptions()
    return SocketioDriver(spec.identity, spec.timeline, spec.settings, base_url=spec.endpoints.server,
                          options=options, password=agent.password if agent is not None else "",
                          register=spec.register)


__all__ = ["SocketioDriver", "create_driver"]
