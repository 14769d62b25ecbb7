"""A simulated user: one driver connection, its calls, and their WebRTC legs.

The agent reacts to the driver's neutral notices the way the seed's web client
does (section 10.5): the callee prepares its peer on accept, the caller
creates the offer when the accept notice arrives, offers are answered, and
candidates are added as they come. Everything it does is recorded on the
timeline by the driver and the peer; the agent itself keeps only what it
needs to act (which rooms are ringing, which peer belongs to which room).
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import Any

from callprobe.drivers.base import Driver, DriverError, MediaKind, Notice
from callprobe.errors import CallprobeError, DeadlineExceeded
from callprobe.events import Kind, Scoped, Timeline
from callprobe.rtc.ice_config import IceConfig
from callprobe.rtc.peer import CallPeer
from callprobe.settings import ClientSettings

#: Notices after which a call leg is over for this agent.
_ENDING = ("rejected", "cancelled", "hung_up", "call_timeout")


@dataclass
class CallLeg:
    """This agent's side of one call."""

    room_id: str
    peer_user: str
    media: MediaKind
    role: str  # "caller" | "callee"
    peer: CallPeer | None = None
    ended: bool = False
    pending_candidates: list[Any] = field(default_factory=list)
    remote_set: bool = False
    media_task: asyncio.Task[None] | None = None
    closing: asyncio.Task[None] | None = None
    stats_taken: bool = False


class Agent:
    """One scenario agent: a driver, plus a ``CallPeer`` per active call."""

    def __init__(self, name: str, driver: Driver, timeline: Timeline,
                 settings: ClientSettings, ice: IceConfig, media: MediaKind = "video") -> None:
        self.name = name
        self.driver = driver
        self.timeline = timeline
        self.settings = settings
        self.ice = ice
        self.media: MediaKind = media
        self.calls: dict[str, CallLeg] = {}
        self.ringing: list[Notice] = []
        self._pump: asyncio.Task[None] | None = None
        self._logged_in = False

    @property
    def user_id(self) -> str:
        return self.driver.identity.user_id

    # ------------------------------------------------------------ connection

    async def login(self) -> None:
        await self.driver.login()
        self._logged_in = True

    async def connect(self) -> None:
        if not self._logged_in:
            await self.login()
        await self.driver.connect()
        if self._pump is None or self._pump.done():
            self._pump = asyncio.create_task(self._consume(), name=f"agent-{self.name}")

    async def disconnect(self) -> None:
        await self.driver.disconnect()

    async def reconnect(self) -> None:
        await self.driver.reconnect()
        if self._pump is None or self._pump.done():
            self._pump = asyncio.create_task(self._consume(), name=f"agent-{self.name}")

    # ----------------------------------------------------------------- calls

    async def invite(self, callee_user: str, media: MediaKind, timeout_s: int) -> str | None:
        """Place a call; returns the server's room, or None when refused."""
        try:
            result = await self.driver.invite([callee_user], media, timeout_s)
        except DriverError:
            return None  # recorded as INVITE_REFUSED by the driver
        self.calls[result.room_id] = CallLeg(result.room_id, callee_user, media, "caller")
        return result.room_id

    def _ringing_room(self, room_id: str | None) -> Notice:
        for notice in reversed(self.ringing):
            if room_id is None or notice.room_id == room_id:
                return notice
        raise CallprobeError(f"agent {self.name} has no ringing call to answer"
                             + (f" in room {room_id}" if room_id else ""))

    async def accept(self, room_id: str | None = None) -> str:
        notice = self._ringing_room(room_id)
        self.ringing.remove(notice)
        media: MediaKind = "audio" if notice.data.get("media") == "audio" else "video"
        leg = CallLeg(notice.room_id, notice.peer, media, "callee")
        leg.peer = self._new_peer(leg)
        self.calls[leg.room_id] = leg
        with contextlib.suppress(DriverError):
            await self.driver.accept(leg.room_id)
        return leg.room_id

    async def reject(self, room_id: str | None = None) -> None:
        notice = self._ringing_room(room_id)
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

    async def send_text(self, peer_user: str, text: str) -> None:
        await self.driver.send_text(peer_user, text)

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
            notice = await self.driver.notices.get()
            try:
                await self._react(notice)
            except (CallprobeError, DriverError) as exc:
                self.timeline.record(self.name, Kind.NOTE, text=f"reaction to {notice.kind} failed: {exc}")
            except Exception as exc:  # aiortc raises plain exceptions on bad SDP
                self.timeline.record(self.name, Kind.NOTE,
                                     text=f"reaction to {notice.kind} failed: {type(exc).__name__}: {exc}")

    async def _react(self, notice: Notice) -> None:
        if notice.kind == "ringing":
            self.ringing.append(notice)
        elif notice.kind == "answered":
            leg = self.calls.get(notice.room_id)
            if leg is not None and leg.role == "caller" and leg.peer is None and not leg.ended:
                await self._send_offer(leg)
        elif notice.kind == "signal_received":
            await self._on_signal(notice)
        elif notice.kind in _ENDING:
            self.ringing = [n for n in self.ringing if n.room_id != notice.room_id]
            leg = self.calls.get(notice.room_id)
            if leg is not None:
                await self._end_leg(leg)

    async def _send_offer(self, leg: CallLeg) -> None:
        leg.peer = self._new_peer(leg)
        offer, candidates = await leg.peer.make_offer()
        await self.driver.send_signal(leg.peer_user, leg.room_id, "offer", offer)
        for candidate in candidates:
            await self.driver.send_signal(leg.peer_user, leg.room_id, "candidate", candidate)
        self._watch_media(leg)

    async def _on_signal(self, notice: Notice) -> None:
        leg = self.calls.get(notice.room_id)
        if leg is None or leg.ended or leg.peer is None:
            self.timeline.record(self.name, Kind.NOTE,
                                 text=f"{notice.data.get('signal_type')} for room {notice.room_id} "
                                      "with no matching call leg: ignored")
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

    def _new_peer(self, leg: CallLeg) -> CallPeer:
        scoped = Scoped(self.timeline, room_id=leg.room_id)
        return CallPeer(agent=self.name, timeline=scoped, media=leg.media,
                        ice=self.ice, settings=self.settings)

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
        if leg.media_task is not None:
            leg.media_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await leg.media_task
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

    async def close(self) -> None:
        """Close every peer and the connection, whatever state they are in."""
        for leg in list(self.calls.values()):
            with contextlib.suppress(Exception):
                await self._end_leg(leg)
        if self._pump is not None:
            self._pump.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._pump
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.driver.close(), self.settings.teardown_timeout_s)


def _candidate_or_end(data: Any) -> Any:
    """A browser signals end-of-candidates with null or an empty candidate line."""
    if data is None or (isinstance(data, dict) and not data.get("candidate")):
        return None
    return data


__all__ = ["Agent", "CallLeg", "DeadlineExceeded"]
