"""Diagnostic rules: pure functions from a timeline to findings.

Each rule is ``rule(events, ctx) -> list[Finding]``: it reads recorded
``Event``s only (never a live agent, socket or peer), so the same rules judge
a live ``callprobe diagnose`` walk, a ``callprobe run`` scenario and a JSON
report loaded from disk. Rules are registered in ``RULES`` and run by
``diagnose_timeline``; ``first_broken_link`` picks the finding to lead with.

What the rules tell apart (FIELD-REPORTS.md):

* an invite that never rings while a text to the same user *was* pushed
  (INVITE_NOT_DELIVERED) from nothing being pushed at all (PUSH_PATH_BROKEN);
* a ring whose roomID differs from the invite reply's (ROOM_ID_MISMATCH) from
  a ring that does not decode to a sane invitation (INVITE_MALFORMED);
* a busy refusal (1802) while no call of that user is active
  (STALE_CALL_STATE) from a busy user really in a call (no finding) and from
  any other refusal (INVITE_REJECTED_BY_SERVER);
* a refused ordinary handshake, or a probe handshake that crashed the server
  (HANDSHAKE_REFUSED) from an auth probe the server let in
  (UNAUTHENTICATED_ACCEPTED); a clean refusal of a probe is healthy;
* an offer/answer that never reached the peer (SDP_NOT_RELAYED) from SDP
  that crossed while ICE still failed, and then by the candidates: a TURN
  server that gave no relay candidate (TURN_UNAVAILABLE, with the direct
  probe's verdict: authentication or reachability), no candidate at all
  (NO_LOCAL_CANDIDATES), no relay anywhere (ICE_FAILED, "configure TURN"),
  relay candidates that still failed (ICE_FAILED, relay hint); and a
  connected call with no media (MEDIA_NOT_FLOWING);
* a kick by another login (KICKED_BY_OTHER_LOGIN) from any other close the
  client did not ask for (CONNECTION_DROPPED).

Absence rules (a notice that never came) judge only links the context says
were exercised, only receivers that were connected, and stay silent when the
timeline ends before the deadline ran out. The probe markers the walk
records are specified in ``callprobe.analysis.diagnostics.links``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import replace

from callprobe.analysis.diagnostics import findings as F
from callprobe.analysis.diagnostics.context import RuleContext
from callprobe.analysis.diagnostics.findings import Finding, Severity, make_finding
from callprobe.analysis.diagnostics.links import (
    AUTH_PROBE_STEPS,
    AUTH_PROBE_TEXT,
    OUTCOME_ACCEPTED,
    OUTCOME_FAILED,
    OUTCOME_REFUSED,
    STEP_HEARTBEAT,
    STEP_HISTORY,
    Link,
    link_rank,
)
from callprobe.analysis.diagnostics.view import (
    SEND_MSG,
    CallView,
    Hit,
    TimelineView,
    as_ids,
    view_of,
)
from callprobe.timeline.events import Event, Kind
from callprobe.backends.kkim.protocol.constants import CLOSE_CODE_TEXT, ErrCode, explain_err_code
from callprobe.rtc.ice_config import described_turn_urls

Rule = Callable[[Sequence[Event], RuleContext], list[Finding]]

#: Registered rules, by name, in link order.
RULES: dict[str, Rule] = {}


def rule(name: str) -> Callable[[Rule], Rule]:
    """Register a rule under ``name``."""

    def register(fn: Rule) -> Rule:
        RULES[name] = fn
        return fn

    return register


# ------------------------------------------------------------------ helpers

def _ms(value: float) -> str:
    return f"{value:.0f} ms"


def _err_words(e: Event) -> str:
    """``errCode N meaning`` (or the HTTP status) of a refusal event, in words."""
    parts: list[str] = []
    status = e.get("status")
    if status:  # 0 or None: no HTTP answer at all
        parts.append(f"HTTP {status}")
    code = e.get("err_code")
    if isinstance(code, int) and code:
        text = e.get("explanation") or explain_err_code(code)
        msg = e.get("err_msg")
        parts.append(f"errCode {text}" + (f" ({msg})" if msg and str(msg) not in str(text) else ""))
    elif e.get("err_msg"):
        parts.append(str(e.get("err_msg")))
    if not parts and e.get("reason"):
        parts.append(str(e.get("reason")))
    return ", ".join(parts) or "no reason given"


def _busy_users(call: CallView) -> tuple[str, ...]:
    """Users the server called busy in its reply to ``call``'s invite."""
    for hit in (call.refusal, call.ack):
        if hit is None:
            continue
        e = hit[1]
        ids = as_ids(e.get("busy"))
        if ids:
            return ids
        if e.get("busy") is True or e.get("err_code") == ErrCode.USER_BUSY:
            return call.callee_users
    return ()


def _call_of(v: TimelineView, agent: str, idx: int) -> CallView | None:
    """The latest call before ``idx`` that ``agent`` is a party to."""
    found = None
    for call in v.calls():
        if call.invite_idx < idx and (agent == call.caller or agent in call.callee_agents):
            found = call
    return found


def _accepting_agents(v: TimelineView, call: CallView, before: int) -> tuple[str, ...]:
    hits = v.of(Kind.ACCEPT_SENT, agents=call.callee_agents)
    return tuple(dict.fromkeys(e.agent for i, e in hits if call.invite_idx < i < before))


