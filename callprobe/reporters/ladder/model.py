"""The ladder (sequence) diagram of a run: who sent what to whom, and when.

``build_ladder`` turns timeline events (and the findings about them) into a
pure model: one column per party (caller | gateway | callee, then any other
agent, e.g. a second device of the callee), and one row per meaningful frame
or notice, in time order. A driver records a frame *and* what it meant (a
FRAME_OUT and an INVITE_SENT); the two become one arrow labelled with both
(``reporters.ladder.pairs`` decides which meaning is whose).
WebRTC rows (ICE/DTLS up, media) are drawn agent to agent, past the gateway,
because that traffic never touches it. Each finding sits on the row of its
evidence, so a broken link shows where it broke.

``render_ladder`` draws the model for the terminal with rich (box-drawing
lines); ``reporters.ladder.html`` draws the same model as a page.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from callprobe.analysis.diagnostics.context import RuleContext
from callprobe.analysis.diagnostics.findings import Finding, Severity
from callprobe.analysis.diagnostics.rules import SEND_ACTIONS, first_broken_link
from callprobe.analysis.diagnostics.view import TimelineView
from callprobe.analysis.metrics import TEARDOWN_NOTE
from callprobe.reporters.ladder.pairs import pair_frames
from callprobe.timeline.events import (
    AcceptSent,
    ActionAcked,
    ActionRefused,
    Answered,
    CallTimeout,
    Cancelled,
    CancelSent,
    Event,
    ExpectationJudged,
    FrameIn,
    FrameOut,
    HangupSent,
    HeartbeatMissed,
    HeartbeatReply,
    HeartbeatSent,
    HungUp,
    IceState,
    InviteAcked,
    InviteRefused,
    InviteSent,
    JoinNotice,
    Kicked,
    LoginFailed,
    LoginOk,
    MediaFirstFrame,
    MediaStats,
    Note,
    NoticeUndecodable,
    PcState,
    PeerFailed,
    Rejected,
    RejectSent,
    RequestFailed,
    RequestTimeout,
    Ringing,
    RoomJoined,
    SelectedPair,
    SignalReceived,
    SignalSent,
    StepFinished,
    StepStarted,
    TextReceived,
    TextSent,
    WsClosed,
    WsOpen,
    WsRefused,
)

GATEWAY = "(gateway)"

# row styles; MISSING: an arrow a finding expected and that never happened
REQUEST, REPLY, PUSH, ERROR, MEDIA, QUIET, NOTE, STEP, MISSING = (
    "request", "reply", "push", "error", "media", "quiet", "note", "step", "missing")

#: The Note that marks the run's teardown: what follows it (a cancel after the call
#: ended, a 1801 on cleanup) is drawn muted.
TEARDOWN = TEARDOWN_NOTE

#: Findings about a notice that never reached its party: the ladder draws the arrow
#: that was expected (gateway → that party), dashed and marked, not the request that worked.
NOT_DELIVERED = frozenset({"INVITE_NOT_DELIVERED", "ANSWER_NOT_DELIVERED", "HANGUP_NOT_DELIVERED",
                           "SDP_NOT_RELAYED", "PUSH_PATH_BROKEN", "SIGNALS_LOST"})

#: What the receiving party should have got, by the kind of the request it answers.
EXPECTED_NOTICE = {"invite_sent": "ringing", "accept_sent": "answered", "reject_sent": "rejected",
                   "hangup_sent": "hung up", "cancel_sent": "cancelled", "text_sent": "text"}

#: A notice's ``path`` as the frame that carried it.
_PATH_TAG = {"unsolicited_1004": "1004", "push_1601": "2001/1601"}


@dataclass(frozen=True)
class LadderColumn:
    key: str            # agent name, or GATEWAY
    label: str
    role: str           # "caller" | "gateway" | "callee" | "agent"


@dataclass(frozen=True)
class LadderRow:
    """One arrow (``src != dst``) or one note on a lifeline (``src == dst``)."""

    t_ms: float
    src: str
    dst: str
    label: str
    style: str
    kind: str
    events: tuple[Event, ...] = ()
    findings: tuple[Finding, ...] = ()
    direct: bool = False            # agent to agent, past the gateway (WebRTC)
    teardown: bool = False          # after the run's teardown mark: drawn muted

    @property
    def is_note(self) -> bool:
        return self.src == self.dst

    @property
    def missing(self) -> bool:
        """An expected arrow that never happened (drawn dashed, with its finding)."""
        return self.style == MISSING


@dataclass(frozen=True)
class Ladder:
    columns: tuple[LadderColumn, ...]
    rows: tuple[LadderRow, ...]
    findings: tuple[Finding, ...] = ()
    unplaced: tuple[Finding, ...] = ()     # findings with no time and no evidence
    first_broken: Finding | None = None

    @property
    def arrows(self) -> tuple[LadderRow, ...]:
        return tuple(r for r in self.rows if not r.is_note)

    def column(self, key: str) -> LadderColumn:
        return next(c for c in self.columns if c.key == key)


# ------------------------------------------------------------------ labels


def _err(e: Event) -> str:
    code = getattr(e, "err_code", 0)
    if not isinstance(code, int) or not code:
        return ""
    return f" {getattr(e, 'explanation', '') or f'errCode {code}'}"


def _room(e: Event) -> str:
    return f" room={e.room_id}" if e.room_id else ""


def _action(e: ActionAcked | ActionRefused) -> str:
    return e.action or "action"


#: What a meaningful event draws: its label and style, by class. Events not
#: listed draw nothing by themselves (frames draw as frames, WebRTC as WebRTC).
LABELS: dict[type[Event], Callable[[Any], tuple[str, str]]] = {
    LoginOk: lambda e: ("login", REQUEST),
    LoginFailed: lambda e: (f"login failed{_err(e)}", ERROR),
    WsOpen: lambda e: ("WebSocket open", REQUEST),
    WsRefused: lambda e: (f"handshake refused{f' HTTP {e.status}' if e.status else ''}{_err(e)}", ERROR),
    WsClosed: lambda e: (f"close {e.code}" + (f" {e.reason}" if e.reason else ""),
                         QUIET if e.by == "client" else ERROR),
    HeartbeatSent: lambda e: ("ping", QUIET),
    HeartbeatReply: lambda e: ("pong", QUIET),
    InviteSent: lambda e: (f"invite {e.media}".rstrip(), REQUEST),
    InviteAcked: lambda e: (f"invite ok{_room(e)}", REPLY),
    InviteRefused: lambda e: (f"invite refused{_err(e)}", ERROR),
    AcceptSent: lambda e: (f"accept{_room(e)}", REQUEST),
    RejectSent: lambda e: (f"reject{_room(e)}", REQUEST),
    CancelSent: lambda e: (f"cancel{_room(e)}", REQUEST),
    HangupSent: lambda e: (f"hangup{_room(e)}", REQUEST),
    ActionAcked: lambda e: ("", "") if e.action in SEND_ACTIONS else (f"{_action(e)} ok", REPLY),
    ActionRefused: lambda e: (f"{_action(e)} refused{_err(e)}", ERROR),
    RequestFailed: lambda e: (f"{e.label or e.req_identifier} failed{_err(e)}", ERROR),
    Ringing: lambda e: (f"ringing{_room(e)}", PUSH),
    Answered: lambda e: ("answered", PUSH),
    Rejected: lambda e: ("rejected", PUSH),
    Cancelled: lambda e: ("cancelled", PUSH),
    HungUp: lambda e: ("hung up", PUSH),
    CallTimeout: lambda e: ("call timeout", PUSH),
    TextSent: lambda e: ("text" + (f" to {e.to}" if e.to else ""), REQUEST),
    TextReceived: lambda e: ("text" + (f" from {e.sender}" if e.sender else ""), PUSH),
    SignalSent: lambda e: (e.signal_type or "signal", REQUEST),
    SignalReceived: lambda e: (e.signal_type or "signal", PUSH),
    Kicked: lambda e: (f"kicked ({e.by or '2002'})", ERROR),
    RoomJoined: lambda e: (f"connection: in room {e.users}" + (f" as {e.identity}" if e.identity else ""), PUSH),
    JoinNotice: lambda e: (f"{e.notice} {e.user}" + (f" ({e.username})" if e.username else ""), PUSH),
    NoticeUndecodable: lambda e: (f"undecodable notice {e.content_type or ''}".rstrip(), ERROR),
}

#: Received (drawn gateway → agent) rather than sent.
INCOMING: tuple[type[Event], ...] = (InviteAcked, InviteRefused, ActionAcked, ActionRefused, RequestFailed,
                                     Ringing, Answered, Rejected, Cancelled, HungUp, CallTimeout, TextReceived,
                                     SignalReceived, NoticeUndecodable, WsRefused, HeartbeatReply, Kicked,
                                     RoomJoined, JoinNotice)


def _semantic_label(e: Event) -> tuple[str, str]:
    """(label, style) for a meaningful event; ``("", "")`` when it draws nothing."""
    label = LABELS.get(type(e))
    return label(e) if label is not None else ("", "")


def _note_label(e: Event) -> tuple[str, str]:
    """A driver's Note in words; a notice's second arrival by its other path is quiet."""
    if not isinstance(e, Note):
        return "", ""
    if e.note == "second_arrival":
        return f"{e.extra.get('action') or 'notice'} again via {e.extra.get('path') or '?'}", QUIET
    words = e.text if e.text.startswith(e.note) else ": ".join(x for x in (e.note, e.text) if x)
    return words, NOTE


def _push_types(e: FrameIn) -> list[str]:
    return sorted({str(m.get("content_type")) for m in e.msgs if isinstance(m, dict)})


def _frame_label(e: FrameIn | FrameOut) -> str:
    if isinstance(e, FrameIn) and e.req_identifier == 2001:
        types = _push_types(e)
        return "push" + (f" [{','.join(types)}]" if types else "")
    if isinstance(e, FrameIn) and e.status_frame:
        return "status frame"
    if e.label:
        return e.label
    return str(e.req_identifier) if e.req_identifier else "frame"


def _frame_tag(e: FrameIn | FrameOut) -> str:
    """The frame's part of a merged label: ``1004`` or ``2001/1601``."""
    if isinstance(e, FrameIn) and e.req_identifier == 2001:
        types = _push_types(e)
        return "2001" + (f"/{','.join(types)}" if types else "")
    return str(e.req_identifier) if e.req_identifier else ""


