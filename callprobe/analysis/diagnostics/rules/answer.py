"""The answer: the callee accepted or declined, and the caller must be told (the join/accept notice)."""

from __future__ import annotations

from collections.abc import Iterator

from callprobe.analysis.diagnostics import findings as F
from callprobe.analysis.diagnostics.findings import Finding, make_finding
from callprobe.analysis.diagnostics.links import Link
from callprobe.analysis.diagnostics.rules.common import err_words, late, ms, refusal_after, room_match
from callprobe.analysis.diagnostics.rules.registry import rule
from callprobe.analysis.diagnostics.view import TimelineView
from callprobe.timeline.events import (
    AcceptSent,
    Answered,
    CallTimeout,
    Cancelled,
    CancelSent,
    Event,
    PeerAction,
    Rejected,
    RejectSent,
)


@rule("answer", Link.ANSWER)
def rule_answer_not_delivered(v: TimelineView) -> Iterator[Finding]:
    """The callee accepted or rejected; the caller was never told."""
    ctx = v.ctx
    for i, e in v.of((AcceptSent, RejectSent)):
        call = v.call_of(e.agent, i)
        caller = call.caller if call else (ctx.caller if e.agent in ctx.callee_agents() else "")
        if not caller or caller == e.agent or not v.connected(caller, i):
            continue
        rooms = (e.room_id, call.room_id if call else "")
        if call is not None and v.find((Cancelled, CallTimeout, CancelSent), call.invite_idx, i,
                                       agents=[e.agent, caller], pred=room_match(*rooms)):
            continue  # the call was over before the answer
        accept = isinstance(e, AcceptSent)
        want: type[PeerAction] = Answered if accept else Rejected
        verb = "accepted" if accept else "rejected"
        d = v.deliver(i, want, [caller], ctx.notice_deadline_ms, room_match(*rooms))
        if d.status == "late" and d.hit is not None and d.delay_ms is not None:
            yield late(F.ANSWER_NOT_DELIVERED, (i, e), d.hit, d.delay_ms, ctx.notice_deadline_ms,
                       f"the {verb} notice", caller)
        elif d.status == "missing":
            refused = refusal_after(v, i)
            waited = f" (not within the {ms(d.delay_ms)} that followed)" if d.delay_ms is not None else ""
            detail = f"{e.agent} {verb} at {ms(e.t_ms)}; {caller} was never told{waited}"
            if refused:
                detail += f"; the server refused the {verb[:-2]}: {err_words(refused[1])}"
            evidence: tuple[Event, ...] = (e, *((refused[1],) if refused else ()))
            yield make_finding(F.ANSWER_NOT_DELIVERED, evidence, agent=caller, detail=detail)
