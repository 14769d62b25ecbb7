"""The KKIM gateway driver: calls and messages over one WebSocket.

The decisions are the sans-I/O ``client.KkimClient``'s; frames, timers and
the close are ``connection.KkimConnection``'s; login is ``login``'s. This
module puts them behind the engine's ``Driver`` interface and turns refusals
into ``DriverError``s.
"""

from __future__ import annotations

import time
import uuid
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from callprobe.backends.base import (
    AgentIdentity,
    Driver,
    DriverError,
    DriverSpec,
    InviteRefusedError,
    InviteResult,
    MediaKind,
)
from callprobe.backends.kkim import requests
from callprobe.backends.kkim.calls import KnownCalls
from callprobe.backends.kkim.client import ActionOutcome, KkimClient
from callprobe.backends.kkim.connection import KkimConnection
from callprobe.backends.kkim.handshake import ConnectionLost
from callprobe.backends.kkim.login import LoginError, LoginResult, config_value
from callprobe.backends.kkim.login import login as login_api
from callprobe.backends.kkim.protocol._pb.openim import push_pb2, sdkws_pb2
from callprobe.backends.kkim.protocol.constants import ReqIdentifier, explain_err_code
from callprobe.backends.kkim.protocol.conversation import single_chat_id
from callprobe.backends.kkim.protocol.envelope import DataEncoding, Response
from callprobe.backends.kkim.protocol.payloads import parse
from callprobe.backends.kkim.protocol.rtc_signal import FORM_TOP_LEVEL
from callprobe.errors import DeadlineExceeded, ServerUnreachable
from callprobe.scenario.model import LoginConfig
from callprobe.settings import ClientSettings
from callprobe.timeline.events import LoginFailed, LoginOk, Note
from callprobe.timeline.recorder import Timeline


def default_api_url(ws_url: str) -> str:
    """The auth API on the same host, one port up (upstream 10001 -> 10002)."""
    parts = urlsplit(ws_url)
    scheme = "https" if parts.scheme == "wss" else "http"
    port = (parts.port or (443 if scheme == "https" else 80)) + 1
    return urlunsplit((scheme, f"{parts.hostname}:{port}", "", "", ""))


def _wall_ms() -> int:
    return int(time.time() * 1000)