# ------------------------------------------------------------------ model

def _key(e: Event) -> tuple[float, str, str, str]:
    return (round(e.t_ms, 3), e.agent, e.kind, json.dumps(e.to_json(), sort_keys=True, default=str))


def _columns(v: TimelineView, ctx: RuleContext) -> tuple[LadderColumn, ...]:
    agents = list(v.agents)
    invites = v.of(InviteSent)
    caller = ctx.caller or (invites[0][1].agent if invites else (agents[0] if agents else ""))
    callees = [a for a in ctx.callee_agents() if a in agents]
    if callees:  # the callee's other devices, logged in as the same user
        callees += [a for a in agents if v.user_of(a) == v.user_of(callees[0])]
    else:
        for call in v.calls():
            if call.caller == caller:
                callees += [r.agent for _, r in call.ringing] + list(call.callee_agents)
    callees = [a for a in dict.fromkeys(callees) if a != caller]
    cols: list[LadderColumn] = []
    if caller:
        cols.append(LadderColumn(caller, f"{caller} (caller)", "caller"))
    # the middle column is the server: the KKIM gateway, or the other families' server
    cols.append(LadderColumn(GATEWAY, "gateway" if v.backend in ("", "kkim") else "server", "gateway"))
    for i, a in enumerate(callees):
        cols.append(LadderColumn(a, f"{a} (callee)" if i == 0 else f"{a} (callee device)", "callee"))
    for a in agents:
        if a != caller and a not in callees:
            cols.append(LadderColumn(a, a, "agent"))
    return tuple(cols)


