"""The baseline push path: a plain text message to the callee.

A text that reaches the callee proves the server can push to it at all, so
an invite that then fails to ring is an invite-path problem
(INVITE_NOT_DELIVERED), not a dead push path (PUSH_PATH_BROKEN): the two
field failures look the same to a user (``docs/field-failures.md#invite-stored-not-pushed``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Sequence

from callprobe.analysis.diagnostics import findings as F
from callprobe.analysis.diagnostics.findings import Finding, Severity, make_finding
from callprobe.analysis.diagnostics.links import Link
from callprobe.analysis.diagnostics.rules.common import LATE_HINT, ms
from callprobe.analysis.diagnostics.rules.registry import rule
from callprobe.analysis.diagnostics.view import TimelineView
from callprobe.analysis.index import Hit, as_ids
from callprobe.timeline.events import ActionRefused, Event, RequestFailed, SignalSent, TextReceived, TextSent

#: KKIM's SendMsg: a refusal of it is a refused text.
SEND_MSG = 1003


def text_refused(v: TimelineView, idx: int) -> bool:
    """Whether the server refused the message behind TextSent ``idx``."""
    agent = v.events[idx].agent
    nxt = v.find((TextSent, SignalSent), idx + 1, agents=[agent])
    refused = v.find((RequestFailed, ActionRefused), v.receipt_start(idx), nxt[0] if nxt else None, agents=[agent],
                     pred=lambda f: (isinstance(f, RequestFailed) and f.req_identifier == SEND_MSG)
                     or (isinstance(f, ActionRefused) and f.action == "send_text"))
    return refused is not None


def _text_pred(v: TimelineView, sent: TextSent) -> Callable[[TextReceived], bool]:
    sender = v.user_of(sent.agent)

    def match(e: TextReceived) -> bool:
        if sent.client_msg_id and e.client_msg_id:
            return e.client_msg_id == sent.client_msg_id
        return e.sender in ("", sender)

    return match


def text_probe(v: TimelineView, users: Sequence[str],
               late: list[tuple[Hit[Event], float]] | None = None) -> tuple[list[Hit[Event]], list[Hit[TextSent]]]:
    """Texts sent to ``users``: (delivered receipts, undelivered sends); receipts
    past the notice deadline are also added to ``late`` with their delay."""
    got: list[Hit[Event]] = []
    lost: list[Hit[TextSent]] = []
    for i, sent in v.of(TextSent):
        to = as_ids(sent.to)
        if not set(to) & set(users) or text_refused(v, i):
            continue
        receivers = [a for u in to for a in v.agents_of(u) if a != sent.agent and v.connected(a, i)]
        if not receivers:
            continue
        d = v.deliver(i, TextReceived, receivers, v.ctx.notice_deadline_ms, _text_pred(v, sent))
        if d.hit is not None:
            got.append(d.hit)
            if d.status == "late" and late is not None:
                late.append((d.hit, d.hit[1].t_ms - sent.t_ms))
        elif d.status == "missing":
            lost.append((i, sent))
    return got, lost


@rule("text_push", Link.TEXT_PUSH)
def rule_push_path_broken(v: TimelineView) -> Iterator[Finding]:
    """Texts to a user were accepted, none was pushed to any of its connections."""
    users = list(dict.fromkeys(u for _, e in v.of(TextSent) for u in as_ids(e.to)))
    for user in users:
        late: list[tuple[Hit[Event], float]] = []
        got, lost = text_probe(v, [user], late)
        if got and len(late) == len(got):
            (_, text), delay = late[0]
            yield dataclasses.replace(make_finding(
                F.PUSH_PATH_BROKEN, (text,), agent=text.agent, severity=Severity.WARNING, hint=LATE_HINT,
                detail=f"late: every text to {user} was pushed past the "
                       f"{ms(v.ctx.notice_deadline_ms or 0)} deadline (first after {ms(delay)})"),
                title="Pushes to the callee arrive late")
        if got or not lost:
            continue
        agents = v.agents_of(user)
        evidence: list[Event] = [e for _, e in lost]
        unrung = [c.invite for c in v.calls() if user in c.callee_users and not c.ringing
                  and c.refusal is None and c.timeout is None]
        detail = (f"{len(lost)} text message(s) to {user} were accepted by the server but none was "
                  f"pushed to {', '.join(agents) or user}")
        if unrung:
            detail += "; the invite did not ring either"
            evidence.extend(unrung[:1])
        yield make_finding(F.PUSH_PATH_BROKEN, evidence, agent=agents[0] if agents else "", detail=detail)
