"""The ladder (sequence) diagram of a run: who sent what to whom, and when.

``build_ladder`` turns timeline events (and the findings about them) into a
pure model: one column per party (caller | gateway | callee, then any other
agent, e.g. a second device of the callee), and one row per meaningful frame
or notice, in time order. A driver records a frame *and* what it meant (a
FRAME_OUT and an INVITE_SENT); the two become one arrow labelled with both
(``callprobe.reporters.ladder_pairs`` decides which meaning is whose).
WebRTC rows (ICE/DTLS up, media) are drawn agent to agent, past the gateway,
because that traffic never touches it. Each finding sits on the row of its
evidence, so a broken link shows where it broke.

``render_ladder`` draws the model for the terminal with rich (box-drawing
lines); ``callprobe.reporters.ladder_html`` draws the same model as a page.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.text import Text

from callprobe.analysis.diagnostics.context import RuleContext
from callprobe.analysis.diagnostics.findings import Finding, Severity
from callprobe.analysis.diagnostics.rules import SEND_ACTIONS, first_broken_link
from callprobe.analysis.diagnostics.view import TimelineView
from callprobe.timeline.events import Event, Kind
from callprobe.backends.kkim.protocol.constants import REQ_IDENTIFIER_TEXT, explain_err_code
from callprobe.reporters.ladder_pairs import NOTICES, PUSHED, REPLIES, pair_frames

GATEWAY = "(gateway)"

# row styles
REQUEST, REPLY, PUSH, ERROR, MEDIA, QUIET, NOTE, STEP = (
    "request", "reply", "push", "error", "media", "quiet", "note", "step")

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

    @property
    def is_note(self) -> bool:
        return self.src == self.dst


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

def request_name(req: Any) -> str:
    """Short name of a reqIdentifier (``SendSignalMsg``), or the number."""
    text = REQ_IDENTIFIER_TEXT.get(req) if isinstance(req, int) else None
    return text.split(":")[0] if text else str(req)


def _err(e: Event) -> str:
    code = e.get("err_code")
    return f" {explain_err_code(code)}" if isinstance(code, int) and code else ""


def _room(e: Event) -> str:
    return f" room={e.get('room_id')}" if e.get("room_id") else ""


def _semantic_label(e: Event) -> tuple[str, str]:
    """(label, style) for a meaningful event; ``("", "")`` when it draws nothing."""
    k, g = e.kind, e.get
    if k == Kind.LOGIN_OK.value:
        return "login", REQUEST
    if k == Kind.LOGIN_FAILED.value:
        return f"login failed{_err(e)}", ERROR
    if k == Kind.WS_OPEN.value:
        return "WebSocket open", REQUEST
    if k == Kind.WS_REFUSED.value:
        status = f" HTTP {g('status')}" if g("status") is not None else ""
        return f"handshake refused{status}{_err(e)}", ERROR
    if k == Kind.WS_CLOSED.value:
        return f"close {g('code')}" + (f" {g('reason')}" if g("reason") else ""), (
            QUIET if g("by") == "client" else ERROR)
    if k == Kind.HEARTBEAT_SENT.value:
        return "ping", QUIET
    if k == Kind.HEARTBEAT_REPLY.value:
        return "pong", QUIET
    if k == Kind.INVITE_SENT.value:
        return f"invite {g('media') or ''}".rstrip(), REQUEST
    if k == Kind.INVITE_ACKED.value:
        return f"invite ok{_room(e)}", REPLY
    if k == Kind.INVITE_REFUSED.value:
        return f"invite refused{_err(e)}", ERROR
    if k in (Kind.ACCEPT_SENT.value, Kind.REJECT_SENT.value, Kind.CANCEL_SENT.value,
             Kind.HANGUP_SENT.value):
        return k.removesuffix("_sent") + _room(e), REQUEST
    if k == Kind.ACTION_ACKED.value:
        return ("", "") if g("action") in SEND_ACTIONS else (f"{g('action') or 'action'} ok", REPLY)
    if k == Kind.ACTION_REFUSED.value:
        return f"{g('action') or 'action'} refused{_err(e)}", ERROR
    if k == Kind.REQUEST_FAILED.value:
        return f"{request_name(g('req_identifier'))} failed{_err(e)}", ERROR
    if k == Kind.RINGING.value:
        return f"ringing{_room(e)}", PUSH
    if k in NOTICES:
        return k.replace("_", " "), PUSH
    if k == Kind.TEXT_SENT.value:
        return "text" + (f" to {g('to')}" if g("to") else ""), REQUEST
    if k == Kind.TEXT_RECEIVED.value:
        return "text" + (f" from {g('from')}" if g("from") else ""), PUSH
    if k == Kind.SIGNAL_SENT.value:
        return f"{g('signal_type') or 'signal'}", REQUEST
    if k == Kind.SIGNAL_RECEIVED.value:
        return f"{g('signal_type') or 'signal'}", PUSH
    if k == Kind.KICKED.value:
        return "kicked (2002)", ERROR
    if k == Kind.NOTICE_UNDECODABLE.value:
        return f"undecodable notice {g('content_type') or ''}".rstrip(), ERROR
    return "", ""


def _note_label(e: Event) -> tuple[str, str]:
    """A driver's NOTE in words; a notice's second arrival by its other path is quiet."""
    g = e.get
    if g("note") == "second_arrival":
        return f"{g('action') or 'notice'} again via {g('path') or '?'}", QUIET
    words = ": ".join(str(x) for x in (g("note"), g("text")) if x)
    return words, NOTE


def _frame_label(e: Event) -> str:
    req = e.get("req_identifier")
    if e.kind == Kind.FRAME_IN.value and req == 2001:
        types = sorted({str(m.get("content_type")) for m in e.get("msgs") or () if isinstance(m, dict)})
        return "push" + (f" [{','.join(types)}]" if types else "")
    if e.get("status_frame"):
        return "status frame"
    return f"{request_name(req)} {req}" if req is not None else "frame"


def _frame_tag(e: Event) -> str:
    """The frame's part of a merged label: ``1004`` or ``2001/1601``."""
    req = e.get("req_identifier")
    if req == 2001:
        types = sorted({str(m.get("content_type")) for m in e.get("msgs") or () if isinstance(m, dict)})
        return "2001" + (f"/{','.join(types)}" if types else "")
    return str(req) if req is not None else ""


