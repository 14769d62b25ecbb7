"""Per-call figures derived from the neutral timeline alone.

The calls come from ``analysis.calls`` (one view for every reader); this
module turns each into the figures a report shows: time to ring, time to
answer, whether the join/accept notice reached the caller and how fast, the
hang-up notice, ICE candidates and the selected pair, media received.
Nothing here touches agents or sockets, so the same figures come out of a
live run and of a report reloaded from disk.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from callprobe.analysis.calls import Call, Invitee, build_calls
from callprobe.analysis.index import TimelineIndex
from callprobe.rtc.ice_config import described_turn_urls
from callprobe.timeline.events import (
    AcceptSent,
    Answered,
    CallTimeout,
    Cancelled,
    CancelSent,
    Event,
    HangupSent,
    HungUp,
    IceCandidate,
    InviteRefused,
    JoinNotice,
    MediaFirstFrame,
    MediaStats,
    Note,
    PcState,
    PeerClosed,
    PeerCreated,
    RejectSent,
    RoomJoined,
    SelectedPair,
    SignalReceived,
    SignalSent,
    WsOpen,
)

CANDIDATE_TYPES = ("host", "srflx", "prflx", "relay")

#: Note marking the start of a run's teardown: actions after it (cancelling or
#: hanging up what the scenario left open) do not decide a call's outcome.
TEARDOWN_NOTE = "teardown"

#: Error codes that mean "busy" (KKIM 1802); other backends say so in ``busy``.
BUSY_CODES = frozenset({1802})


def is_busy_refusal(e: Event) -> bool:
    """An invite refused because a callee is busy, in any backend's words."""
    return isinstance(e, InviteRefused) and (e.err_code in BUSY_CODES or bool(e.busy))


@dataclass
class NoticeDelivery:
    """Whether a notice reached the other party, how fast, and by which path."""

    delivered: bool = False
    latency_ms: float | None = None
    path: str | None = None
    observed: bool = True       # False: it went to a party callprobe does not play, so nobody could see it


@dataclass
class InviteeMetrics:
    """One invited party's part of a call."""

    agent: str
    user: str
    outcome: str = "no-answer"
    time_to_ring_ms: float | None = None
    rang_via: str | None = None
    time_to_answer_ms: float | None = None
    # every path the ring arrived by (first ring and later arrivals), ms after the invite;
    # empty: it arrived by none
    ring_paths: dict[str, float] = field(default_factory=dict)


@dataclass
class CallMetrics:
    caller: str
    callee: str
    room_id: str
    media_kind: str
    outcome: str = "failed"
    invite_sent_ms: float = 0.0
    time_to_ring_ms: float | None = None
    time_to_answer_ms: float | None = None
    rang: list[str] = field(default_factory=list)
    invitees: list[InviteeMetrics] = field(default_factory=list)
    join_notice: NoticeDelivery = field(default_factory=NoticeDelivery)
    hangup_notice: NoticeDelivery = field(default_factory=NoticeDelivery)
    ice: dict[str, Any] = field(default_factory=lambda: {"candidates": {}, "selected": {}, "connected_ms": None,
                                                          "turn_configured": {}, "relayed": None})
    media: dict[str, dict[str, Any]] = field(default_factory=dict)
    signaling: dict[str, Any] = field(default_factory=lambda: {"invite_dialect": None, "hung_up_by": None})
    inbound: bool = False           # placed by a party callprobe does not play: figures start at the ring
    external: list[str] = field(default_factory=list)   # parties of this call callprobe does not play
    #: figure name -> how far it may be off (ms), for figures measured across two clocks (remote agents)
    uncertainty_ms: dict[str, float] = field(default_factory=dict)
    room: dict[str, Any] = field(default_factory=dict)  # backends with call rooms: ``_fill_room``

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("invite_sent_ms")
        return out


def teardown_index(index: TimelineIndex) -> int:
    """Index of the teardown mark, or past the end."""
    for i, e in index.of(Note):
        if e.note == TEARDOWN_NOTE:
            return i
    return len(index)


