"""Call rooms: who entered, what each was told, and who the server said each was.

On backends whose parties meet in a per-call room, an agent records
``RoomJoined`` when the server acknowledges its entry (the newcomer's
notice, listing the members) and ``JoinNotice`` when told that someone else
entered or left. What the rules tell apart
(``docs/field-failures.md#join-notice-lost``,
``docs/field-failures.md#unauthenticated-fallback``):

* a party already in the room never told the other one came, named with the
  join order that lost it, or a newcomer never acknowledged
  (JOIN_NOTICE_MISSING);
* a connection the server took for someone else than the agent, a default
  identity (DEFAULT_IDENTITY), from one admitted without any credential as
  the user it claimed (UNAUTHENTICATED_ACCEPTED); the same for an auth
  probe that was let in;
* a caller in the room that learned the callee's answer only by polling the
  call's status: the answer notice was lost (ANSWER_NOT_DELIVERED).

Joins the server did not attribute to the agent itself are left to
DEFAULT_IDENTITY: with identities collapsed no notice could be sent.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from callprobe.analysis.calls import Call
from callprobe.analysis.diagnostics import findings as F
from callprobe.analysis.diagnostics.findings import Finding, make_finding
from callprobe.analysis.diagnostics.links import AUTH_PROBE_STEPS, AUTH_PROBE_TEXT, OUTCOME_ACCEPTED, Link
from callprobe.analysis.diagnostics.rules.common import late, ms, unknown_identity
from callprobe.analysis.diagnostics.rules.registry import rule
from callprobe.analysis.diagnostics.view import TimelineView
from callprobe.analysis.index import Hit
from callprobe.timeline.events import (
    AcceptSent,
    Answered,
    Event,
    JoinNotice,
    Rejected,
    RejectSent,
    RoomJoined,
    WsClosed,
    WsOpen,
)

#: ANSWER_NOT_DELIVERED's hint when the caller sat in the room and only a status poll told it.
ROOM_ANSWER_HINT = ("The caller was in the call's room, yet the answer never came there as a notice; only asking "
                    "the server for the call's status revealed it. The server must notify the caller in the room "
                    "as soon as the callee answers: a client that waits for that notice never starts the call.")


def role(call: Call, agent: str) -> str:
    """``caller``, ``callee`` or ``party``: how a finding names an agent of ``call``."""
    if agent == call.caller:
        return "caller"
    return "callee" if agent in call.callee_agents else "party"


def own_entry(v: TimelineView, e: RoomJoined) -> bool:
    """The server attributed the entry to the agent itself (or did not say)."""
    return not e.identity or e.identity == v.user_of(e.agent)


def entries(v: TimelineView, call: Call) -> list[Hit[RoomJoined]]:
    """Each agent's first own entry into the call's room, in the order they came."""
    seen: set[str] = set()
    out: list[Hit[RoomJoined]] = []
    for i, e in v.of(RoomJoined):
        if call.invite_idx < i < call.window_end and call.in_room(e) and e.agent not in seen:
            seen.add(e.agent)
            if own_entry(v, e):
                out.append((i, e))
    return out


def _in(room: str) -> Callable[[Event], bool]:
    return lambda e: e.room_id == room


def _admitted(v: TimelineView, agent: str, room: str, before: int) -> Hit[WsOpen] | None:
    """The room socket ``agent`` entered with: the last one opened before index ``before``."""
    opened = [(i, e) for i, e in v.of(WsOpen, agent=agent) if i < before and e.room_id == room]
    return opened[-1] if opened else None


def _left(v: TimelineView, agent: str, room: str, start: int, end: int) -> Hit[WsClosed] | None:
    return v.find(WsClosed, start, end, agents=[agent], pred=lambda c: c.room_id == room)


@rule("join_notice", Link.ANSWER)
def rule_join_notice_missing(v: TimelineView) -> Iterator[Finding]:
    """Whoever is in the room gets ``join`` when another party comes; the newcomer is acknowledged."""
    deadline = v.ctx.notice_deadline_ms
    for call in v.calls():
        room = call.room_id
        inside = entries(v, call)
        for n, (jb, b) in enumerate(inside[1:], start=1):
            came = _admitted(v, b.agent, room, jb)
            sent: Hit[Event] = came if came is not None else (jb, b)
            user = v.user_of(b.agent)
            for ja, a in inside[:n]:
                if _left(v, a.agent, room, ja, sent[0]) is not None:
                    continue  # it had left before the newcomer came
                gone = _left(v, a.agent, room, sent[0], call.window_end)

                def names_newcomer(j: JoinNotice, user: str = user, room: str = room) -> bool:
                    return j.room_id == room and j.notice == "join" and j.user == user

                d = v.deliver(sent[0], JoinNotice, [a.agent], deadline, names_newcomer,
                              end=gone[0] if gone else call.window_end)
                order = f"{role(call, a.agent)} joined first, {role(call, b.agent)} second"
                if d.status == "late" and d.hit is not None and d.delay_ms is not None:
                    yield late(F.JOIN_NOTICE_MISSING, sent, d.hit, d.delay_ms, deadline,
                               f"{order}: the join notice to {a.agent}", a.agent)
                elif d.status == "missing":
                    if gone is not None and deadline is not None and gone[1].t_ms - sent[1].t_ms < deadline:
                        continue  # it left before the notice was due
                    yield make_finding(
                        F.JOIN_NOTICE_MISSING, (a, sent[1], b), at_ms=sent[1].t_ms, agent=a.agent,
                        detail=f"{order}: the {role(call, a.agent)} never got join ({a.agent} was in room {room} "
                               f"when {b.agent} entered at {ms(sent[1].t_ms)}; no join naming user {user} came)")
        yield from _unacknowledged(v, call, deadline)


def _unacknowledged(v: TimelineView, call: Call, deadline: float | None) -> Iterator[Finding]:
    """A room socket the server opened but never acknowledged with the newcomer's notice."""
    seen: set[str] = set()
    for i, e in v.of(WsOpen):
        if not (call.invite_idx < i < call.window_end and call.in_room(e)) or e.agent in seen:
            continue
        seen.add(e.agent)
        gone = _left(v, e.agent, e.room_id, i, call.window_end)
        d = v.deliver(i, RoomJoined, [e.agent], deadline, _in(e.room_id), end=gone[0] if gone else call.window_end)
        if d.status != "missing":
            continue
        if gone is not None and deadline is not None and gone[1].t_ms - e.t_ms < deadline:
            continue
        yield make_finding(F.JOIN_NOTICE_MISSING, (e,), at_ms=e.t_ms, agent=e.agent,
                           detail=f"the {role(call, e.agent)} {e.agent} entered room {e.room_id} at {ms(e.t_ms)}; "
                                  "the server never acknowledged it with the newcomer's notice (connection)")


