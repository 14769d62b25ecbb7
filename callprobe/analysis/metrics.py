"""Per-call figures derived from the neutral timeline alone.

A call starts at a caller's ``invite_sent``; its room is the one the server
assigned (``invite_acked``) and every later event carrying that ``room_id``
belongs to it. Nothing here touches agents or sockets, so the same figures
come out of a live run and of a report reloaded from disk.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from callprobe.timeline.events import Event, Kind
from callprobe.rtc.ice_config import described_turn_urls

CANDIDATE_TYPES = ("host", "srflx", "prflx", "relay")

#: NOTE marking the start of a run's teardown: actions after it (cancelling or
#: hanging up what the scenario left open) do not decide a call's outcome.
TEARDOWN_NOTE = "teardown"

_OUTCOME_BY_KIND = {
    Kind.REJECTED.value: "rejected",
    Kind.CANCELLED.value: "cancelled",
    Kind.CALL_TIMEOUT.value: "no-answer",
}


@dataclass
class Notice:
    delivered: bool = False
    latency_ms: float | None = None
    path: str | None = None


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
    join_notice: Notice = field(default_factory=Notice)
    hangup_notice: Notice = field(default_factory=Notice)
    ice: dict[str, Any] = field(default_factory=lambda: {"candidates": {}, "selected": {}, "connected_ms": None,
                                                          "turn_configured": {}, "relayed": None})
    media: dict[str, dict[str, Any]] = field(default_factory=dict)
    signaling: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("invite_sent_ms")
        return out


def _callees(event: Event) -> list[str]:
    for key in ("callees", "to", "callee", "invitees"):
        value = event.get(key)
        if isinstance(value, list):
            return [str(v) for v in value]
        if isinstance(value, str) and value:
            return [value]
    return []


def _calls_from_invites(events: Sequence[Event]) -> list[tuple[Event, Event | None]]:
    """Pair each ``invite_sent`` with the caller's next ack or refusal."""
    pairs: list[tuple[Event, Event | None]] = []
    for index, sent in enumerate(events):
        if sent.kind != Kind.INVITE_SENT.value:
            continue
        answer = next(
            (e for e in events[index + 1:]
             if e.agent == sent.agent and e.kind in (Kind.INVITE_ACKED.value, Kind.INVITE_REFUSED.value)),
            None,
        )
        pairs.append((sent, answer))
    return pairs


def _teardown_ms(events: Sequence[Event]) -> float:
    for e in events:
        if e.kind == Kind.NOTE.value and e.get("note") == TEARDOWN_NOTE:
            return e.t_ms
    return float("inf")


def derive_calls(events: Sequence[Event]) -> list[CallMetrics]:
    """Every call the timeline shows, with its figures."""
    calls = []
    teardown_ms = _teardown_ms(events)
    for sent, answer in _calls_from_invites(events):
        room = str(answer.get("room_id", "")) if answer and answer.kind == Kind.INVITE_ACKED.value else ""
        call = CallMetrics(
            caller=sent.agent, callee=",".join(_callees(sent)), room_id=room,
            media_kind=str(sent.get("media", "video")), invite_sent_ms=sent.t_ms,
        )
        if answer is None:
            call.outcome = "failed"
        elif answer.kind == Kind.INVITE_REFUSED.value:
            busy = answer.get("err_code") == 1802 or bool(answer.get("busy"))
            call.outcome = "busy" if busy else "failed"
        else:
            _fill(call, [e for e in events if e.get("room_id") == room and e.t_ms >= sent.t_ms], teardown_ms)
        calls.append(call)
    return calls