def derive_calls(events: Sequence[Event] | TimelineIndex) -> list[CallMetrics]:
    """Every call the timeline shows, with its figures."""
    index = events if isinstance(events, TimelineIndex) else TimelineIndex(events)
    cut = teardown_index(index)
    return [call_metrics(index, call, cut) for call in build_calls(index)]


def call_metrics(index: TimelineIndex, call: Call, cut: int | None = None) -> CallMetrics:
    cut = len(index) if cut is None else cut
    m = CallMetrics(caller=call.caller, callee=",".join(_callee_names(call)), room_id=call.room_id if call.ack else "",
                    media_kind=call.media or "video", invite_sent_ms=call.invite.t_ms, inbound=call.inbound)
    m.external = [a for a in (call.caller, *call.callee_agents) if a in index.external]
    if call.inbound and call.caller not in m.external:
        m.external.insert(0, call.caller)  # a caller no scenario party names: external all the same
    if call.refusal is not None:
        refusal = call.refusal[1]
        m.outcome = "busy" if is_busy_refusal(refusal) else "failed"
        return m
    if call.ack is None:
        return m
    rings = [h for h in call.ringing if h[0] < cut]
    m.rang = sorted({e.agent for _, e in rings})
    if rings:
        if not call.inbound:  # an inbound call's invite was sent where nobody could see it
            m.time_to_ring_ms = rings[0][1].t_ms - call.invite.t_ms
            _uncertain(index, m, "time_to_ring_ms", call.caller, rings[0][1].agent)
        m.signaling["invite_dialect"] = rings[0][1].dialect or None
    m.invitees = [_invitee(index, call, inv, cut) for inv in call.invitees]
    _fill_answer(index, call, m, cut)
    _fill_hangup(index, call, m, cut)
    legs = [e for _, e in _room_events(index, call)]
    _fill_ice(m, legs)
    _fill_media(m, legs)
    if m.ice.get("connected_ms") is not None:
        _uncertain(index, m, "ice.connected_ms", *{e.agent for e in legs if isinstance(e, (PcState, SignalSent))})
    _fill_room(index, call, m, cut)
    return m


def _uncertain(index: TimelineIndex, m: CallMetrics, figure: str, *agents: str) -> None:
    """Note how far ``figure`` may be off when it spans two clocks (a remote agent's and ours)."""
    spread = index.clock_uncertainty(*agents)
    if spread is not None:
        m.uncertainty_ms[figure] = round(spread, 3)


def _callee_names(call: Call) -> list[str]:
    """The callees as the report names them: their agents, else their user IDs."""
    return [inv.agents[0] if inv.agents else inv.user for inv in call.invitees] or list(call.callee_users)


def _room_events(index: TimelineIndex, call: Call) -> list[tuple[int, Event]]:
    start = max(call.invite_idx, 0)
    return [(i, e) for i, e in enumerate(index.events[start:call.window_end], start=start) if call.in_room(e)]


def _invitee(index: TimelineIndex, call: Call, inv: Invitee, cut: int) -> InviteeMetrics:
    agent = inv.agents[0] if inv.agents else inv.user
    out = InviteeMetrics(agent=agent, user=inv.user)
    ring = inv.first_ring
    if ring is not None and ring[0] < cut:
        if not call.inbound:
            out.time_to_ring_ms = ring[1].t_ms - call.invite.t_ms
        out.rang_via = ring[1].via or None
    out.ring_paths = _ring_paths(index, call, inv, cut)
    if (inv.accept is not None and inv.accept[0] < cut) or (inv.answered is not None and inv.answered[0] < cut):
        out.outcome = "answered"
        heard = inv.answered
        if heard is None and inv.accept is not None:  # a notice naming nobody: the first after this accept
            heard = index.find(Answered, inv.accept[0], call.window_end, agents=[call.caller], pred=call.in_room)
        if heard is not None:
            out.time_to_answer_ms = heard[1].t_ms - call.invite.t_ms
    elif (inv.reject is not None and inv.reject[0] < cut) or (inv.rejected is not None and inv.rejected[0] < cut):
        out.outcome = "rejected"
    else:
        out.outcome = _unanswered_outcome(index, call, inv, cut)
    return out