def _peer(v: TimelineView, agent: str, idx: int) -> tuple[str, int]:
    """The other end of ``agent``'s peer connection at ``idx``, and the call's invite index."""
    calls = [c for c in v.calls() if c.invite_idx < idx and (c.caller == agent or agent in c.callee_agents)]
    if calls:
        call = calls[-1]
        if agent != call.caller:
            return call.caller, call.invite_idx
        accepted = [e.agent for i, e in v.of(AcceptSent, agents=call.callee_agents)
                    if call.invite_idx < i < idx]
        rang = [e.agent for _, e in call.ringing]
        return (accepted or rang or list(call.callee_agents) or [""])[0], call.invite_idx
    others = [a for a in v.agents if a != agent]
    return (others[0] if others else ""), -1


def _echo(v: TimelineView, e: FrameIn) -> bool:
    msgs = [m for m in e.msgs if isinstance(m, dict)]
    me = v.user_of(e.agent)
    return bool(msgs) and all(m.get("send_id") == me for m in msgs)


def _rows(v: TimelineView, columns: set[str], heartbeats: bool,
          echoes: bool) -> list[tuple[LadderRow, list[int]]]:
    """Rows in time order, each with the indexes of the events it stands for."""
    pairing = pair_frames(v.events)
    paired = pairing.meant
    out: list[tuple[LadderRow, list[int]]] = []
    done: set[int] = {j for meant in paired.values() for j in meant}  # drawn with their frame
    linked: dict[tuple[str, frozenset[str], int], int] = {}  # one line per call and outcome

    def col(agent: str) -> str:
        return agent if agent in columns else GATEWAY

    for i, e in enumerate(v.events):
        if i in done:
            continue
        k, a = e.kind, col(e.agent)
        if isinstance(e, (FrameOut, FrameIn)):
            outgoing = isinstance(e, FrameOut)
            src, dst = (a, GATEWAY) if outgoing else (GATEWAY, a)
            req = e.req_identifier
            err = e.err_code if isinstance(e, FrameIn) else 0
            meant = paired.get(i, [])
            reply = i in pairing.replies
            if reply and not err and req == 1003:
                continue  # a SendMsg ack says nothing the arrow before it did not
            if (meant and isinstance(e, FrameIn) and req == 2001 and not echoes and _echo(v, e)
                    and all(isinstance(v.events[j], Note) for j in meant)):
                continue  # only the agent's own messages coming back (sender sync)
            if meant:
                sem = v.events[meant[0]]
                label, style = _semantic_label(sem) if not isinstance(sem, Note) else _note_label(sem)
                if not label:
                    label, style = _frame_label(e), REPLY
                if any(_semantic_label(v.events[j])[1] == ERROR for j in meant[1:]):
                    style = ERROR
                tag = _frame_tag(e)
                idx = sorted((i, *meant))
                out.append((LadderRow(e.t_ms, src, dst, f"{label} ·{tag}" if tag else label, style,
                                      sem.kind, tuple(v.events[x] for x in idx)), idx))
                continue
            if isinstance(e, FrameIn) and req == 2001 and not echoes and _echo(v, e):
                continue
            style = (ERROR if err or (isinstance(e, FrameIn) and e.error) else REQUEST if outgoing
                     else REPLY if reply else PUSH)
            label = _frame_label(e) + (f" errCode {err}" if err else "")
            out.append((LadderRow(e.t_ms, src, dst, label, style, k, (e,)), [i]))
            continue
        if isinstance(e, (HeartbeatSent, HeartbeatReply)) and not heartbeats:
            continue
        label, style = _semantic_label(e)
        if label:
            incoming = isinstance(e, INCOMING) or (isinstance(e, WsClosed) and e.by != "client")
            src, dst = (GATEWAY, a) if incoming else (a, GATEWAY)
            tag = _PATH_TAG.get(getattr(e, "path", ""), "")
            out.append((LadderRow(e.t_ms, src, dst, f"{label} ·{tag}" if tag else label, style, k, (e,)),
                        [i]))
            continue
        state = _peer_state(e)
        if state:
            other, call = _peer(v, e.agent, i)
            peer = col(other)
            key = (state, frozenset({a, peer}), call)
            if key in linked:
                out[linked[key]][1].append(i)  # the other side saw the same thing
                continue
            if peer != a:
                linked[key] = len(out)
                out.append((_peer_row(v, i, e, a, peer, state), [i]))
                continue
        row = _webrtc_or_note(v, i, e, a, col)
        if row is not None:
            out.append((row, [i]))
    return out