def _peers(v: TimelineView, agent: str, idx: int, *, rang_only: bool = False) -> tuple[str, ...]:
    """The other party's agents for something ``agent`` sends at ``idx``."""
    call = _call_of(v, agent, idx)
    if call is None:
        ctx = v.ctx
        if agent == ctx.caller:
            return ctx.callee_agents()
        return (ctx.caller,) if ctx.caller and agent in ctx.callee_agents() else ()
    if agent != call.caller:
        return (call.caller,)
    accepted = _accepting_agents(v, call, idx)
    if accepted:
        return accepted
    if rang_only:
        return tuple(dict.fromkeys(e.agent for _, e in call.ringing))
    return call.callee_agents


def _room_match(*rooms: str) -> Callable[[Event], bool]:
    wanted = {r for r in rooms if r}
    return lambda e: not wanted or not e.get("room_id") or e.get("room_id") in wanted


_ACTION_SENDS = (Kind.ACCEPT_SENT, Kind.REJECT_SENT, Kind.CANCEL_SENT, Kind.HANGUP_SENT,
                 Kind.INVITE_SENT)


#: ACTION_ACKED/REFUSED ``action`` values of ordinary SendMsg requests (texts, SDP).
SEND_ACTIONS = ("send_text", "send_signal")


def _refusal_after(v: TimelineView, idx: int) -> Hit | None:
    """The server's refusal of the call action sent at ``idx`` (before the agent's next one)."""
    agent = v.events[idx].agent
    nxt = v.find(_ACTION_SENDS, idx + 1, agents=[agent])
    return v.find([Kind.ACTION_REFUSED], idx + 1, nxt[0] if nxt else None, agents=[agent],
                  pred=lambda e: e.get("action") not in SEND_ACTIONS)


#: Hint for a notice that came, but past its deadline.
LATE_HINT = ("It did arrive, only too late for a user to see it in time: look for queues or delays on the "
             "server's push path (a slow consumer, a batch or retry interval, an overloaded node), not for a "
             "lost message.")


def _late(code: str, sent: Hit, got: Hit, delay: float, deadline: float | None, what: str,
          agent: str) -> Finding:
    # past its deadline a notice has failed the user (a ring after the caller
    # gave up is no ring): an error, with "late" and the delay as evidence
    return make_finding(code, (sent[1], got[1]), at_ms=sent[1].t_ms, agent=agent,
                        severity=Severity.ERROR, hint=LATE_HINT,
                        detail=f"late: {what} arrived {_ms(delay)} after it was sent, past the "
                               f"{_ms(deadline or 0)} deadline")


# ------------------------------------------------------------------ rules, in link order

@rule("login")
def rule_login_failed(events: Sequence[Event], ctx: RuleContext) -> list[Finding]:
    """A login that failed and was not followed by a successful one."""
    v = view_of(events, ctx)
    out: list[Finding] = []
    for agent in v.agents:
        fails = [(i, e) for i, e in v.of(Kind.LOGIN_FAILED, agent=agent) if not v.in_probe(i)]
        if not fails:
            continue
        i, e = fails[-1]
        if v.find([Kind.LOGIN_OK], i + 1, agents=[agent]) is not None:
            continue
        mode = f" ({e.get('mode')} login)" if e.get("mode") else ""
        out.append(make_finding(F.LOGIN_FAILED, (e,), agent=agent,
                                detail=f"{agent}{mode}: {_err_words(e)}"))
    return out


@rule("handshake")
def rule_handshake_refused(events: Sequence[Event], ctx: RuleContext) -> list[Finding]:
    """An ordinary connect refused, or an auth probe that crashed the handshake."""
    v = view_of(events, ctx)
    out: list[Finding] = []
    seen: set[str] = set()
    for i, e in v.of(Kind.WS_REFUSED):
        if v.in_probe(i) or e.agent in seen:
            continue
        seen.add(e.agent)
        recovered = v.find([Kind.WS_OPEN], i + 1, agents=[e.agent]) is not None
        out.append(make_finding(
            F.HANDSHAKE_REFUSED, (e,), agent=e.agent,
            severity=Severity.WARNING if recovered else None,
            detail=f"{e.agent}'s connect was refused: {_err_words(e)}"
                   + ("; a later attempt succeeded" if recovered else "")))
    for w in v.windows:
        fin = w.finished
        if fin is None or w.step not in AUTH_PROBE_STEPS:
            continue
        outcome, status = fin.get("outcome"), fin.get("status")
        crashed = outcome == OUTCOME_FAILED or (
            outcome == OUTCOME_REFUSED and isinstance(status, int) and status >= 500)
        if not crashed:
            continue
        inside = tuple(e for i, e in v.of(Kind.WS_REFUSED, Kind.WS_CLOSED)
                       if w.start <= i <= w.end and w.agent in ("", e.agent))
        answer = f"HTTP {status}" if status is not None else "no HTTP answer at all"
        out.append(make_finding(
            F.HANDSHAKE_REFUSED, (fin, *inside), agent=fin.agent,
            detail=f"{AUTH_PROBE_TEXT[w.step]} got {answer} instead of a refusal with an errCode "
                   f"({_err_words(fin)}): the handshake handler failed on a missing identity"))
    return out


@rule("auth_probes")
def rule_unauthenticated_accepted(events: Sequence[Event], ctx: RuleContext) -> list[Finding]:
    """An auth probe (no token, forged token, another user's token) let in."""
    v = view_of(events, ctx)
    out: list[Finding] = []
    for i, fin in v.step_results(*AUTH_PROBE_STEPS):
        if fin.get("outcome") != OUTCOME_ACCEPTED:
            continue
        step = str(fin.get("step"))
        status = fin.get("status")
        out.append(make_finding(
            F.UNAUTHENTICATED_ACCEPTED, (fin,), agent=fin.agent,
            detail=f"{AUTH_PROBE_TEXT[step]} was accepted"
                   + (f" (HTTP {status})" if status is not None else "")))
    return out