def _ring_paths(index: TimelineIndex, call: Call, inv: Invitee, cut: int) -> dict[str, float]:
    """Path -> ms after the invite, for each path that brought this invitee's ring (the first per path)."""
    out: dict[str, float] = {}
    for j, ring in inv.rings:
        if j < cut and ring.via:
            out.setdefault(ring.via, round(ring.t_ms - call.invite.t_ms, 3))
    rooms = {ring.room_id for _, ring in inv.rings}
    for j, note in index.of(Note, agents=inv.agents):
        if (call.invite_idx < j < min(cut, call.window_end) and note.note == "second_arrival"
                and note.room_id in rooms and note.extra.get("action") == "invite" and note.extra.get("path")):
            out.setdefault(str(note.extra["path"]), round(note.t_ms - call.invite.t_ms, 3))
    return out


def _unanswered_outcome(index: TimelineIndex, call: Call, inv: Invitee, cut: int) -> str:
    if index.find(CancelSent, call.invite_idx, min(cut, call.window_end), agents=[call.caller],
                  pred=call.in_room) is not None:
        return "cancelled"
    agents = [call.caller, *inv.agents]
    ended = index.find((Cancelled, CallTimeout), call.invite_idx, min(cut, call.window_end), agents=agents,
                       pred=call.in_room)
    if ended is not None:
        return "cancelled" if isinstance(ended[1], Cancelled) else "no-answer"
    return "no-answer" if inv.rang else "failed"


def _fill_answer(index: TimelineIndex, call: Call, m: CallMetrics, cut: int) -> None:
    """Outcome, time to answer and the join/accept notice, as the caller saw the ringing phase end."""
    lo, hi = call.invite_idx, min(cut, call.window_end)
    accept = index.find(AcceptSent, lo, hi, agents=call.callee_agents, pred=call.in_room)
    answered = index.find(Answered, lo, hi, agents=[call.caller], pred=call.in_room)
    if accept is not None:
        m.callee = accept[1].agent
    if answered is not None:
        m.time_to_answer_ms = answered[1].t_ms - call.invite.t_ms
        m.join_notice = NoticeDelivery(True, None if accept is None else answered[1].t_ms - accept[1].t_ms,
                                       answered[1].path or None)
        if accept is not None:
            _uncertain(index, m, "join_notice.latency_ms", accept[1].agent, call.caller)
    elif call.caller in m.external:
        m.join_notice = NoticeDelivery(observed=False)
    outcomes = [inv.outcome for inv in m.invitees]
    if "answered" in outcomes or accept is not None or answered is not None:
        m.outcome = "answered"
    elif index.find(CancelSent, lo, hi, agents=[call.caller], pred=call.in_room) is not None:
        m.outcome = "cancelled"
    elif outcomes and all(o == "rejected" for o in outcomes):
        m.outcome = "rejected"
    elif len(outcomes) <= 1 and index.find(RejectSent, lo, hi, pred=call.in_room) is not None:
        m.outcome = "rejected"
    else:
        ended = index.find((Cancelled, CallTimeout), lo, hi, pred=call.in_room)
        if ended is not None:
            m.outcome = "cancelled" if isinstance(ended[1], Cancelled) else "no-answer"
        elif m.rang:
            m.outcome = "no-answer"  # still ringing when the scenario ended
        else:
            m.outcome = "failed"


