"""One call leg's WebRTC peer connection, driven the way a browser client is.

``CallPeer`` wraps one aiortc ``RTCPeerConnection``. It signals like a
browser: the offer/answer it returns carries no candidates, and each local
candidate is returned separately in ``RTCIceCandidateInit`` JSON form
(``sdp_trickle``); remote candidates are added one by one with
:meth:`CallPeer.add_candidate`, and are held until the remote description is
in place, since signaling may deliver them first.

Every wait has a callprobe deadline from ``ClientSettings``: aiortc reports
an unreachable peer only after about 64 s, and a peer without candidates
never (docs/aiortc-notes.md#slow-or-silent-failures). When a deadline passes the peer records
PEER_FAILED with a reason drawn from the candidates it saw
(``rtc.diagnosis``) and the setting to raise.

Everything observed goes on the timeline: PEER_CREATED, ICE_CANDIDATE (local
and remote), ICE_GATHERING, ICE_STATE, PC_STATE, SELECTED_PAIR,
MEDIA_FIRST_FRAME, MEDIA_STATS, PEER_FAILED, PEER_CLOSED, and TURN_PROBE when a
TURN server was configured but gave no relay candidate.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any, Literal

from aiortc import RTCIceCandidate, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamTrack

from callprobe.errors import DeadlineExceeded
from callprobe.rtc import diagnosis
from callprobe.rtc.errors import InvalidSignal, PeerStateError
from callprobe.rtc.host_addresses import restricted_host_addresses
from callprobe.rtc.ice_config import IceConfig, to_rtc_configuration
from callprobe.rtc.media import ClipTrack, FrameCounter, load_clip
from callprobe.rtc.sdp_trickle import (
    Candidate,
    CandidateInit,
    MediaSection,
    embedded_candidates,
    media_sections,
    parse_candidate_init,
    parse_description,
    split_candidates,
)
from callprobe.rtc.stats import flat_fields, summarize
from callprobe.settings import ClientSettings
from callprobe.timeline.events import (
    Event,
    IceCandidate,
    IceGathering,
    IceState,
    MediaFirstFrame,
    MediaStats,
    Note,
    PcState,
    PeerClosed,
    PeerCreated,
    PeerFailed,
    SelectedPair,
    TurnProbe,
    stamped,
)
from callprobe.timeline.recorder import EventSink

MediaKind = Literal["audio", "video"]

#: Kinds a call of each media type sends: a video call carries audio too.
SEND_KINDS: dict[str, tuple[str, ...]] = {"audio": ("audio",), "video": ("audio", "video")}

#: Failures after which a leg can no longer connect (``PEER_FAILED`` already says why).
_SETUP_FAILURES = frozenset({"gather", "offer", "answer"})

#: How long ``close`` lets aiortc's own tasks finish before cancelling them.
LEFTOVER_GRACE_S = 0.2


#: Asks a TURN server directly whether it allocates: ``(url, username, credential,
#: timeout_s)`` to the verdict as a ``TurnProbe`` event. Injected by the engine
#: (``net.ice_check.probe_turn_event``), so this layer never imports the network tools.
TurnProber = Callable[[str, str, str, float], Awaitable[TurnProbe]]


class CallPeer:
    """One ``RTCPeerConnection`` per call leg, with deadlines and a timeline.

    Create it inside a running event loop. The caller side calls
    :meth:`make_offer` then :meth:`set_answer`; the callee side calls
    :meth:`accept_offer`. Both exchange candidates with
    :meth:`add_candidate`, then :meth:`wait_connected`, :meth:`wait_media`,
    :meth:`collect_stats` and finally :meth:`close` (always safe).

    Args:
        agent: timeline agent name.
        timeline: where events go.
        media: "audio" sends a tone; "video" sends the tone and a moving pattern.
        ice: servers, host address restriction and transport policy.
        settings: deadlines (``ice_gather_timeout_s``, ``ice_connect_timeout_s``,
            ``media_timeout_s``, ``teardown_timeout_s``).
        turn_prober: asked why, when a TURN server was configured and gave no
            relay candidate (aioice drops the error); ``None``: nobody asks.
    """

    def __init__(self, *, agent: str, timeline: EventSink, media: MediaKind,
                 ice: IceConfig, settings: ClientSettings, turn_prober: TurnProber | None = None) -> None:
        if media not in SEND_KINDS:
            raise ValueError(f"media must be 'audio' or 'video', not {media!r}")
        self.agent = agent
        self.media = media
        self.ice = ice
        self.settings = settings
        self._timeline = timeline
        self._turn_prober = turn_prober
        self._role: Literal["caller", "callee"] | None = None
        self._pc = RTCPeerConnection(to_rtc_configuration(ice))
        self._tracks: list[ClipTrack] = []
        self._frames = FrameCounter(on_first=self._on_first_frame)
        self._drains: set[asyncio.Task[None]] = set()
        self._probes: set[asyncio.Task[None]] = set()
        self._local: list[Candidate] = []
        self._remote: list[Candidate] = []
        self._remote_sections: list[MediaSection] = []
        self._pending: list[CandidateInit | None] = []
        self._remote_set = False
        self._ice_since: float | None = None
        self._connected = asyncio.Event()
        self._settled = asyncio.Event()  # connected, failed, closed, or gathered nothing
        self._selected: dict[str, Any] | None = None
        self._last_summary: dict[str, Any] | None = None
        self._failures: set[str] = set()
        self._close_task: asyncio.Task[None] | None = None

        self._pc.on("connectionstatechange", self._on_connection_state)
        self._pc.on("iceconnectionstatechange", self._on_ice_state)
        self._pc.on("icegatheringstatechange", self._on_gathering_state)
        self._pc.on("track", self._on_track)
        self._record(PeerCreated(media=media, **ice.describe()))

    # ----------------------------------------------------------- properties

    @property
    def connection_state(self) -> str:
        return str(self._pc.connectionState)

    @property
    def ice_state(self) -> str:
        return str(self._pc.iceConnectionState)

    @property
    def frames(self) -> dict[str, int]:
        """Decoded frames received so far, per kind."""
        return dict(self._frames.frames)

    @property
    def local_candidates(self) -> list[Candidate]:
        return list(self._local)

    @property
    def remote_candidates(self) -> list[Candidate]:
        return list(self._remote)

    @property
    def expected_kinds(self) -> tuple[str, ...]:
        """Kinds the remote said it would send (all of ours before its description)."""
        if not self._remote_sections:
            return SEND_KINDS[self.media]
        kinds = [s.kind for s in self._remote_sections
                 if s.remote_sends and s.kind in ("audio", "video")]
        return tuple(dict.fromkeys(kinds))

    # ------------------------------------------------------------ signaling

    async def make_offer(self) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """Create the offer: ``({"type": "offer", "sdp": ...}, [candidate inits])``.

        Raises:
            DeadlineExceeded: gathering ran past ``ice_gather_timeout_s``.
        """
        self._take_role("caller")
        await self._add_tracks(SEND_KINDS[self.media])
        offer = await self._pc.createOffer()
        return await self._set_local(offer)

    async def accept_offer(self, offer: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """Apply a remote offer and answer it: ``(answer, [candidate inits])``.

        The answer sends the kinds this peer's media includes, among those offered.

        Raises:
            InvalidSignal: the offer is unusable.
            DeadlineExceeded: gathering ran past ``ice_gather_timeout_s``.
        """
        self._take_role("callee")
        sdp = self._checked(parse_description, offer, "offer")
        offered = {s.kind for s in media_sections(sdp) if s.port != 0}
        await self._add_tracks(tuple(k for k in SEND_KINDS[self.media] if k in offered))
        await self._set_remote(sdp, "offer")
        answer = await self._pc.createAnswer()
        result = await self._set_local(answer)
        await self._remote_ready()
        return result

    async def set_answer(self, answer: Any) -> None:
        """Apply the remote answer to our offer.

        Raises:
            PeerStateError: no offer was made, or an answer was already set.
            InvalidSignal: the answer is unusable.
        """
        if self._role != "caller" or self._pc.signalingState != "have-local-offer":
            raise PeerStateError("set_answer needs a pending offer from make_offer")
        sdp = self._checked(parse_description, answer, "answer")
        await self._set_remote(sdp, "answer")
        await self._remote_ready()

    async def add_candidate(self, candidate: Any) -> None:
        """Add a remote candidate (``RTCIceCandidateInit`` JSON); ``None`` ends them.

        Candidates that arrive before the remote description are held and
        applied once it is set. After :meth:`close` candidates are ignored.

        Raises:
            InvalidSignal: the candidate is malformed or names no m-line of the call.
        """
        init = parse_candidate_init(candidate)
        if self._close_task is not None:
            return
        if init is not None:
            self._remote.append(init.candidate)
            self._record(_candidate_event(init.candidate, "remote", "signal"))
        if not self._remote_set:
            self._pending.append(init)
            return
        await self._apply_candidate(init)

    # ---------------------------------------------------------------- waits

    async def wait_connected(self) -> bool:
        """True once ``connectionState`` is "connected"; False on failure or deadline.

        The deadline, ``ice_connect_timeout_s``, runs from whichever came
        first: this call, or the moment both descriptions were in place.
        A peer that gathered no candidate can never connect and fails at once.
        """
        if self._connected.is_set():
            return True
        loop = asyncio.get_running_loop()
        start = loop.time() if self._ice_since is None else min(loop.time(), self._ice_since)
        timeout = self.settings.ice_connect_timeout_s
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._settled.wait(), max(0.0, start + timeout - loop.time()))
        if self._connected.is_set():
            return True
        if self._failures & _SETUP_FAILURES:
            return False  # already recorded: gathering or a description failed
        timed_out = not self._settled.is_set()
        self._fail_once(
            "connect",
            reason=diagnosis.explain_connect_failure(
                local_types={c.type for c in self._local},
                remote_types={c.type for c in self._remote},
                relay_only=self.ice.relay_only, turn_configured=self.ice.has_turn,
                ice_state=self.ice_state),
            setting="ice_connect_timeout_s" if timed_out else "",
            seconds=timeout, state=self.connection_state, ice_state=self.ice_state,
            local_candidates=len(self._local), remote_candidates=len(self._remote),
        )
        return False

    async def wait_media(self) -> bool:
        """True once a frame of each expected kind was decoded, within ``media_timeout_s``."""
        kinds = self.expected_kinds
        timeout = self.settings.media_timeout_s
        try:
            await asyncio.wait_for(self._frames.wait_first(kinds), timeout)
            return True
        except TimeoutError:
            pass
        missing = [k for k in kinds if not self._frames.has_first(k)]
        summary = await self._summary()
        reasons = [diagnosis.explain_media_failure(k, int(summary[k]["packets_received"]))
                   for k in missing]
        self._fail_once("media", reason="; ".join(reasons), setting="media_timeout_s",
                        seconds=timeout, missing=missing)
        return False

    # ---------------------------------------------------------------- stats

    async def collect_stats(self) -> dict[str, Any]:
        """Figures of the call so far, also recorded as MEDIA_STATS.

        Returns ``{"audio": {...}, "video": {...}, "transport": {...},
        "frames": {...}, "candidates": {"local": [...], "remote": [...]},
        "selected_pair": {...} | None, "connection_state", "ice_state"}``;
        per-kind keys are those of ``rtc.stats.summarize``. After
        :meth:`close` it returns the figures taken at close.
        """
        summary = await self._summary()
        frames = self.frames
        self._record(MediaStats(**flat_fields(summary, frames)))
        return {
            **summary,
            "frames": frames,
            "candidates": {"local": [c.describe() for c in self._local],
                           "remote": [c.describe() for c in self._remote]},
            "selected_pair": self._selected,
            "connection_state": self.connection_state,
            "ice_state": self.ice_state,
        }

    # ---------------------------------------------------------------- close

    async def close(self) -> None:
        """Stop media and the connection; safe to call at any time, any number of times.

        Bounded by ``teardown_timeout_s``; records PEER_CLOSED once.
        """
        if self._close_task is None:
            self._close_task = asyncio.ensure_future(self._close())
        await asyncio.shield(self._close_task)

    async def _close(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = self.settings.teardown_timeout_s
        end = loop.time() + deadline
        with contextlib.suppress(Exception):
            self._last_summary = await asyncio.wait_for(self._summary(), deadline / 2)
        for track in self._tracks:
            track.stop()
        if self._probes:  # its verdict is evidence: let it finish within the teardown budget
            await asyncio.wait(list(self._probes), timeout=max(0.0, end - loop.time()) / 2)
            for task in list(self._probes):
                task.cancel()
        owners = _owners(self._pc)
        clean = True
        try:
            await asyncio.wait_for(self._pc.close(), max(0.0, end - loop.time()))
        except TimeoutError:
            clean = False
        # Let aiortc's connect step see the close (one 20 ms ICE tick), then
        # cancel whatever still works for this peer.
        leftovers = _tasks_working_for(owners)
        if leftovers:
            await asyncio.wait(leftovers, timeout=min(LEFTOVER_GRACE_S, max(0.0, end - loop.time())))
            leftovers = [t for t in leftovers if not t.done()]
            for task in leftovers:
                task.cancel()
            await asyncio.gather(*leftovers, return_exceptions=True)
        drains = list(self._drains)
        for task in drains:
            task.cancel()
        if drains:
            await asyncio.gather(*drains, return_exceptions=True)
        self._drains.clear()
        self._settled.set()
        self._record(PeerClosed(clean=clean, frames=self.frames, setting="" if clean else "teardown_timeout_s",
                                seconds=None if clean else deadline))

    # ------------------------------------------------------------- internal

    def _record(self, event: Event) -> None:
        self._timeline.record(stamped(event, agent=self.agent))

    def _take_role(self, role: Literal["caller", "callee"]) -> None:
        if self._close_task is not None:
            raise PeerStateError("the peer is closed")
        if self._role is not None:
            raise PeerStateError(f"this peer already acts as {self._role}; use one CallPeer per call leg")
        self._role = role

    def _checked(self, parse: Any, obj: Any, signal: str) -> str:
        try:
            return str(parse(obj, signal))
        except InvalidSignal as exc:
            self._fail_once(signal, reason=str(exc), setting="")
            raise

    async def _add_tracks(self, kinds: tuple[str, ...]) -> None:
        for kind in kinds:
            track = ClipTrack(await load_clip(kind))
            self._tracks.append(track)
            self._pc.addTrack(track)

    async def _set_local(self, description: RTCSessionDescription
                         ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """setLocalDescription (which gathers) under the host restriction and deadline."""
        timeout = self.settings.ice_gather_timeout_s
        with restricted_host_addresses(self.ice.host_addresses):
            try:
                await asyncio.wait_for(self._pc.setLocalDescription(description), timeout)
            except TimeoutError:
                self._fail_once("gather", reason="ICE gathering did not finish "
                                "(a STUN or TURN server did not answer)",
                                setting="ice_gather_timeout_s", seconds=timeout)
                raise DeadlineExceeded("ICE gathering", "ice_gather_timeout_s", timeout) from None
        local = self._pc.localDescription
        sdp, inits = split_candidates(local.sdp)
        for init in inits:
            self._local.append(init.candidate)
            self._record(_candidate_event(init.candidate, "local", ""))
        if not inits:
            # aiortc never starts ICE without a local candidate: nothing to wait for.
            self._settled.set()
        if self.ice.has_turn and not any(c.type == "relay" for c in self._local):
            task = asyncio.create_task(self._probe_turn(), name=f"turn-probe-{self.agent}")
            self._probes.add(task)
            task.add_done_callback(self._probes.discard)
        return {"type": local.type, "sdp": sdp}, [init.to_json() for init in inits]

    async def _probe_turn(self) -> None:
        """Ask the TURN server directly why no relay candidate came: aioice drops the error."""
        if self._turn_prober is None:
            return
        url = next((u for u in self.ice.used_urls() if u.startswith("turn")), None)
        server = next((s for s in self.ice.servers if url in s.urls), None)
        if url is None or server is None:
            return
        username, credential = server.credentials()
        self._record(await self._turn_prober(url, username, credential, self.settings.ice_check_timeout_s))

    async def _set_remote(self, sdp: str, kind: str) -> None:
        for candidate in embedded_candidates(sdp):
            self._remote.append(candidate)
            self._record(_candidate_event(candidate, "remote", "sdp"))
        try:
            await self._pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type=kind))
        except Exception as exc:  # aiortc raises ValueError, AssertionError, OperationError...
            if isinstance(exc, (AssertionError, IndexError, KeyError)) or not str(exc):
                problem = f"aiortc cannot parse the SDP ({type(exc).__name__} {exc})".replace(" )", ")")
            else:
                problem = str(exc)
            self._fail_once(kind, reason=f"invalid {kind}: {problem}", setting="")
            raise InvalidSignal(kind, problem) from None
        self._remote_sections = media_sections(sdp)

    async def _remote_ready(self) -> None:
        """Both descriptions are set: start the ICE clock, apply held candidates."""
        self._remote_set = True
        self._ice_since = asyncio.get_running_loop().time()
        pending, self._pending = self._pending, []
        for init in pending:
            try:
                await self._apply_candidate(init)
            except InvalidSignal as exc:
                self._record(Note(note="candidate_dropped", text=f"held remote candidate dropped: {exc}"))

    async def _apply_candidate(self, init: CandidateInit | None) -> None:
        if init is None:
            await self._pc.addIceCandidate(None)
            return
        mids = {s.mid for s in self._remote_sections}
        if not ((init.sdp_mid is not None and init.sdp_mid in mids)
                or (init.sdp_mid is None and init.sdp_mline_index is not None
                    and init.sdp_mline_index < len(self._remote_sections))):
            raise InvalidSignal("candidate", f"sdpMid {init.sdp_mid!r} / sdpMLineIndex "
                                f"{init.sdp_mline_index!r} matches no m-line of the call")
        c = init.candidate
        candidate = RTCIceCandidate(
            component=c.component, foundation=c.foundation, ip=c.address, port=c.port,
            priority=c.priority, protocol=c.protocol, type=c.type,
            relatedAddress=c.related_address, relatedPort=c.related_port, tcpType=c.tcp_type,
            sdpMid=init.sdp_mid, sdpMLineIndex=init.sdp_mline_index)
        try:
            await self._pc.addIceCandidate(candidate)
        except ValueError as exc:
            raise InvalidSignal("candidate", str(exc)) from None

    def _fail_once(self, key: str, **fields: Any) -> None:
        if key in _SETUP_FAILURES:
            self._settled.set()  # this leg cannot connect any more
        if key not in self._failures:
            self._failures.add(key)
            self._record(PeerFailed(**fields))

    async def _summary(self) -> dict[str, Any]:
        if self._close_task is not None and self._last_summary is not None:
            return self._last_summary
        report = await self._pc.getStats()
        self._last_summary = summarize(report.values())
        return self._last_summary

    def _selected_pair(self) -> dict[str, Any] | None:
        """The nominated candidate pair, read from the aioice connection.

        aiortc exposes no candidate-pair stats; aioice keeps nominated pairs
        per component in ``Connection._nominated``. Read defensively.
        """
        for transceiver in self._pc.getTransceivers():
            connection = getattr(transceiver.receiver.transport.transport, "_connection", None)
            nominated = getattr(connection, "_nominated", None)
            if not nominated:
                continue
            pair = nominated[min(nominated)]
            local, remote = pair.local_candidate, pair.remote_candidate
            return {"local": local.type, "remote": remote.type,
                    "local_address": f"{local.host}:{local.port}",
                    "remote_address": f"{remote.host}:{remote.port}",
                    "protocol": local.transport}
        return None

    # --------------------------------------------------------------- events

    def _on_connection_state(self) -> None:
        state = self.connection_state
        self._record(PcState(state=state))
        if state == "connected" and not self._connected.is_set():
            self._connected.set()
            self._settled.set()
            self._selected = self._selected_pair()
            if self._selected is not None:
                self._record(SelectedPair(**self._selected))
        elif state in ("failed", "closed"):
            self._settled.set()

    def _on_ice_state(self) -> None:
        self._record(IceState(state=self.ice_state))

    def _on_gathering_state(self) -> None:
        self._record(IceGathering(state=str(self._pc.iceGatheringState)))

    def _on_track(self, track: MediaStreamTrack) -> None:
        task = asyncio.ensure_future(self._frames.drain(track))
        self._drains.add(task)
        task.add_done_callback(self._drains.discard)

    def _on_first_frame(self, kind: str) -> None:
        self._record(MediaFirstFrame(media=kind))


def _candidate_event(candidate: Candidate, side: str, via: str) -> IceCandidate:
    return IceCandidate(side=side, via=via, candidate_type=candidate.type, protocol=candidate.protocol,
                        address=candidate.address, port=candidate.port,
                        related_address=candidate.related_address)


def _owners(pc: RTCPeerConnection) -> set[int]:
    """Identities of the objects a peer connection's background tasks work for.

    The peer connection, its DTLS and ICE transports, the aioice connection
    and its sockets' protocols (taken before ``close`` forgets them).
    """
    owners: set[int] = {id(pc)}
    for transceiver in pc.getTransceivers():
        dtls = transceiver.receiver.transport
        ice = dtls.transport
        connection = getattr(ice, "_connection", None)
        owners.update({id(dtls), id(ice), id(ice.iceGatherer), id(connection)})
        owners.update(id(p) for p in getattr(connection, "_protocols", ()))
    return owners


def _tasks_working_for(owners: set[int]) -> list[asyncio.Task[Any]]:
    """Pending tasks whose own coroutine holds one of ``owners`` in a local or closure.

    aiortc and aioice start tasks they keep no handle to: the connect step
    (ICE, then DTLS), and STUN/TURN queries that outlive a gathering cut
    short by callprobe's deadline. ``close`` finds them this way so a closed
    peer leaves nothing running. Only a task's outermost coroutine is looked
    at, so a caller's task that is merely awaiting this peer is never included.
    """
    found = []
    for task in asyncio.all_tasks():
        frame = getattr(task.get_coro(), "cr_frame", None)
        if not task.done() and frame is not None and _refers_to(frame.f_locals, owners):
            found.append(task)
    return found


def _refers_to(values: dict[str, Any], owners: set[int]) -> bool:
    for value in values.values():
        if id(value) in owners:
            return True
        for cell in getattr(value, "__closure__", None) or ():
            try:
                if id(cell.cell_contents) in owners:
                    return True
            except ValueError:  # empty cell
                continue
    return False
