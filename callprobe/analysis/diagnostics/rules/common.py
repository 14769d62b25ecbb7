"""Helpers the rules share: words for refusals, who the other party is, late notices."""

from __future__ import annotations

from collections.abc import Callable

from callprobe.analysis.calls import Call
from callprobe.analysis.diagnostics.findings import Finding, Severity, make_finding
from callprobe.analysis.diagnostics.view import TimelineView
from callprobe.analysis.index import Hit, as_ids
from callprobe.analysis.metrics import BUSY_CODES
from callprobe.timeline.events import (
    AcceptSent,
    ActionRefused,
    CancelSent,
    Event,
    HangupSent,
    InviteAcked,
    InviteRefused,
    InviteSent,
    RejectSent,
    RequestFailed,
)

#: ActionRefused ``action`` values of ordinary messages (texts, SDP, a message sent as given), not call actions.
SEND_ACTIONS = ("send_text", "send_signal", "send_message")

#: The call actions an agent sends.
ACTION_SENDS = (AcceptSent, RejectSent, CancelSent, HangupSent, InviteSent)

#: Hint for a notice that came, but past its deadline.
LATE_HINT = ("It did arrive, only too late for a user to see it in time: look for queues or delays on the "
             "server's push path (a slow consumer, a batch or retry interval, an overloaded node), not for a "
             "lost message.")


def ms(value: float) -> str:
    return f"{value:.0f} ms"


def err_words(e: Event) -> str:
    """``errCode N meaning`` (or the HTTP status) of a refusal event, in words.

    The meaning is the driver's (``explanation``): analysis knows no backend's table.
    """
    parts: list[str] = []
    status = getattr(e, "status", None)
    if isinstance(status, int) and status:  # 0 or None: no HTTP answer at all
        parts.append(f"HTTP {status}")
    code = getattr(e, "err_code", 0)
    msg = str(getattr(e, "err_msg", "") or "")
    if isinstance(code, int) and code:
        text = str(getattr(e, "explanation", "") or code)
        parts.append(f"errCode {text}" + (f" ({msg})" if msg and msg not in text else ""))
    elif msg:
        parts.append(msg)
    reason = str(getattr(e, "reason", "") or "")
    if not parts and reason:
        parts.append(reason)
    return ", ".join(parts) or "no reason given"


def unknown_identity(v: TimelineView, identity: str) -> bool:
    """An identity a server gave a connection that is none of the run's users: a default one."""
    return bool(identity) and identity not in set(v.users.values()) and identity not in v.agents


def busy_users(call: Call) -> tuple[str, ...]:
    """Users the server called busy in its reply to ``call``'s invite."""
    for hit in (call.refusal, call.ack):
        if hit is None:
            continue
        e = hit[1]
        if isinstance(e, (InviteRefused, InviteAcked)) and e.busy:
            return as_ids(e.busy)
        if isinstance(e, (InviteRefused, RequestFailed)) and e.err_code in BUSY_CODES:
            return call.callee_users
    return ()


def accepting_agents(v: TimelineView, call: Call, before: int) -> tuple[str, ...]:
    hits = v.of(AcceptSent, agents=call.callee_agents)
    return tuple(dict.fromkeys(e.agent for i, e in hits if call.invite_idx < i < before))


def peers(v: TimelineView, agent: str, idx: int, *, rang_only: bool = False) -> tuple[str, ...]:
    """The other party's agents for something ``agent`` sends at ``idx``."""
    call = v.call_of(agent, idx)
    if call is None:
        ctx = v.ctx
        if agent == ctx.caller:
            return ctx.callee_agents()
        return (ctx.caller,) if ctx.caller and agent in ctx.callee_agents() else ()
    if agent != call.caller:
        return (call.caller,)
    accepted = accepting_agents(v, call, idx)
    if accepted:
        return accepted
    if rang_only:
        return tuple(dict.fromkeys(e.agent for _, e in call.ringing))
    return call.callee_agents


def room_match(*rooms: str) -> Callable[[Event], bool]:
    """Events of these rooms, or of no room at all."""
    wanted = {r for r in rooms if r}
    return lambda e: not wanted or not e.room_id or e.room_id in wanted


def refusal_after(v: TimelineView, idx: int) -> Hit[ActionRefused] | None:
    """The server's refusal of the call action sent at ``idx`` (before the agent's next one)."""
    agent = v.events[idx].agent
    nxt = v.find(ACTION_SENDS, idx + 1, agents=[agent])
    return v.find(ActionRefused, idx + 1, nxt[0] if nxt else None, agents=[agent],
                  pred=lambda e: e.action not in SEND_ACTIONS)


def late(code: str, sent: Hit[Event], got: Hit[Event], delay: float, deadline: float | None, what: str,
         agent: str) -> Finding:
    """Past its deadline a notice has failed the user (a ring after the caller gave up is no
    ring): an error, with "late" and the delay as evidence."""
    return make_finding(code, (sent[1], got[1]), at_ms=sent[1].t_ms, agent=agent,
                        severity=Severity.ERROR, hint=LATE_HINT,
                        detail=f"late: {what} arrived {ms(delay)} after it was sent, past the "
                               f"{ms(deadline or 0)} deadline")