@rule("heartbeat")
def rule_heartbeat_unanswered(events: Sequence[Event], ctx: RuleContext) -> list[Finding]:
    """Pings without pongs: an error when no pong ever came, else a warning."""
    v = view_of(events, ctx)
    if not ctx.exercised(Link.HEARTBEAT):
        return []
    out: list[Finding] = []
    flagged: set[str] = set()
    for agent in v.agents:
        missed = [e for i, e in v.of(Kind.HEARTBEAT_MISSED, agent=agent) if not v.in_probe(i)]
        if not missed:
            continue
        replies = v.of(Kind.HEARTBEAT_REPLY, agent=agent)
        flagged.add(agent)
        out.append(make_finding(
            F.HEARTBEAT_UNANSWERED, tuple(missed[:3]), agent=agent,
            severity=Severity.WARNING if replies else None,
            detail=f"{len(missed)} ping(s) from {agent} got no pong in time; "
                   f"{len(replies)} pong(s) seen in all"))
    for _, fin in v.step_results(STEP_HEARTBEAT):
        if fin.get("ok") is False and fin.agent not in flagged:
            out.append(make_finding(
                F.HEARTBEAT_UNANSWERED, (fin,), agent=fin.agent,
                detail=f"heartbeat probe: {fin.get('replies', 0)} pong(s) for "
                       f"{fin.get('sent', '?')} ping(s)"))
    return out


@rule("connection")
def rule_connection_dropped(events: Sequence[Event], ctx: RuleContext) -> list[Finding]:
    """A close the client did not ask for (kicks and logouts excluded)."""
    v = view_of(events, ctx)
    out: list[Finding] = []
    finished = v.of(Kind.RUN_FINISHED)
    run_end = finished[0][0] if finished else len(v.events)
    for i, e in v.of(Kind.WS_CLOSED):
        if e.get("by") == "client" or v.in_probe(i) or i > run_end:
            continue
        opened = [j for j, _ in v.of(Kind.WS_OPEN, agent=e.agent) if j < i]
        since = opened[-1] if opened else 0
        kick = v.find([Kind.KICKED], since, i, agents=[e.agent])
        if kick is not None and str(kick[1].get("by", "2002")) in ("2002", ""):
            continue  # KICKED_BY_OTHER_LOGIN says so
        if v.find([Kind.FRAME_OUT], since, i, agents=[e.agent],
                  pred=lambda f: f.get("req_identifier") == 2003) is not None:
            continue
        code = e.get("code")
        words = e.get("explanation") or CLOSE_CODE_TEXT.get(code if isinstance(code, int) else -1, "")
        detail = f"{e.agent}'s connection closed by {e.get('by') or 'the network'} with code {code}"
        if e.get("reason"):
            detail += f" ({e.get('reason')})"
        if kick is not None:
            detail += f" after the server logged it out ({kick[1].get('by')})"
        if words:
            detail += f": {words}"
        missed = [m for j, m in v.of(Kind.HEARTBEAT_MISSED, agent=e.agent) if since <= j < i]
        if missed:
            detail += f"; {len(missed)} heartbeat(s) had gone unanswered before"
        evidence: list[Event] = [e, *missed[:1]]
        last_out = [f for j, f in v.of(Kind.FRAME_OUT, agent=e.agent) if since <= j < i]
        if last_out:
            evidence.append(last_out[-1])
        out.append(make_finding(F.CONNECTION_DROPPED, evidence, at_ms=e.t_ms, agent=e.agent,
                                detail=detail))
    return out


@rule("kicked")
def rule_kicked(events: Sequence[Event], ctx: RuleContext) -> list[Finding]:
    """A 2002 kick: another login of the same user took the connection's place."""
    v = view_of(events, ctx)
    out: list[Finding] = []
    for i, e in v.of(Kind.KICKED):
        if str(e.get("by", "2002")) not in ("2002", ""):
            continue  # 2003: the server logged the connection out (CONNECTION_DROPPED)
        user = v.user_of(e.agent)
        others = [(j, o) for j, o in v.of(Kind.WS_OPEN) if j < i and o.agent != e.agent
                  and v.user_of(o.agent) == user]
        detail = f"{e.agent} (user {user}) was kicked"
        evidence: list[Event] = [e]
        if others:
            detail += f" after {others[-1][1].agent} connected as the same user"
            evidence.append(others[-1][1])
        out.append(make_finding(F.KICKED_BY_OTHER_LOGIN, evidence, at_ms=e.t_ms, agent=e.agent,
                                detail=detail))
    return out


def _text_refused(v: TimelineView, idx: int) -> bool:
    """Whether the server refused the SendMsg behind TEXT_SENT ``idx``."""
    agent = v.events[idx].agent
    nxt = v.find([Kind.TEXT_SENT, Kind.SIGNAL_SENT], idx + 1, agents=[agent])
    return v.find([Kind.REQUEST_FAILED, Kind.ACTION_REFUSED], v.receipt_start(idx),
                  nxt[0] if nxt else None, agents=[agent],
                  pred=lambda f: f.get("req_identifier") == SEND_MSG
                  or f.get("action") == "send_text") is not None


def _text_pred(v: TimelineView, sent: Event) -> Callable[[Event], bool]:
    msg_id, sender = sent.get("client_msg_id"), v.user_of(sent.agent)

    def match(e: Event) -> bool:
        if msg_id and e.get("client_msg_id"):
            return bool(e.get("client_msg_id") == msg_id)
        return bool(e.get("from") in (None, "", sender))

    return match