class KkimDriver(Driver):
    """One agent on a KKIM gateway.

    Args:
        ws_url: gateway address, ``ws://host:port``.
        api_url: auth API base URL; by default the same host, port + 1.
        login_config: a ``LoginConfig`` (None: admin_user_token).
        token: a token to connect with; without ``login_config``, ``login()`` keeps it
            (mode ``fixed``).
        password: for a custom login template's ``{password}``.
        data_encoding: request ``data`` as ``"array"`` (default) or ``"base64"``.
        compression: ask for ``compression=gzip``.
        is_msg_resp: ask for the status text frame after the upgrade.
        signal_form: form of contentType 110 contents (``rtc_signal`` forms).
        adopt_server_room_id: keep True; False reproduces a client that keeps
            its temporary roomID (``docs/field-failures.md#call-not-found-temp-room``).
        register: a user the server does not know is registered with the admin
            token (login mode ``admin_user_token``) and logged in again.
    """

    family = "kkim"

    def __init__(self, identity: AgentIdentity, timeline: Timeline, settings: ClientSettings, *,
                 ws_url: str, api_url: str = "", login_config: LoginConfig | None = None, token: str = "",
                 password: str = "", data_encoding: DataEncoding = "array", compression: bool = False,
                 is_msg_resp: bool = False, signal_form: str = FORM_TOP_LEVEL,
                 adopt_server_room_id: bool = True, register: bool = False) -> None:
        super().__init__(identity, timeline, settings)
        self.ws_url = ws_url
        self.api_url = api_url or default_api_url(ws_url)
        self.login_config = login_config
        self.token = token
        self._given_token = token
        self.password = password
        self.data_encoding: DataEncoding = data_encoding
        self.compression = compression
        self.is_msg_resp = is_msg_resp
        self.signal_form = signal_form
        self.adopt_server_room_id = adopt_server_room_id
        self.register = register
        self.calls = KnownCalls()
        self.last_login: LoginResult | None = None
        self._conn: KkimConnection | None = None

    @property
    def user_id(self) -> str:
        return self.identity.user_id

    # ------------------------------------------------------------ login

    async def login(self) -> None:
        """Get a token as ``login_config`` says; a driver given only a token uses it as is."""
        config = self.login_config
        if config is None and self._given_token:
            config = LoginConfig(mode="fixed", token=self._given_token)
        mode = str(config_value(config, "mode", "admin_user_token"))
        try:
            result = await login_api(self.api_url, self.user_id, self.identity.platform_id, config,
                                     self.settings, token=self.token, password=self.password,
                                     nickname=self.identity.nickname, register=self.register)
        except LoginError as exc:
            self._record(LoginFailed(mode=mode, status=exc.status, err_code=exc.err_code,
                                          err_msg=exc.err_msg, reason=exc.reason, url=exc.url, user_id=self.user_id))
            raise
        except (ServerUnreachable, DeadlineExceeded) as exc:
            self._record(LoginFailed(mode=mode, reason=str(exc), url=self.api_url, user_id=self.user_id))
            raise
        self.token = result.token
        self.last_login = result
        self._record(LoginOk(mode=result.mode, latency_ms=round(result.latency_ms, 3), steps=list(result.steps),
                             expire_s=result.expire_s, user_id=self.user_id, platform=self.identity.platform_id))

    # ------------------------------------------------------------ connection

    async def connect(self) -> None:
        if self.connected:
            return
        if not self.token:
            await self.login()
        client = KkimClient(agent=self.identity.name, user_id=self.user_id, platform_id=self.identity.platform_id,
                            token=self.token, nickname=self.identity.nickname, data_encoding=self.data_encoding,
                            compression=self.compression, signal_form=self.signal_form,
                            adopt_server_room_id=self.adopt_server_room_id, calls=self.calls)
        conn = KkimConnection(client=client, ws_url=self.ws_url, timeline=self.timeline, settings=self.settings,
                              on_notice=self.notices.put_nowait, operation_id=uuid.uuid4().hex,
                              is_msg_resp=self.is_msg_resp)
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
    def connection(self) -> KkimConnection | None:
        return self._conn

    def _open_connection(self, what: str) -> KkimConnection:
        conn = self._conn
        if conn is None or not conn.is_open:
            code = (conn.close_code or 1006) if conn is not None else 1006
            raise ConnectionLost(f"{self.identity.name}: {what}", code, "not connected")
        return conn

    async def wait_closed(self, seconds: float, setting: str) -> None:
        """Wait until the server ends the connection (after a kick or logout)."""
        if self._conn is not None:
            await self._conn.wait_closed(seconds, setting)

    async def ping(self) -> float | None:
        """One heartbeat now: its round trip in ms, or None when unanswered in time."""
        return await self._conn.ping() if self._conn is not None else None

    async def _request(self, req_identifier: int, payload: bytes) -> Response:
        conn = self._open_connection(f"request {req_identifier}")
        incr = conn.client.send_request(req_identifier, payload, conn.now_ms())
        return await conn.send(incr)

    async def logout(self) -> None:
        """2003 logout request (``docs/backends/kkim.md#request-identifiers``): a reply, then the server closes."""
        req = push_pb2.DelUserPushTokenReq(userID=self.user_id, platformID=self.identity.platform_id)
        resp = await self._request(ReqIdentifier.LOGOUT_MSG, req.SerializeToString())
        if resp.err_code:
            raise DriverError("logout", resp.err_code, resp.err_msg, explain_err_code(resp.err_code))
        conn = self._conn
        if conn is not None:
            try:
                await conn.wait_closed(self.settings.close_timeout_s, "close_timeout_s")
            except DeadlineExceeded:
                self._record(Note(note="logout_no_close",
                                  text="the server kept the connection open after the 2003 logout reply"))
            await self.disconnect()

    # ------------------------------------------------------------ calls

    async def invite(self, callees: list[AgentIdentity], media: MediaKind, timeout_s: int) -> InviteResult:
        conn = self._open_connection("invite")
        incr = conn.client.invite([c.user_id for c in callees], media, timeout_s, conn.now_ms(), _wall_ms())
        await conn.send(incr)
        outcome = conn.client.invite_outcome(incr)
        if outcome.refused:
            raise InviteRefusedError(outcome.err_code, outcome.err_msg, outcome.explanation, outcome.busy)
        return InviteResult(outcome.room_id, outcome.busy)

    async def _act(self, action: str, room_id: str) -> None:
        conn = self._open_connection(action)
        incr = conn.client.act(action, room_id, conn.now_ms())
        await conn.send(incr)
        self._raise_refusal(action, conn.client.action_outcome(incr))

    @staticmethod
    def _raise_refusal(action: str, outcome: ActionOutcome) -> None:
        if outcome.refused:
            raise DriverError(action, outcome.err_code, outcome.err_msg, outcome.explanation)

    async def accept(self, room_id: str) -> None:
        await self._act("accept", room_id)

    async def reject(self, room_id: str) -> None:
        await self._act("reject", room_id)

    async def cancel(self, room_id: str) -> None:
        await self._act("cancel", room_id)

    async def hangup(self, room_id: str) -> None:
        await self._act("hungUp", room_id)

    # ------------------------------------------------------------ messages

    async def send_text(self, peer: AgentIdentity, text: str) -> None:
        conn = self._open_connection("send_text")
        incr = conn.client.send_text(peer.user_id, text, conn.now_ms(), _wall_ms())
        await conn.send(incr)
        self._raise_refusal("send_text", conn.client.action_outcome(incr))

    async def send_signal(self, peer: str, room_id: str, signal_type: str, data: Any) -> None:
        conn = self._open_connection("send_signal")
        incr = conn.client.send_signal(peer, room_id, signal_type, data, conn.now_ms(), _wall_ms())
        await conn.send(incr)
        self._raise_refusal("send_signal", conn.client.action_outcome(incr))

    async def send_message(self, msg: sdkws_pb2.MsgData) -> None:
        """Send a whole ``MsgData`` as given (SendMsg 1003); a refusal raises ``DriverError`` with its errCode."""
        conn = self._open_connection("send_message")
        incr = conn.client.send_message(msg, conn.now_ms())
        await conn.send(incr)
        self._raise_refusal("send_message", conn.client.action_outcome(incr))

    async def newest_seqs(self) -> dict[str, int]:
        """1001 GetNewestSeq: the newest seq of each conversation the server lists for this user."""
        resp = await self._request(ReqIdentifier.GET_NEWEST_SEQ, requests.newest_seq(self.user_id).SerializeToString())
        if resp.err_code:
            raise DriverError("GetNewestSeq", resp.err_code, resp.err_msg, explain_err_code(resp.err_code))
        return dict(parse(sdkws_pb2.GetMaxSeqResp, resp.data).maxSeqs)

    async def pull_conversation(self, conversation_id: str, max_seq: int, begin: int = 1) -> list[sdkws_pb2.MsgData]:
        """1002 PullMsgBySeqList: seqs ``begin`` to ``max_seq`` of a conversation named by its ID."""
        begin = max(1, begin)
        if max_seq < begin:
            return []
        req = requests.pull_range(self.user_id, conversation_id, max_seq, begin)
        resp = await self._request(ReqIdentifier.PULL_MSG_BY_SEQ_LIST, req.SerializeToString())
        if resp.err_code:
            raise DriverError("PullMsgBySeqList", resp.err_code, resp.err_msg, explain_err_code(resp.err_code))
        pulled = parse(sdkws_pb2.PullMessageBySeqsResp, resp.data)
        msgs = list(pulled.msgs[conversation_id].Msgs) if conversation_id in pulled.msgs else []
        self._record(Note(note="history_pulled", extra={"conversation": conversation_id, "max_seq": max_seq,
                                                        "count": len(msgs)}))
        return msgs

    async def pull_history(self, peer: str) -> list[sdkws_pb2.MsgData]:
        """Every stored message of the ``si_`` conversation with ``peer`` (1001 then 1002)."""
        conv = single_chat_id(self.user_id, peer)
        max_seq = (await self.newest_seqs()).get(conv, 0)
        return await self.pull_conversation(conv, max_seq)


def create_driver(spec: DriverSpec) -> KkimDriver:
    """The KKIM driver for one scenario agent (the registry's entry point)."""
    agent, server = spec.agent, spec.server
    return KkimDriver(
        spec.identity, spec.timeline, spec.settings,
        ws_url=spec.endpoints.server, api_url=spec.endpoints.api,
        login_config=server.login if server is not None else None,
        data_encoding="base64" if agent is not None and agent.data_encoding == "base64" else "array",
        compression=agent is not None and agent.compression == "gzip",
        token=agent.token if agent is not None else "", password=agent.password if agent is not None else "",
        register=spec.register,
    )


__all__ = ["KkimDriver", "create_driver", "default_api_url"]
