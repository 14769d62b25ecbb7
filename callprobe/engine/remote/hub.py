"""The run's side of the control channel: the endpoint remote agents join, and their parties.

``RemoteHub`` listens where the user asked (``--control-listen``, loopback by
default), with a one-time token, for exactly the agents ``--remote-agents``
names; once all have joined it stops listening. Each joined agent becomes a
``RemoteAgent``, a party the runner drives like any other: its actions go
out as ``act`` messages, its events come back with its own clock's times and
are moved onto the run's clock by the offset the ``ping``/``pong`` samples
give (``protocol.estimate``). A remote agent whose connection closes, or
goes silent past ``remote_silence_timeout_s``, is lost: the run stops and
says so, it does not wait out its expectations.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from callprobe.backends.base import AgentIdentity, Endpoints, MediaKind
from callprobe.engine.remote.protocol import (
    CONTROL_PATH,
    SYNC_SAMPLES,
    ClockEstimate,
    ClockSample,
    ProtocolViolation,
    combined,
    decode,
    encode,
    estimate,
    ice_to_json,
)
from callprobe.errors import CallprobeError, DeadlineExceeded, ServerStartError
from callprobe.rtc.ice_config import IceConfig
from callprobe.scenario.model import Scenario
from callprobe.settings import ClientSettings
from callprobe.timeline.events import PartyInfo, event_from_json
from callprobe.timeline.recorder import Timeline

#: Seconds between clock checks while a run goes on (each is also a sign of life).
RESYNC_INTERVAL_S = 5.0

#: Largest control message accepted (an SDP-carrying event is a few KB).
MAX_MESSAGE_BYTES = 1 << 20


@dataclass
class _Link:
    """One joined agent's connection and what waits on it."""

    name: str
    host: str
    version: str
    ws: ServerConnection
    replies: dict[int, asyncio.Future[dict[str, Any]]] = field(default_factory=dict)
    pongs: dict[int, asyncio.Future[float]] = field(default_factory=dict)
    ready: asyncio.Future[dict[str, Any]] | None = None
    on_event: Callable[[dict[str, Any]], None] | None = None
    closed: asyncio.Event = field(default_factory=asyncio.Event)
    close_reason: str = ""


