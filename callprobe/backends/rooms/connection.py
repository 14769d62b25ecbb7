"""The I/O around a ``RoomsClient``: HTTP requests, the polls, the room sockets, the clock.

Everything the client decides is in ``client.RoomsClient`` (sans I/O); this
layer only makes the requests it asks for, holds one WebSocket per call room
the agent is in, keeps time and runs the timers, each wait a named
``ClientSettings`` deadline: a REST request (``request_timeout_s``; login
``login_timeout_s``), a room handshake (``connect_timeout_s``), a close
(``close_timeout_s``), and the grace a polled answer gives its room notice
(``room_notice_grace_s``, a timer the client asks for). One poll loop asks,
every ``poll_interval_s`` of the backend options, for the incoming list (the
callee's ring) and for the status of each call the client wants checked
(a placed call's answer). After every input it drains the client's outputs
in order: events to the timeline, notices to ``on_notice``, frames and
leaves to the room's writer, timers to the loop.

Sockets are made in the context the connection was created in
(``placed``: an agent's network namespace), whichever task asks.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import urlencode, urlsplit, urlunsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI

from callprobe.backends.base import Deliver, DriverNotice, Record
from callprobe.backends.rooms import protocol
from callprobe.backends.rooms.client import Frame, JoinPlan, Leave, RoomsClient, Timer
from callprobe.backends.urls import redact
from callprobe.errors import ConfigError, DeadlineExceeded, ServerUnreachable
from callprobe.settings import ClientSettings
from callprobe.timeline.events import Note, stamped
from callprobe.timeline.recorder import EventSink

T = TypeVar("T")


@dataclass
class _Room:
    """One open room socket and the frames waiting for its writer (``None``: close after them)."""

    ws: ClientConnection
    authenticated: bool
    queue: asyncio.Queue[str | None] = field(default_factory=asyncio.Queue)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    leaving: bool = False
    closed: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass(frozen=True)
class Reply:
    """An HTTP reply: status, JSON body (``None`` when not JSON), and how long it took."""

    status: int
    body: Any
    latency_ms: float


class JoinRefused(Exception):
    """The room upgrade was refused: the HTTP status and body (the client recorded it)."""

    def __init__(self, room_id: str, status: int, body: bytes, reason: str = "") -> None:
        words = protocol.explain_status(status) if status else (reason or "no HTTP answer")
        super().__init__(f"room {room_id}: {words}")
        self.status, self.body = status, body


def ws_base(base_url: str) -> str:
    """``http://h:p`` -> ``ws://h:p`` (``https`` -> ``wss``)."""
    parts = urlsplit(base_url)
    scheme = "wss" if parts.scheme == "https" else "ws"
    return urlunsplit((scheme, parts.netloc, parts.path.rstrip("/"), "", ""))


