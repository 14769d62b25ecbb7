"""Every signal accounted for, per direction and type: sent versus received.

A server that drops the candidates going one way does not break a call on
one network: the other peer learns the address from the incoming
connectivity checks (a peer-reflexive candidate) and ICE connects. Behind a
NAT the same call fails. So a loss in either direction is a finding even when
the call connected, with the counts as evidence. When the call did not
connect, or an offer or answer was lost, ``ICE_FAILED`` and
``SDP_NOT_RELAYED`` already say so (``rules.media``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

from callprobe.analysis.calls import Call
from callprobe.analysis.diagnostics import findings as F
from callprobe.analysis.diagnostics.findings import Finding, make_finding
from callprobe.analysis.diagnostics.links import Link
from callprobe.analysis.diagnostics.rules.registry import rule
from callprobe.analysis.diagnostics.view import TimelineView
from callprobe.timeline.events import Event, PcState, SignalReceived, SignalSent

TYPES = ("offer", "answer", "candidate")

#: A signal sent less than this before the timeline ends may still be on its way: not counted.
IN_FLIGHT_MS = 1000.0


def _party_agents(v: TimelineView, call: Call) -> list[str]:
    agents = {call.caller, *(inv.agents[0] for inv in call.answered_by if inv.agents)}
    return sorted(a for a in agents if a)


def _connected(v: TimelineView, call: Call, agent: str) -> bool:
    return any(e.state == "connected" and (call.in_room(e) or not e.room_id)
               for i, e in v.of(PcState, agent=agent) if call.invite_idx <= i < call.window_end)


@rule("signal_accounting", Link.SIGNAL_RELAY)
def rule_signals_lost(v: TimelineView) -> Iterator[Finding]:
    """Signals sent one way and not received there, on a call that connected anyway."""
    deadline = min(v.ctx.notice_deadline_ms or IN_FLIGHT_MS, IN_FLIGHT_MS)
    for call in v.calls():
        if not call.acknowledged:
            continue
        agents = _party_agents(v, call)
        if len(agents) < 2 or not all(_connected(v, call, a) for a in agents):
            continue  # a call that failed is explained by ICE_FAILED / SDP_NOT_RELAYED
        for src in agents:
            for dst in agents:
                if src == dst:
                    continue
                finding = _direction(v, call, src, dst, deadline)
                if finding is not None:
                    yield finding


def _direction(v: TimelineView, call: Call, src: str, dst: str, deadline: float) -> Finding | None:
    src_user, dst_user = v.user_of(src), v.user_of(dst)
    sent = [e for i, e in v.of(SignalSent, agent=src) if call.invite_idx <= i < call.window_end
            and call.in_room(e) and (not e.to or e.to == dst_user) and e.t_ms <= v.end_ms - deadline]
    got = [e for i, e in v.of(SignalReceived, agent=dst) if call.invite_idx <= i < call.window_end
           and call.in_room(e) and (not e.sender or e.sender == src_user)]
    sent_n = Counter(e.signal_type for e in sent)
    got_n = Counter(e.signal_type for e in got)
    lost = {t: (sent_n[t], min(got_n[t], sent_n[t])) for t in TYPES if got_n[t] < sent_n[t]}
    if not lost or "offer" in lost or "answer" in lost:
        return None  # nothing lost, or SDP_NOT_RELAYED says so
    counts = ", ".join(f"{t}s {min(got_n[t], sent_n[t])}/{sent_n[t]}" for t in TYPES if sent_n[t])
    missing = "; ".join(f"{n - k} of {n} {t}s" for t, (n, k) in lost.items())
    first_lost = next(e for e in sent if e.signal_type in lost)
    evidence: list[Event] = [first_lost] + ([got[0]] if got else [])
    return make_finding(
        F.SIGNALS_LOST, evidence, at_ms=first_lost.t_ms, agent=dst,
        detail=f"{src} → {dst}: {missing} never arrived (received/sent: {counts}); the call connected "
               "anyway, which it would not behind a NAT")
