"""How the server found the callee: by which paths it rang, whether it called a connected callee offline,
and whether the JSON type of the callee's id decided it.

What they tell apart (``docs/field-failures.md#invite-stored-not-pushed``):

* an invite the server acknowledged ``offline`` while the callee had a live
  connection (and, where the server broadcasts presence, had announced it
  online): INVITE_ACKED_OFFLINE, from an invite to a callee that really was
  offline (no finding);
* two invites to the same connected callee that differ only in the JSON type
  of its id (``InviteSent.id_type``), one rung and one not:
  ID_TYPE_DECIDES_DELIVERY. It explains the unrung invite, so neither
  INVITE_ACKED_OFFLINE nor INVITE_NOT_DELIVERED is said of it as well;
* a backend that announces a call by several paths (``Ringing.ring_paths``)
  but used only some: INVITE_NOT_DELIVERED as a warning, naming the path that
  never came (clients listening on that path alone show no prompt).

The walk's id-type probe (step ``id_type``) places an invite only to compare
it with the walk's own: its invites are judged by ID_TYPE_DECIDES_DELIVERY alone.
"""

from __future__ import annotations

from collections.abc import Iterator

from callprobe.analysis.calls import END_EVENTS, Call
from callprobe.analysis.diagnostics import findings as F
from callprobe.analysis.diagnostics.findings import Finding, Severity, make_finding
from callprobe.analysis.diagnostics.links import STEP_ID_TYPE, Link
from callprobe.analysis.diagnostics.rules.common import busy_users, ms, room_match
from callprobe.analysis.diagnostics.rules.registry import rule
from callprobe.analysis.diagnostics.view import TimelineView
from callprobe.timeline.events import Event, Note, Presence, Ringing, StepFinished, StepStarted, WsOpen

#: Words for an id's JSON type: (with an article, plural).
ID_WORDS = {"int": ("an integer", "integers"), "string": ("a string", "strings")}


def acked_offline(call: Call) -> bool:
    """The server took the invite and said the callee was offline."""
    return call.ack is not None and call.ack[1].status == "offline"


def id_type_probe_windows(v: TimelineView) -> list[tuple[int, int]]:
    """Index ranges of the walk's id-type probe (its StepStarted to its StepFinished)."""
    out: list[tuple[int, int]] = []
    for i, started in v.of(StepStarted):
        if started.step != STEP_ID_TYPE:
            continue
        end = v.find(StepFinished, i + 1, pred=lambda f: f.step == STEP_ID_TYPE)
        out.append((i, end[0] if end else len(v.events)))
    return out


def in_id_type_probe(v: TimelineView, idx: int) -> bool:
    return any(lo <= idx <= hi for lo, hi in id_type_probe_windows(v))


def _connected_callees(v: TimelineView, call: Call) -> list[str]:
    return [a for a in call.callee_agents if a != call.caller and v.connected(a, call.invite_idx)]


def _unrung(v: TimelineView, call: Call) -> bool:
    """Acknowledged, to a connected callee, and never rang (the ring deadline is past, or the server said offline)."""
    if not call.acknowledged or call.ringing or busy_users(call) or not _connected_callees(v, call):
        return False
    deadline = v.ctx.ring_deadline_ms or 0.0
    return acked_offline(call) or v.end_ms - call.invite.t_ms >= deadline


def _online_evidence(v: TimelineView, call: Call) -> list[Event]:
    """The callee's open connection and the last presence notice calling it online, before the invite."""
    out: list[Event] = []
    for agent in _connected_callees(v, call)[:1]:
        opened = [e for j, e in v.of(WsOpen, agent=agent) if j < call.invite_idx and not v.in_probe(j)]
        if opened:
            out.append(opened[-1])
    said = [e for j, e in v.of(Presence) if j < call.invite_idx and e.user in call.callee_users]
    if said and said[-1].status == "online":
        out.append(said[-1])
    return out


def id_type_pair(v: TimelineView, call: Call) -> Call | None:
    """A rung invite to the same callee that differs from ``call`` in the id's JSON type, if any."""
    if not call.invite.id_type or len(call.callee_users) != 1:
        return None
    for other in v.calls():
        if (other is not call and other.ringing and other.invite.id_type
                and other.invite.id_type != call.invite.id_type and other.callee_users == call.callee_users):
            return other
    return None


