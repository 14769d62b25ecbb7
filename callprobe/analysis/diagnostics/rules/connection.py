"""Rules for the links before any call: login, handshake, auth probes, heartbeat, the connection.

What they tell apart (``docs/field-failures.md``): a refused ordinary
handshake, or a probe handshake that crashed the server (HANDSHAKE_REFUSED),
from an auth probe the server let in (UNAUTHENTICATED_ACCEPTED) — a clean
refusal of a probe is healthy; a kick by another login
(KICKED_BY_OTHER_LOGIN) from any other close the client did not ask for
(CONNECTION_DROPPED).
"""

from __future__ import annotations

from collections.abc import Iterator

from callprobe.analysis.diagnostics import findings as F
from callprobe.analysis.diagnostics.findings import Finding, Severity, make_finding
from callprobe.analysis.diagnostics.links import (
    AUTH_PROBE_STEPS,
    AUTH_PROBE_TEXT,
    OUTCOME_ACCEPTED,
    OUTCOME_FAILED,
    OUTCOME_REFUSED,
    STEP_HEARTBEAT,
    Link,
)
from callprobe.analysis.diagnostics.rules.common import err_words, unknown_identity
from callprobe.analysis.diagnostics.rules.registry import rule
from callprobe.analysis.diagnostics.view import TimelineView
from callprobe.timeline.events import (
    Event,
    FrameOut,
    HeartbeatMissed,
    HeartbeatReply,
    Kicked,
    LoginFailed,
    LoginOk,
    RunFinished,
    WsClosed,
    WsOpen,
    WsRefused,
)

#: KKIM's logout request: the server closes the connection after it, by design.
LOGOUT_REQUEST = 2003


@rule("login")
def rule_login_failed(v: TimelineView) -> Iterator[Finding]:
    """A login that failed and was not followed by a successful one."""
    for agent in v.agents:
        fails = [(i, e) for i, e in v.of(LoginFailed, agent=agent) if not v.in_probe(i)]
        if not fails:
            continue
        i, e = fails[-1]
        if v.find(LoginOk, i + 1, agents=[agent]) is not None:
            continue
        mode = f" ({e.mode} login)" if e.mode else ""
        yield make_finding(F.LOGIN_FAILED, (e,), agent=agent, detail=f"{agent}{mode}: {err_words(e)}")


@rule("handshake")
def rule_handshake_refused(v: TimelineView) -> Iterator[Finding]:
    """An ordinary connect refused, or an auth probe that crashed the handshake."""
    seen: set[str] = set()
    for i, e in v.of(WsRefused):
        if v.in_probe(i) or e.agent in seen:
            continue
        seen.add(e.agent)
        recovered = v.find(WsOpen, i + 1, agents=[e.agent]) is not None
        yield make_finding(
            F.HANDSHAKE_REFUSED, (e,), agent=e.agent, severity=Severity.WARNING if recovered else None,
            detail=f"{e.agent}'s connect was refused: {err_words(e)}"
                   + ("; a later attempt succeeded" if recovered else ""))
    for w in v.windows:
        fin = w.finished
        if fin is None or w.step not in AUTH_PROBE_STEPS:
            continue
        crashed = fin.outcome == OUTCOME_FAILED or (
            fin.outcome == OUTCOME_REFUSED and fin.status is not None and fin.status >= 500)
        if not crashed:
            continue
        inside = tuple(e for i, e in v.of((WsRefused, WsClosed))
                       if w.start <= i <= w.end and w.agent in ("", e.agent))
        answer = f"HTTP {fin.status}" if fin.status is not None else "no HTTP answer at all"
        yield make_finding(
            F.HANDSHAKE_REFUSED, (fin, *inside), agent=fin.agent,
            title="A handshake probe crashed the server",
            detail=f"{AUTH_PROBE_TEXT[w.step]} got {answer} instead of a refusal with an error code: "
                   "the handshake handler failed on a missing identity; ordinary connects with a valid "
                   "token are not affected")


