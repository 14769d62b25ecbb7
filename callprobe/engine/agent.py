"""A simulated user: one driver connection, its calls, and their WebRTC legs.

The agent reacts to the driver's neutral notices the way KKIM's sample web client
does (docs/backends/kkim.md#call-signaling): the callee prepares its peer on accept, the caller
creates the offer when the accept notice arrives, offers are answered, and
candidates are added as they come. Everything it does is recorded on the
timeline by the driver and the peer; the agent itself keeps only what it
needs to act (which rooms are ringing, which peer belongs to which room).

Two loops keep it responsive: one *pump* per agent files every notice at
once (a ring is answerable the moment it is filed), and one *worker* per call
leg does that leg's slow WebRTC work in order (offer, answer, candidates), so
a leg that is gathering ICE never holds up another leg's hang-up.

On backends whose parties meet in a per-call room (``Driver.has_rooms``) the
agent also decides when it enters the room, by the call's *join order*
(``JOIN_ORDERS``): ``caller-first`` (the default: the caller joins right
after placing the call, the callee when it accepts), ``callee-first`` (the
callee joins when it accepts, the caller once it learns of the answer) or
``steps`` (only ``join_room`` steps enter the room).
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from callprobe.backends.base import AgentIdentity, Driver, DriverError, DriverNotice, MediaKind
from callprobe.errors import CallprobeError
from callprobe.net.netns import placed
from callprobe.rtc.ice_config import IceConfig
from callprobe.settings import ClientSettings
from callprobe.timeline.events import ENDING_NOTICES, Note, PartyInfo
from callprobe.timeline.recorder import Scoped, Timeline

if TYPE_CHECKING:  # aiortc, av and numpy load with the first call leg, not with the agent
    from callprobe.rtc.peer import CallPeer, TurnProber

#: Notices after which a call leg is over for this agent.
_ENDING = tuple(cls.KIND for cls in ENDING_NOTICES)

#: Who enters a call room when (backends with rooms); the default is the first.
JOIN_ORDERS = ("caller-first", "callee-first", "steps")


@dataclass
class CallLeg:
    """This agent's side of one call."""

    room_id: str
    peer_user: str
    media: MediaKind
    role: str  # "caller" | "callee"
    peer: CallPeer | None = None
    answered: bool = False
    ended: bool = False
    pending_candidates: list[Any] = field(default_factory=list)
    remote_set: bool = False
    inbox: asyncio.Queue[DriverNotice] = field(default_factory=asyncio.Queue)
    worker: asyncio.Task[None] | None = None
    media_task: asyncio.Task[None] | None = None
    closing: asyncio.Task[None] | None = None
    stats_taken: bool = False
    invitees: int = 1          # a caller's leg: how many users it invited
    declined: int = 0          # ... and how many of them declined so far
    join_order: str = ""       # backends with rooms: the call's (JOIN_ORDERS)