def _fill(call: CallMetrics, all_events: list[Event], teardown_ms: float = float("inf")) -> None:
    events = [e for e in all_events if e.t_ms < teardown_ms]

    def first(kind: Kind, agent: str | None = None, not_agent: str | None = None,
              **match: Any) -> Event | None:
        for e in events:
            if e.kind != kind.value or (agent and e.agent != agent) or (not_agent and e.agent == not_agent):
                continue
            if all(e.get(k) == v for k, v in match.items()):
                return e
        return None

    caller = call.caller
    ringing = [e for e in events if e.kind == Kind.RINGING.value]
    call.rang = sorted({e.agent for e in ringing})
    if ringing:
        call.time_to_ring_ms = ringing[0].t_ms - call.invite_sent_ms
        call.signaling["invite_dialect"] = ringing[0].get("dialect")
    if call.rang and not call.callee:
        call.callee = call.rang[0]
    accept = first(Kind.ACCEPT_SENT)
    answered = first(Kind.ANSWERED, agent=caller)
    if accept is not None:
        call.callee = accept.agent
    if answered is not None:
        call.time_to_answer_ms = answered.t_ms - call.invite_sent_ms
        call.join_notice = Notice(
            True,
            None if accept is None else answered.t_ms - accept.t_ms,
            answered.get("path"),
        )
    # outcome: what ended the ringing phase, as the caller saw it
    if answered is not None or accept is not None:
        call.outcome = "answered"
    else:
        ending = next((e for e in events if e.kind in _OUTCOME_BY_KIND), None)
        if first(Kind.CANCEL_SENT, agent=caller) is not None:
            call.outcome = "cancelled"
        elif first(Kind.REJECT_SENT) is not None:
            call.outcome = "rejected"
        elif ending is not None:
            call.outcome = _OUTCOME_BY_KIND[ending.kind]
        elif ringing:
            call.outcome = "no-answer"  # still ringing when the scenario ended
        else:
            call.outcome = "failed"
    # hangup notice: the first hang-up sent, and its arrival on another agent
    hang = first(Kind.HANGUP_SENT)
    if hang is not None:
        got = first(Kind.HUNG_UP, not_agent=hang.agent)
        call.hangup_notice = Notice(got is not None, None if got is None else got.t_ms - hang.t_ms,
                                    None if got is None else got.get("path"))
        call.signaling["hung_up_by"] = hang.agent
    _fill_ice(call, all_events)
    _fill_media(call, all_events)


#: What a SELECTED_PAIR event says of the nominated pair.
_PAIR_KEYS = ("local", "remote", "protocol", "local_address", "remote_address")


def _fill_ice(call: CallMetrics, events: list[Event]) -> None:
    candidates: dict[str, dict[str, int]] = {}
    selected: dict[str, dict[str, str]] = {}
    connected: dict[str, float] = {}
    turn: dict[str, bool] = {}
    for e in events:
        if e.kind == Kind.ICE_CANDIDATE.value and e.get("side", "local") == "local":
            counts = candidates.setdefault(e.agent, dict.fromkeys(CANDIDATE_TYPES, 0))
            ctype = str(e.get("type", ""))
            if ctype in counts:
                counts[ctype] += 1
        elif e.kind == Kind.SELECTED_PAIR.value:
            selected[e.agent] = {key: str(e.get(key, "")) for key in _PAIR_KEYS if key in e.fields}
        elif e.kind == Kind.PEER_CREATED.value:
            turn[e.agent] = bool(described_turn_urls(e.get("ice_servers")))
        elif e.kind == Kind.PC_STATE.value and e.get("state") == "connected":
            connected.setdefault(e.agent, e.t_ms)
    call.ice["candidates"] = candidates
    call.ice["selected"] = selected
    call.ice["turn_configured"] = turn
    # "TURN was needed": a selected pair runs through a relay (None: no pair was selected)
    call.ice["relayed"] = (any("relay" in (p.get("local"), p.get("remote")) for p in selected.values())
                           if selected else None)
    offer = next((e for e in events if e.kind == Kind.SIGNAL_SENT.value and e.get("signal_type") == "offer"), None)
    legs = {e.agent for e in events if e.kind == Kind.PEER_CREATED.value}
    if offer is not None and legs and legs <= set(connected):
        call.ice["connected_ms"] = max(connected.values()) - offer.t_ms


def _fill_media(call: CallMetrics, events: list[Event]) -> None:
    media: dict[str, dict[str, Any]] = {}
    for e in events:
        if e.kind == Kind.MEDIA_FIRST_FRAME.value:
            entry = media.setdefault(e.agent, {"audio_frames": 0, "video_frames": 0})
            entry.setdefault("first_frame_ms", {})[str(e.get("media"))] = e.t_ms
        elif e.kind == Kind.MEDIA_STATS.value:
            entry = media.setdefault(e.agent, {"audio_frames": 0, "video_frames": 0})
            for key, value in e.fields.items():
                if key not in ("room_id",):
                    entry[key] = value
        elif e.kind == Kind.PEER_CLOSED.value and isinstance(e.get("frames"), dict):
            # frames counted up to the close: the last word when stats came earlier or never
            entry = media.setdefault(e.agent, {"audio_frames": 0, "video_frames": 0})
            for kind, count in e.get("frames").items():
                key = f"{kind}_frames"
                entry[key] = max(int(entry.get(key, 0) or 0), int(count))
    call.media = media


def media_flowing(call: CallMetrics, agent: str) -> bool:
    """True when ``agent`` decoded frames of every kind the call carries."""
    entry = call.media.get(agent)
    if not entry:
        return False
    firsts = entry.get("first_frame_ms", {})
    kinds = ("audio", "video") if call.media_kind == "video" else ("audio",)
    return all(entry.get(f"{k}_frames", 0) > 0 or k in firsts for k in kinds)
