"""A call invitation an ordinary user forged in another's name, relayed by the server as if it were real.

The walk's forged-invite probe (``analysis.diagnostics.links``, KKIM) has a
throwaway user send the callee 1601 messages naming the caller as the
inviter, each under a room of its own: one as a system message (msgFrom
200), one as an ordinary user's. The server must refuse both
(``docs/backends/kkim.md#limits``); a ring in one of those rooms means it
relayed a forgery, and the callee was shown a call from someone who never
placed it (FORGED_INVITE_RELAYED). Refusals, or a probe that could not run,
are no finding.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from callprobe.analysis.calls import FORGED_ROOMS_FIELD
from callprobe.analysis.diagnostics import findings as F
from callprobe.analysis.diagnostics.findings import Finding, make_finding
from callprobe.analysis.diagnostics.links import STEP_FORGED_INVITE, Link
from callprobe.analysis.diagnostics.rules.common import ms
from callprobe.analysis.diagnostics.rules.registry import rule
from callprobe.analysis.diagnostics.view import TimelineView
from callprobe.timeline.events import Ringing

#: msgFrom of a system message.
SYSTEM = 200


def _sent(extra: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The forged messages of a step marker, by room."""
    forged = extra.get("forged")
    return {str(f.get("room")): f for f in (forged if isinstance(forged, list) else [])
            if isinstance(f, dict) and f.get("room")}


@rule("forged_invite", Link.AUTH_PROBES)
def rule_forged_invite_relayed(v: TimelineView) -> Iterator[Finding]:
    """The callee rang for an invitation the probe forged."""
    for _, fin in v.step_results(STEP_FORGED_INVITE):
        listed = fin.extra.get(FORGED_ROOMS_FIELD)
        rooms = [str(r) for r in (listed if isinstance(listed, list) else []) if r]
        rings = [e for _, e in v.of(Ringing) if e.room_id in rooms]
        if not rings:
            continue
        sent = _sent(fin.extra)
        forms = []
        for room in dict.fromkeys(r.room_id for r in rings):
            msg_from = sent.get(room, {}).get("msg_from")
            forms.append("a system (msgFrom 200) one" if msg_from == SYSTEM
                         else f"an ordinary user's (msgFrom {msg_from}) one" if msg_from else f"one in room {room}")
        ring = rings[0]
        first = sent.get(ring.room_id, {})
        forger = str(first.get("send_id") or fin.extra.get("forger") or "a throwaway user")
        inviter = str(first.get("inviter") or ring.inviter or "?")
        pushed = ""
        if ring.sender:
            pushed = f", pushed as sent by {ring.sender}" + (" with msgFrom 200" if ring.msg_from == SYSTEM else "")
        user = v.user_of(ring.agent)
        who = user if user == ring.agent else f"{user} ({ring.agent})"
        refused = [f for f in sent.values() if f.get("refused")]
        also = ""
        if refused:
            also = "; it refused " + ", ".join(
                f"the msgFrom {f.get('msg_from')} one (errCode {f.get('err_code')})" for f in refused)
        yield make_finding(
            F.FORGED_INVITE_RELAYED, (fin, *rings), at_ms=ring.t_ms, agent=ring.agent,
            detail=f"{forger} sent {who} call invitations (contentType 1601) naming {inviter} as the inviter "
                   f"through SendMsg (1003); {who} rang for {' and '.join(forms)}, first at {ms(ring.t_ms)} as a "
                   f"call from {ring.inviter or '?'}{pushed}{also}")