def _peer_state(e: Event) -> str:
    """``connected``/``failed`` for the events that draw the agent-to-agent line."""
    if isinstance(e, PcState) and e.state in ("connected", "failed"):
        return e.state
    if isinstance(e, IceState) and e.state == "failed":
        return "failed"
    return ""


def _peer_row(v: TimelineView, i: int, e: Event, a: str, peer: str, state: str) -> LadderRow:
    if state == "failed":
        return LadderRow(e.t_ms, a, peer, "ICE failed", ERROR, e.kind, (e,), direct=True)
    sel = [s for j, s in v.of(SelectedPair, agent=e.agent) if j <= i + 2]
    how = f" {sel[-1].local}↔{sel[-1].remote}" if sel else ""
    return LadderRow(e.t_ms, a, peer, f"ICE+DTLS connected{how}", MEDIA, e.kind, (e,), direct=True)


def _webrtc_or_note(v: TimelineView, i: int, e: Event, a: str,
                    col: Callable[[str], str]) -> LadderRow | None:
    k = e.kind
    if isinstance(e, MediaFirstFrame):
        peer = col(_peer(v, e.agent, i)[0])
        return LadderRow(e.t_ms, peer, a, f"first {e.media or 'media'} frame", MEDIA, k, (e,),
                         direct=True) if peer != a else None
    if isinstance(e, MediaStats):
        peer = col(_peer(v, e.agent, i)[0])
        call = v.call_of(e.agent, i)
        kinds = ("audio",) if call is not None and call.media == "audio" else ("audio", "video")
        dry = any(not e.frames(kind) for kind in kinds)
        counts = ", ".join(f"{e.frames(kind)} {kind}" for kind in kinds)
        return LadderRow(e.t_ms, peer, a, f"media: {counts}", ERROR if dry else MEDIA, k, (e,),
                         direct=True) if peer != a else None
    if isinstance(e, PeerFailed):
        return LadderRow(e.t_ms, a, a, f"peer failed: {e.reason or e.setting}", ERROR, k, (e,))
    if isinstance(e, HeartbeatMissed):
        return LadderRow(e.t_ms, a, a, "pong missing", ERROR, k, (e,))
    if isinstance(e, RequestTimeout):
        return LadderRow(e.t_ms, a, a, f"no reply to {e.label or e.req_identifier} within {e.seconds:g} s",
                         ERROR, k, (e,))
    if isinstance(e, StepStarted):
        return LadderRow(e.t_ms, a, a, f"▸ {e.step}", STEP, k, (e,))
    if isinstance(e, StepFinished) and e.ok is not False and e.outcome:  # an auth probe's answer
        answer = f" HTTP {e.status}" if e.status is not None else ""
        return LadderRow(e.t_ms, a, a, f"{_words(e.step)}: {e.outcome}{answer}", NOTE, k, (e,))
    if isinstance(e, StepFinished) and e.ok is False:
        what = _words(e.step) or (f"line {e.line}" if e.line else "step")
        return LadderRow(e.t_ms, a, a, f"✗ {what}" + (f" ({e.outcome})" if e.outcome else ""), ERROR, k, (e,))
    if isinstance(e, Note):
        label, style = _note_label(e)
        return LadderRow(e.t_ms, a, a, label, style, k, (e,)) if label else None
    if isinstance(e, ExpectationJudged):
        return LadderRow(e.t_ms, a, a, f"{'✓' if e.passed else '✗'} {_words(e.text) or 'expectation'}",
                         NOTE if e.passed else ERROR, k, (e,))
    return None