def _text_probe(v: TimelineView, users: Sequence[str],
                late: list[tuple[Hit, float]] | None = None) -> tuple[list[Hit], list[Hit]]:
    """Texts sent to ``users``: (delivered receipts, undelivered sends); receipts
    past the notice deadline are also added to ``late`` with their delay."""
    got: list[Hit] = []
    lost: list[Hit] = []
    for i, sent in v.of(Kind.TEXT_SENT):
        to = as_ids(sent.get("to"))
        if not set(to) & set(users) or _text_refused(v, i):
            continue
        receivers = [a for u in to for a in v.agents_of(u) if a != sent.agent and v.connected(a, i)]
        if not receivers:
            continue
        d = v.deliver(i, [Kind.TEXT_RECEIVED], receivers, v.ctx.notice_deadline_ms,
                      _text_pred(v, sent))
        if d.hit is not None:
            got.append(d.hit)
            if d.status == "late" and late is not None:
                late.append((d.hit, d.hit[1].t_ms - sent.t_ms))
        elif d.status == "missing":
            lost.append((i, sent))
    return got, lost


@rule("text_push")
def rule_push_path_broken(events: Sequence[Event], ctx: RuleContext) -> list[Finding]:
    """Texts to a user were accepted, none was pushed to any of its connections."""
    v = view_of(events, ctx)
    if not ctx.exercised(Link.TEXT_PUSH):
        return []
    out: list[Finding] = []
    users = list(dict.fromkeys(u for _, e in v.of(Kind.TEXT_SENT) for u in as_ids(e.get("to"))))
    for user in users:
        late: list[tuple[Hit, float]] = []
        got, lost = _text_probe(v, [user], late)
        if got and len(late) == len(got):
            (j, text), delay = late[0]
            out.append(replace(make_finding(
                F.PUSH_PATH_BROKEN, (text,), agent=text.agent, severity=Severity.WARNING,
                hint=LATE_HINT,
                detail=f"late: every text to {user} was pushed past the "
                       f"{_ms(ctx.notice_deadline_ms or 0)} deadline (first after {_ms(delay)})"),
                title="Pushes to the callee arrive late"))
        if got or not lost:
            continue
        agents = v.agents_of(user)
        evidence = [e for _, e in lost]
        unrung = [c.invite for c in v.calls() if user in c.callee_users and not c.ringing
                  and c.refusal is None and c.timeout is None]
        detail = (f"{len(lost)} text message(s) to {user} were accepted by the server but none was "
                  f"pushed to {', '.join(agents) or user}")
        if unrung:
            detail += "; the invite did not ring either"
            evidence.extend(unrung[:1])
        out.append(make_finding(F.PUSH_PATH_BROKEN, evidence, agent=agents[0] if agents else "",
                                detail=detail))
    return out


def _undecodable(v: TimelineView, call: CallView) -> list[Hit]:
    return [(j, e) for j, e in v.of(Kind.NOTICE_UNDECODABLE, agents=call.callee_agents)
            if v.receipt_start(call.invite_idx) <= j < call.window_end]


@rule("invite_ack")
def rule_invite_rejected(events: Sequence[Event], ctx: RuleContext) -> list[Finding]:
    """The server refused an invite (not as busy), or never answered it."""
    v = view_of(events, ctx)
    if not ctx.exercised(Link.INVITE_ACK):
        return []
    out: list[Finding] = []
    for call in v.calls():
        if call.refusal is not None and not _busy_users(call):
            e = call.refusal[1]
            out.append(make_finding(
                F.INVITE_REJECTED_BY_SERVER, (call.invite, e), agent=call.caller,
                detail=f"{call.caller}'s invite to {', '.join(call.callee_users)} was refused: "
                       f"{_err_words(e)}"))
        elif call.timeout is not None:
            e = call.timeout[1]
            out.append(make_finding(
                F.INVITE_REJECTED_BY_SERVER, (call.invite, e), agent=call.caller,
                detail=f"the server never answered {call.caller}'s invite (no reply within "
                       f"{e.get('setting', 'request_timeout_s')} = {e.get('seconds', '?')} s)"))
    return out


@rule("ringing")
def rule_invite_not_delivered(events: Sequence[Event], ctx: RuleContext) -> list[Finding]:
    """An accepted invite that never (or only late) rang a connected callee."""
    v = view_of(events, ctx)
    if not ctx.exercised(Link.RINGING):
        return []
    out: list[Finding] = []
    deadline = ctx.ring_deadline_ms
    for call in v.calls():
        if call.refusal is not None or call.timeout is not None:
            continue
        receivers = [a for a in call.callee_agents if v.connected(a, call.invite_idx)]
        if not receivers:
            continue
        sent = (call.invite_idx, call.invite)
        if call.ringing:
            j, ring = call.ringing[0]
            delay = ring.t_ms - call.invite.t_ms
            if deadline is not None and delay > deadline:
                out.append(_late(F.INVITE_NOT_DELIVERED, sent, (j, ring), delay, deadline,
                                 f"the ring at {ring.agent}", ring.agent))
            continue
        if _undecodable(v, call):
            continue  # INVITE_MALFORMED says why
        if deadline is not None and v.end_ms - call.invite.t_ms < deadline:
            continue
        got, lost = _text_probe(v, call.callee_users)
        ack = (call.ack[1],) if call.ack else ()
        who = ", ".join(receivers)
        if got:
            text = got[0][1]
            out.append(make_finding(
                F.INVITE_NOT_DELIVERED, (call.invite, *ack, text), agent=receivers[0],
                detail=f"{call.caller}'s invite never rang {who}, although a text message was "
                       f"pushed to {text.agent} at {_ms(text.t_ms)}"))
        elif lost:
            continue  # nothing is pushed at all: PUSH_PATH_BROKEN says so
        else:
            out.append(make_finding(
                F.INVITE_NOT_DELIVERED, (call.invite, *ack), agent=receivers[0],
                detail=f"{call.caller}'s invite never rang {who}; no text was sent to "
                       f"{', '.join(call.callee_users)}, so a broken push path is not ruled out"))
    return out