@rule("room_identity", Link.AUTH_PROBES)
def rule_room_identity(v: TimelineView) -> Iterator[Finding]:
    """Entries (and auth probes let in) under a default identity, or with no credential at all."""
    seen: set[str] = set()
    for i, e in v.of(RoomJoined):
        if v.in_probe(i) or e.agent in seen:
            continue
        own = v.user_of(e.agent)
        if e.identity and e.identity != own:
            seen.add(e.agent)
            without = " with no token" if e.authenticated is False else ""
            yield make_finding(
                F.DEFAULT_IDENTITY, (e,), agent=e.agent,
                detail=f"{e.agent} entered room {e.room_id}{without} and the server took it for {e.identity!r}, "
                       f"not its own user {own}: the server did not identify this connection and gave it a "
                       "default identity; with two such connections the room holds one user and no join "
                       "notice can be sent")
        elif e.authenticated is False:
            seen.add(e.agent)
            yield make_finding(
                F.UNAUTHENTICATED_ACCEPTED, (e,), agent=e.agent,
                detail=f"{e.agent} entered room {e.room_id} without a token and was admitted as user "
                       f"{e.identity or own}: the server took the identity the join claimed without checking "
                       "it, so anyone can enter any call as anyone")
    for _, fin in v.step_results(*AUTH_PROBE_STEPS):
        identity = str(fin.extra.get("identity") or "")
        if fin.outcome != OUTCOME_ACCEPTED or not unknown_identity(v, identity):
            continue
        what = fin.reason or AUTH_PROBE_TEXT[fin.step]
        yield make_finding(
            F.DEFAULT_IDENTITY, (fin,), agent=fin.agent,
            detail=f"{what} was let in as {identity!r}: the server did not identify this connection and gave it "
                   "a default identity; with two such connections the room holds one user and no join notice "
                   "can be sent")


@rule("room_answer", Link.ANSWER)
def rule_room_answer_polled(v: TimelineView) -> Iterator[Finding]:
    """A caller in the room learned the answer only from a status poll: the room notice was lost."""
    for i, e in v.of((Answered, Rejected)):
        if not e.polled or not e.room_id:
            continue
        inside = [(j, r) for j, r in v.of(RoomJoined, agent=e.agent) if j < i and r.room_id == e.room_id]
        if not inside or not own_entry(v, inside[-1][1]) or _left(v, e.agent, e.room_id, inside[-1][0], i):
            continue  # not in the room: a poll is the only way to learn
        answer: type[Event] = AcceptSent if isinstance(e, Answered) else RejectSent
        sent = v.find(answer, 0, i, pred=_in(e.room_id))
        verb = "accepted" if isinstance(e, Answered) else "rejected"
        evidence: tuple[Event, ...] = tuple(x for x in ((sent[1] if sent else None), inside[-1][1], e) if x)
        since = f" {ms(e.t_ms - sent[1].t_ms)} after {sent[1].agent} {verb}" if sent else ""
        yield make_finding(
            F.ANSWER_NOT_DELIVERED, evidence, at_ms=(sent[1].t_ms if sent else e.t_ms), agent=e.agent,
            hint=ROOM_ANSWER_HINT,
            detail=f"{e.agent} was in the call room, but the {verb} notice never came there; it learned the "
                   f"answer by polling the call's status{since}"
                   + (f" ({e.server_reason})" if e.server_reason else ""))
