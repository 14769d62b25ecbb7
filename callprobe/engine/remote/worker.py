"""The agent's side of the control channel: ``callprobe agent --connect URL --as NAME``.

Joins the run's control endpoint with the token, receives its part (the
scenario, the server, its ICE), plays that one party here (a simulated
agent, or a browser when the scenario says so) and acts as the run asks.
Everything its timeline records goes back as it happens, with this
process's clock; clock samples are answered at once, even while an action
runs. When the run says ``bye`` it closes and returns 0; when the control
connection is lost it releases its calls, closes and returns 1.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from callprobe import __version__
from callprobe.backends.base import AgentIdentity, Endpoints, MediaKind
from callprobe.engine.parties import PartyFactory
from callprobe.engine.party import Party
from callprobe.engine.remote.hub import MAX_MESSAGE_BYTES
from callprobe.engine.remote.protocol import ProtocolViolation, decode, encode, ice_from_json
from callprobe.errors import CallprobeError, DeadlineExceeded, ExitCode, ServerUnreachable
from callprobe.settings import ClientSettings
from callprobe.timeline.events import Event
from callprobe.timeline.recorder import Timeline

Say = Callable[[str], None]


class ControlRefused(CallprobeError):
    """The run refused this agent (wrong token, unknown name, already joined)."""

    code = "CONTROL_REFUSED"
    exit_code = ExitCode.USAGE


class AgentWorker:
    """One remote agent's process: ``await run()`` returns the exit code."""

    def __init__(self, url: str, name: str, token: str, *, settings: ClientSettings | None = None,
                 say: Say | None = None) -> None:
        self.url, self.name, self.token = url, name, token
        self.settings = settings or ClientSettings()
        self.say = say or (lambda _text: None)
        self.timeline = Timeline()
        self.party: Party | None = None
        self._factory: PartyFactory | None = None
        self._out: asyncio.Queue[str] = asyncio.Queue()
        self._tasks: set[asyncio.Task[None]] = set()

    async def run(self) -> int:
        try:
            ws = await asyncio.wait_for(connect(self.url, max_size=MAX_MESSAGE_BYTES, open_timeout=None),
                                        self.settings.connect_timeout_s)
        except TimeoutError:
            seconds = self.settings.connect_timeout_s
            raise DeadlineExceeded(f"joining {self.url}", "connect_timeout_s", seconds) from None
        except (OSError, InvalidHandshake, InvalidURI) as exc:
            raise ServerUnreachable(f"cannot reach the control endpoint {self.url}: {exc}",
                                    hint="check the address the run printed, and that it listens where this "
                                         "host can reach it (--control-listen)") from None
        async with ws:
            await ws.send(encode("hello", token=self.token, **{"as": self.name}, host=socket.gethostname(),
                                 version=__version__))
            first = decode(await asyncio.wait_for(ws.recv(), self.settings.connect_timeout_s))
            if first["type"] == "refused":
                raise ControlRefused(f"the run refused {self.name}: {first.get('reason', '')}")
            self.say(f"joined {self.url} as {self.name}")
            writer = asyncio.create_task(self._write(ws))
            self.timeline.subscribe(self._forward)
            finished = False
            try:
                finished = await self._serve(ws)
            finally:
                self.timeline.unsubscribe(self._forward)
                await self._teardown()
                writer.cancel()
                with contextlib.suppress(BaseException):
                    await writer
        if finished:
            self.say("the run is over")
            return 0
        self.say("the control connection was lost: calls released, agent closed")
        return 1

    # ------------------------------------------------------------ the channel

    def _forward(self, event: Event) -> None:
        self._out.put_nowait(encode("event", e=event.to_json()))

    async def _write(self, ws: ClientConnection) -> None:
        while True:
            text = await self._out.get()
            try:
                await ws.send(text)
            except ConnectionClosed:
                return

    async def _serve(self, ws: ClientConnection) -> bool:
        """Until ``bye`` (True) or the connection is lost (False)."""
        try:
            async for text in ws:
                try:
                    msg = decode(text)
                except ProtocolViolation:
                    continue
                kind = msg["type"]
                if kind == "ping":
                    self._out.put_nowait(encode("pong", n=msg.get("n"), t=self.timeline.now_ms()))
                elif kind == "part":
                    self._spawn(self._take_part(msg))
                elif kind == "act":
                    self._spawn(self._act(msg))
                elif kind == "bye":
                    return True
        except ConnectionClosed:
            pass
        return False

    def _spawn(self, coro: Any) -> None:
        task: asyncio.Task[None] = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _take_part(self, msg: dict[str, Any]) -> None:
        from callprobe.scenario.loader import load_scenario_text

        try:
            scenario = load_scenario_text(str(msg["scenario"]), file=str(msg.get("file") or "remote.yaml"))
            if self.name not in scenario.agents or scenario.agents[self.name].external:
                raise CallprobeError(f"{self.name} is not an agent this scenario plays")
            self.settings = scenario.settings
            ends = msg.get("endpoints") or {}
            ice = ice_from_json(msg.get("ice") or {})
            self._factory = PartyFactory(scenario, self.timeline, self.settings,
                                         Endpoints(str(ends.get("server", "")), str(ends.get("api", ""))),
                                         lambda _name: ice, register=bool(msg.get("register")))
            party = self._factory.make(self.name)
            await party.start()
            if party.kind == "agent":
                from callprobe.rtc.media import load_clip

                for kind in ("audio", "video") if party.media == "video" else ("audio",):
                    await load_clip(kind)
            self.party = party
            info = party.describe()
            self.say(f"playing {self.name} ({party.kind}) against {ends.get('server', '')}")
            self._out.put_nowait(encode("ready", ok=True, plays=party.kind, browser=info.browser))
        except Exception as exc:  # the run must hear why, whatever it was
            text = str(exc) if isinstance(exc, CallprobeError) else f"{type(exc).__name__}: {exc}"
            self._out.put_nowait(encode("ready", ok=False, error=text))

    async def _act(self, msg: dict[str, Any]) -> None:
        ident, verb, args = msg.get("id"), str(msg.get("verb", "")), msg.get("args") or {}
        try:
            result = await self._perform(verb, args)
            self._out.put_nowait(encode("done", id=ident, ok=True, result=result))
        except Exception as exc:
            text = str(exc) if isinstance(exc, CallprobeError) else f"{type(exc).__name__}: {exc}"
            self._out.put_nowait(encode("done", id=ident, ok=False, error=text))

    async def _perform(self, verb: str, args: dict[str, Any]) -> Any:
        party = self.party
        if party is None:
            raise CallprobeError(f"{self.name} has no part to play yet")
        if verb in ("connect", "disconnect", "reconnect", "release_calls", "close"):
            await getattr(party, verb)()
            return None
        if verb == "invite":
            media: MediaKind = "audio" if args.get("media") == "audio" else "video"
            order = args.get("join_order")
            return await party.invite([AgentIdentity(**c) for c in args.get("callees", [])], media,
                                      int(args.get("timeout_s") or 60), str(order) if order else None)
        if verb == "learn_join_order":
            order = args.get("join_order")
            await party.learn_join_order(str(args.get("room_id") or ""), str(order) if order else None)
            return None
        if verb in ("accept", "reject", "cancel", "hangup", "join_room"):
            return await getattr(party, verb)(args.get("room_id"))
        if verb == "send_text":
            await party.send_text(AgentIdentity(**args["peer"]), str(args.get("text", "")))
            return None
        raise CallprobeError(f"unknown action {verb!r}")

    async def _teardown(self) -> None:
        for task in list(self._tasks):
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
        party, self.party = self.party, None
        if party is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(party.release_calls(), self.settings.teardown_timeout_s * 2)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(party.close(), self.settings.teardown_timeout_s * 2)
        if self._factory is not None:
            await self._factory.close()


__all__ = ["AgentWorker", "ControlRefused"]
