"""A call invitation an ordinary user forged in another's name, relayed by the server as if it were real.

The walk's forged-invite probe (``analysis.diagnostics.links``, KKIM) has a
throwaway user send the callee a 1601 system message (msgFrom 200) naming the
caller as the inviter, under a room of its own. The server must refuse it
(``docs/backends/kkim.md#limits``); a ring in that room means it relayed the
forgery, and the callee was shown a call from someone who never placed it
(FORGED_INVITE_RELAYED). A refusal, or a probe that could not run, is no
finding.
"""

from __future__ import annotations

from collections.abc import Iterator

from callprobe.analysis.calls import FORGED_ROOM_FIELD
from callprobe.analysis.diagnostics import findings as F
from callprobe.analysis.diagnostics.findings import Finding, make_finding
from callprobe.analysis.diagnostics.links import STEP_FORGED_INVITE, Link
from callprobe.analysis.diagnostics.rules.common import ms
from callprobe.analysis.diagnostics.rules.registry import rule
from callprobe.analysis.diagnostics.view import TimelineView
from callprobe.timeline.events import Ringing

#: msgFrom of a system message.
SYSTEM = 200


@rule("forged_invite", Link.AUTH_PROBES)
def rule_forged_invite_relayed(v: TimelineView) -> Iterator[Finding]:
    """The callee rang for an invitation the probe forged."""
    for _, fin in v.step_results(STEP_FORGED_INVITE):
        room = str(fin.extra.get(FORGED_ROOM_FIELD) or "")
        if not room:
            continue
        rings = [e for _, e in v.of(Ringing) if e.room_id == room]
        if not rings:
            continue
        ring = rings[0]
        forged = fin.extra.get("forged")
        sent = forged if isinstance(forged, dict) else {}
        forger = str(sent.get("send_id") or fin.extra.get("forger") or "a throwaway user")
        inviter = str(sent.get("inviter") or ring.inviter or "?")
        kind = "system (msgFrom 200) " if sent.get("msg_from") == SYSTEM else ""
        pushed = ""
        if ring.sender:
            pushed = f", pushed as sent by {ring.sender}" + (" with msgFrom 200" if ring.msg_from == SYSTEM else "")
        user = v.user_of(ring.agent)
        who = user if user == ring.agent else f"{user} ({ring.agent})"
        yield make_finding(
            F.FORGED_INVITE_RELAYED, (fin, ring), at_ms=ring.t_ms, agent=ring.agent,
            detail=f"{forger} sent {who} a {kind}call invitation (contentType 1601, room {room}) naming "
                   f"{inviter} as the inviter through SendMsg (1003); the server accepted it and {ring.agent} "
                   f"rang at {ms(ring.t_ms)} as a call from {ring.inviter or '?'}{pushed}")