class RemoteHub:
    """The control endpoint for one run. ``await start()``, then ``url`` and ``token`` to hand out.

    Args:
        names: the agents that will join, by scenario name.
        scenario_text: the scenario file's text, sent to each agent as its part.
        host, port: where to listen (port 0: a free one).
        settings: the deadlines.
    """

    def __init__(self, names: tuple[str, ...], scenario_text: str, *, host: str = "127.0.0.1", port: int = 0,
                 settings: ClientSettings | None = None, file: str = "") -> None:
        self.names = tuple(names)
        self.scenario_text, self.file = scenario_text, file
        self.host, self.port = host, port
        self.settings = settings or ClientSettings()
        self.token = secrets.token_urlsafe(24)
        self._server: Server | None = None
        self._links: dict[str, _Link] = {}
        self._joined: dict[str, asyncio.Event] = {n: asyncio.Event() for n in self.names}

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"ws://{host}:{self.port}{CONTROL_PATH}"

    def command_for(self, name: str) -> str:
        """What to run on the agent's host (the token goes in the environment, never the command line)."""
        return f"callprobe agent --connect {self.url} --as {name}"

    async def start(self) -> None:
        silence = self.settings.remote_silence_timeout_s
        try:
            self._server = await serve(self._handle, self.host, self.port, max_size=MAX_MESSAGE_BYTES,
                                       ping_interval=silence / 2, ping_timeout=silence / 2)
        except OSError as exc:
            raise ServerStartError(f"the control endpoint cannot listen on {self.host}:{self.port}: "
                                   f"{exc.strerror or exc}", hint="pick another --control-listen") from None
        sockets = list(self._server.sockets)
        if sockets:
            self.port = sockets[0].getsockname()[1]

    async def close(self) -> None:
        for link in list(self._links.values()):
            with contextlib.suppress(Exception):
                await link.ws.close(1000, "run over")
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), self.settings.close_timeout_s)
            self._server = None

    def make(self, name: str, scenario: Scenario, endpoints: Endpoints, ice: IceConfig,
             on_lost: Callable[[str, str], None], timeline: Timeline, register: bool = False) -> RemoteAgent:
        cfg = scenario.agents[name]
        identity = AgentIdentity(name=name, user_id=cfg.user_id, platform_id=cfg.platform_id,
                                 nickname=cfg.nickname or name, username=cfg.user_id)
        media: MediaKind = "audio" if cfg.media == "audio" else "video"
        return RemoteAgent(self, name, identity, media, endpoints, ice, timeline, on_lost, register)

    async def joined(self, name: str) -> _Link:
        """The agent's link once it has joined; ``DeadlineExceeded`` naming the setting otherwise."""
        seconds = self.settings.remote_join_timeout_s
        try:
            await asyncio.wait_for(self._joined[name].wait(), seconds)
        except TimeoutError:
            raise DeadlineExceeded(f"remote agent {name} did not join {self.url} "
                                   f"(run: CALLPROBE_AGENT_TOKEN=... {self.command_for(name)})",
                                   "remote_join_timeout_s", seconds) from None
        return self._links[name]

    # ------------------------------------------------------------ connections

    async def _handle(self, ws: ServerConnection) -> None:
        request_path = ws.request.path if ws.request is not None else ""
        if request_path.split("?")[0] != CONTROL_PATH:
            await ws.close(1008, f"not the control endpoint (use {CONTROL_PATH})")
            return
        link = await self._admit(ws)
        if link is None:
            return
        try:
            async for text in ws:
                try:
                    self._dispatch(link, decode(text))
                except ProtocolViolation as exc:
                    await ws.close(1008, str(exc))
                    break
        except ConnectionClosed:
            pass
        finally:
            code = ws.close_code
            link.close_reason = (f"its control connection closed ({code}"
                                 + (f": {ws.close_reason}" if ws.close_reason else "") + ")")
            link.closed.set()
            waiting: list[asyncio.Future[Any]] = [*link.replies.values(), *link.pongs.values()]
            if link.ready is not None:
                waiting.append(link.ready)
            for fut in waiting:
                if not fut.done():
                    fut.set_exception(CallprobeError(f"remote agent {link.name}: {link.close_reason}"))

    async def _admit(self, ws: ServerConnection) -> _Link | None:
        """The hello: the right token, an expected agent not yet joined; else refused and closed."""
        try:
            hello = decode(await asyncio.wait_for(ws.recv(), self.settings.connect_timeout_s))
        except (TimeoutError, ConnectionClosed, ProtocolViolation):
            await ws.close(1008, "expected a hello")
            return None
        name = str(hello.get("as", ""))
        token = str(hello.get("token", ""))
        reason = ""
        if hello.get("type") != "hello":
            reason = "expected a hello"
        elif not hmac.compare_digest(token.encode(), self.token.encode()):
            reason = "wrong token (give the one this run printed, in CALLPROBE_AGENT_TOKEN)"
        elif name not in self._joined:
            reason = f"{name!r} is not a remote agent of this run (expected: {', '.join(self.names)})"
        elif self._joined[name].is_set():
            reason = f"{name} has already joined"
        if reason:
            with contextlib.suppress(ConnectionClosed):
                await ws.send(encode("refused", reason=reason))
            await ws.close(1008, "refused")
            return None
        link = _Link(name, str(hello.get("host") or ws.remote_address[0]), str(hello.get("version", "")), ws)
        self._links[name] = link
        await ws.send(encode("welcome"))
        self._joined[name].set()
        if all(e.is_set() for e in self._joined.values()) and self._server is not None:
            self._server.close(close_connections=False)  # the token is spent: nothing more is listening
        return link

    def _dispatch(self, link: _Link, msg: dict[str, Any]) -> None:
        kind = msg["type"]
        if kind == "event":
            if link.on_event is not None and isinstance(msg.get("e"), dict):
                link.on_event(msg["e"])
        elif kind == "pong":
            fut = link.pongs.pop(int(msg.get("n", -1)), None)
            if fut is not None and not fut.done():
                fut.set_result(float(msg.get("t", 0.0)))
        elif kind == "done":
            reply = link.replies.pop(int(msg.get("id", -1)), None)
            if reply is not None and not reply.done():
                reply.set_result(msg)
        elif kind == "ready" and link.ready is not None and not link.ready.done():
            link.ready.set_result(msg)