class RoomsConnection:
    """One agent's HTTP session, poll loop and room sockets around a ``RoomsClient``.

    Args:
        client: the sans-I/O client this connection feeds.
        base_url: the server's HTTP base URL (``http://host:port``).
        timeline: where events go.
        settings: the named deadlines.
        on_notice: called with each notice, in order.
        poll_interval_s: how often the polls run.
    """

    def __init__(self, *, client: RoomsClient, base_url: str, timeline: EventSink, settings: ClientSettings,
                 on_notice: Callable[[DriverNotice], None], poll_interval_s: float) -> None:
        self.client = client
        self.base_url = base_url.rstrip("/")
        self.timeline, self.settings = timeline, settings
        self.poll_interval_s = poll_interval_s
        self._on_notice = on_notice
        self._context = contextvars.copy_context()
        self._session: Any = None
        self._rooms: dict[str, _Room] = {}
        self._joining: dict[str, asyncio.Future[None]] = {}
        self._poller: asyncio.Task[None] | None = None
        self._timers: set[asyncio.TimerHandle] = set()
        self._closed = False

    def now_ms(self) -> float:
        return self.timeline.now_ms()

    @property
    def polling(self) -> bool:
        return self._poller is not None and not self._poller.done()

    # ---------------------------------------------------------------- outputs

    def flush(self) -> None:
        """Carry out everything the client queued, in order."""
        for out in self.client.outputs():
            if isinstance(out, Record):
                self.timeline.record(stamped(out.event, agent=self.client.agent))
            elif isinstance(out, Deliver):
                self._on_notice(out.notice)
            elif isinstance(out, Frame):
                room = self._rooms.get(out.room_id)
                if room is None or room.leaving:
                    self._note("frame_dropped", out.room_id, "not in the room: the frame was not sent")
                else:
                    room.queue.put_nowait(out.text)
            elif isinstance(out, Leave):
                room = self._rooms.get(out.room_id)
                if room is not None and not room.leaving:
                    room.leaving = True
                    room.queue.put_nowait(None)
            elif isinstance(out, Timer):
                delay = max(0.0, (out.due_ms - self.now_ms()) / 1000.0)
                handle = asyncio.get_running_loop().call_later(delay, self._tick)
                self._timers.add(handle)

    def _tick(self) -> None:
        loop = asyncio.get_running_loop()
        self._timers = {h for h in self._timers if h.when() > loop.time()}
        self.client.tick(self.now_ms())
        self.flush()

    def _note(self, note: str, room_id: str, text: str) -> None:
        self.timeline.record(Note(agent=self.client.agent, room_id=room_id, note=note, text=text))

    def _placed(self, coro: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
        """Run ``coro`` in the context this connection was made in (its sockets land where the agent is)."""
        return asyncio.get_running_loop().create_task(coro, context=self._context.copy())

    # ---------------------------------------------------------------- HTTP

    async def request(self, method: str, path: str, body: Any = None, *, auth: bool = True,
                      setting: str = "request_timeout_s") -> Reply:
        """One REST request; ``DeadlineExceeded`` naming ``setting``, ``ServerUnreachable`` without an answer."""
        return await self._placed(self._request(method, path, body, auth, setting))

    async def _request(self, method: str, path: str, body: Any, auth: bool, setting: str) -> Reply:
        import aiohttp  # here, not at import: validation needs none of it

        if self._session is None:
            self._session = aiohttp.ClientSession(trust_env=False)
        url = self.base_url + path
        headers = {"Authorization": f"Bearer {self.client.token}"} if auth and self.client.token else {}
        seconds = float(getattr(self.settings, setting))
        started = time.monotonic()
        try:
            async with asyncio.timeout(seconds):
                async with self._session.request(method, url, json=body, headers=headers) as resp:
                    raw = await resp.read()
                    status = resp.status
        except TimeoutError:
            raise DeadlineExceeded(f"{method} {path} at {self.base_url}", setting, seconds) from None
        except aiohttp.InvalidURL:
            raise ConfigError(f"server URL is not usable: {url!r}") from None
        except (aiohttp.ClientConnectorError, aiohttp.ServerDisconnectedError) as exc:
            raise ServerUnreachable(f"call-room server {self.base_url} unreachable: {exc}") from None
        except aiohttp.ClientError as exc:
            raise ServerUnreachable(f"call-room server {self.base_url}: {type(exc).__name__}: {exc}") from None
        return Reply(status, protocol.loads(raw) if raw else None, (time.monotonic() - started) * 1000.0)

    # ---------------------------------------------------------------- polls

    def start_polling(self) -> None:
        if not self.polling:
            self._poller = self._placed(self._poll_loop())

    async def stop_polling(self) -> None:
        task, self._poller = self._poller, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def poll_once(self) -> Reply:
        """Ask for the incoming list, then for the status of every call the client wants checked."""
        reply = await self.request("GET", self.client.names.path("incoming"))
        self.client.on_incoming(reply.status, reply.body)
        self.flush()
        for room_id in self.client.status_wanted():
            status = await self.request("GET", self.client.names.path("call", room_id))
            self.client.on_status(room_id, status.status, status.body, self.now_ms())
            self.flush()
        return reply

    async def _poll_loop(self) -> None:
        while not self._closed:
            await asyncio.sleep(self.poll_interval_s)
            try:
                await self.poll_once()
            except (DeadlineExceeded, ServerUnreachable, ConfigError) as exc:
                self._note("poll_failed", "", str(exc))

    # ---------------------------------------------------------------- rooms

    def in_room(self, room_id: str) -> bool:
        room = self._rooms.get(room_id)
        return room is not None and not room.leaving and not room.closed.is_set()

    async def join(self, room_id: str) -> None:
        """Open the room socket (once); ``JoinRefused``, ``DeadlineExceeded`` or ``ServerUnreachable``."""
        if self.in_room(room_id):
            return
        pending = self._joining.get(room_id)
        if pending is None:
            pending = self._joining[room_id] = asyncio.get_running_loop().create_future()
            task = self._placed(self._join(room_id))
            task.add_done_callback(lambda t: self._joined(room_id, t))
        await asyncio.shield(pending)

    def _joined(self, room_id: str, task: asyncio.Task[None]) -> None:
        future = self._joining.pop(room_id)
        if task.cancelled():
            future.cancel()
        elif task.exception() is not None:
            future.set_exception(task.exception())  # type: ignore[arg-type]
        else:
            future.set_result(None)

    async def _join(self, room_id: str) -> None:
        plan: JoinPlan = self.client.join_plan(room_id)
        url = ws_base(self.base_url) + plan.path + (f"?{urlencode(plan.query)}" if plan.query else "")
        token_param = self.client.names.key("token_param")
        self.client.on_room_opening(room_id, redact(url, (token_param,)))
        self.flush()
        seconds = self.settings.connect_timeout_s
        started = time.monotonic()
        try:
            ws = await connect(url, additional_headers=plan.headers, open_timeout=seconds, ping_interval=None,
                               close_timeout=self.settings.close_timeout_s, max_size=None, compression=None,
                               proxy=None)
        except InvalidStatus as exc:
            body = bytes(exc.response.body or b"")
            self.client.on_room_refused(room_id, exc.response.status_code, body)
            self.flush()
            raise JoinRefused(room_id, exc.response.status_code, body) from None
        except InvalidURI as exc:
            raise ConfigError(f"room URL is not usable: {exc}") from None
        except InvalidHandshake as exc:
            self.client.on_room_refused(room_id, 0, b"", f"{type(exc).__name__}: {exc}")
            self.flush()
            raise JoinRefused(room_id, 0, b"", str(exc)) from None
        except TimeoutError:
            raise DeadlineExceeded(f"room {room_id} handshake", "connect_timeout_s", seconds) from None
        except OSError as exc:
            raise ServerUnreachable(f"call room {redact(url, (token_param,))} unreachable: {exc}") from None
        room = _Room(ws, plan.authenticated)
        self._rooms[room_id] = room
        self.client.on_room_open(room_id, (time.monotonic() - started) * 1000.0)
        self.flush()
        room.tasks.append(asyncio.create_task(self._reader(room_id, room), name=f"room-reader-{room_id}"))
        room.tasks.append(asyncio.create_task(self._writer(room), name=f"room-writer-{room_id}"))

    async def _reader(self, room_id: str, room: _Room) -> None:
        try:
            async for message in room.ws:
                text = message if isinstance(message, str) else message.decode("utf-8", "replace")
                try:
                    self.client.on_room_text(room_id, text, authenticated=room.authenticated)
                except Exception as exc:  # a handler bug must not kill the room
                    self._note("frame_handler_error", room_id, f"{type(exc).__name__}: {exc}")
                self.flush()
        except ConnectionClosed:
            pass
        finally:
            self._finish(room_id, room)

    async def _writer(self, room: _Room) -> None:
        while True:
            text = await room.queue.get()
            if text is None:
                with contextlib.suppress(Exception):
                    await room.ws.close()
                return
            try:
                await room.ws.send(text)
            except ConnectionClosed:
                return

    def _finish(self, room_id: str, room: _Room) -> None:
        if room.closed.is_set():
            return
        room.closed.set()
        if self._rooms.get(room_id) is room:
            del self._rooms[room_id]
        rcvd, sent = room.ws.protocol.close_rcvd, room.ws.protocol.close_sent
        by = "client" if room.leaving else "server"
        if by == "client":
            code, reason = (int(sent.code), sent.reason) if sent is not None else (1000, "")
        else:
            code, reason = (int(rcvd.code), rcvd.reason) if rcvd is not None else (1006, "")
        self.client.on_room_closed(room_id, code, reason, by)
        self.flush()
        for task in room.tasks:
            if task is not asyncio.current_task():
                task.cancel()

    async def leave(self, room_id: str) -> None:
        """Close the room socket once its queued frames are out; wait ``close_timeout_s``."""
        room = self._rooms.get(room_id)
        if room is None:
            return
        if not room.leaving:
            room.leaving = True
            room.queue.put_nowait(None)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(room.closed.wait(), self.settings.close_timeout_s)
        if not room.closed.is_set():
            room.ws.transport.abort()
            self._finish(room_id, room)

    # ---------------------------------------------------------------- closing

    async def leave_all(self) -> None:
        """Leave every room this agent is in."""
        await asyncio.gather(*(self.leave(r) for r in list(self._rooms)), return_exceptions=True)

    async def close(self) -> None:
        """Stop polling, leave every room, close the HTTP session; safe to call twice."""
        self._closed = True
        await self.stop_polling()
        for handle in self._timers:
            handle.cancel()
        self._timers.clear()
        await self.leave_all()
        for room in list(self._rooms.values()):
            for task in room.tasks:
                task.cancel()
        session, self._session = self._session, None
        if session is not None:
            await session.close()


__all__ = ["JoinRefused", "Reply", "RoomsConnection", "redact", "ws_base"]
