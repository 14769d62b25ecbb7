"""Rules for the invite: acknowledged by the server, rung at the callee, sane, under one room.

What they tell apart (``docs/field-failures.md``): an invite that never rings
while a text to the same user *was* pushed (INVITE_NOT_DELIVERED) from
nothing being pushed at all (PUSH_PATH_BROKEN, ``rules.push``); a ring whose
roomID differs from the invite reply's (ROOM_ID_MISMATCH) from a ring that
does not decode to a sane invitation (INVITE_MALFORMED); a refusal for any
other reason than busy (INVITE_REJECTED_BY_SERVER).
"""

from __future__ import annotations

from collections.abc import Iterator

from callprobe.analysis.calls import Call
from callprobe.analysis.diagnostics import findings as F
from callprobe.analysis.diagnostics.findings import Finding, make_finding
from callprobe.analysis.diagnostics.links import Link
from callprobe.analysis.diagnostics.rules.callee_lookup import acked_offline, id_type_pair, in_id_type_probe
from callprobe.analysis.diagnostics.rules.common import busy_users, err_words, late, ms
from callprobe.analysis.diagnostics.rules.push import text_probe
from callprobe.analysis.diagnostics.rules.registry import rule
from callprobe.analysis.diagnostics.view import TimelineView
from callprobe.analysis.index import Hit
from callprobe.timeline.events import (
    ActionRefused,
    CancelSent,
    Event,
    HangupSent,
    NoticeUndecodable,
    RequestFailed,
    SignalSent,
)

#: INVITE_NOT_DELIVERED's hint when no text proved the push path (the catalogue's assumes one did).
UNPROVEN_PUSH_HINT = ("The server acknowledged the invite but never rang the callee. Whether it pushes "
                      "anything to this callee is not known: send a text message to the same user as well "
                      "(callprobe diagnose does) to tell a broken invite path from a broken push path.")


@rule("invite_ack", Link.INVITE_ACK)
def rule_invite_rejected(v: TimelineView) -> Iterator[Finding]:
    """The server refused an invite (not as busy), or never answered it."""
    for call in v.calls():
        if call.refusal is not None and not busy_users(call):
            e = call.refusal[1]
            yield make_finding(
                F.INVITE_REJECTED_BY_SERVER, (call.invite, e), agent=call.caller,
                detail=f"{call.caller}'s invite to {', '.join(call.callee_users)} was refused: {err_words(e)}")
        elif call.timeout is not None:
            t = call.timeout[1]
            yield make_finding(
                F.INVITE_REJECTED_BY_SERVER, (call.invite, t), agent=call.caller,
                detail=f"the server never answered {call.caller}'s invite (no reply within "
                       f"{t.setting or 'request_timeout_s'} = {t.seconds:g} s)")


def undecodable(v: TimelineView, call: Call) -> list[Hit[NoticeUndecodable]]:
    return [(j, e) for j, e in v.of(NoticeUndecodable, agents=call.callee_agents)
            if v.receipt_start(call.invite_idx) <= j < call.window_end]


@rule("ringing", Link.RINGING)
def rule_invite_not_delivered(v: TimelineView) -> Iterator[Finding]:
    """An accepted invite that never (or only late) rang a connected callee."""
    deadline = v.ctx.ring_deadline_ms
    for call in v.calls():
        if call.refusal is not None or call.timeout is not None:
            continue
        if in_id_type_probe(v, call.invite_idx) or (
                not call.ringing and (acked_offline(call) or id_type_pair(v, call) is not None)):
            continue  # rules.callee_lookup judges these
        receivers = [a for a in call.callee_agents if v.connected(a, call.invite_idx)]
        if not receivers:
            continue
        sent: Hit[Event] = (call.invite_idx, call.invite)
        if call.ringing:
            j, ring = call.ringing[0]
            delay = ring.t_ms - call.invite.t_ms
            if deadline is not None and delay > deadline:
                yield late(F.INVITE_NOT_DELIVERED, sent, (j, ring), delay, deadline, f"the ring at {ring.agent}",
                           ring.agent)
            continue
        if undecodable(v, call):
            continue  # INVITE_MALFORMED says why
        if deadline is not None and v.end_ms - call.invite.t_ms < deadline:
            continue
        got, lost = text_probe(v, call.callee_users)
        ack: tuple[Event, ...] = (call.ack[1],) if call.ack else ()
        who = ", ".join(receivers)
        if got:
            text = got[0][1]
            yield make_finding(
                F.INVITE_NOT_DELIVERED, (call.invite, *ack, text), agent=receivers[0],
                detail=f"{call.caller}'s invite never rang {who}, although a text message was "
                       f"pushed to {text.agent} at {ms(text.t_ms)}")
        elif lost:
            continue  # nothing is pushed at all: PUSH_PATH_BROKEN says so
        else:
            yield make_finding(
                F.INVITE_NOT_DELIVERED, (call.invite, *ack), agent=receivers[0], hint=UNPROVEN_PUSH_HINT,
                detail=f"{call.caller}'s invite never rang {who}; no text was sent to "
                       f"{', '.join(call.callee_users)}, so a broken push path is not ruled out")