# ------------------------------------------------------------------ model

def _key(e: Event) -> tuple[float, str, str, str]:
    return (round(e.t_ms, 3), e.agent, e.kind, json.dumps(e.fields, sort_keys=True, default=str))


def _columns(v: TimelineView, ctx: RuleContext) -> tuple[LadderColumn, ...]:
    agents = [a for a in v.agents]
    invites = v.of(Kind.INVITE_SENT)
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
    cols.append(LadderColumn(GATEWAY, "gateway", "gateway"))
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
        accepted = [e.agent for i, e in v.of(Kind.ACCEPT_SENT, agents=call.callee_agents)
                    if call.invite_idx < i < idx]
        rang = [e.agent for _, e in call.ringing]
        return (accepted or rang or list(call.callee_agents) or [""])[0], call.invite_idx
    others = [a for a in v.agents if a != agent]
    return (others[0] if others else ""), -1


def _echo(v: TimelineView, e: Event) -> bool:
    msgs = [m for m in e.get("msgs") or () if isinstance(m, dict)]
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
        if k in (Kind.FRAME_OUT.value, Kind.FRAME_IN.value):
            outgoing = k == Kind.FRAME_OUT.value
            src, dst = (a, GATEWAY) if outgoing else (GATEWAY, a)
            req = e.get("req_identifier")
            err = e.get("err_code")
            meant = paired.get(i, [])
            reply = i in pairing.replies
            if reply and not err and req == 1003:
                continue  # a SendMsg ack says nothing the arrow before it did not
            if (meant and not outgoing and req == 2001 and not echoes and _echo(v, e)
                    and all(v.events[j].kind == Kind.NOTE.value for j in meant)):
                continue  # only the agent's own messages coming back (sender sync)
            if meant:
                sem = v.events[meant[0]]
                label, style = _semantic_label(sem) if sem.kind != Kind.NOTE.value else _note_label(sem)
                if not label:
                    label, style = _frame_label(e), REPLY
                if any(_semantic_label(v.events[j])[1] == ERROR for j in meant[1:]):
                    style = ERROR
                tag = _frame_tag(e)
                idx = sorted((i, *meant))
                out.append((LadderRow(e.t_ms, src, dst, f"{label} ·{tag}" if tag else label, style,
                                      sem.kind, tuple(v.events[x] for x in idx)), idx))
                continue
            if not outgoing and req == 2001 and not echoes and _echo(v, e):
                continue
            style = (ERROR if err or e.get("error") else REQUEST if outgoing
                     else REPLY if reply else PUSH)
            label = _frame_label(e) + (f" errCode {err}" if err else "")
            out.append((LadderRow(e.t_ms, src, dst, label, style, k, (e,)), [i]))
            continue
        if k in (Kind.HEARTBEAT_SENT.value, Kind.HEARTBEAT_REPLY.value) and not heartbeats:
            continue
        label, style = _semantic_label(e)
        if label:
            incoming = (k in REPLIES or k in PUSHED or k in (
                Kind.WS_REFUSED.value, Kind.HEARTBEAT_REPLY.value, Kind.KICKED.value)
                or (k == Kind.WS_CLOSED.value and e.get("by") != "client"))
            src, dst = (GATEWAY, a) if incoming else (a, GATEWAY)
            tag = _PATH_TAG.get(str(e.get("path")), "")
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
    if e.kind == Kind.PC_STATE.value and e.get("state") in ("connected", "failed"):
        return str(e.get("state"))
    if e.kind == Kind.ICE_STATE.value and e.get("state") == "failed":
        return "failed"
    return ""


