"""The diagnose walk: every link of a call, in order, until one breaks.

Each link is one step with its own deadline. The walk only *acts* and
*records*: what broke is decided by the pure rules in
``callprobe.analysis.diagnostics`` reading the timeline, after every step, with the
links tried so far; the walk stops at the first error. The probe markers it
records are the contract of ``callprobe.analysis.diagnostics.links``.

Link order: login, handshake, auth probes (no token, forged token), heartbeat,
a plain text push, invite acknowledged, ringing, accept notice, SDP and
candidates relayed, ICE, media both ways, hangup notice, history holding the
invite record, and a second invite not refused as busy.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import websockets
from websockets.exceptions import InvalidStatus, WebSocketException

from callprobe.engine.agent import Agent
from callprobe.analysis.diagnostics import findings as F
from callprobe.analysis.diagnostics.context import RuleContext
from callprobe.analysis.diagnostics.findings import Finding, Severity, make_finding
from callprobe.analysis.diagnostics.links import (
    OUTCOME_ACCEPTED,
    OUTCOME_FAILED,
    OUTCOME_REFUSED,
    STEP_ANSWER,
    STEP_CONNECT,
    STEP_HANGUP,
    STEP_HEARTBEAT,
    STEP_HISTORY,
    STEP_INVITE,
    STEP_LOGIN,
    STEP_MEDIA,
    STEP_PROBE_NO_TOKEN,
    STEP_PROBE_WRONG_TOKEN,
    STEP_STALE_STATE,
    STEP_TEXT_PUSH,
    Link,
)
from callprobe.analysis.diagnostics.rules import diagnose_timeline, first_broken_link
from callprobe.backends.base import AgentIdentity, MediaKind
from callprobe.backends.kkim.driver import KkimDriver
from callprobe.backends.kkim.connection import build_ws_url, parse_refusal
from callprobe.errors import CallprobeError, ServerUnreachable
from callprobe.timeline.events import Event, Kind, Timeline
from callprobe.net.netns import placed
from callprobe.backends.kkim.protocol.call_notice import decode_1601
from callprobe.backends.kkim.protocol.constants import ContentType
from callprobe.rtc.ice_config import IceConfig
from callprobe.settings import ClientSettings

#: The finding a link gets when it failed in a way no rule has words for
#: (an exception, a deadline): the walk must never call such a run healthy.
LINK_FAILURE_CODE: dict[str, str] = {
    Link.LOGIN.value: F.LOGIN_FAILED,
    Link.HANDSHAKE.value: F.HANDSHAKE_REFUSED,
    Link.AUTH_PROBES.value: F.HANDSHAKE_REFUSED,
    Link.HEARTBEAT.value: F.HEARTBEAT_UNANSWERED,
    Link.TEXT_PUSH.value: F.PUSH_PATH_BROKEN,
    Link.RINGING.value: F.INVITE_REJECTED_BY_SERVER,
    Link.ANSWER.value: F.ANSWER_NOT_DELIVERED,
    Link.MEDIA.value: F.MEDIA_NOT_FLOWING,
    Link.HANGUP.value: F.HANGUP_NOT_DELIVERED,
    Link.HISTORY.value: F.HISTORY_PAYLOAD_MISSING,
    Link.STALE_STATE.value: F.STALE_CALL_STATE,
}

#: A forged token: well-formed JWT shape, signature that no secret produces.
FORGED_TOKEN = ("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJVc2VySUQiOiJjYWxscHJvYmUiLCJQbGF0Zm9ybUlEIjo1fQ."
                "Zm9yZ2VkLXNpZ25hdHVyZS1ieS1jYWxscHJvYmU")


@dataclass(frozen=True)
class WalkTarget:
    """Where and whom to walk: a gateway, its auth API and two accounts."""

    ws_url: str
    api_url: str
    caller: str
    callee: str
    caller_platform: int = 5
    callee_platform: int = 5
    media: MediaKind = "video"
    login: Any = None
    ice: IceConfig = field(default_factory=IceConfig)
    caller_ice: IceConfig | None = None   # None: ``ice``
    callee_ice: IceConfig | None = None
    caller_netns: str | None = None       # the network namespace of each side's sockets
    callee_netns: str | None = None


@dataclass
class WalkResult:
    target: WalkTarget
    events: list[Event]
    findings: list[Finding]
    first: Finding | None
    links: list[tuple[str, str, str, bool]]  # (link, step, agent, ok) in walk order
    duration_ms: float = 0.0
    aborted: str = ""

    @property
    def healthy(self) -> bool:
        """No error finding, every link walked ended well, and nothing aborted."""
        return (not self.aborted and all(ok for *_, ok in self.links)
                and not any(f.severity == Severity.ERROR for f in self.findings))


class Stop(Exception):
    """A link broke: the walk ends here (teardown still runs)."""


class Walk:
    """Walk one call; ``await Walk(target, settings).run()``."""

    CALLER, CALLEE = "caller", "callee"

    def __init__(self, target: WalkTarget, settings: ClientSettings,
                 progress: Callable[[str], None] | None = None) -> None:
        self.target = target
        self.settings = settings
        self.timeline = Timeline()
        self.progress = progress
        self.links: list[tuple[str, str, str, bool]] = []
        self._tried: set[str] = set()
        self._unexplained: list[Finding] = []
        self.ctx = RuleContext.from_settings(
            settings, caller=self.CALLER, callee=self.CALLEE, caller_user=target.caller,
            callee_user=target.callee, media=target.media,
            ring_deadline_ms=settings.default_expect_within_s * 1000.0,
            notice_deadline_ms=settings.default_expect_within_s * 1000.0,
        )
        self.agents = {
            self.CALLER: self._agent(self.CALLER, target.caller, target.caller_platform,
                                     target.caller_ice, target.caller_netns),
            self.CALLEE: self._agent(self.CALLEE, target.callee, target.callee_platform,
                                     target.callee_ice, target.callee_netns),
        }
        self.room_id = ""

    def _agent(self, name: str, user_id: str, platform: int, ice: IceConfig | None,
               namespace: str | None) -> Agent:
        driver = KkimDriver(AgentIdentity(name, user_id, platform), self.timeline, self.settings,
                            ws_url=self.target.ws_url, api_url=self.target.api_url,
                            login_config=self.target.login)
        return Agent(name, driver, self.timeline, self.settings, ice or self.target.ice,
                     self.target.media, netns=namespace)

    @property
    def caller(self) -> Agent:
        return self.agents[self.CALLER]

    @property
    def callee(self) -> Agent:
        return self.agents[self.CALLEE]

    # ------------------------------------------------------------- framing

    def _say(self, text: str) -> None:
        if self.progress:
            self.progress(text)

    def _findings(self) -> list[Finding]:
        ctx = self.ctx.with_probes(self._tried)
        found = diagnose_timeline(self.timeline.events, ctx) + self._unexplained
        return sorted(found, key=lambda f: f.at_ms if f.at_ms is not None else float("inf"))

    async def _link(self, link: Link, step: str, agent: str,
                    body: Callable[[], Awaitable[dict[str, Any]]]) -> None:
        """Run one step inside its markers, then stop if any link broke."""
        self._say(f"{link.value}: {step} ({agent or 'both'})")
        self.timeline.record(agent, Kind.STEP_STARTED, step=step)
        fields: dict[str, Any]
        try:
            fields = await body()
        except ServerUnreachable:
            raise
        except (CallprobeError, OSError, asyncio.TimeoutError) as exc:
            fields = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        fields.setdefault("ok", True)
        finished = self.timeline.record(agent, Kind.STEP_FINISHED, step=step, **fields)
        self._tried.add(link.value)
        broken = [f for f in self._findings() if f.severity == Severity.ERROR]
        ok = not broken and bool(fields.get("ok"))
        if not fields.get("ok") and not broken:
            # a failure no rule explains (an exception, a deadline) still breaks the link
            why = fields.get("error") or fields.get("reason") or "it did not complete"
            self._unexplained.append(make_finding(
                LINK_FAILURE_CODE[link.value], (finished,), agent=agent,
                detail=f"{step}{' (' + agent + ')' if agent else ''} failed: {why}"))
        self.links.append((link.value, step, agent, ok))
        if not ok:
            raise Stop

    async def _wait_for(self, agent: str, kind: Kind, seconds: float, since: float | None = None,
                        **match: Any) -> Event | None:
        """First matching event of ``agent`` since ``since`` (ms; default now), or None at the deadline."""
        start = self.timeline.now_ms() if since is None else since
        changed = asyncio.Event()

        def wake(_: Event) -> None:
            changed.set()

        def found() -> Event | None:
            for e in self.timeline.events:
                if (e.t_ms >= start and e.agent == agent and e.kind == kind.value
                        and all(e.get(k) == v for k, v in match.items())):
                    return e
            return None

        self.timeline.subscribe(wake)
        loop = asyncio.get_running_loop()
        end = loop.time() + seconds
        try:
            while True:
                changed.clear()
                hit = found()
                if hit is not None or loop.time() >= end:
                    return hit
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(changed.wait(), max(0.001, end - loop.time()))
        finally:
            self.timeline.unsubscribe(wake)

    @property
    def _notice_s(self) -> float:
        return self.settings.default_expect_within_s

    @property
    def _late_s(self) -> float:
        """How long past a deadline the walk keeps listening, to tell late from never."""
        return self.settings.diagnose_late_window_s

    # --------------------------------------------------------------- links

    async def _login(self) -> None:
        for name, agent in self.agents.items():
            async def body(agent: Agent = agent) -> dict[str, Any]:
                await agent.login()
                return {"ok": True}
            await self._link(Link.LOGIN, STEP_LOGIN, name, body)

    async def _connect(self) -> None:
        for name, agent in self.agents.items():
            async def body(agent: Agent = agent) -> dict[str, Any]:
                await agent.connect()
                return {"ok": agent.driver.connected}
            await self._link(Link.HANDSHAKE, STEP_CONNECT, name, body)

    async def _probe(self, step: str, token: str | None) -> None:
        # A throwaway identity: a server that wrongly lets the probe in must not
        # kick the walk's own caller off (multi-login policy).
        probe_user = f"{self.target.caller}_authprobe_{uuid.uuid4().hex[:6]}"
        url = build_ws_url(self.target.ws_url, user_id=probe_user, token=token or "",
                           platform_id=self.target.caller_platform, operation_id=uuid.uuid4().hex)
        if token is None:
            url = url.replace("token=&", "").replace("&token=", "")

        async def body() -> dict[str, Any]:
            with placed(self.target.caller_netns):  # probes leave from the caller's host
                return await self._handshake_probe(url)

        await self._link(Link.AUTH_PROBES, step, self.CALLER, body)

    async def _handshake_probe(self, url: str) -> dict[str, Any]:
        """Try a handshake that must be refused, and say how it went."""
        deadline = self.settings.connect_timeout_s
        try:
            async with asyncio.timeout(deadline):
                ws = await websockets.connect(url, open_timeout=deadline, max_size=None)
        except InvalidStatus as exc:
            status = exc.response.status_code
            code, msg, _ = parse_refusal(bytes(exc.response.body or b""))
            return {"outcome": OUTCOME_REFUSED, "status": status, "err_code": code, "err_msg": msg}
        except (OSError, WebSocketException, asyncio.TimeoutError) as exc:
            return {"outcome": OUTCOME_FAILED, "status": None, "error": f"{type(exc).__name__}: {exc}"}
        try:
            # an isMsgResp-style refusal upgrades, sends its error JSON, then closes
            with contextlib.suppress(asyncio.TimeoutError, WebSocketException):
                first = await asyncio.wait_for(ws.recv(), self.settings.probe_settle_s)
                code, msg, _ = parse_refusal(first if isinstance(first, (str, bytes)) else b"")
                if code:
                    return {"outcome": OUTCOME_REFUSED, "status": 101, "err_code": code, "err_msg": msg}
            if ws.close_code is not None and ws.close_code != 1000:
                return {"outcome": OUTCOME_REFUSED, "status": 101, "close_code": ws.close_code}
            return {"outcome": OUTCOME_ACCEPTED, "status": 101}
        finally:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ws.close(), self.settings.close_timeout_s)

    async def _heartbeat(self) -> None:
        for name, agent in self.agents.items():
            async def body(agent: Agent = agent) -> dict[str, Any]:
                conn = agent.driver.connection  # type: ignore[attr-defined]
                rtt = None if conn is None else await conn.ping()
                return {"ok": rtt is not None, "sent": 1, "replies": int(rtt is not None), "rtt_ms": rtt}
            await self._link(Link.HEARTBEAT, STEP_HEARTBEAT, name, body)

    async def _text_push(self) -> None:
        async def body() -> dict[str, Any]:
            since = self.timeline.now_ms()
            await self.caller.send_text(self.target.callee, f"callprobe diagnose {uuid.uuid4().hex[:8]}")
            got = await self._wait_for(self.CALLEE, Kind.TEXT_RECEIVED, self._notice_s + self._late_s, since)
            return {"ok": True, "delivered": got is not None}

        await self._link(Link.TEXT_PUSH, STEP_TEXT_PUSH, "", body)

    async def _invite(self) -> None:
        async def body() -> dict[str, Any]:
            since = self.timeline.now_ms()
            room = await self.caller.invite([self.target.callee], self.target.media, self.settings.diagnose_ring_s)
            if room is None:
                return {"ok": True, "refused": True}
            self.room_id = room
            ring = await self._wait_for(self.CALLEE, Kind.RINGING, self._notice_s + self._late_s, since)
            return {"ok": True, "room_id": room, "rang": ring is not None}

        self._tried.add(Link.INVITE_ACK.value)
        await self._link(Link.RINGING, STEP_INVITE, "", body)

    async def _answer(self) -> None:
        async def body() -> dict[str, Any]:
            since = self.timeline.now_ms()
            await self.callee.accept()
            got = await self._wait_for(self.CALLER, Kind.ANSWERED, self._notice_s + self._late_s, since)
            return {"ok": True, "answered": got is not None}

        await self._link(Link.ANSWER, STEP_ANSWER, "", body)

    async def _media(self) -> None:
        async def body() -> dict[str, Any]:
            s = self.settings
            wait = s.ice_gather_timeout_s + s.ice_connect_timeout_s + s.media_timeout_s
            kinds = ("audio", "video") if self.target.media == "video" else ("audio",)
            loop = asyncio.get_running_loop()
            end = loop.time() + wait
            for agent in (self.CALLER, self.CALLEE):
                for kind in kinds:
                    left = max(0.0, end - loop.time())
                    if await self._first_frame(agent, kind, left) is None:
                        return {"ok": True, "media": False}
            # a first frame proves the path; a little more proves it holds
            await asyncio.sleep(s.diagnose_media_s)
            return {"ok": True, "media": True, "flowed_s": s.diagnose_media_s}

        self._tried.update({Link.SIGNAL_RELAY.value, Link.ICE.value})
        await self._link(Link.MEDIA, STEP_MEDIA, "", body)

    async def _first_frame(self, agent: str, kind: str, seconds: float) -> Event | None:
        for e in self.timeline.events:
            if e.agent == agent and e.kind == Kind.MEDIA_FIRST_FRAME.value and e.get("media") == kind:
                return e
        failed = await self._wait_any(agent, kind, seconds)
        return failed

    async def _wait_any(self, agent: str, kind: str, seconds: float) -> Event | None:
        """A first frame of ``kind`` on ``agent``, giving up early if its peer failed."""
        loop = asyncio.get_running_loop()
        end = loop.time() + seconds
        while loop.time() < end:
            for e in self.timeline.events:
                if e.agent == agent and e.kind == Kind.MEDIA_FIRST_FRAME.value and e.get("media") == kind:
                    return e
                if e.kind == Kind.PEER_FAILED.value:
                    return None
            await self._wait_for(agent, Kind.MEDIA_FIRST_FRAME, min(0.25, max(0.0, end - loop.time())),
                                 media=kind)
        return None

    async def _hangup(self) -> None:
        async def body() -> dict[str, Any]:
            since = self.timeline.now_ms()
            await self.caller.hangup()
            got = await self._wait_for(self.CALLEE, Kind.HUNG_UP, self._notice_s + self._late_s, since)
            return {"ok": True, "delivered": got is not None}

        await self._link(Link.HANGUP, STEP_HANGUP, "", body)

    async def _history(self) -> None:
        async def body() -> dict[str, Any]:
            msgs = await self.caller.driver.pull_history(self.target.callee)  # type: ignore[attr-defined]
            found: dict[str, Any] = {"room_id": self.room_id, "found": False, "complete": False,
                                     "missing": ["record"], "content_type": None}
            for msg in msgs:
                if msg.contentType != ContentType.SIGNALING_NOTIFICATION:
                    continue
                notice = decode_1601(bytes(msg.content)) if msg.content else None
                if notice is not None and notice.room_id and notice.room_id != self.room_id:
                    continue
                if notice is not None and notice.action != "invite":
                    continue
                missing = _missing_parts(notice, self.room_id) if msg.content else ["content"]
                found = {"room_id": self.room_id, "found": True, "complete": not missing,
                         "missing": missing, "content_type": msg.contentType, "seq": msg.seq}
                if not missing:
                    break
            return {"ok": True, **found}

        await self._link(Link.HISTORY, STEP_HISTORY, self.CALLER, body)

    async def _stale_state(self) -> None:
        async def body() -> dict[str, Any]:
            since = self.timeline.now_ms()
            room = await self.caller.invite([self.target.callee], self.target.media, self.settings.diagnose_ring_s)
            if room is not None:
                await self._wait_for(self.CALLEE, Kind.RINGING, self._notice_s + self._late_s, since)
                with contextlib.suppress(CallprobeError):
                    await self.caller.cancel(room)
            return {"ok": True, "refused": room is None}

        await self._link(Link.STALE_STATE, STEP_STALE_STATE, "", body)

    async def _warm_media(self) -> None:
        """Encode the synthetic clips while the first links run."""
        from callprobe.rtc.media import load_clip

        for kind in ("audio", "video") if self.target.media == "video" else ("audio",):
            await load_clip(kind)

    # ----------------------------------------------------------------- run

    async def run(self) -> WalkResult:
        self.timeline.record("", Kind.RUN_STARTED, walk="diagnose", caller=self.target.caller,
                             callee=self.target.callee)
        steps = [self._login, self._connect,
                 lambda: self._probe(STEP_PROBE_NO_TOKEN, None),
                 lambda: self._probe(STEP_PROBE_WRONG_TOKEN, FORGED_TOKEN),
                 self._heartbeat, self._text_push, self._invite, self._answer, self._media,
                 self._hangup, self._history, self._stale_state]
        aborted = ""
        warm = asyncio.create_task(self._warm_media())
        try:
            for step in steps:
                await step()
        except Stop:
            pass
        except ServerUnreachable as exc:
            aborted = str(exc)
            self.links.append((Link.LOGIN.value, STEP_LOGIN, "", False))
        finally:
            await asyncio.gather(*(a.release_calls() for a in self.agents.values()), return_exceptions=True)
            await asyncio.gather(*(a.close() for a in self.agents.values()), return_exceptions=True)
            await asyncio.gather(warm, return_exceptions=True)
            self.timeline.record("", Kind.RUN_FINISHED, aborted=aborted)
        findings = self._findings()
        return WalkResult(self.target, self.timeline.events, findings, first_broken_link(findings),
                          list(self.links), self.timeline.now_ms(), aborted)


def _missing_parts(notice: Any, room_id: str) -> list[str]:
    if notice is None:
        return ["invitation"]
    missing = []
    if not notice.inviter:
        missing.append("inviter")
    if not notice.invitees:
        missing.append("invitees")
    if not notice.room_id:
        missing.append("roomID")
    if not notice.media_type:
        missing.append("mediaType")
    return missing