def _fill_hangup(index: TimelineIndex, call: Call, m: CallMetrics, cut: int) -> None:
    """The first hang-up sent, and its arrival on another agent."""
    lo, hi = call.invite_idx, min(cut, call.window_end)
    hang = index.find(HangupSent, lo, hi, pred=call.in_room)
    if hang is None:
        # a party callprobe does not play hung up: only its arrival can be seen
        heard = index.find(HungUp, lo, hi, pred=lambda e: call.in_room(e) and bool(e.by))
        if heard is not None and heard[1].by not in (index.user_of(a) for a in index.agents
                                                     if a not in index.external):
            m.hangup_notice = NoticeDelivery(True, None, heard[1].path or None)
            m.signaling["hung_up_by"] = next(iter(index.agents_of(heard[1].by)), "") or heard[1].by
        return
    got = index.find(HungUp, hang[0], hi, pred=lambda e: call.in_room(e) and e.agent != hang[1].agent)
    m.hangup_notice = NoticeDelivery(got is not None, None if got is None else got[1].t_ms - hang[1].t_ms,
                                     None if got is None else (got[1].path or None))
    m.signaling["hung_up_by"] = hang[1].agent
    if got is not None:
        _uncertain(index, m, "hangup_notice.latency_ms", hang[1].agent, got[1].agent)
    else:
        played = [a for a in (call.caller, *call.callee_agents) if a != hang[1].agent and a not in m.external]
        if not played:
            m.hangup_notice = NoticeDelivery(observed=False)


def _fill_room(index: TimelineIndex, call: Call, m: CallMetrics, cut: int) -> None:
    """Who entered the call's room in which order, and which room notices each party got, when.

    Times are ms since the invite. ``join_notice`` is the join notice the
    first party in should have got when the second came: delivered or not,
    and its latency from the newcomer's admission (its room socket opening).
    Empty for calls without a room.
    """
    lo, hi = call.invite_idx, min(cut, call.window_end)
    seen = [(i, e) for i, e in index.of((RoomJoined, JoinNotice, WsOpen)) if lo <= i < hi and call.in_room(e)]
    joins: dict[str, RoomJoined] = {}
    for _, e in seen:
        if isinstance(e, RoomJoined):
            joins.setdefault(e.agent, e)
    if not joins:
        return
    t0 = call.invite.t_ms

    def role(agent: str) -> str:
        return "caller" if agent == call.caller else "callee" if agent in call.callee_agents else "party"

    order = list(joins)
    notices: dict[str, list[dict[str, Any]]] = {}
    for _, e in seen:
        if isinstance(e, RoomJoined):
            notices.setdefault(e.agent, []).append({"notice": "connection", "at_ms": e.t_ms - t0,
                                                    "users": list(e.users), "identity": e.identity})
        elif isinstance(e, JoinNotice):
            notices.setdefault(e.agent, []).append({"notice": e.notice, "at_ms": e.t_ms - t0, "user": e.user,
                                                    "username": e.username})
    m.room = {
        "join_order": f"{role(order[0])}-first",
        "joined": {a: {"role": role(a), "order": n, "at_ms": e.t_ms - t0, "identity": e.identity,
                       "own": not e.identity or e.identity == index.user_of(a)}
                   for n, (a, e) in enumerate(joins.items(), start=1)},
        "notices": notices,
        "join_notice": _join_notice(index, seen, order, joins),
    }


def _join_notice(index: TimelineIndex, seen: list[tuple[int, Event]], order: list[str],
                 joins: dict[str, RoomJoined]) -> dict[str, Any] | None:
    """The first party's ``join`` about the second: to whom, about whom, delivered, latency."""
    if len(order) < 2:
        return None
    first, second = order[0], order[1]
    user = index.user_of(second)
    opened = [e for _, e in seen if isinstance(e, WsOpen) and e.agent == second and e.t_ms <= joins[second].t_ms]
    admitted = opened[-1].t_ms if opened else joins[second].t_ms
    got = next((e for _, e in seen if isinstance(e, JoinNotice) and e.agent == first and e.notice == "join"
                and e.user == user and e.t_ms >= joins[first].t_ms), None)
    return {"to": first, "about": second, "delivered": got is not None,
            "latency_ms": None if got is None else max(0.0, got.t_ms - admitted)}