@rule("invite_content")
def rule_invite_malformed(events: Sequence[Event], ctx: RuleContext) -> list[Finding]:
    """A ring without roomID, from the wrong inviter, with other media, or undecodable."""
    v = view_of(events, ctx)
    if not ctx.exercised(Link.RINGING):
        return []
    out: list[Finding] = []
    for call in v.calls():
        for j, e in _undecodable(v, call)[:1]:
            out.append(make_finding(
                F.INVITE_MALFORMED, (call.invite, e), at_ms=e.t_ms, agent=e.agent,
                detail=f"a call notice to {e.agent} decodes in no known dialect: "
                       f"{e.get('reason', 'no reason recorded')}"))
        seen: set[str] = set()
        for j, ring in call.ringing:
            if ring.agent in seen:
                continue
            seen.add(ring.agent)
            issues: list[str] = []
            if not ring.get("room_id"):
                issues.append("no roomID")
            inviter = str(ring.get("inviter") or "")
            if not inviter:
                issues.append("no inviter")
            elif call.caller_user and inviter != call.caller_user:
                issues.append(f"inviter {inviter!r} instead of {call.caller_user!r}")
            media = str(ring.get("media") or "")
            if media and call.media and media != call.media:
                issues.append(f"media {media!r} instead of {call.media!r}")
            elif media and media not in ("audio", "video"):
                issues.append(f"unknown media {media!r}")
            if issues:
                out.append(make_finding(
                    F.INVITE_MALFORMED, (call.invite, ring), at_ms=ring.t_ms, agent=ring.agent,
                    detail=f"the ring at {ring.agent} has {', '.join(issues)}"
                           + (f" (dialect {ring.get('dialect')})" if ring.get("dialect") else "")))
    return out


@rule("room_id")
def rule_room_id_mismatch(events: Sequence[Event], ctx: RuleContext) -> list[Finding]:
    """The ring's roomID differs from the reply's, or an action used the client's own."""
    v = view_of(events, ctx)
    out: list[Finding] = []
    for call in v.calls():
        if call.ack is None:
            continue
        server_room = call.server_room
        if not server_room:
            continue
        for j, ring in call.ringing:
            rid = str(ring.get("room_id") or "")
            if rid and rid != server_room:
                out.append(make_finding(
                    F.ROOM_ID_MISMATCH, (call.ack[1], ring), at_ms=ring.t_ms, agent=ring.agent,
                    detail=f"the invite reply gave {call.caller} roomID {server_room!r}, the ring "
                           f"pushed to {ring.agent} carries {rid!r}"))
                break
        own = call.own_room
        if not own or own == server_room:
            continue
        actions = v.of(Kind.HANGUP_SENT, Kind.CANCEL_SENT, Kind.SIGNAL_SENT, agent=call.caller)
        for i, e in actions:
            if call.ack[0] < i < call.window_end and e.get("room_id") == own:
                refused = v.find([Kind.ACTION_REFUSED, Kind.REQUEST_FAILED], i + 1, call.window_end,
                                 agents=[call.caller])
                evidence = (call.ack[1], e) + ((refused[1],) if refused else ())
                out.append(make_finding(
                    F.ROOM_ID_MISMATCH, evidence, at_ms=e.t_ms, agent=call.caller,
                    detail=f"{call.caller} sent {e.kind} with its own roomID {own!r} instead of "
                           f"the server's {server_room!r}"))
                break
    return out


@rule("answer")
def rule_answer_not_delivered(events: Sequence[Event], ctx: RuleContext) -> list[Finding]:
    """The callee accepted or rejected; the caller was never told."""
    v = view_of(events, ctx)
    if not ctx.exercised(Link.ANSWER):
        return []
    out: list[Finding] = []
    for i, e in v.of(Kind.ACCEPT_SENT, Kind.REJECT_SENT):
        call = _call_of(v, e.agent, i)
        caller = call.caller if call else (ctx.caller if e.agent in ctx.callee_agents() else "")
        if not caller or caller == e.agent or not v.connected(caller, i):
            continue
        rooms = (str(e.get("room_id") or ""), call.room_id if call else "")
        if call is not None and v.find([Kind.CANCELLED, Kind.CALL_TIMEOUT, Kind.CANCEL_SENT],
                                       call.invite_idx, i, agents=[e.agent, caller],
                                       pred=_room_match(*rooms)):
            continue  # the call was over before the answer
        accept = e.kind == Kind.ACCEPT_SENT.value
        want = Kind.ANSWERED if accept else Kind.REJECTED
        verb = "accepted" if accept else "rejected"
        d = v.deliver(i, [want], [caller], ctx.notice_deadline_ms, _room_match(*rooms))
        if d.status == "late" and d.hit is not None and d.delay_ms is not None:
            out.append(_late(F.ANSWER_NOT_DELIVERED, (i, e), d.hit, d.delay_ms,
                             ctx.notice_deadline_ms, f"the {verb} notice", caller))
        elif d.status == "missing":
            refused = _refusal_after(v, i)
            detail = (f"{e.agent} {verb} at {_ms(e.t_ms)}; {caller} was never told (neither an "
                      f"unsolicited 1004 nor a 1601 push)")
            if refused:
                detail += f"; the server refused the {verb[:-2]}: {_err_words(refused[1])}"
            out.append(make_finding(F.ANSWER_NOT_DELIVERED,
                                    (e, *((refused[1],) if refused else ())), agent=caller,
                                    detail=detail))
    return out