@rule("invite_content", Link.RINGING)
def rule_invite_malformed(v: TimelineView) -> Iterator[Finding]:
    """A ring without roomID, from the wrong inviter, with other media, or undecodable."""
    for call in v.calls():
        for _, e in undecodable(v, call)[:1]:
            yield make_finding(
                F.INVITE_MALFORMED, (call.invite, e), at_ms=e.t_ms, agent=e.agent,
                detail=f"a call notice to {e.agent} decodes in no known dialect: {e.reason or 'no reason recorded'}")
        seen: set[str] = set()
        for _, ring in call.ringing:
            if ring.agent in seen:
                continue
            seen.add(ring.agent)
            issues: list[str] = []
            if not ring.room_id:
                issues.append("no roomID")
            if not ring.inviter:
                issues.append("no inviter")
            elif call.caller_user and ring.inviter != call.caller_user:
                issues.append(f"inviter {ring.inviter!r} instead of {call.caller_user!r}")
            if ring.media and call.media and ring.media != call.media:
                issues.append(f"media {ring.media!r} instead of {call.media!r}")
            elif ring.media and ring.media not in ("audio", "video"):
                issues.append(f"unknown media {ring.media!r}")
            if issues:
                yield make_finding(
                    F.INVITE_MALFORMED, (call.invite, ring), at_ms=ring.t_ms, agent=ring.agent,
                    detail=f"the ring at {ring.agent} has {', '.join(issues)}"
                           + (f" (dialect {ring.dialect})" if ring.dialect else ""))


@rule("room_id")
def rule_room_id_mismatch(v: TimelineView) -> Iterator[Finding]:
    """The ring's roomID differs from the reply's, or an action used the client's own."""
    for call in v.calls():
        if call.ack is None or not call.server_room:
            continue
        ack, server_room = call.ack, call.server_room
        for _, ring in call.ringing:
            if ring.room_id and ring.room_id != server_room:
                yield make_finding(
                    F.ROOM_ID_MISMATCH, (ack[1], ring), at_ms=ring.t_ms, agent=ring.agent,
                    detail=f"the invite reply gave {call.caller} roomID {server_room!r}, the ring "
                           f"pushed to {ring.agent} carries {ring.room_id!r}")
                break
            if ring.room_name and ack[1].room_name and ring.room_name != ack[1].room_name:
                # backends whose parties meet in a conference room named by the server
                yield make_finding(
                    F.ROOM_ID_MISMATCH, (ack[1], ring), at_ms=ring.t_ms, agent=ring.agent,
                    detail=f"the invite reply gave {call.caller} room name {ack[1].room_name!r}, the ring at "
                           f"{ring.agent} carries {ring.room_name!r}: they would join different rooms")
                break
        own = call.own_room
        if not own or own == server_room:
            continue
        for i, e in v.of((HangupSent, CancelSent, SignalSent), agent=call.caller):
            if ack[0] < i < call.window_end and e.room_id == own:
                refused = v.find((ActionRefused, RequestFailed), i + 1, call.window_end, agents=[call.caller])
                evidence: tuple[Event, ...] = (ack[1], e) + ((refused[1],) if refused else ())
                yield make_finding(
                    F.ROOM_ID_MISMATCH, evidence, at_ms=e.t_ms, agent=call.caller,
                    detail=f"{call.caller} sent {e.kind} with its own roomID {own!r} instead of "
                           f"the server's {server_room!r}")
                break
