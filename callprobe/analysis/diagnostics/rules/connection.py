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
from dataclasses import replace

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
    EndpointProbe,
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

#: An auth probe as the subject of a finding's title.
AUTH_PROBE_TITLE = {
    "probe_no_token": "A probe handshake without a token",
    "probe_wrong_token": "A probe handshake with a forged token",
    "probe_other_user": "A probe handshake with another user's token",
}

#: HANDSHAKE_REFUSED's hint when an auth probe, not a user's connect, crashed the handshake.
#: HANDSHAKE_REFUSED's hint for a crashed auth probe, in each backend's terms ("": KKIM's).
PROBE_CRASH_HINTS = {
    "": ("The handshake handler must refuse a missing or invalid identity with an HTTP 4xx and an "
         "errCode (1602 ConnArgsErr, 1502 TokenInvalid), never fail: a 5xx or a dropped connection "
         "means it crashed, for example on a user id it did not check. Real users with valid "
         "tokens still connect; fix the handler's argument checks."),
    "socketio": ("The connect handler must refuse a missing or invalid token with a connect_error (raise "
                 "ConnectionRefusedError), never fail: a 5xx or a dropped connection means it crashed, for "
                 "example on a user id it did not check. Real users with valid tokens still connect; fix the "
                 "handler's argument checks."),
    "rooms": ("The room join handler must refuse a room join without a valid identity with HTTP 401 (403 for "
              "another user's), never fail: a 5xx or an empty reply means it crashed, for example on a user id "
              "the request did not carry. Real users with valid tokens still join; fix the handler's argument "
              "checks."),
}

#: LOGIN_FAILED's hints by what answered at the auth API address (``EndpointProbe``).
LOGIN_NOTHING_HINT = ("Nothing answered at the auth API address (connection refused or no route): no reply, "
                      "so no errCode, came back. Check --api (scheme, host and port, e.g. "
                      "http://host:10002) and that the auth API is running and reachable from here.")
LOGIN_SWAPPED_HINT = ("The --api address answers WebSocket upgrades: it is the gateway's WebSocket port, not the "
                      "auth API. --server and --api look swapped: --server takes the gateway "
                      "(ws://host:10001), --api the auth API (http://host:10002).")
LOGIN_NO_REPLY_HINT = ("The auth API address took the connection but sent no HTTP reply, so there is no errCode "
                       "to read: is --api pointing at another service (a WebSocket port, a TLS port with "
                       "http://)? --api takes the auth API's base URL, e.g. http://host:10002.")
LOGIN_HTTP_HINT = ("An HTTP server answered, but not as the auth API (no errCode in its reply): check --api's "
                   "base URL, its port and path prefix.")
#: ... on the backends that log in at --server itself (socketio, rooms), when no HTTP reply came.
LOGIN_SERVER_SILENT_HINT = ("Nothing answered the login at --server (connection refused, no route or no HTTP "
                            "reply): check --server's scheme, host and port (http://host:port) and that the "
                            "server is running and reachable from here.")

#: HANDSHAKE_REFUSED's hint when --server answered plain HTTP where a WebSocket upgrade was expected.
NOT_A_GATEWAY_HINT = ("An HTTP server answered at --server, without upgrading to a WebSocket and without a "
                      "gateway's errCode: --server names an HTTP service, not the gateway's WebSocket port "
                      "(ws://host:10001).")


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
        probe = _probe(v, "api", i)
        hint, title = _login_words(e, probe) if v.backend in ("", "kkim") else _server_login_words(e)
        yield make_finding(F.LOGIN_FAILED, (e,) + ((probe,) if probe else ()), agent=agent, hint=hint,
                           title=title, detail=f"{agent}{mode}: {err_words(e)}")


def _probe(v: TimelineView, role: str, after: int) -> EndpointProbe | None:
    """What answered at the ``role`` address, probed after the failure at ``after``."""
    return next((e for i, e in v.of(EndpointProbe) if i > after and e.role == role), None)


def _login_words(e: LoginFailed, probe: EndpointProbe | None) -> tuple[str | None, str | None]:
    """(hint, title) matching what the failed login's evidence shows; ``None``: the catalogue's."""
    if e.err_code:
        return None, None  # a reply with an errCode: the catalogue's hint reads it
    if probe is not None and probe.answer == "websocket":
        return LOGIN_SWAPPED_HINT, "Login failed: --api points at the gateway's WebSocket port"
    if probe is not None and probe.answer == "nothing":
        return LOGIN_NOTHING_HINT, "Login failed: nothing answered at the auth API address"
    if not e.status:
        return LOGIN_NO_REPLY_HINT, "Login failed: the auth API address sent no HTTP reply"
    return LOGIN_HTTP_HINT, None


def _server_login_words(e: LoginFailed) -> tuple[str | None, str | None]:
    """(hint, title) for a backend whose login is an HTTP endpoint of --server: an HTTP status is the
    backend's to explain (its catalogue words); no reply at all is the address."""
    if e.status:
        return None, None
    return LOGIN_SERVER_SILENT_HINT, "Login failed: nothing answered at --server"


def _not_a_gateway(v: TimelineView, i: int, e: WsRefused) -> tuple[str, str, EndpointProbe | None] | None:
    """(title, hint, probe) when --server answered plain HTTP where a WebSocket upgrade was expected.

    KKIM only: the HTTP backends serve their API and their socket on one URL,
    where a 404 means another path (their catalogue words say so).
    """
    if v.backend not in ("", "kkim"):
        return None
    if e.err_code or not e.status or e.status >= 500 or e.status == 101:
        return None
    probe = _probe(v, "server", i)
    hint = NOT_A_GATEWAY_HINT
    if probe is not None and probe.same_as == "api":
        hint += (" It is the same host and port as --api: --server points at the auth API. Give the gateway's "
                 "WebSocket port instead.")
    else:
        hint += " Is it the auth API's port, or a web server in front of the gateway without WebSocket support?"
    return f"No WebSocket gateway at --server: HTTP {e.status} instead of an upgrade", hint, probe


@rule("handshake")
def rule_handshake_refused(v: TimelineView) -> Iterator[Finding]:
    """An ordinary connect refused, or an auth probe that crashed the handshake."""
    seen: set[str] = set()
    for i, e in v.of(WsRefused):
        if v.in_probe(i) or e.agent in seen:
            continue
        seen.add(e.agent)
        recovered = v.find(WsOpen, i + 1, agents=[e.agent]) is not None
        http = _not_a_gateway(v, i, e)
        title, hint, probe = http if http is not None else (None, None, None)
        yield make_finding(
            F.HANDSHAKE_REFUSED, (e,) + ((probe,) if probe else ()), agent=e.agent,
            severity=Severity.WARNING if recovered else None, title=title, hint=hint,
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
        # the probe's own handshake broke, not the users': say which one, once
        yield replace(make_finding(
            F.HANDSHAKE_REFUSED, (fin, *inside), agent=fin.agent,
            hint=PROBE_CRASH_HINTS.get(v.backend, PROBE_CRASH_HINTS[""]),
            title=f"{AUTH_PROBE_TITLE[w.step]} was answered with {answer}",
            detail="a refusal was expected: the handler failed on the missing or invalid identity. "
                   "Handshakes with a valid token (both checked above) are not affected"),
            link=Link.AUTH_PROBES.value)


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