def _signal_match(signal_type: str, room: str) -> Callable[[Event], bool]:
    in_room = _room_match(room)
    return lambda r: r.get("signal_type") == signal_type and in_room(r)


def _sdp_losses(v: TimelineView) -> list[tuple[Hit, tuple[str, ...]]]:
    """Offers/answers sent whose peer never received them: (send, peers)."""
    lost: list[tuple[Hit, tuple[str, ...]]] = []
    for i, e in v.of(Kind.SIGNAL_SENT):
        kind = e.get("signal_type")
        if kind not in ("offer", "answer"):
            continue
        to = as_ids(e.get("to"))
        peers = tuple(a for u in to for a in v.agents_of(u) if a != e.agent) or _peers(v, e.agent, i)
        peers = tuple(p for p in peers if v.connected(p, i))
        if not peers:
            continue
        d = v.deliver(i, [Kind.SIGNAL_RECEIVED], peers, v.ctx.notice_deadline_ms,
                      _signal_match(str(kind), str(e.get("room_id") or "")))
        if d.status == "missing":
            lost.append(((i, e), peers))
    return lost


@rule("signal_relay")
def rule_sdp_not_relayed(events: Sequence[Event], ctx: RuleContext) -> list[Finding]:
    """An SDP offer or answer that never reached the peer."""
    v = view_of(events, ctx)
    if not ctx.exercised(Link.SIGNAL_RELAY):
        return []
    return [make_finding(
        F.SDP_NOT_RELAYED, (e,), agent=peers[0],
        detail=f"{e.agent}'s SDP {e.get('signal_type')} (sent at {_ms(e.t_ms)}) never reached "
               f"{', '.join(peers)}")
        for (i, e), peers in _sdp_losses(v)]


#: PEER_FAILED settings that mean the leg never connected (``callprobe.rtc.peer``).
ICE_SETTINGS = ("ice_connect_timeout_s", "ice_gather_timeout_s")


def _ice_failure(e: Event) -> bool:
    """A state ``failed``, or a PEER_FAILED about connecting (not media, not a bad SDP)."""
    if e.kind in (Kind.PC_STATE.value, Kind.ICE_STATE.value):
        return bool(e.get("state") == "failed")
    if e.kind == Kind.PEER_FAILED.value:
        return e.get("setting") in ICE_SETTINGS or "ice_state" in e.fields
    return False


def _types(v: TimelineView, agents: Sequence[str], side: str, lo: int, hi: int) -> list[str]:
    """Candidate types ``agents`` recorded on ``side`` between indexes ``lo`` and ``hi``."""
    found = [str(e.get("type") or "?") for i, e in v.of(Kind.ICE_CANDIDATE, agents=agents)
             if e.get("side") == side and lo <= i < hi]
    return list(dict.fromkeys(found))


def _turn_urls(v: TimelineView, agent: str, lo: int, hi: int) -> list[str]:
    """The TURN URLs the leg's PEER_CREATED names (configured, not necessarily used)."""
    created = [e for i, e in v.of(Kind.PEER_CREATED, agent=agent) if lo <= i < hi]
    return described_turn_urls(created[0].get("ice_servers")) if created else []


def _turn_finding(v: TimelineView, agent: str, lo: int, hi: int, turn_urls: list[str],
                  anchor: Event, severity: Severity | None = None,
                  extra: list[Event] | None = None) -> Finding:
    """TURN_UNAVAILABLE for a leg with TURN configured but no relay candidate."""
    probe = next((e for i, e in v.of(Kind.TURN_PROBE, agent=agent) if lo <= i < hi), None)
    detail = f"{agent} was given {', '.join(turn_urls)} but gathered no relay candidate"
    hint: str | None = None
    evidence: list[Event] = [anchor, *(extra or [])]
    if probe is not None:
        evidence.append(probe)
        detail += f"; asked directly, {probe.get('url') or 'the server'}: {probe.get('detail') or probe.get('verdict')}"
        hint = F.TURN_PROBE_HINTS.get(str(probe.get("verdict")))
    return make_finding(F.TURN_UNAVAILABLE, evidence, at_ms=anchor.t_ms, agent=agent, detail=detail,
                        hint=hint, severity=severity)