def _words(value: object) -> str:
    """A label part from a field that may be missing in a report written by hand (never "None")."""
    return "" if value is None else str(value)


def _expected_label(f: Finding) -> str:
    """What the party of a "not delivered" finding should have received, in words."""
    sent = f.evidence[0] if f.evidence else None
    if isinstance(sent, SignalSent):
        what = sent.signal_type or "signal"
        return f"{what}s" if f.code == "SIGNALS_LOST" and what == "candidate" else what
    return EXPECTED_NOTICE.get(sent.kind if sent is not None else "", f.code.lower().replace("_", " "))


def _missing_row(f: Finding, column: str, drawn_at: Callable[[Event], float | None],
                 times: list[float]) -> LadderRow | None:
    """The arrow ``f`` expected and that never came, placed right after what its sender saw."""
    if f.code not in NOT_DELIVERED or not f.evidence or f.detail.startswith("late"):
        return None  # a late notice did arrive: its own arrow carries the mark
    sender = f.evidence[0].agent
    t = max((drawn_at(e) or e.t_ms) for e in f.evidence if e.agent == sender)
    later = [x for x in times if x > t]
    at = min((later[0] + t) / 2, t + 0.0005) if later else t + 0.0005
    return LadderRow(at, GATEWAY, column, f"{_expected_label(f)}: never arrived", MISSING,
                     "missing", f.evidence, (f,))