def _peer_row(v: TimelineView, i: int, e: Event, a: str, peer: str, state: str) -> LadderRow:
    if state == "failed":
        return LadderRow(e.t_ms, a, peer, "ICE failed", ERROR, e.kind, (e,), direct=True)
    sel = [s for j, s in v.of(Kind.SELECTED_PAIR, agent=e.agent) if j <= i + 2]
    how = f" {sel[-1].get('local')}↔{sel[-1].get('remote')}" if sel else ""
    return LadderRow(e.t_ms, a, peer, f"ICE+DTLS connected{how}", MEDIA, e.kind, (e,), direct=True)


def _webrtc_or_note(v: TimelineView, i: int, e: Event, a: str,
                    col: Callable[[str], str]) -> LadderRow | None:
    k, g = e.kind, e.get
    if k == Kind.MEDIA_FIRST_FRAME.value:
        peer = col(_peer(v, e.agent, i)[0])
        return LadderRow(e.t_ms, peer, a, f"first {g('media') or 'media'} frame", MEDIA, k, (e,),
                         direct=True) if peer != a else None
    if k == Kind.MEDIA_STATS.value:
        peer = col(_peer(v, e.agent, i)[0])
        counts = ", ".join(f"{g(f)} {f.split('_')[0]}" for f in ("audio_frames", "video_frames")
                           if g(f) is not None)
        dry = any(g(f) == 0 for f in ("audio_frames", "video_frames"))
        return LadderRow(e.t_ms, peer, a, f"media: {counts or 'stats'}", ERROR if dry else MEDIA, k,
                         (e,), direct=True) if peer != a else None
    if k == Kind.PEER_FAILED.value:
        return LadderRow(e.t_ms, a, a, f"peer failed: {g('reason') or g('setting') or ''}", ERROR, k, (e,))
    if k == Kind.HEARTBEAT_MISSED.value:
        return LadderRow(e.t_ms, a, a, "pong missing", ERROR, k, (e,))
    if k == Kind.REQUEST_TIMEOUT.value:
        return LadderRow(e.t_ms, a, a, f"no reply to {request_name(g('req_identifier'))} "
                         f"within {g('seconds')} s", ERROR, k, (e,))
    if k == Kind.STEP_STARTED.value:
        return LadderRow(e.t_ms, a, a, f"▸ {g('step')}", STEP, k, (e,))
    if k == Kind.STEP_FINISHED.value and g("ok") is False:
        return LadderRow(e.t_ms, a, a, f"✗ {g('step')}" + (f" ({g('outcome')})" if g("outcome") else ""),
                         ERROR, k, (e,))
    if k == Kind.NOTE.value:
        label, style = _note_label(e)
        return LadderRow(e.t_ms, a, a, label, style, k, (e,)) if label else None
    if k == Kind.EXPECTATION.value:
        ok = bool(g("passed"))
        return LadderRow(e.t_ms, a, a, f"{'✓' if ok else '✗'} {g('text') or 'expectation'}",
                         NOTE if ok else ERROR, k, (e,))
    return None


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
    for f in findings:
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
    rows = [LadderRow(r.t_ms, r.src, r.dst, r.label, r.style, r.kind,
                      tuple(v.events[i] for i in sorted(idx)), tuple(attached.get(n, ())), r.direct)
            for n, (r, idx) in enumerate(built)]
    rows = sorted(rows + extra, key=lambda r: r.t_ms)
    return Ladder(columns, tuple(rows), tuple(findings), tuple(unplaced), first_broken_link(findings))


# ------------------------------------------------------------------ terminal rendering

_STYLE = {REQUEST: "cyan", REPLY: "green", PUSH: "magenta", ERROR: "bold red", MEDIA: "bold green",
          QUIET: "dim", NOTE: "yellow", STEP: "bold blue"}