@rule("ice")
def rule_ice_failed(events: Sequence[Event], ctx: RuleContext) -> list[Finding]:
    """ICE failed although the SDP crossed, told apart by what the candidates say.

    Per failed leg, the first that holds: TURN configured but no relay
    candidate (TURN_UNAVAILABLE, with the direct TURN probe's verdict); no
    local candidate at all (NO_LOCAL_CANDIDATES); otherwise ICE_FAILED, whose
    hint says "configure TURN" when nobody had a relay candidate, or that the
    relay itself failed when relay candidates existed. A leg that connected
    although its TURN server gave nothing gets a TURN_UNAVAILABLE warning.
    """
    v = view_of(events, ctx)
    if not ctx.exercised(Link.ICE):
        return []
    if _sdp_losses(v):
        return []  # the SDP never crossed: SDP_NOT_RELAYED says so
    out: list[Finding] = []
    for agent, (lo, hi) in ((a, leg) for a in v.agents for leg in v.legs(a)):
        local = _types(v, [agent], "local", lo, hi)
        turn_urls = _turn_urls(v, agent, lo, hi)
        fails = [(i, e) for i, e in v.of(Kind.PC_STATE, Kind.ICE_STATE, Kind.PEER_FAILED, agent=agent)
                 if lo <= i < hi and _ice_failure(e)]
        if not fails:
            up = [e for i, e in v.of(Kind.PC_STATE, agent=agent)
                  if lo <= i < hi and e.get("state") == "connected"]
            if up and turn_urls and "relay" not in local:
                out.append(_turn_finding(v, agent, lo, hi, turn_urls, up[0], severity=Severity.WARNING))
            continue
        i, fail = fails[0]
        said = next((e for _, e in fails if e.kind == Kind.PEER_FAILED.value), None)
        evidence: list[Event] = [fail] + ([said] if said is not None and said is not fail else [])
        if turn_urls and "relay" not in local:
            out.append(_turn_finding(v, agent, lo, hi, turn_urls, fail, extra=evidence[1:]))
            continue
        if not local:
            created = next((e for j, e in v.of(Kind.PEER_CREATED, agent=agent) if lo <= j < hi), None)
            why = ("the relay-only policy allows relay candidates only, and no TURN server was given"
                   if created is not None and created.get("relay_only") else
                   "no usable local address")
            out.append(make_finding(F.NO_LOCAL_CANDIDATES, evidence, at_ms=fail.t_ms, agent=agent,
                                    detail=f"{agent} gathered no ICE candidate at all: {why}"))
            continue
        peers = _peers(v, agent, i)
        remote = _types(v, [agent], "remote", lo, hi)
        peer_local = _types(v, peers, "local", lo, hi)
        sent = [e for j, e in v.of(Kind.SIGNAL_SENT, agents=peers)
                if lo <= j < i and e.get("signal_type") == "candidate"]
        got = [e for j, e in v.of(Kind.SIGNAL_RECEIVED, agent=agent)
               if lo <= j < i and e.get("signal_type") == "candidate"]
        reason = f" ({said.get('reason')})" if said is not None and said.get("reason") else ""
        detail = (f"ICE failed at {agent}{reason}; local candidates: {', '.join(local) or 'none'}; "
                  f"remote: {', '.join(remote) or 'none'}")
        hint: str | None = None
        if not remote and sent and not got:
            detail += f"; none of the {len(sent)} candidate(s) {', '.join(peers)} sent arrived"
            hint = ("The peer's candidates travel as 110 webrtc_signal messages with signalType "
                    "'candidate'; the server accepted them but relayed none. Check it relays every "
                    "custom message, not only offers and answers.")
            evidence.append(sent[0])
        elif not remote:
            detail += "; no remote candidate reached this peer"
        elif "relay" not in {*local, *remote, *peer_local}:
            hint = F.TURN_HINT
        elif "relay" in local:
            hint = F.RELAY_FAILED_HINT
        out.append(make_finding(F.ICE_FAILED, evidence, at_ms=fail.t_ms, agent=agent,
                                detail=detail, hint=hint))
    return out


def _media_kind(v: TimelineView, agent: str, idx: int) -> str:
    call = _call_of(v, agent, idx)
    if call is not None and call.media:
        return call.media
    if v.ctx.media:
        return v.ctx.media
    created = [e for j, e in v.of(Kind.PEER_CREATED, agent=agent) if j < idx]
    return str(created[-1].get("media") or "") if created else ""


@rule("media")
def rule_media_not_flowing(events: Sequence[Event], ctx: RuleContext) -> list[Finding]:
    """A connected peer that decoded no frames of the call's media."""
    v = view_of(events, ctx)
    if not ctx.exercised(Link.MEDIA):
        return []
    explicit = ctx.probes is not None
    out: list[Finding] = []
    for agent, (lo, hi) in ((a, leg) for a in v.agents for leg in v.legs(a)):
        up = [(i, e) for i, e in v.of(Kind.PC_STATE, agent=agent)
              if lo <= i < hi and e.get("state") == "connected"]
        if not up:
            continue
        i0, connected = up[0]
        stats = [e for i, e in v.of(Kind.MEDIA_STATS, agent=agent) if i0 < i < hi]
        firsts = {str(e.get("media")) for i, e in v.of(Kind.MEDIA_FIRST_FRAME, agent=agent) if i0 < i < hi}
        failed = [e for i, e in v.of(Kind.PEER_FAILED, agent=agent)
                  if i0 < i < hi and "media" in f"{e.get('reason', '')} {e.get('setting', '')}".lower()]
        kind = _media_kind(v, agent, i0)
        if failed:
            out.append(make_finding(
                F.MEDIA_NOT_FLOWING, (connected, failed[0]), at_ms=failed[0].t_ms, agent=agent,
                detail=f"{agent} connected at {_ms(connected.t_ms)} but no {kind or 'media'} frame "
                       f"arrived ({failed[0].get('reason') or failed[0].get('setting')})"))
            continue
        if not stats:
            if explicit and not firsts:
                out.append(make_finding(
                    F.MEDIA_NOT_FLOWING, (connected,), at_ms=connected.t_ms, agent=agent,
                    detail=f"{agent} connected but recorded no media frames or statistics"))
            continue
        last = stats[-1]
        if last.t_ms - connected.t_ms < ctx.media_grace_ms:
            continue  # hung up (or dropped) right after connecting: too soon to judge
        keys = {"audio": ["audio_frames"], "video": ["video_frames"]}.get(kind, [])
        if kind == "video" and "audio_frames" in last.fields:
            keys.append("audio_frames")
        if not keys:
            keys = [k for k in ("audio_frames", "video_frames") if k in last.fields]
        dry = [k for k in keys if not last.get(k) and k.split("_")[0] not in firsts]
        if dry:
            counts = ", ".join(f"{k.split('_')[0]} {last.get(k, 0)}" for k in
                               ("audio_frames", "video_frames") if k in last.fields)
            out.append(make_finding(
                F.MEDIA_NOT_FLOWING, (connected, last), at_ms=last.t_ms, agent=agent,
                detail=f"{agent} connected at {_ms(connected.t_ms)} but decoded no "
                       f"{' or '.join(k.split('_')[0] for k in dry)} frames (frames: {counts})"))
    return out


