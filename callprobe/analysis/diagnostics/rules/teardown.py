"""After the call: the hang-up notice, history holding the invitation, and no leaked call state."""

from __future__ import annotations

from collections.abc import Iterator

from callprobe.analysis.diagnostics import findings as F
from callprobe.analysis.diagnostics.findings import Finding, make_finding
from callprobe.analysis.diagnostics.links import STEP_HISTORY, Link
from callprobe.analysis.diagnostics.rules.common import (
    busy_users,
    err_words,
    late,
    ms,
    peers,
    refusal_after,
    room_match,
)
from callprobe.analysis.diagnostics.rules.registry import rule
from callprobe.analysis.diagnostics.view import TimelineView
from callprobe.timeline.events import (
    CallTimeout,
    Cancelled,
    CancelSent,
    Event,
    HangupSent,
    HungUp,
    PeerAction,
    Rejected,
    RejectSent,
)


@rule("hangup", Link.HANGUP)
def rule_hangup_not_delivered(v: TimelineView) -> Iterator[Finding]:
    """A hang-up or cancel that never reached the other party."""
    ctx = v.ctx
    for i, e in v.of((HangupSent, CancelSent)):
        hangup = isinstance(e, HangupSent)
        others = tuple(p for p in peers(v, e.agent, i, rang_only=True) if p != e.agent and v.connected(p, i))
        if not others:
            continue
        call = v.call_of(e.agent, i)
        rooms = (e.room_id, call.room_id if call else "")
        start = call.invite_idx if call else 0
        if v.find((HangupSent, RejectSent, HungUp, Rejected, Cancelled, CallTimeout), start, i,
                  agents=[*others, e.agent], pred=room_match(*rooms)) is not None:
            continue  # the call was already over for the peer
        want: type[PeerAction] = HungUp if hangup else Cancelled
        verb = "hang-up" if hangup else "cancel"
        d = v.deliver(i, want, others, ctx.notice_deadline_ms, room_match(*rooms))
        if d.status == "late" and d.hit is not None and d.delay_ms is not None:
            yield late(F.HANGUP_NOT_DELIVERED, (i, e), d.hit, d.delay_ms, ctx.notice_deadline_ms,
                       f"the {verb} notice", d.hit[1].agent)
        elif d.status == "missing":
            refused = refusal_after(v, i)
            waited = f" (not within the {ms(d.delay_ms)} that followed)" if d.delay_ms is not None else ""
            detail = f"{e.agent}'s {verb} at {ms(e.t_ms)} never reached {', '.join(others)}{waited}"
            if refused:
                detail += f"; the server refused it: {err_words(refused[1])}"
            evidence: tuple[Event, ...] = (e, *((refused[1],) if refused else ()))
            yield make_finding(F.HANGUP_NOT_DELIVERED, evidence, agent=others[0], detail=detail)


@rule("history", Link.HISTORY)
def rule_history_payload_missing(v: TimelineView) -> Iterator[Finding]:
    """The history probe found the call record missing or without its content."""
    for _, fin in v.step_results(STEP_HISTORY):
        room = fin.room_id or "?"
        if fin.found is False:
            detail = f"no record of the invitation for room {room} came back from history"
        elif fin.complete is False:
            missing = ", ".join(fin.missing) or "its content"
            detail = f"the invitation record for room {room} came back from history without {missing}"
        else:
            continue
        yield make_finding(F.HISTORY_PAYLOAD_MISSING, (fin,), agent=fin.agent, detail=detail)


@rule("stale_state")
def rule_stale_call_state(v: TimelineView) -> Iterator[Finding]:
    """A busy reply for a user no call of this run involves at that moment."""
    for call in v.calls():
        reply = call.refusal or call.ack
        if reply is None:
            continue
        for user in busy_users(call):
            if v.active_room(user, reply[0]) is not None:
                continue
            ended = [r for r in v.rooms() if user in r.users and r.end is not None and r.end < reply[0]]
            evidence: list[Event] = [call.invite, reply[1]]
            detail = f"{call.caller}'s invite was answered 'busy' for {user}, but no call involving {user} is active"
            if ended:
                end_event = v.events[ended[-1].end or 0]
                evidence.append(end_event)
                detail += (f"; its last call (room {ended[-1].room_id}) ended at "
                           f"{ms(end_event.t_ms)} ({end_event.kind})")
            yield make_finding(F.STALE_CALL_STATE, evidence, at_ms=reply[1].t_ms, agent=call.caller, detail=detail)