def _fill_ice(m: CallMetrics, events: list[Event]) -> None:
    candidates: dict[str, dict[str, int]] = {}
    selected: dict[str, dict[str, str]] = {}
    connected: dict[str, float] = {}
    turn: dict[str, bool] = {}
    for e in events:
        if isinstance(e, IceCandidate) and e.side == "local":
            counts = candidates.setdefault(e.agent, dict.fromkeys(CANDIDATE_TYPES, 0))
            if e.candidate_type in counts:
                counts[e.candidate_type] += 1
        elif isinstance(e, SelectedPair):
            selected[e.agent] = {"local": e.local, "remote": e.remote, "protocol": e.protocol,
                                 "local_address": e.local_address, "remote_address": e.remote_address}
        elif isinstance(e, PeerCreated):
            turn[e.agent] = bool(described_turn_urls(e.ice_servers))
        elif isinstance(e, PcState) and e.state == "connected":
            connected.setdefault(e.agent, e.t_ms)
    m.ice["candidates"] = candidates
    m.ice["selected"] = selected
    m.ice["turn_configured"] = turn
    # "TURN was needed": a selected pair runs through a relay (None: no pair was selected)
    m.ice["relayed"] = (any("relay" in (p["local"], p["remote"]) for p in selected.values())
                        if selected else None)
    offer: Event | None = next((e for e in events if isinstance(e, SignalSent) and e.signal_type == "offer"), None)
    if offer is None:  # an offer from a party callprobe does not play: from its arrival
        offer = next((e for e in events if isinstance(e, SignalReceived) and e.signal_type == "offer"), None)
    legs = {e.agent for e in events if isinstance(e, PeerCreated)}
    if offer is not None and legs and legs <= set(connected):
        m.ice["connected_ms"] = max(connected.values()) - offer.t_ms


#: MediaStats figures a report shows per agent (besides the frame counts).
_STATS = ("audio_packets_sent", "audio_bytes_sent", "audio_packets_received", "audio_packets_lost",
          "audio_remote_packets_lost", "audio_jitter_ms", "audio_rtt_ms", "video_packets_sent",
          "video_bytes_sent", "video_packets_received", "video_packets_lost", "video_remote_packets_lost",
          "video_jitter_ms", "video_rtt_ms", "bytes_sent", "bytes_received", "rtt_ms", "jitter_ms",
          "packets_lost")


def _fill_media(m: CallMetrics, events: list[Event]) -> None:
    media: dict[str, dict[str, Any]] = {}
    for e in events:
        if isinstance(e, MediaFirstFrame):
            entry = media.setdefault(e.agent, {"audio_frames": 0, "video_frames": 0})
            entry.setdefault("first_frame_ms", {})[e.media] = e.t_ms
        elif isinstance(e, MediaStats):
            entry = media.setdefault(e.agent, {"audio_frames": 0, "video_frames": 0})
            entry["audio_frames"], entry["video_frames"] = e.audio_frames, e.video_frames
            for key in _STATS:
                entry[key] = getattr(e, key)
            entry.update(e.extra)
        elif isinstance(e, PeerClosed):
            # frames counted up to the close: the last word when stats came earlier or never
            entry = media.setdefault(e.agent, {"audio_frames": 0, "video_frames": 0})
            for kind, count in e.frames.items():
                key = f"{kind}_frames"
                entry[key] = max(int(entry.get(key, 0) or 0), int(count))
    m.media = media


def media_flowing(call: CallMetrics, agent: str) -> bool:
    """True when ``agent`` decoded frames of every kind the call carries."""
    entry = call.media.get(agent)
    if not entry:
        return False
    firsts = entry.get("first_frame_ms", {})
    kinds = ("audio", "video") if call.media_kind == "video" else ("audio",)
    return all(entry.get(f"{k}_frames", 0) > 0 or k in firsts for k in kinds)
