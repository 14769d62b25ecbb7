"""The diagnose walk: every link of a call, in order, until one breaks.

Each link is one step with its own deadline. The walk only *acts* and
*records*: what broke is decided by the pure rules in
``analysis.diagnostics`` reading the timeline, after every step, with the
links tried so far; the walk stops at the first error. The probe markers it
records are the contract of ``analysis.diagnostics.links``. What only a
backend can probe (its auth probes, heartbeat, history) comes from the
family's ``walk.py`` (``backends.base.WalkProbes``).

Link order: login, handshake, auth probes, heartbeat, a plain text push,
invite acknowledged, ringing, accept notice, SDP and candidates relayed, ICE,
media both ways, hangup notice, history holding the invite record, and a
second invite not refused as busy.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import fields as dataclass_fields
from dataclasses import replace
from typing import Any, TypeVar

from callprobe.analysis.diagnostics import findings as F
from callprobe.analysis.diagnostics.context import RuleContext
from callprobe.analysis.diagnostics.findings import Finding, Severity, for_backend, make_finding
from callprobe.analysis.diagnostics.links import (
    STEP_ANSWER,
    STEP_CONNECT,
    STEP_HANGUP,
    STEP_HEARTBEAT,
    STEP_HISTORY,
    STEP_INVITE,
    STEP_LOGIN,
    STEP_MEDIA,
    STEP_STALE_STATE,
    STEP_TEXT_PUSH,
    Link,
)
from callprobe.analysis.diagnostics.rules import diagnose_timeline, first_broken_link
from callprobe.analysis.metrics import TEARDOWN_NOTE
from callprobe.analysis.results import LinkResult, WalkResult, WalkTargetInfo
from callprobe.backends.base import (
    AgentIdentity,
    Driver,
    DriverSpec,
    Endpoints,
    ExtraStep,
    WalkProbes,
    WalkTarget,
)
from callprobe.backends.registry import family
from callprobe.engine.agent import Agent
from callprobe.engine.reachability import looks_unreachable, probe_endpoints
from callprobe.errors import CallprobeError, ServerUnreachable
from callprobe.net.ice_check import probe_turn_event
from callprobe.rtc.ice_config import IceConfig
from callprobe.scenario.model import AgentConfig, ServerConfig
from callprobe.settings import ClientSettings
from callprobe.timeline.events import (
    INTERRUPTED,
    Answered,
    Event,
    HungUp,
    InviteAcked,
    LinkJudged,
    LoginFailed,
    MediaFirstFrame,
    Note,
    PeerFailed,
    Ringing,
    RunFinished,
    RunStarted,
    StepFinished,
    StepStarted,
    TextReceived,
    Waiting,
    WsRefused,
)
from callprobe.timeline.recorder import Timeline

E = TypeVar("E", bound=Event)

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

#: The deadline of a notice the walk waits for (ring, accept, hangup, text).
_NOTICE_SETTING = "default_expect_within_s + diagnose_late_window_s"

_STEP_FIELDS = frozenset(f.name for f in dataclass_fields(StepFinished)) - {"t_ms", "agent", "extra"}


def step_finished(step: str, agent: str, fields: dict[str, Any]) -> StepFinished:
    """A StepFinished marker; fields it does not declare go to ``extra``."""
    known = {k: v for k, v in fields.items() if k in _STEP_FIELDS}
    extra = {k: v for k, v in fields.items() if k not in _STEP_FIELDS}
    return StepFinished(step=step, agent=agent, extra=extra, **known)


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
        self.links: list[LinkResult] = []
        self._tried: set[str] = set()
        self._unexplained: list[Finding] = []
        self.ctx = RuleContext.from_settings(
            settings, caller=self.CALLER, callee=self.CALLEE, caller_user=target.caller,
            callee_user=target.callee, media=target.media,
            ring_deadline_ms=settings.default_expect_within_s * 1000.0,
            notice_deadline_ms=settings.default_expect_within_s * 1000.0,
        )
        fam = family(target.family)
        self.probes: WalkProbes = fam.module("walk").create_probes(target, settings)
        create = fam.module("driver").create_driver
        server = ServerConfig(embedded=False, family=target.family, backend=target.backend,
                              login=target.login or ServerConfig().login)
        self.agents = {
            self.CALLER: self._agent(create, server, self.CALLER, target.caller, target.caller_platform,
                                     target.caller_ice, target.caller_netns),
            self.CALLEE: self._agent(create, server, self.CALLEE, target.callee, target.callee_platform,
                                     target.callee_ice, target.callee_netns),
        }
        self.room_id = ""
        self.unreachable = False
        self._current: LinkResult | None = None
        self._probed = False

    def _agent(self, create: Any, server: ServerConfig, name: str, user_id: str, platform: int,
               ice: IceConfig | None, namespace: str | None) -> Agent:
        identity = AgentIdentity(name, user_id, platform, username=user_id)
        token = self.target.caller_token if name == self.CALLER else self.target.callee_token
        config = AgentConfig(name=name, user_id=user_id, platform_id=platform, password=self.target.password,
                             token=token)
        spec = DriverSpec(identity, self.timeline, self.settings, Endpoints(self.target.server, self.target.api),
                          config, server, register=self.target.register)
        return Agent(name, create(spec), self.timeline, self.settings, ice or self.target.ice or IceConfig(),
                     self.target.media, netns=namespace, turn_prober=probe_turn_event)

    @property
    def caller_driver(self) -> Driver:
        return self.caller.driver

    @property
    def callee_driver(self) -> Driver:
        return self.callee.driver

    async def wait_for(self, agent: str, cls: type[E], seconds: float, since: float | None = None,
                       pred: Callable[[E], bool] | None = None) -> E | None:
        return await self._wait_for(agent, cls, seconds, since, pred)

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
        self._current = LinkResult(link.value, step, agent, False)
        self.timeline.record(StepStarted(agent=agent, step=step))
        fields: dict[str, Any]
        try:
            fields = await body()
        except ServerUnreachable:
            raise
        except (TimeoutError, CallprobeError, OSError) as exc:
            fields = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
            if link is Link.HANDSHAKE and looks_unreachable(exc):
                self.unreachable = True  # no gateway answered there: as `run`, exit 4
        if link in (Link.LOGIN, Link.HANDSHAKE) and not fields.get("ok"):
            await self._probe_endpoints()
        fields.setdefault("ok", True)
        finished = self.timeline.record(step_finished(step, agent, fields))
        self._tried.add(link.value)
        broken = [f for f in self._findings() if f.severity is Severity.ERROR]
        ok = not broken and bool(fields.get("ok"))
        if not fields.get("ok") and not broken:
            # a failure no rule explains (an exception, a deadline) still breaks the link
            why = fields.get("error") or fields.get("reason") or "it did not complete"
            silent = link is Link.HANDSHAKE and "DeadlineExceeded" in str(why)
            self._unexplained.append(for_backend(make_finding(
                LINK_FAILURE_CODE[link.value], (finished,), agent=agent,
                hint=F.HANDSHAKE_SILENT_HINT if silent else None,
                title="The gateway never answered the WebSocket handshake" if silent else None,
                detail=f"{step}{' (' + agent + ')' if agent else ''} failed: {why}"), self.target.family))
        self.links.append(LinkResult(link.value, step, agent, ok))
        first = broken[0] if broken else (self._unexplained[-1] if not ok and self._unexplained else None)
        self.timeline.record(LinkJudged(agent=agent, link=link.value, step=step, ok=ok,
                                        code=first.code if first else "",
                                        detail=(first.detail or first.title) if first else ""))
        if not ok:
            raise Stop

    async def _probe_endpoints(self) -> None:
        """Once, after a login or handshake failed: what answers at --server and --api."""
        t = self.target
        if self._probed or t.caller_netns or t.callee_netns:
            return
        self._probed = True
        failed = [e for e in self.timeline.events if isinstance(e, (LoginFailed, WsRefused))]
        if not failed and not self.unreachable:
            return
        with contextlib.suppress(Exception):
            await probe_endpoints(self.timeline, t.server, t.api)

    def _waiting(self, what: str, seconds: float, setting: str) -> None:
        self.timeline.record(Waiting(what=what, seconds=seconds, setting=setting,
                                     until_ms=self.timeline.now_ms() + seconds * 1000.0))

    async def _wait_for(self, agent: str, cls: type[E], seconds: float, since: float | None = None,
                        pred: Callable[[E], bool] | None = None, setting: str | None = None) -> E | None:
        """First ``cls`` event of ``agent`` since ``since`` (ms; default now), or None at the deadline.

        With ``setting`` (the deadline's name), a ``Waiting`` event says what is awaited and until when.
        """
        if setting is not None:
            self._waiting(f"{cls.KIND} at {agent}", seconds, setting)
        start = self.timeline.now_ms() if since is None else since
        changed = asyncio.Event()

        def wake(_: Event) -> None:
            changed.set()

        def found() -> E | None:
            for e in self.timeline.events:
                if e.t_ms >= start and e.agent == agent and isinstance(e, cls) and (pred is None or pred(e)):
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
                self._learned_users()
                return {"ok": True}
            await self._link(Link.LOGIN, STEP_LOGIN, name, body)

    def _learned_users(self) -> None:
        """Backends that name users by an id learned at login: the rules use it from now on."""
        self.ctx = replace(self.ctx, caller_user=self.caller.driver.identity.user_id,
                           callee_user=self.callee.driver.identity.user_id)

    async def _missing(self, step: str, why: str) -> None:
        """A common step whose link this backend does not have: said so, not failed, not judged."""
        self._say(f"{step}: not on this backend")
        self.timeline.record(StepStarted(step=step))
        self.timeline.record(step_finished(step, "", {"ok": True, "reason": why, "exists": False}))

    async def _connect(self) -> None:
        for name, agent in self.agents.items():
            async def body(agent: Agent = agent) -> dict[str, Any]:
                await agent.connect()
                return {"ok": agent.driver.connected}
            await self._link(Link.HANDSHAKE, STEP_CONNECT, name, body)

    async def _auth_probes(self) -> None:
        for probe in self.probes.auth_probes():
            await self._link(Link.AUTH_PROBES, probe.step, self.CALLER, probe.run)

    async def _heartbeat(self) -> None:
        for name, agent in self.agents.items():
            async def body(agent: Agent = agent) -> dict[str, Any]:
                return await self.probes.heartbeat(agent.driver)
            await self._link(Link.HEARTBEAT, STEP_HEARTBEAT, name, body)

    async def _text_push(self) -> None:
        async def body() -> dict[str, Any]:
            since = self.timeline.now_ms()
            await self.caller.send_text(self.callee.driver.identity, f"callprobe diagnose {uuid.uuid4().hex[:8]}")
            got = await self._wait_for(self.CALLEE, TextReceived, self._notice_s + self._late_s, since,
                                        setting=_NOTICE_SETTING)
            return {"ok": True, "delivered": got is not None}

        await self._link(Link.TEXT_PUSH, STEP_TEXT_PUSH, "", body)

    async def _invite(self) -> None:
        async def body() -> dict[str, Any]:
            since = self.timeline.now_ms()
            room = await self.caller.invite([self.callee.driver.identity], self.target.media,
                                            self.settings.diagnose_ring_s)
            if room is None:
                return {"ok": True, "refused": True}
            self.room_id = room
            ring = await self._wait_for(self.CALLEE, Ringing, self._notice_s + self._late_s, since,
                                        setting=_NOTICE_SETTING)
            return {"ok": True, "room_id": room, "rang": ring is not None}

        self._tried.add(Link.INVITE_ACK.value)
        await self._link(Link.RINGING, STEP_INVITE, "", body)

    async def _answer(self) -> None:
        async def body() -> dict[str, Any]:
            since = self.timeline.now_ms()
            await self.callee.accept()
            got = await self._wait_for(self.CALLER, Answered, self._notice_s + self._late_s, since,
                                        setting=_NOTICE_SETTING)
            return {"ok": True, "answered": got is not None}

        await self._link(Link.ANSWER, STEP_ANSWER, "", body)

    async def _media(self) -> None:
        if not self.caller_driver.peer_media:
            await self._link(Link.MEDIA, STEP_MEDIA, "", self._conference)
            return

        async def body() -> dict[str, Any]:
            s = self.settings
            wait = s.ice_gather_timeout_s + s.ice_connect_timeout_s + s.media_timeout_s
            kinds = ("audio", "video") if self.target.media == "video" else ("audio",)
            loop = asyncio.get_running_loop()
            end = loop.time() + wait
            self._waiting(f"first {' and '.join(kinds)} frames at both ends", wait,
                          "ice_gather_timeout_s + ice_connect_timeout_s + media_timeout_s")
            for agent in (self.CALLER, self.CALLEE):
                for kind in kinds:
                    left = max(0.0, end - loop.time())
                    if await self._first_frame(agent, kind, left) is None:
                        return {"ok": True, "media": False}
            # a first frame proves the path; a little more proves it holds
            self._waiting("media to keep flowing", s.diagnose_media_s, "diagnose_media_s")
            await asyncio.sleep(s.diagnose_media_s)
            return {"ok": True, "media": True, "flowed_s": s.diagnose_media_s}

        self._tried.update({Link.SIGNAL_RELAY.value, Link.ICE.value})
        await self._link(Link.MEDIA, STEP_MEDIA, "", body)

    async def _conference(self) -> dict[str, Any]:
        """No peer media on this backend: the parties meet in a conference room, which must be the same one."""
        acked = [e for e in self.timeline.events if isinstance(e, InviteAcked) and e.agent == self.CALLER
                 and e.room_id == self.room_id]
        rang = [e for e in self.timeline.events if isinstance(e, Ringing) and e.agent == self.CALLEE
                and e.room_id == self.room_id]
        caller_room = acked[-1].room_name if acked else ""
        callee_room = rang[0].room_name if rang else ""
        same = bool(caller_room) and caller_room == callee_room
        return {"ok": same, "media": None, "conference": True, "room_name": caller_room,
                "callee_room_name": callee_room,
                **({} if same else {"reason": f"the caller was given room {caller_room or '(none)'!r}, "
                                              f"the callee {callee_room or '(none)'!r}"})}

    async def _first_frame(self, agent: str, kind: str, seconds: float) -> MediaFirstFrame | None:
        """A first frame of ``kind`` on ``agent``, giving up early if a peer failed."""
        loop = asyncio.get_running_loop()
        end = loop.time() + seconds
        while True:
            for e in self.timeline.events:
                if isinstance(e, MediaFirstFrame) and e.agent == agent and e.media == kind:
                    return e
                if isinstance(e, PeerFailed):
                    return None
            left = end - loop.time()
            if left <= 0:
                return None
            await self._wait_for(agent, MediaFirstFrame, min(0.25, left), since=0.0,
                                 pred=lambda f: f.media == kind)

    async def _hangup(self) -> None:
        async def body() -> dict[str, Any]:
            since = self.timeline.now_ms()
            await self.caller.hangup()
            got = await self._wait_for(self.CALLEE, HungUp, self._notice_s + self._late_s, since,
                                        setting=_NOTICE_SETTING)
            return {"ok": True, "delivered": got is not None}

        await self._link(Link.HANGUP, STEP_HANGUP, "", body)

    async def _history(self) -> None:
        async def body() -> dict[str, Any]:
            return await self.probes.history(self.caller.driver, self.callee.driver.identity, self.room_id)

        await self._link(Link.HISTORY, STEP_HISTORY, self.CALLER, body)

    async def _stale_state(self) -> None:
        async def body() -> dict[str, Any]:
            since = self.timeline.now_ms()
            room = await self.caller.invite([self.callee.driver.identity], self.target.media,
                                            self.settings.diagnose_ring_s)
            if room is not None:
                await self._wait_for(self.CALLEE, Ringing, self._notice_s + self._late_s, since,
                                        setting=_NOTICE_SETTING)
                with contextlib.suppress(CallprobeError):
                    await self.caller.cancel(room)
            return {"ok": True, "refused": room is None}

        await self._link(Link.STALE_STATE, STEP_STALE_STATE, "", body)

    async def _extra(self, extra: ExtraStep) -> None:
        async def body() -> dict[str, Any]:
            return await extra.run(self)

        self._tried.add(extra.link)
        await self._link(Link(extra.link), extra.step, extra.agent, body)

    async def _warm_media(self) -> None:
        """Encode the synthetic clips while the first links run."""
        from callprobe.rtc.media import load_clip

        for kind in ("audio", "video") if self.target.media == "video" else ("audio",):
            await load_clip(kind)

    # ----------------------------------------------------------------- run

    def _info(self) -> WalkTargetInfo:
        t = self.target
        return WalkTargetInfo(server=t.server, api=t.api, caller=t.caller, callee=t.callee, media=t.media,
                              backend=t.family, caller_platform=t.caller_platform,
                              callee_platform=t.callee_platform)

    async def run(self) -> WalkResult:
        self.timeline.record(RunStarted(walk="diagnose", caller=self.target.caller, callee=self.target.callee,
                                        backend=self.target.family))
        steps = [(STEP_LOGIN, self._login), (STEP_CONNECT, self._connect), ("auth_probes", self._auth_probes),
                 (STEP_HEARTBEAT, self._heartbeat), (STEP_TEXT_PUSH, self._text_push), (STEP_INVITE, self._invite),
                 (STEP_ANSWER, self._answer), (STEP_MEDIA, self._media), (STEP_HANGUP, self._hangup),
                 (STEP_HISTORY, self._history), (STEP_STALE_STATE, self._stale_state)]
        extras = self.probes.extra_steps()
        missing = self.probes.missing_steps()
        aborted = ""
        warm = asyncio.create_task(self._warm_media())
        try:
            for name, step in steps:
                if name in missing:
                    await self._missing(name, missing[name])
                else:
                    await step()
                for extra in (x for x in extras if x.after == name):
                    await self._extra(extra)
        except Stop:
            pass
        except ServerUnreachable as exc:
            aborted = str(exc)
            self.unreachable = True
            current = self._current or LinkResult(Link.LOGIN.value, STEP_LOGIN, "", False)
            self.links.append(LinkResult(current.link, current.step, current.agent, False))
            await self._probe_endpoints()
        except (asyncio.CancelledError, KeyboardInterrupt):
            aborted = INTERRUPTED  # a signal: the run_finished event says so, then the caller reports
            raise
        finally:
            self.timeline.record(Note(note=TEARDOWN_NOTE, text="teardown: releasing open calls"))
            await asyncio.gather(*(a.release_calls() for a in self.agents.values()), return_exceptions=True)
            await asyncio.gather(*(a.close() for a in self.agents.values()), return_exceptions=True)
            await asyncio.gather(warm, return_exceptions=True)
            self.timeline.record(RunFinished(aborted=aborted))
        return self.result(aborted)

    def result(self, aborted: str = "", interrupted: str = "") -> WalkResult:
        """What the walk saw so far: after it ended, or when a signal stopped it."""
        if interrupted and self._current is not None and all(
                (x.link, x.step, x.agent) != (self._current.link, self._current.step, self._current.agent)
                for x in self.links):
            self.links.append(self._current)  # the link it was on never finished
        findings = self._findings()
        return WalkResult(self._info(), self.timeline.events, findings, first_broken_link(findings),
                          list(self.links), self.timeline.now_ms(), aborted, unreachable=self.unreachable,
                          interrupted=interrupted)