def build_ladder(events: Iterable[Event], findings: Sequence[Finding] = (),
                 ctx: RuleContext | None = None, *, heartbeats: bool = True,
                 echoes: bool = False) -> Ladder:
    """The ladder model of ``events``, with each finding on the row of its evidence.

    Args:
        heartbeats: draw pings and pongs (dim); off for long runs.
        echoes: draw the pushes that only echo an agent's own messages back.
    """
    context = ctx or RuleContext()
    v = TimelineView(list(events), context)
    columns = _columns(v, context)
    built = _rows(v, {c.key for c in columns}, heartbeats, echoes)
    row_of: dict[tuple[float, str, str, str], int] = {}
    for n, (_, idx) in enumerate(built):
        for i in idx:
            row_of[_key(v.events[i])] = n
    attached: dict[int, list[Finding]] = {}
    extra: list[LadderRow] = []
    unplaced: list[Finding] = []
    keys = {c.key for c in columns}
    times = sorted(r.t_ms for r, _ in built)

    def drawn_at(e: Event) -> float | None:
        n = row_of.get(_key(e))
        return None if n is None else built[n][0].t_ms

    for f in findings:
        missing = _missing_row(f, f.agent if f.agent in keys else GATEWAY, drawn_at, times)
        if missing is not None and missing.dst != GATEWAY:
            extra.append(missing)
            continue
        ordered = sorted(f.evidence, key=lambda e: (e.t_ms != f.at_ms, 0))
        target = next((row_of[_key(e)] for e in ordered if _key(e) in row_of), None)
        if target is None and f.at_ms is not None:
            near = [(abs(r.t_ms - f.at_ms), n) for n, (r, _) in enumerate(built)
                    if f.agent and f.agent in (r.src, r.dst)]
            target = min(near)[1] if near else None
        if target is not None:
            attached.setdefault(target, []).append(f)
        elif f.at_ms is not None:
            where = f.agent if f.agent in keys else GATEWAY
            extra.append(LadderRow(f.at_ms, where, where, f.title, ERROR if f.severity is Severity.ERROR
                                   else NOTE, "finding", f.evidence, (f,)))
        else:
            unplaced.append(f)
    teardown = next((e.t_ms for e in v.events if isinstance(e, Note) and e.note == TEARDOWN), None)
    rows = []
    for n, (r, idx) in enumerate(built):
        marks = tuple(attached.get(n, ()))
        after = teardown is not None and r.t_ms >= teardown and not marks
        style = QUIET if after and r.style == ERROR else r.style
        rows.append(LadderRow(r.t_ms, r.src, r.dst, r.label, style, r.kind,
                              tuple(v.events[i] for i in sorted(idx)), marks, r.direct, after))
    rows = sorted(rows + extra, key=lambda r: r.t_ms)
    return Ladder(columns, tuple(rows), tuple(findings), tuple(unplaced), first_broken_link(findings))


