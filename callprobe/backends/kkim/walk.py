"""What ``callprobe diagnose`` probes on a KKIM gateway beyond the common links.

Auth probes: a handshake without a token, and one with a forged token, both
under a throwaway user (a server that wrongly lets a probe in must not kick
the walk's own caller off). Heartbeat: one text ping. History: pull the
caller's conversation with the callee and check the 1601 invitation record
of the walked call came back whole (``docs/field-failures.md#history-loses-payload``).

Two extra steps, after every call of the walk, check what a server must not
let an ordinary user do (``docs/backends/kkim.md#limits``), with throwaway
users logged in through the walk's own login mode (registered when the
server does not know them) and kept off the walk's timeline (the step marker
carries what they saw; ``analysis.diagnostics.links``). Their names are the
same for the same caller and callee on every walk, so accounts do not pile up:

* conversation leak: users whose single-chat IDs collide, (a, b_c) and
  (a_b, c) both making ``si_a_b_c``; ``a`` sends ``b_c`` a text and ``c``
  pulls that ID (``docs/field-failures.md#conversation-read-by-another-pair``);
* forged invite, last: a throwaway user sends the callee 1601 messages
  naming the caller as the inviter, as a system message and as its own,
  each under a room of its own; the callee must not ring
  (``docs/field-failures.md#forged-call-invitation``). Nothing waits for a
  ring or answers one any more, and those rooms are no call's.

When the server refuses a throwaway login, a send or the pull, the step says
the link could not be checked: no finding either way.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from callprobe.analysis.calls import FORGED_ROOMS_FIELD
from callprobe.analysis.diagnostics.links import (
    STEP_CONVERSATION_LEAK,
    STEP_FORGED_INVITE,
    STEP_PROBE_NO_TOKEN,
    STEP_PROBE_WRONG_TOKEN,
    STEP_STALE_STATE,
    Link,
)
from callprobe.backends.base import (
    AgentIdentity,
    AuthProbe,
    Driver,
    DriverError,
    DriverNotice,
    ExtraStep,
    WalkContext,
    WalkProbes,
    WalkTarget,
)
from callprobe.backends.kkim import requests
from callprobe.backends.kkim.client import read_text
from callprobe.backends.kkim.connection import probe_handshake
from callprobe.backends.kkim.driver import KkimDriver
from callprobe.backends.kkim.handshake import build_ws_url
from callprobe.backends.kkim.protocol._pb.openim import rtc_pb2, sdkws_pb2
from callprobe.backends.kkim.protocol.call_notice import CallNotice, decode_1601
from callprobe.backends.kkim.protocol.constants import ContentType, MsgFrom, SessionType
from callprobe.backends.kkim.protocol.conversation import single_chat_id
from callprobe.errors import ServerUnreachable
from callprobe.net.netns import placed
from callprobe.scenario.model import LoginConfig
from callprobe.settings import ClientSettings
from callprobe.timeline.events import Ringing
from callprobe.timeline.recorder import Timeline

T = TypeVar("T")

#: A forged token: well-formed JWT shape, signature that no secret produces.
FORGED_TOKEN = ("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJVc2VySUQiOiJjYWxscHJvYmUiLCJQbGF0Zm9ybUlEIjo1fQ."
                "Zm9yZ2VkLXNpZ25hdHVyZS1ieS1jYWxscHJvYmU")


class KkimProbes(WalkProbes):
    def __init__(self, target: WalkTarget, settings: ClientSettings) -> None:
        self.target = target
        self.settings = settings

    def auth_probes(self) -> list[AuthProbe]:
        return [AuthProbe(STEP_PROBE_NO_TOKEN, lambda: self._probe(None)),
                AuthProbe(STEP_PROBE_WRONG_TOKEN, lambda: self._probe(FORGED_TOKEN))]

    async def _probe(self, token: str | None) -> dict[str, Any]:
        t = self.target
        user = f"{t.caller}_authprobe_{uuid.uuid4().hex[:6]}"
        url = build_ws_url(t.server, user_id=user, token=token, platform_id=t.caller_platform,
                           operation_id=uuid.uuid4().hex)
        with placed(t.caller_netns):  # probes leave from the caller's host
            return await probe_handshake(url, self.settings)

    async def heartbeat(self, driver: Driver) -> dict[str, Any]:
        assert isinstance(driver, KkimDriver)
        rtt = await driver.ping()
        return {"ok": rtt is not None, "sent": 1, "replies": int(rtt is not None), "rtt_ms": rtt}

    async def history(self, driver: Driver, peer: AgentIdentity, room_id: str) -> dict[str, Any]:
        assert isinstance(driver, KkimDriver)
        msgs = await driver.pull_history(peer.user_id)
        found: dict[str, Any] = {"room_id": room_id, "found": False, "complete": False, "missing": ["record"],
                                 "content_type": None}
        for msg in msgs:
            if msg.contentType != ContentType.SIGNALING_NOTIFICATION:
                continue
            notice = decode_1601(bytes(msg.content)) if msg.content else None
            if notice is not None and notice.room_id and notice.room_id != room_id:
                continue
            if notice is not None and notice.action != "invite":
                continue
            missing = missing_parts(notice) if msg.content else ["content"]
            found = {"room_id": room_id, "found": True, "complete": not missing, "missing": missing,
                     "content_type": msg.contentType, "seq": msg.seq}
            if not missing:
                break
        return {"ok": True, **found}


    # ------------------------------------------------------------ what users must not do

    def extra_steps(self) -> list[ExtraStep]:
        # both after every call of the walk: a leak found must not hide the busy check, and nothing
        # waits for a ring or answers one any more when the forged invitations go out
        return [ExtraStep(STEP_STALE_STATE, Link.HISTORY.value, STEP_CONVERSATION_LEAK, "",
                          _checked_or_why(self._conversation_leak)),
                ExtraStep(STEP_STALE_STATE, Link.AUTH_PROBES.value, STEP_FORGED_INVITE, "",
                          _checked_or_why(self._forged_invite))]

    def _throwaway_base(self) -> str:
        """The same throwaway names for the same two users on every walk: no accounts pile up on a server."""
        digest = hashlib.sha256(f"{self.target.caller}\0{self.target.callee}".encode()).hexdigest()
        return f"cp{digest[:8]}"

    async def _conversation_leak(self, ctx: WalkContext) -> dict[str, Any]:
        """``a`` texts ``b_c``; ``c``, of the pair (a_b, c) with the same conversation ID, pulls that ID."""
        base = self._throwaway_base()
        a, b, c = f"{base}a", f"{base}b", f"{base}c"
        first, second = (a, f"{b}_{c}"), (f"{a}_{b}", c)
        conv = single_chat_id(*first)
        fields: dict[str, Any] = {"ok": True, "checked": False, "conversation": conv,
                                  "pairs": [list(first), list(second)], "reader": c}
        async with _Throwaways(self.target, self.settings) as users:
            try:
                sender = await users.connect(a)
            except _NotChecked as exc:
                return {**fields, "reason": f"could not be checked: {exc}"}
            try:
                recipient = await users.connect(first[1])
            except _NotChecked as exc:  # a plain ID was let in, one with _ was not: no collision can happen
                return {**fields, "checked": True, "refused_underscore": True, "pulled": [],
                        "reason": f"the server refuses user IDs with _ ({exc}), so no two pairs share an ID"}
            try:
                reader = await users.connect(c)
                await users.login(second[0])  # c's peer: never connected, but it must exist
                await _step(f"{c}'s own message to {second[0]}",
                            reader.send_text(users.identity(second[0]), "callprobe: the other pair's message"))
                await _step(f"{a}'s message to {first[1]}",
                            sender.send_text(users.identity(first[1]), f"callprobe: {a} to {first[1]}, private"))
                # upstream files a message (and its seq) after acknowledging it: its push says it is stored
                if not await users.notice(recipient, lambda n: n.kind == "text_received" and n.peer == a,
                                          self.settings.default_expect_within_s + self.settings.diagnose_late_window_s):
                    raise _NotChecked(f"{a}'s message never reached {first[1]}, so it may not be stored yet")
                newest = (await _step(f"{c}'s GetNewestSeq (1001)", reader.newest_seqs())).get(conv, 0)
                # the probe's two newest messages, however the server counts, and a few before
                pulled = await _step(f"{c}'s PullMsgBySeqList (1002) of {conv}",
                                     reader.pull_conversation(conv, newest + 2, begin=newest - 3))
            except _NotChecked as exc:
                return {**fields, "reason": f"could not be checked: {exc}"}
        seen = [_summary(m) for m in pulled]
        return {**fields, "checked": True, "newest_seq": newest, "pulled": seen,
                "reason": f"{c} pulled {conv} (newest seq {newest}) and got {len(seen)} message(s)"}

    async def _forged_invite(self, ctx: WalkContext) -> dict[str, Any]:
        """A throwaway user sends the callee call invitations naming the caller as the inviter.

        Two forgeries, each under a room of its own: a system message
        (msgFrom 200), and the same invitation as an ordinary user's message
        (msgFrom 100), which a server that only refuses msgFrom 200 still relays.
        """
        t, s = self.target, self.settings
        caller, callee = ctx.caller_driver.identity.user_id, ctx.callee_driver.identity.user_id
        forger = f"{self._throwaway_base()}f"
        sent: list[dict[str, Any]] = []
        msgs: list[sdkws_pb2.MsgData] = []
        for msg_from in (MsgFrom.SYSTEM, MsgFrom.USER):
            room = f"callprobe-forged-{uuid.uuid4().hex}"
            invitation = rtc_pb2.InvitationInfo(
                inviterUserID=caller, inviteeUserIDList=[callee], roomID=room, timeout=s.diagnose_ring_s,
                mediaType=t.media, platformID=t.caller_platform, sessionType=int(SessionType.SINGLE_CHAT),
                initiateTime=int(time.time() * 1000))
            msg = requests.call_notice(forger, t.caller_platform, callee, invitation, int(time.time() * 1000),
                                       msg_from=msg_from)
            msgs.append(msg)
            sent.append({"room": room, "send_id": forger, "recv_id": callee, "msg_from": int(msg_from),
                         "content_type": msg.contentType, "inviter": caller, "invitees": [callee],
                         "client_msg_id": msg.clientMsgID})
        fields: dict[str, Any] = {"ok": True, "checked": False, FORGED_ROOMS_FIELD: [f["room"] for f in sent],
                                  "forger": forger, "forged": sent}
        async with _Throwaways(self.target, self.settings) as users:
            try:
                sender = await users.connect(forger)
            except _NotChecked as exc:
                return {**fields, "reason": f"could not be checked: {exc}"}
            for forged, msg in zip(sent, msgs, strict=True):
                since = ctx.timeline.now_ms()
                try:
                    await sender.send_message(msg)
                except DriverError as exc:
                    forged.update(refused=True, answered=bool(exc.err_code), err_code=exc.err_code,
                                  err_msg=exc.err_msg)
                    continue
                ring = await ctx.wait_for("callee", Ringing, s.default_expect_within_s + s.diagnose_late_window_s,
                                          since, pred=_in_room(str(forged["room"])))
                forged.update(refused=False, answered=True, rang=ring is not None)
        answered = [f for f in sent if f.get("answered")]
        if not answered:
            return {**fields, "reason": "could not be checked: the forged messages got no answer"}
        accepted = [f"msgFrom {f['msg_from']}" for f in sent if not f.get("refused")]
        said = (f"the server accepted the forged invitation(s) with {' and '.join(accepted)}" if accepted
                else "the server refused every forged invitation")
        return {**fields, "checked": True, "reason": said}


def _in_room(room: str) -> Callable[[Ringing], bool]:
    return lambda e: e.room_id == room


def _checked_or_why(probe: Callable[[WalkContext], Awaitable[dict[str, Any]]],
                    ) -> Callable[[WalkContext], Awaitable[dict[str, Any]]]:
    """A probe of what users must not do never fails its link by itself: an error is a link not checked."""
    async def run(ctx: WalkContext) -> dict[str, Any]:
        try:
            return await probe(ctx)
        except ServerUnreachable:
            raise
        except Exception as exc:
            return {"ok": True, "checked": False, "reason": f"could not be checked: {type(exc).__name__}: {exc}"}

    return run


class _NotChecked(Exception):
    """A throwaway login, send or pull the server refused: the step could not be checked."""


async def _step(what: str, action: Awaitable[T]) -> T:
    """Await ``action``; any failure is ``_NotChecked`` naming ``what``."""
    try:
        return await action
    except _NotChecked:
        raise
    except Exception as exc:
        raise _NotChecked(f"{what} failed: {type(exc).__name__}: {exc}") from exc


class _Throwaways:
    """Users the probes log in besides the walk's two, through the walk's login mode.

    They record on a timeline of their own: nothing they do is judged as the
    walk's, only what the step marker says. Their sockets leave from the
    caller's host, as the auth probes'.
    """

    def __init__(self, target: WalkTarget, settings: ClientSettings) -> None:
        self.target = target
        self.settings = settings
        self.timeline = Timeline()
        self.drivers: dict[str, KkimDriver] = {}

    async def __aenter__(self) -> _Throwaways:
        return self

    async def __aexit__(self, *exc: object) -> None:
        for driver in self.drivers.values():
            with contextlib.suppress(Exception):
                await asyncio.wait_for(driver.close(), self.settings.teardown_timeout_s)

    def identity(self, user_id: str) -> AgentIdentity:
        return AgentIdentity(f"probe {user_id}", user_id, self.target.caller_platform, username=user_id)

    async def login(self, user_id: str) -> KkimDriver:
        t = self.target
        config = t.login or LoginConfig()
        if config.mode == "fixed":
            raise _NotChecked("login mode 'fixed' has tokens for the walk's two users only; "
                              "throwaway users cannot log in")
        driver = KkimDriver(self.identity(user_id), self.timeline, self.settings, ws_url=t.server, api_url=t.api,
                            login_config=config, password=t.password, register=True)
        self.drivers[user_id] = driver
        with placed(t.caller_netns):
            await _step(f"the login of throwaway user {user_id}", driver.login())
        return driver

    async def connect(self, user_id: str) -> KkimDriver:
        driver = await self.login(user_id)
        with placed(self.target.caller_netns):
            await _step(f"the connection of throwaway user {user_id}", driver.connect())
        return driver

    async def notice(self, driver: KkimDriver, pred: Callable[[DriverNotice], bool], seconds: float) -> bool:
        """Whether ``driver`` got a notice matching ``pred`` within ``seconds``."""
        loop = asyncio.get_running_loop()
        end = loop.time() + seconds
        while (left := end - loop.time()) > 0:
            try:
                got = await asyncio.wait_for(driver.notices.get(), left)
            except TimeoutError:
                return False
            if pred(got):
                return True
        return False


def _summary(msg: sdkws_pb2.MsgData) -> dict[str, Any]:
    """A pulled message in a step marker: who to whom, which seq, and its text."""
    text = read_text(bytes(msg.content))[0] if msg.contentType == ContentType.TEXT else ""
    return {"seq": msg.seq, "send_id": msg.sendID, "recv_id": msg.recvID, "content_type": msg.contentType,
            "client_msg_id": msg.clientMsgID, "text": text[:120]}


def missing_parts(notice: CallNotice | None) -> list[str]:
    """What a stored invitation lacks: a record a client cannot show buttons for."""
    if notice is None:
        return ["invitation"]
    checks = (("inviter", notice.inviter), ("invitees", notice.invitees), ("roomID", notice.room_id),
              ("mediaType", notice.media_type))
    return [name for name, value in checks if not value]


def create_probes(target: WalkTarget, settings: ClientSettings) -> KkimProbes:
    return KkimProbes(target, settings)