@rule("hangup")
def rule_hangup_not_delivered(events: Sequence[Event], ctx: RuleContext) -> list[Finding]:
    """A hang-up or cancel that never reached the other party."""
    v = view_of(events, ctx)
    if not ctx.exercised(Link.HANGUP):
        return []
    out: list[Finding] = []
    for i, e in v.of(Kind.HANGUP_SENT, Kind.CANCEL_SENT):
        hangup = e.kind == Kind.HANGUP_SENT.value
        peers = tuple(p for p in _peers(v, e.agent, i, rang_only=True)
                      if p != e.agent and v.connected(p, i))
        if not peers:
            continue
        call = _call_of(v, e.agent, i)
        rooms = (str(e.get("room_id") or ""), call.room_id if call else "")
        start = call.invite_idx if call else 0
        if v.find([Kind.HANGUP_SENT, Kind.REJECT_SENT, Kind.HUNG_UP, Kind.REJECTED, Kind.CANCELLED,
                   Kind.CALL_TIMEOUT], start, i, agents=[*peers, e.agent],
                  pred=_room_match(*rooms)) is not None:
            continue  # the call was already over for the peer
        want = Kind.HUNG_UP if hangup else Kind.CANCELLED
        verb = "hang-up" if hangup else "cancel"
        d = v.deliver(i, [want], peers, ctx.notice_deadline_ms, _room_match(*rooms))
        if d.status == "late" and d.hit is not None and d.delay_ms is not None:
            out.append(_late(F.HANGUP_NOT_DELIVERED, (i, e), d.hit, d.delay_ms,
                             ctx.notice_deadline_ms, f"the {verb} notice", d.hit[1].agent))
        elif d.status == "missing":
            refused = _refusal_after(v, i)
            detail = f"{e.agent}'s {verb} at {_ms(e.t_ms)} never reached {', '.join(peers)}"
            if refused:
                detail += f"; the server refused it: {_err_words(refused[1])}"
            out.append(make_finding(F.HANGUP_NOT_DELIVERED,
                                    (e, *((refused[1],) if refused else ())), agent=peers[0],
                                    detail=detail))
    return out


@rule("history")
def rule_history_payload_missing(events: Sequence[Event], ctx: RuleContext) -> list[Finding]:
    """The history probe found the call record missing or without its content."""
    v = view_of(events, ctx)
    if not ctx.exercised(Link.HISTORY):
        return []
    out: list[Finding] = []
    for _, fin in v.step_results(STEP_HISTORY):
        room = fin.get("room_id") or "?"
        if fin.get("found") is False:
            detail = f"no record of the invitation for room {room} came back from history"
        elif fin.get("complete") is False:
            missing = ", ".join(str(m) for m in fin.get("missing") or ()) or "its content"
            detail = f"the invitation record for room {room} came back from history without {missing}"
        else:
            continue
        out.append(make_finding(F.HISTORY_PAYLOAD_MISSING, (fin,), agent=fin.agent, detail=detail))
    return out


@rule("stale_state")
def rule_stale_call_state(events: Sequence[Event], ctx: RuleContext) -> list[Finding]:
    """A busy reply (1802) for a user no call of this run involves at that moment."""
    v = view_of(events, ctx)
    out: list[Finding] = []
    for call in v.calls():
        reply = call.refusal or call.ack
        if reply is None:
            continue
        for user in _busy_users(call):
            if v.active_room(user, reply[0]) is not None:
                continue
            ended = [r for r in v.rooms() if user in r.users and r.end is not None and r.end < reply[0]]
            evidence: list[Event] = [call.invite, reply[1]]
            detail = (f"{call.caller}'s invite was answered 'busy' for {user}, but no call "
                      f"involving {user} is active")
            if ended:
                end_event = v.events[ended[-1].end or 0]
                evidence.append(end_event)
                detail += (f"; its last call (room {ended[-1].room_id}) ended at "
                           f"{_ms(end_event.t_ms)} ({end_event.kind})")
            out.append(make_finding(F.STALE_CALL_STATE, evidence, at_ms=reply[1].t_ms,
                                    agent=call.caller, detail=detail))
    return out


# ------------------------------------------------------------------ running them

def _sort_key(f: Finding) -> tuple[float, int, str, str]:
    return (math.inf if f.at_ms is None else f.at_ms, link_rank(f.link), f.code, f.agent)


def diagnose_timeline(events: Sequence[Event], ctx: RuleContext | None = None,
                      rules: Sequence[Rule] | None = None) -> list[Finding]:
    """Run every registered rule (or ``rules``); findings in time order.

    Codes in ``ctx.expected`` are kept but lowered to ``info``. Identical
    findings from different rules are reported once.
    """
    context = ctx or RuleContext()
    view = TimelineView(events, context)
    found: list[Finding] = []
    seen: set[tuple[str, str, float | None, str]] = set()
    for fn in rules if rules is not None else RULES.values():
        for f in fn(view, context):
            key = (f.code, f.agent, f.at_ms, f.detail)
            if key in seen:
                continue
            seen.add(key)
            if f.code in context.expected and f.severity is not Severity.INFO:
                f = replace(f, severity=Severity.INFO, detail=f"{f.detail} (expected by the scenario)")
            found.append(f)
    return sorted(found, key=_sort_key)


def first_broken_link(findings: Sequence[Finding]) -> Finding | None:
    """The earliest error in link order (login first, stale state last)."""
    errors = [f for f in findings if f.severity is Severity.ERROR]
    if not errors:
        return None
    return min(errors, key=lambda f: (link_rank(f.link), *_sort_key(f)))