@rule("id_type", Link.RINGING)
def rule_id_type_decides_delivery(v: TimelineView) -> Iterator[Finding]:
    """Invites to one connected callee that differ only in the id's JSON type: one rang, one did not."""
    seen: set[tuple[str, str]] = set()
    for call in v.calls():
        if not _unrung(v, call):
            continue
        rung = id_type_pair(v, call)
        if rung is None:
            continue
        user = call.callee_users[0]
        key = (user, call.invite.id_type)
        if key in seen:
            continue
        seen.add(key)
        good, bad = rung.invite.id_type, call.invite.id_type
        good_a, _ = ID_WORDS.get(good, (good, good))
        bad_a, bad_many = ID_WORDS.get(bad, (bad, bad))
        names = _connected_callees(v, call) or [user]
        who = "the callee" + ("" if names == ["callee"] else f" ({', '.join(names)})")
        ring = rung.ringing[0][1]
        said = f"acknowledged {call.ack[1].status!r}" if call.ack is not None and call.ack[1].status else "acknowledged"
        detail = (f"the server finds {who} with {good_a} id but not with {bad_a} id: it looks the id up without "
                  f"converting it; clients that send {bad_many} never ring anyone. The invite with the id as "
                  f"{good_a} rang {ring.agent} after {ms(ring.t_ms - rung.invite.t_ms)}; the same invite with "
                  f"the id as {bad_a} was {said} and never rang, while {', '.join(names)} was connected")
        hint = (f"Convert the callee's id to the type the server keys its online users by before looking it up "
                f"(here: accept {bad_a} id and convert it, as {good_a} one works), or refuse the wrong type "
                "with an error; as it is, the invitation is stored and shows up only in history.")
        evidence: list[Event] = [call.invite, *((call.ack[1],) if call.ack else ()), rung.invite, ring,
                                 *_online_evidence(v, call)]
        yield make_finding(F.ID_TYPE_DECIDES_DELIVERY, evidence, at_ms=call.invite.t_ms, agent=names[0],
                           detail=detail, hint=hint)


@rule("offline_ack", Link.RINGING)
def rule_invite_acked_offline(v: TimelineView) -> Iterator[Finding]:
    """The server answered ``offline`` for a callee that had a live connection."""
    for call in v.calls():
        if not acked_offline(call) or call.ringing or in_id_type_probe(v, call.invite_idx):
            continue
        online = _connected_callees(v, call)
        if not online or id_type_pair(v, call) is not None:
            continue  # really offline, or ID_TYPE_DECIDES_DELIVERY explains it
        ack = call.ack[1] if call.ack is not None else call.invite
        evidence = [call.invite, ack, *_online_evidence(v, call)]
        presence = next((e for e in evidence if isinstance(e, Presence)), None)
        detail = (f"{call.caller}'s invite was acknowledged 'offline' while {', '.join(online)} "
                  f"(user {', '.join(call.callee_users)}) was connected")
        if presence is not None:
            detail += f", and the server itself had announced it online at {ms(presence.t_ms)}"
        detail += "; nothing was pushed"
        if call.invite.id_type:
            detail += f" (the invite sent the id as {ID_WORDS.get(call.invite.id_type, (call.invite.id_type,))[0]})"
        yield make_finding(F.INVITE_ACKED_OFFLINE, evidence, at_ms=call.invite.t_ms, agent=online[0], detail=detail)


@rule("ring_paths", Link.RINGING)
def rule_rang_by_one_path(v: TimelineView) -> Iterator[Finding]:
    """Rings on a backend that announces calls by several paths, by some of them only (once per agent)."""
    deadline = v.ctx.notice_deadline_ms or 0.0
    partial: dict[str, list[tuple[Ringing, list[str]]]] = {}
    for j, ring in v.of(Ringing):
        if len(ring.ring_paths) < 2:
            continue
        # judged once the deadline is past, or once the call is over for this agent (a ring after it is moot)
        room = ring.room_id
        over = v.find(END_EVENTS, j + 1, agents=[ring.agent], pred=room_match(room))
        if over is None and v.end_ms - ring.t_ms < deadline:
            continue
        again = [e for i, e in v.of(Note, agent=ring.agent)
                 if i > j and e.note == "second_arrival" and e.room_id == room and e.extra.get("action") == "invite"]
        arrived = {ring.via, *(str(e.extra.get("path")) for e in again)}
        missing = [p for p in ring.ring_paths if p not in arrived]
        if missing:
            partial.setdefault(ring.agent, []).append((ring, missing))
    for agent, rings in partial.items():
        ring, missing = rings[0]
        more = f"; the same for {len(rings) - 1} later call(s)" if len(rings) > 1 else ""
        yield make_finding(
            F.INVITE_NOT_DELIVERED, [r for r, _ in rings[:3]], at_ms=ring.t_ms, agent=agent,
            severity=Severity.WARNING, title="The call rang by one of its paths only",
            detail=f"{agent} rang via {ring.via} at {ms(ring.t_ms)}; {', '.join(missing)} never came (this "
                   f"backend announces a call by {' and '.join(ring.ring_paths)}){more}",
            hint=f"Clients that wait for {' or '.join(missing)} alone never show the call. Check the server "
                 f"emits {' and '.join(missing)} to the callee's room with the invitation, as it does "
                 f"{ring.via}.")