_LINE = {MEDIA: "═", QUIET: "┄"}
_MARK = {Severity.ERROR: ("✖", "bold red"), Severity.WARNING: ("▲", "yellow"), Severity.INFO: ("ℹ", "blue")}
TIME_WIDTH = 10
NOTE_OVERFLOW = 16     # a note may run this far past the last lifeline


def _geometry(ladder: Ladder, width: int) -> tuple[int, dict[str, int]]:
    n = max(1, len(ladder.columns))
    cw = max(16, min(40, (width - TIME_WIDTH - 16) // n))
    centers = {c.key: TIME_WIDTH + k * cw + cw // 2 for k, c in enumerate(ladder.columns)}
    return cw, centers


def _fit(text: str, room: int) -> str:
    if room <= 0:
        return ""
    return text if len(text) <= room else text[:max(0, room - 1)] + "…"


def _row_text(row: LadderRow, total: int, centers: dict[str, int]) -> Text:
    chars = [" "] * (total + NOTE_OVERFLOW if row.is_note else total)
    for x in centers.values():
        chars[x] = "│"
    spans: list[tuple[int, int, str]] = []
    style = _STYLE.get(row.style, "")
    x1, x2 = centers.get(row.src, 0), centers.get(row.dst, 0)
    if row.is_note:
        chars[x1] = "●"
        label = _fit(row.label, len(chars) - x1 - 2)
        chars[x1 + 2:x1 + 2 + len(label)] = list(label)
        spans.append((x1, x1 + 2 + len(label), style))
    else:
        lo, hi = sorted((x1, x2))
        line = _LINE.get(row.style, "─")
        for x in range(lo + 1, hi):
            chars[x] = line
        chars[x1] = "├" if x2 > x1 else "┤"
        if x2 > x1:
            chars[x2 - 1] = "▶"
        else:
            chars[x2 + 1] = "◀"
        label = _fit(f" {row.label} ", hi - lo - 4)
        if label.strip():
            start = lo + 2 + (hi - lo - 3 - len(label)) // 2
            chars[start:start + len(label)] = list(label)
        spans.append((lo, hi + 1, style))
    text = Text("".join(chars).rstrip() if row.is_note else "".join(chars), style="dim")
    for a, b, s in spans:
        text.stylize(s, a, b)
    return text


def render_ladder(ladder: Ladder, width: int = 120) -> RenderableType:
    """The ladder for a rich console: header, one line per row, then the findings."""
    cw, centers = _geometry(ladder, width)
    total = TIME_WIDTH + cw * max(1, len(ladder.columns))
    header = Text(" " * total)
    head_chars = [" "] * total
    head_chars[0:6] = list("t (ms)")
    for c in ladder.columns:
        label = _fit(c.label, cw - 1)
        start = max(TIME_WIDTH, centers[c.key] - len(label) // 2)
        head_chars[start:start + len(label)] = list(label)
    header = Text("".join(head_chars), style="bold")
    lines: list[Text] = [header]
    for row in ladder.rows:
        line = Text(f"{row.t_ms:>8.1f}  ", style="dim")
        line.append_text(_row_text(row, total, centers)[TIME_WIDTH:])
        for sev, code in dict.fromkeys((f.severity, f.code) for f in row.findings):
            mark, style = _MARK[sev]
            line.append(f" {mark} {code}", style=style)
        lines.append(line)
    body = Text("\n").join(lines)
    legend = _legend(ladder)
    return Group(body, *legend)


def _legend(ladder: Ladder) -> list[Text]:
    if not ladder.findings:
        return [Text("\nno findings", style="green")]
    out: list[Text] = [Text("")]
    if ladder.first_broken is not None:
        f = ladder.first_broken
        out.append(Text(f"first broken link: {f.link} — {f.code}: {f.title}", style="bold red"))
    for f in ladder.findings:
        mark, style = _MARK[f.severity]
        when = "" if f.at_ms is None else f" at {f.at_ms:.1f} ms"
        who = f" ({f.agent})" if f.agent else ""
        line = Text(f"{mark} {f.code}", style=style)
        line.append(f"{when}{who}: {f.title}")
        if f.detail:
            line.append(f" — {f.detail}", style="dim")
        out.append(line)
        out.append(Text(f"    hint: {f.hint}", style="italic"))
    return out


def render_ladder_text(ladder: Ladder, width: int = 120) -> str:
    """The terminal ladder as plain text (no colour), e.g. for a log file."""
    buf = io.StringIO()
    Console(file=buf, width=width + 40, color_system=None, force_terminal=False,
            soft_wrap=True).print(render_ladder(ladder, width))
    return buf.getvalue()