@rule("auth_probes")
def rule_unauthenticated_accepted(v: TimelineView) -> Iterator[Finding]:
    """An auth probe (no token, forged token, another user's token) let in."""
    for _, fin in v.step_results(*AUTH_PROBE_STEPS):
        if fin.outcome != OUTCOME_ACCEPTED:
            continue
        identity, claimed = str(fin.extra.get("identity") or ""), str(fin.extra.get("claimed") or "")
        if unknown_identity(v, identity):
            continue  # DEFAULT_IDENTITY says so
        if identity and claimed and identity != claimed and identity == v.user_of(fin.agent):
            continue  # admitted as its token's own user: the claim was ignored, not trusted
        yield make_finding(
            F.UNAUTHENTICATED_ACCEPTED, (fin,), agent=fin.agent,
            detail=f"{fin.reason or AUTH_PROBE_TEXT[fin.step]} was accepted"
                   + (f" (HTTP {fin.status})" if fin.status is not None else "")
                   + (f" and admitted as user {identity}" if identity else ""))


@rule("heartbeat", Link.HEARTBEAT)
def rule_heartbeat_unanswered(v: TimelineView) -> Iterator[Finding]:
    """Pings without pongs: an error when no pong ever came, else a warning."""
    flagged: set[str] = set()
    for agent in v.agents:
        missed = [e for i, e in v.of(HeartbeatMissed, agent=agent) if not v.in_probe(i)]
        if not missed:
            continue
        replies = v.of(HeartbeatReply, agent=agent)
        flagged.add(agent)
        yield make_finding(
            F.HEARTBEAT_UNANSWERED, tuple(missed[:3]), agent=agent,
            severity=Severity.WARNING if replies else None,
            detail=f"{len(missed)} ping(s) from {agent} got no pong in time; {len(replies)} pong(s) seen in all")
    for _, fin in v.step_results(STEP_HEARTBEAT):
        if fin.ok is False and fin.agent not in flagged:
            yield make_finding(
                F.HEARTBEAT_UNANSWERED, (fin,), agent=fin.agent,
                detail=f"heartbeat probe: {fin.replies or 0} pong(s) for {fin.sent if fin.sent is not None else '?'} "
                       "ping(s)")


@rule("connection")
def rule_connection_dropped(v: TimelineView) -> Iterator[Finding]:
    """A close the client did not ask for (kicks and logouts excluded)."""
    finished = v.of(RunFinished)
    run_end = finished[0][0] if finished else len(v.events)
    for i, e in v.of(WsClosed):
        if e.by == "client" or v.in_probe(i) or i > run_end:
            continue
        opened = [j for j, _ in v.of(WsOpen, agent=e.agent) if j < i]
        since = opened[-1] if opened else 0
        kick = v.find(Kicked, since, i, agents=[e.agent])
        if kick is not None and kick[1].by in ("2002", ""):
            continue  # KICKED_BY_OTHER_LOGIN says so
        if v.find(FrameOut, since, i, agents=[e.agent], pred=lambda f: f.req_identifier == LOGOUT_REQUEST):
            continue
        detail = f"{e.agent}'s connection closed by {e.by or 'the network'} with code {e.code}"
        if e.reason:
            detail += f" ({e.reason})"
        if kick is not None:
            detail += f" after the server logged it out ({kick[1].by})"
        if e.explanation:
            detail += f": {e.explanation}"
        missed = [m for j, m in v.of(HeartbeatMissed, agent=e.agent) if since <= j < i]
        if missed:
            detail += f"; {len(missed)} heartbeat(s) had gone unanswered before"
        evidence: list[Event] = [e, *missed[:1]]
        last_out = [f for j, f in v.of(FrameOut, agent=e.agent) if since <= j < i]
        if last_out:
            evidence.append(last_out[-1])
        yield make_finding(F.CONNECTION_DROPPED, evidence, at_ms=e.t_ms, agent=e.agent, detail=detail)


@rule("kicked")
def rule_kicked(v: TimelineView) -> Iterator[Finding]:
    """A kick: another login of the same user took the connection's place."""
    for i, e in v.of(Kicked):
        if e.by not in ("2002", ""):
            continue  # 2003: the server logged the connection out (CONNECTION_DROPPED)
        user = v.user_of(e.agent)
        others = [(j, o) for j, o in v.of(WsOpen) if j < i and o.agent != e.agent and v.user_of(o.agent) == user]
        detail = f"{e.agent} (user {user}) was kicked"
        evidence: list[Event] = [e]
        if others:
            detail += f" after {others[-1][1].agent} connected as the same user"
            evidence.append(others[-1][1])
        yield make_finding(F.KICKED_BY_OTHER_LOGIN, evidence, at_ms=e.t_ms, agent=e.agent, detail=detail)
