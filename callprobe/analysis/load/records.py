"""One call of a repeated or load run, as the few numbers the aggregate needs.

A worker plays the scenario once per call and keeps nothing of it but a
``CallRecord``: the verdict, the per-call figures (the same ones ``run``
reports, from ``analysis.metrics``), the notices that never arrived, the
finding codes, and the media frames sent and received per leg. The
figures are defined in ``FIGURES`` (docs/load.md#figures).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from callprobe.analysis.metrics import CallMetrics
from callprobe.analysis.results import StepResult
from callprobe.timeline.events import Event, HeartbeatMissed, HeartbeatReply

#: Per-call figures, in milliseconds: name -> what it measures.
FIGURES: dict[str, str] = {
    "ring": "invite sent → the callee's first ring (time-to-ring)",
    "answer": "invite sent → the caller told of the answer (time-to-answer)",
    "accept_notice": "the callee's accept sent → the caller's answered notice (accept/join-notice latency)",
    "hangup_notice": "hang-up sent → the other party's hung-up notice",
    "ice": "offer sent → every leg's peer connection connected (ICE connected)",
    "media": "invite sent → the first frame of every kind on every leg (first media)",
    "heartbeat": "heartbeat sent → its reply (round trip, every heartbeat of the call's agents)",
}

#: Notices whose loss is counted: the ring, the accept/join notice, the hang-up notice.
NOTICES = ("ring", "accept", "hangup")

#: A leg under this share of frames delivered counts as a poor leg.
POOR_LEG_RATIO = 0.95

_NUMBERED = re.compile(r"-\d{6}\b")


@dataclass(frozen=True)
class LegDelivery:
    """Frames of one kind the other party sent to ``agent``, and how many ``agent`` received."""

    agent: str
    kind: str
    sent: int
    received: int


@dataclass
class CallRecord:
    """What one played call leaves behind."""

    number: int
    passed: bool
    outcome: str = ""
    reason: str = ""
    figures: dict[str, list[float]] = field(default_factory=dict)
    notices_lost: dict[str, int] = field(default_factory=dict)
    heartbeats_missed: int = 0
    findings: tuple[str, ...] = ()
    delivery: tuple[LegDelivery, ...] = ()
    duration_ms: float = 0.0
    unreachable: bool = False


def call_figures(calls: Sequence[CallMetrics], events: Iterable[Event] = ()) -> dict[str, list[float]]:
    """Every figure the calls (and their agents' heartbeats) show, in ms."""
    out: dict[str, list[float]] = {}

    def add(name: str, value: float | None) -> None:
        if value is not None:
            out.setdefault(name, []).append(float(value))

    for call in calls:
        add("ring", call.time_to_ring_ms)
        add("answer", call.time_to_answer_ms)
        add("accept_notice", call.join_notice.latency_ms)
        add("hangup_notice", call.hangup_notice.latency_ms)
        add("ice", call.ice.get("connected_ms"))
        add("media", first_media_ms(call))
    for e in events:
        if isinstance(e, HeartbeatReply) and not e.late:
            add("heartbeat", e.rtt_ms)
    return out


def first_media_ms(call: CallMetrics) -> float | None:
    """Invite to the last first frame, when every leg received every kind the call carries."""
    kinds = ("audio", "video") if call.media_kind == "video" else ("audio",)
    if not call.media or call.ice.get("connected_ms") is None:
        return None
    latest = 0.0
    for entry in call.media.values():
        firsts = entry.get("first_frame_ms", {})
        if not all(k in firsts for k in kinds):
            return None
        latest = max(latest, *(float(firsts[k]) for k in kinds))
    return latest - call.invite_sent_ms


def lost_notices(calls: Sequence[CallMetrics]) -> dict[str, int]:
    """Notices sent for and never heard: rings of acknowledged invites, answers, hang-ups."""
    lost = dict.fromkeys(NOTICES, 0)
    for call in calls:
        if call.room_id and call.outcome not in ("busy", "failed", "cancelled") and call.time_to_ring_ms is None:
            lost["ring"] += 1
        if call.outcome == "answered" and not call.join_notice.delivered:
            lost["accept"] += 1
        if call.signaling.get("hung_up_by") and not call.hangup_notice.delivered:
            lost["hangup"] += 1
    return {k: v for k, v in lost.items() if v}


def failure_reason(steps: Sequence[StepResult], aborted: str) -> str:
    """The first failed step (or why the call stopped), with numbered users made generic so reasons group."""
    text = aborted
    if not text:
        failed = next((s for s in steps if not s.passed), None)
        if failed is not None:
            text = f"line {failed.line}: {failed.text}: {failed.detail}"
    return _NUMBERED.sub("-N", text)[:300]


def make_record(number: int, *, passed: bool, calls: Sequence[CallMetrics], steps: Sequence[StepResult],
                events: Sequence[Event], aborted: str = "", findings: Iterable[str] = (),
                delivery: Iterable[LegDelivery] = (), duration_ms: float = 0.0,
                unreachable: bool = False) -> CallRecord:
    """The record of one played call, from what ``Runner.result`` holds."""
    return CallRecord(
        number=number, passed=passed,
        outcome=calls[0].outcome if calls else ("aborted" if aborted else "none"),
        reason="" if passed else failure_reason(steps, aborted),
        figures=call_figures(calls, events),
        notices_lost=lost_notices(calls),
        heartbeats_missed=sum(1 for e in events if isinstance(e, HeartbeatMissed)),
        findings=tuple(dict.fromkeys(findings)),
        delivery=tuple(delivery), duration_ms=duration_ms, unreachable=unreachable,
    )