class RemoteAgent:
    """A scenario agent played by a ``callprobe agent`` process (an ``engine.party.Party``)."""

    kind = "remote"

    def __init__(self, hub: RemoteHub, name: str, identity: AgentIdentity, media: MediaKind,
                 endpoints: Endpoints, ice: IceConfig, timeline: Timeline,
                 on_lost: Callable[[str, str], None], register: bool = False) -> None:
        self.hub, self.name, self._identity, self.media = hub, name, identity, media
        self.register = register  # create the account first: the run's own embedded server
        self.endpoints, self.ice, self.timeline, self.on_lost = endpoints, ice, timeline, on_lost
        self.settings = hub.settings
        self._link: _Link | None = None
        self._first: ClockEstimate | None = None
        self._clock: ClockEstimate | None = None
        self._ready: dict[str, Any] = {}
        self._ids = 0
        self._closing = False
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def identity(self) -> AgentIdentity:
        return self._identity

    @property
    def user_id(self) -> str:
        return self._identity.user_id

    @property
    def clock(self) -> ClockEstimate | None:
        return self._clock

    def describe(self) -> PartyInfo:
        host = self._link.host if self._link else ""
        plays = str(self._ready.get("plays") or "agent")
        first, last = self._first, self._clock
        spread = combined(first, last) if first and last else None
        what = f"{'an' if plays == 'agent' else 'a'} {plays} played by callprobe agent on {host}"
        text = (f"{what}; its events moved onto this run's clock (offset {last.offset_ms:+.3f} ms, "
                f"± {spread:.3f} ms)" if last and spread is not None else what)
        return PartyInfo(agent=self.name, role="remote", user_id=self.user_id, host=host, plays=plays,
                         browser=str(self._ready.get("browser") or ""),
                         clock_offset_ms=round(last.offset_ms, 3) if last else None,
                         clock_uncertainty_ms=round(spread, 3) if spread is not None else None, text=text)

    # ------------------------------------------------------------ joining

    async def start(self) -> None:
        link = await self.hub.joined(self.name)
        self._link = link
        self._first = self._clock = await self._sync(SYNC_SAMPLES)
        link.on_event = self._on_event
        loop = asyncio.get_running_loop()
        link.ready = loop.create_future()
        await self._send("part", scenario=self.hub.scenario_text, file=self.hub.file, agent=self.name,
                         endpoints={"server": self.endpoints.server, "api": self.endpoints.api},
                         ice=ice_to_json(self.ice), register=self.register)
        seconds = self.settings.browser_start_timeout_s + self.settings.remote_action_timeout_s
        try:
            self._ready = await asyncio.wait_for(link.ready, seconds)
        except TimeoutError:
            raise DeadlineExceeded(f"remote agent {self.name} getting ready", "remote_action_timeout_s",
                                   seconds) from None
        if not self._ready.get("ok", True):
            raise CallprobeError(f"remote agent {self.name} could not play its part: {self._ready.get('error')}")
        self._tasks.append(asyncio.create_task(self._watch(), name=f"remote-{self.name}"))

    async def _send(self, kind: str, **fields: Any) -> None:
        assert self._link is not None
        try:
            await self._link.ws.send(encode(kind, **fields))
        except ConnectionClosed:
            reason = self._link.close_reason or "connection closed"
            raise CallprobeError(f"remote agent {self.name}: {reason}") from None

    async def _sync(self, samples: int) -> ClockEstimate:
        """``samples`` round trips now; the estimate from the best one."""
        assert self._link is not None
        loop = asyncio.get_running_loop()
        taken: list[ClockSample] = []
        for _ in range(samples):
            self._ids += 1
            n = self._ids
            fut: asyncio.Future[float] = loop.create_future()
            self._link.pongs[n] = fut
            sent = self.timeline.now_ms()
            await self._send("ping", n=n)
            remote = await asyncio.wait_for(fut, self.settings.remote_silence_timeout_s)
            taken.append(ClockSample(sent, remote, self.timeline.now_ms()))
            await asyncio.sleep(0.01)
        return estimate(taken)

    async def _watch(self) -> None:
        """Check the clock now and then; a connection that closes is a lost agent."""
        assert self._link is not None
        closed = asyncio.create_task(self._link.closed.wait())
        try:
            while not self._closing:
                done, _ = await asyncio.wait({closed}, timeout=RESYNC_INTERVAL_S)
                if done:
                    break
                with contextlib.suppress(CallprobeError, TimeoutError):
                    self._clock = await self._sync(3)
            if not self._closing:
                self.on_lost(self.name, f"remote agent {self.name} on {self._link.host}: {self._link.close_reason}")
        finally:
            closed.cancel()

    def _on_event(self, obj: dict[str, Any]) -> None:
        try:
            event = event_from_json({**obj, "agent": self.name})
        except ValueError:
            return
        clock = self._clock
        local = clock.to_local(event.t_ms) if clock is not None else self.timeline.now_ms()
        self.timeline.record_at(event, local)

    # ------------------------------------------------------------ actions

    async def _act(self, verb: str, seconds: float | None = None, **args: Any) -> Any:
        if self._link is None:
            raise CallprobeError(f"remote agent {self.name} has not joined")
        if self._link.closed.is_set():
            raise CallprobeError(f"remote agent {self.name}: {self._link.close_reason}")
        self._ids += 1
        n = self._ids
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._link.replies[n] = fut
        await self._send("act", id=n, verb=verb, args=args)
        limit = seconds if seconds is not None else self.settings.remote_action_timeout_s
        try:
            reply = await asyncio.wait_for(fut, limit)
        except TimeoutError:
            raise DeadlineExceeded(f"remote agent {self.name}: {verb}", "remote_action_timeout_s", limit) from None
        if not reply.get("ok"):
            raise CallprobeError(f"remote agent {self.name}: {reply.get('error') or verb + ' failed'}")
        return reply.get("result")

    async def connect(self) -> None:
        await self._act("connect")

    async def disconnect(self) -> None:
        await self._act("disconnect")

    async def reconnect(self) -> None:
        await self._act("reconnect")

    async def invite(self, callees: list[AgentIdentity], media: MediaKind, timeout_s: int,
                     join_order: str | None = None) -> str | None:
        people = [dataclasses.asdict(c) for c in callees]
        room = await self._act("invite", callees=people, media=media, timeout_s=timeout_s, join_order=join_order)
        return str(room) if room else None

    async def learn_join_order(self, room_id: str, join_order: str | None) -> None:
        await self._act("learn_join_order", room_id=room_id, join_order=join_order)

    async def join_room(self, room_id: str | None = None) -> str:
        return str(await self._act("join_room", room_id=room_id))

    async def accept(self, room_id: str | None = None) -> str:
        return str(await self._act("accept", room_id=room_id))

    async def reject(self, room_id: str | None = None) -> None:
        await self._act("reject", room_id=room_id)

    async def cancel(self, room_id: str | None = None) -> None:
        await self._act("cancel", room_id=room_id)

    async def hangup(self, room_id: str | None = None) -> None:
        await self._act("hangup", room_id=room_id)

    async def send_text(self, peer: AgentIdentity, text: str) -> None:
        await self._act("send_text", peer=dataclasses.asdict(peer), text=text)

    async def release_calls(self) -> None:
        if self._link is not None and not self._link.closed.is_set():
            await self._act("release_calls", seconds=self.settings.teardown_timeout_s * 3)

    async def close(self) -> None:
        """Close the far side's party, check the clock once more, and say goodbye."""
        self._closing = True
        link = self._link
        if link is None or link.closed.is_set():
            return
        with contextlib.suppress(CallprobeError):
            await self._act("close", seconds=self.settings.teardown_timeout_s * 3)
        with contextlib.suppress(CallprobeError, TimeoutError):
            self._clock = await self._sync(SYNC_SAMPLES)
        self.timeline.record(self.describe())  # the final word on its clock: the start's check and the drift since
        with contextlib.suppress(CallprobeError):
            await self._send("bye")
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(BaseException):
                await task


__all__ = ["RemoteAgent", "RemoteHub"]