class Agent:
    """One scenario agent: a driver, plus a ``CallPeer`` per active call (an ``engine.party.Party``)."""

    kind = "agent"
    #: whether calls get WebRTC legs (a load run's signaling-only agents say no)
    webrtc = True

    def __init__(self, name: str, driver: Driver, timeline: Timeline,
                 settings: ClientSettings, ice: IceConfig, media: MediaKind = "video",
                 netns: str | None = None, turn_prober: TurnProber | None = None) -> None:
        self.name = name
        self.netns = netns
        self.driver = driver
        self.timeline = timeline
        self.settings = settings
        self.ice = ice
        self.media: MediaKind = media
        self.calls: dict[str, CallLeg] = {}
        self.ringing: list[DriverNotice] = []
        self._turn_prober = turn_prober
        self._rang = asyncio.Event()
        self.join_orders: dict[str, str] = {}  # room -> the call's join order (backends with rooms)
        self._pump: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._logged_in = False

    @property
    def user_id(self) -> str:
        return self.driver.identity.user_id

    @property
    def identity(self) -> AgentIdentity:
        return self.driver.identity

    def describe(self) -> PartyInfo:
        return PartyInfo(agent=self.name, role="agent", user_id=self.user_id, host="",
                         text="simulated by callprobe in this process")

    async def start(self) -> None:
        """Nothing to do: an agent is ready when made (``engine.party.Party``)."""

    # ------------------------------------------------------------ connection

    # Every socket of this agent (login, WebSocket, ICE) is made in its network
    # namespace: the pump, and the call legs it starts, inherit the placement.

    async def login(self) -> None:
        with placed(self.netns):
            await self.driver.login()
        self._logged_in = True

    async def connect(self) -> None:
        if not self._logged_in:
            await self.login()
        with placed(self.netns):
            await self.driver.connect()
            self._start_pump()

    async def disconnect(self) -> None:
        await self.driver.disconnect()

    async def reconnect(self) -> None:
        with placed(self.netns):
            await self.driver.reconnect()
            self._start_pump()

    def _start_pump(self) -> None:
        if self._pump is None or self._pump.done():
            self._pump = asyncio.create_task(self._consume(), name=f"agent-{self.name}")

    # ----------------------------------------------------------------- calls

    async def invite(self, callees: list[AgentIdentity], media: MediaKind, timeout_s: int,
                     join_order: str | None = None) -> str | None:
        """Place one call to every user listed; the server's room, or None when refused.

        On a backend with rooms the caller of a ``caller-first`` call (the
        default) enters the room right away.
        """
        try:
            result = await self.driver.invite(list(callees), media, timeout_s)
        except DriverError:
            return None  # recorded as InviteRefused by the driver
        leg = CallLeg(result.room_id, callees[0].user_id, media, "caller", invitees=len(callees))
        self.calls[result.room_id] = leg
        if self.driver.has_rooms:
            leg.join_order = self.set_join_order(result.room_id, join_order)
            if leg.join_order == "caller-first":
                await self._enter(result.room_id)
        return result.room_id

    async def learn_join_order(self, room_id: str, join_order: str | None) -> None:
        if self.driver.has_rooms:
            self.set_join_order(room_id, join_order)

    def set_join_order(self, room_id: str, join_order: str | None) -> str:
        """The join order of the call in ``room_id`` (told to the callees by whoever placed it)."""
        order = join_order or JOIN_ORDERS[0]
        self.join_orders[room_id] = order
        return order

    async def join_room(self, room_id: str | None = None) -> str:
        """Enter the room of this agent's current call (or of the call ringing it)."""
        if room_id is None:
            active = [leg for leg in self.calls.values() if not leg.ended]
            room_id = active[-1].room_id if active else (await self._ringing_room(None)).room_id
        await self._enter(room_id, quiet=False)
        return room_id

    async def _enter(self, room_id: str, quiet: bool = True) -> None:
        """Join the call's room; a refusal is on the timeline (the driver records it)."""
        with placed(self.netns):
            try:
                await self.driver.join_room(room_id)
            except DriverError:
                if not quiet:
                    raise

    async def _ringing_room(self, room_id: str | None) -> DriverNotice:
        """The ring to act on; waits (``request_timeout_s``) for one the driver
        has seen but the pump has not filed yet."""
        loop = asyncio.get_running_loop()
        end = loop.time() + self.settings.request_timeout_s
        while True:
            for notice in reversed(self.ringing):
                if room_id is None or notice.room_id == room_id:
                    return notice
            left = end - loop.time()
            if left <= 0:
                raise CallprobeError(f"agent {self.name} has no ringing call to answer"
                                     + (f" in room {room_id}" if room_id else ""))
            self._rang.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._rang.wait(), left)

    async def accept(self, room_id: str | None = None) -> str:
        notice = await self._ringing_room(room_id)
        self.ringing.remove(notice)
        media: MediaKind = "audio" if notice.data.get("media") == "audio" else "video"
        leg = CallLeg(notice.room_id, notice.peer, media, "callee", answered=True)
        if self._peer_media:
            leg.peer = self._new_peer(leg)
        self.calls[leg.room_id] = leg
        try:
            await self.driver.accept(leg.room_id)
        except DriverError:
            return leg.room_id
        if self.driver.has_rooms:
            leg.join_order = self.join_orders.get(leg.room_id, JOIN_ORDERS[0])
            if leg.join_order != "steps":
                await self._enter(leg.room_id)
        return leg.room_id

    async def reject(self, room_id: str | None = None) -> None:
        notice = await self._ringing_room(room_id)
        self.ringing.remove(notice)
        with contextlib.suppress(DriverError):
            await self.driver.reject(notice.room_id)

    async def cancel(self, room_id: str | None = None) -> None:
        leg = self._active_leg(room_id, role="caller")
        with contextlib.suppress(DriverError):
            await self.driver.cancel(leg.room_id)
        await self._end_leg(leg)

    async def hangup(self, room_id: str | None = None) -> None:
        leg = self._active_leg(room_id)
        await self._take_stats(leg)  # before the peer hears of the hang-up
        with contextlib.suppress(DriverError):
            await self.driver.hangup(leg.room_id)
        await self._end_leg(leg)

    async def send_text(self, peer: AgentIdentity, text: str) -> None:
        await self.driver.send_text(peer, text)

    def _active_leg(self, room_id: str | None, role: str | None = None) -> CallLeg:
        for leg in reversed(list(self.calls.values())):
            if leg.ended or (role and leg.role != role):
                continue
            if room_id is None or leg.room_id == room_id:
                return leg
        raise CallprobeError(f"agent {self.name} has no active call"
                             + (f" in room {room_id}" if room_id else ""))

    # ------------------------------------------------------------- reactions

    async def _consume(self) -> None:
        while True:
            self._file(await self.driver.notices.get())

    def _file(self, notice: DriverNotice) -> None:
        """Book a notice at once; a leg's WebRTC work goes to that leg's worker."""
        if notice.kind == "ringing":
            self.ringing.append(notice)
            self._rang.set()
            return
        if notice.kind in _ENDING:
            self.ringing = [n for n in self.ringing if n.room_id != notice.room_id]
            leg = self.calls.get(notice.room_id)
            if leg is not None and self._declined_by_one(leg, notice):
                return
            if leg is not None and not leg.ended:
                self._spawn(self._end_leg(leg), f"end-{self.name}-{leg.room_id}")
            return
        if notice.kind not in ("answered", "signal_received"):
            return
        leg = self.calls.get(notice.room_id)
        if leg is None or leg.ended:
            if notice.kind == "signal_received":
                self.timeline.record(Note(agent=self.name, room_id=notice.room_id, note="signal_ignored",
                                          text=f"{notice.data.get('signal_type')} for room {notice.room_id} "
                                               "with no matching call leg: ignored"))
            return
        leg.inbox.put_nowait(notice)
        if leg.worker is None:
            leg.worker = asyncio.create_task(self._work(leg), name=f"leg-{self.name}-{leg.room_id}")

    async def _work(self, leg: CallLeg) -> None:
        while not leg.ended:
            notice = await leg.inbox.get()
            try:
                if notice.kind == "answered":
                    if leg.role == "caller" and not leg.answered:
                        leg.answered = True
                        leg.peer_user = notice.peer or leg.peer_user
                        if leg.join_order == "callee-first":
                            await self._enter(leg.room_id)  # the callee is in: now the caller comes
                        if self._peer_media:
                            await self._send_offer(leg)
                else:
                    await self._on_signal(leg, notice)
            except (CallprobeError, DriverError) as exc:
                self.timeline.record(Note(agent=self.name, room_id=leg.room_id, note="reaction_failed",
                                          text=f"reaction to {notice.kind} failed: {exc}"))
            except Exception as exc:  # aiortc raises plain exceptions on bad SDP
                self.timeline.record(Note(agent=self.name, room_id=leg.room_id, note="reaction_failed",
                                          text=f"reaction to {notice.kind} failed: {type(exc).__name__}: {exc}"))

    @staticmethod
    def _declined_by_one(leg: CallLeg, notice: DriverNotice) -> bool:
        """A call to several users goes on while one of them has accepted or some have not answered."""
        if notice.kind != "rejected" or leg.role != "caller" or leg.invitees <= 1:
            return False
        leg.declined += 1
        return leg.answered or leg.declined < leg.invitees

    def _spawn(self, coro: Any, name: str) -> None:
        task: asyncio.Task[None] = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send_offer(self, leg: CallLeg) -> None:
        leg.peer = self._new_peer(leg)
        offer, candidates = await leg.peer.make_offer()
        await self.driver.send_signal(leg.peer_user, leg.room_id, "offer", offer)
        for candidate in candidates:
            await self.driver.send_signal(leg.peer_user, leg.room_id, "candidate", candidate)
        self._watch_media(leg)

    async def _on_signal(self, leg: CallLeg, notice: DriverNotice) -> None:
        if leg.peer is None:
            leg.pending_candidates.append(notice.data.get("data"))
            return
        kind, data = notice.data.get("signal_type"), notice.data.get("data")
        if kind == "offer" and leg.role == "callee":
            answer, candidates = await leg.peer.accept_offer(data)
            await self._flush_candidates(leg)
            await self.driver.send_signal(leg.peer_user, leg.room_id, "answer", answer)
            for candidate in candidates:
                await self.driver.send_signal(leg.peer_user, leg.room_id, "candidate", candidate)
            self._watch_media(leg)
        elif kind == "answer" and leg.role == "caller":
            await leg.peer.set_answer(data)
            await self._flush_candidates(leg)
        elif kind == "candidate":
            if leg.remote_set:
                await leg.peer.add_candidate(_candidate_or_end(data))
            else:
                leg.pending_candidates.append(data)

    async def _flush_candidates(self, leg: CallLeg) -> None:
        leg.remote_set = True
        assert leg.peer is not None
        pending, leg.pending_candidates = leg.pending_candidates, []
        for data in pending:
            await leg.peer.add_candidate(_candidate_or_end(data))

    def _watch_media(self, leg: CallLeg) -> None:
        async def watch() -> None:
            assert leg.peer is not None
            if await leg.peer.wait_connected():
                await leg.peer.wait_media()

        leg.media_task = asyncio.create_task(watch(), name=f"media-{self.name}-{leg.room_id}")

    @property
    def _peer_media(self) -> bool:
        """Whether a call gets a WebRTC leg here: not when the backend's media runs elsewhere (a
        conference room), nor for an agent that only signals."""
        return self.webrtc and self.driver.peer_media

    def _new_peer(self, leg: CallLeg) -> CallPeer:
        from callprobe.rtc.peer import CallPeer

        scoped = Scoped(self.timeline, leg.room_id)
        return CallPeer(agent=self.name, timeline=scoped, media=leg.media, ice=self.ice,
                        settings=self.settings, turn_prober=self._turn_prober)

    async def _end_leg(self, leg: CallLeg) -> None:
        """Stop a leg once: take its figures, then close its peer.

        Every caller awaits the same closing task, so a teardown racing a
        hang-up notice still waits for the peer to be closed.
        """
        leg.ended = True
        if leg.closing is None:
            leg.closing = asyncio.create_task(self._close_leg(leg), name=f"close-{self.name}-{leg.room_id}")
        await asyncio.shield(leg.closing)

    async def _close_leg(self, leg: CallLeg) -> None:
        for task in (leg.worker, leg.media_task):
            if task is not None and task is not asyncio.current_task():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        await self._take_stats(leg)
        if leg.peer is not None:
            await leg.peer.close()

    async def _take_stats(self, leg: CallLeg) -> None:
        if leg.peer is None or leg.stats_taken:
            return
        leg.stats_taken = True
        with contextlib.suppress(Exception):
            await asyncio.wait_for(leg.peer.collect_stats(), self.settings.teardown_timeout_s)

    # -------------------------------------------------------------- teardown

    async def release_calls(self) -> None:
        """Leave no call open on the server: cancel what still rings, hang up
        what was answered. Run before ``close``; every action has its deadline."""
        for leg in list(self.calls.values()):
            if leg.ended or not self.driver.connected:
                continue
            action = self.driver.hangup if leg.answered else self.driver.cancel
            with contextlib.suppress(CallprobeError, asyncio.TimeoutError):
                await asyncio.wait_for(action(leg.room_id), self.settings.teardown_timeout_s)
            with contextlib.suppress(Exception):
                await self._end_leg(leg)

    async def close(self) -> None:
        """Close every peer and the connection, whatever state they are in."""
        for leg in list(self.calls.values()):
            with contextlib.suppress(Exception):
                await self._end_leg(leg)
        for task in [self._pump, *self._tasks]:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.driver.close(), self.settings.teardown_timeout_s)


def _candidate_or_end(data: Any) -> Any:
    """A browser signals end-of-candidates with null or an empty candidate line."""
    if data is None or (isinstance(data, dict) and not data.get("candidate")):
        return None
    return data


__all__ = ["Agent", "CallLeg"]
