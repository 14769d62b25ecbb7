"""From SDP to frames: the offer/answer relayed, ICE connected, media decoded.

What they tell apart (``docs/field-failures.md#no-turn-behind-symmetric-nat``):
an offer/answer that never reached the peer (SDP_NOT_RELAYED) from SDP that
crossed while ICE still failed, and then by the candidates: a TURN server
that gave no relay candidate (TURN_UNAVAILABLE, with the direct probe's
verdict), no candidate at all (NO_LOCAL_CANDIDATES), no relay anywhere
(ICE_FAILED, "configure TURN"), relay candidates that still failed
(ICE_FAILED, relay hint); and a connected call with no media
(MEDIA_NOT_FLOWING).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

from callprobe.analysis.diagnostics import findings as F
from callprobe.analysis.diagnostics.findings import Finding, Severity, make_finding
from callprobe.analysis.diagnostics.links import Link
from callprobe.analysis.diagnostics.rules.common import ms, peers, room_match
from callprobe.analysis.diagnostics.rules.registry import rule
from callprobe.analysis.diagnostics.view import TimelineView
from callprobe.analysis.index import Hit, as_ids
from callprobe.rtc.ice_config import described_turn_urls
from callprobe.timeline.events import (
    Event,
    IceCandidate,
    IceState,
    MediaFirstFrame,
    MediaStats,
    PcState,
    PeerCreated,
    PeerFailed,
    SignalReceived,
    SignalSent,
    TurnProbe,
)

#: PeerFailed settings that mean the leg never connected (``rtc.peer``).
ICE_SETTINGS = ("ice_connect_timeout_s", "ice_gather_timeout_s")


def _signal_match(signal_type: str, room: str) -> Callable[[SignalReceived], bool]:
    in_room = room_match(room)
    return lambda r: r.signal_type == signal_type and in_room(r)


def sdp_losses(v: TimelineView) -> list[tuple[Hit[SignalSent], tuple[str, ...]]]:
    """Offers/answers sent whose peer never received them: (send, peers)."""
    lost: list[tuple[Hit[SignalSent], tuple[str, ...]]] = []
    for i, e in v.of(SignalSent):
        if e.signal_type not in ("offer", "answer"):
            continue
        others = tuple(a for u in as_ids(e.to) for a in v.agents_of(u) if a != e.agent) or peers(v, e.agent, i)
        others = tuple(p for p in others if v.connected(p, i))
        if not others:
            continue
        d = v.deliver(i, SignalReceived, others, v.ctx.notice_deadline_ms, _signal_match(e.signal_type, e.room_id))
        if d.status == "missing":
            lost.append(((i, e), others))
    return lost


@rule("signal_relay", Link.SIGNAL_RELAY)
def rule_sdp_not_relayed(v: TimelineView) -> Iterator[Finding]:
    """An SDP offer or answer that never reached the peer."""
    for (_, e), others in sdp_losses(v):
        yield make_finding(F.SDP_NOT_RELAYED, (e,), agent=others[0],
                           detail=f"{e.agent}'s SDP {e.signal_type} (sent at {ms(e.t_ms)}) never reached "
                                  f"{', '.join(others)}")


def _ice_failure(e: Event) -> bool:
    """A state ``failed``, or a PeerFailed about connecting (not media, not a bad SDP)."""
    if isinstance(e, (PcState, IceState)):
        return e.state == "failed"
    if isinstance(e, PeerFailed):
        return e.setting in ICE_SETTINGS or bool(e.ice_state)
    return False


def _types(v: TimelineView, agents: Sequence[str], side: str, lo: int, hi: int) -> list[str]:
    """Candidate types ``agents`` recorded on ``side`` between indexes ``lo`` and ``hi``."""
    found = [e.candidate_type or "?" for i, e in v.of(IceCandidate, agents=agents) if e.side == side and lo <= i < hi]
    return list(dict.fromkeys(found))


def _turn_urls(v: TimelineView, agent: str, lo: int, hi: int) -> list[str]:
    """The TURN URLs the leg's PeerCreated names (configured, not necessarily used)."""
    created = [e for i, e in v.of(PeerCreated, agent=agent) if lo <= i < hi]
    return described_turn_urls(created[0].ice_servers) if created else []


def _turn_finding(v: TimelineView, agent: str, lo: int, hi: int, turn_urls: list[str], anchor: Event,
                  severity: Severity | None = None, extra: list[Event] | None = None) -> Finding:
    """TURN_UNAVAILABLE for a leg with TURN configured but no relay candidate."""
    probe = next((e for i, e in v.of(TurnProbe, agent=agent) if lo <= i < hi), None)
    detail = f"{agent} was given {', '.join(turn_urls)} but gathered no relay candidate"
    hint: str | None = None
    evidence: list[Event] = [anchor, *(extra or [])]
    if probe is not None:
        evidence.append(probe)
        detail += f"; asked directly, {probe.url or 'the server'}: {probe.detail or probe.verdict}"
        hint = F.TURN_PROBE_HINTS.get(probe.verdict)
    return make_finding(F.TURN_UNAVAILABLE, evidence, at_ms=anchor.t_ms, agent=agent, detail=detail,
                        hint=hint, severity=severity)


@rule("ice", Link.ICE)
def rule_ice_failed(v: TimelineView) -> Iterator[Finding]:
    """ICE failed although the SDP crossed, told apart by what the candidates say.

    Per failed leg, the first that holds: TURN configured but no relay
    candidate (TURN_UNAVAILABLE, with the direct TURN probe's verdict); no
    local candidate at all (NO_LOCAL_CANDIDATES); otherwise ICE_FAILED, whose
    hint says "configure TURN" when nobody had a relay candidate, or that the
    relay itself failed when relay candidates existed. A leg that connected
    although its TURN server gave nothing gets a TURN_UNAVAILABLE warning.
    """
    if sdp_losses(v):
        return  # the SDP never crossed: SDP_NOT_RELAYED says so
    for agent, (lo, hi) in ((a, leg) for a in v.agents for leg in v.legs(a)):
        local = _types(v, [agent], "local", lo, hi)
        turn_urls = _turn_urls(v, agent, lo, hi)
        fails = [(i, e) for i, e in v.of((PcState, IceState, PeerFailed), agent=agent)
                 if lo <= i < hi and _ice_failure(e)]
        if not fails:
            up = [e for i, e in v.of(PcState, agent=agent) if lo <= i < hi and e.state == "connected"]
            if up and turn_urls and "relay" not in local:
                yield _turn_finding(v, agent, lo, hi, turn_urls, up[0], severity=Severity.WARNING)
            continue
        i, fail = fails[0]
        said = next((e for _, e in fails if isinstance(e, PeerFailed)), None)
        evidence: list[Event] = [fail] + ([said] if said is not None and said is not fail else [])
        if turn_urls and "relay" not in local:
            yield _turn_finding(v, agent, lo, hi, turn_urls, fail, extra=evidence[1:])
            continue
        if not local:
            yield _no_local(v, agent, lo, hi, fail, evidence)
            continue
        yield _ice_failed(v, agent, lo, hi, i, fail, said, local, evidence)


def _no_local(v: TimelineView, agent: str, lo: int, hi: int, fail: Event, evidence: list[Event]) -> Finding:
    created = next((e for j, e in v.of(PeerCreated, agent=agent) if lo <= j < hi), None)
    why = ("the relay-only policy allows relay candidates only, and no TURN server was given"
           if created is not None and created.relay_only else "no usable local address")
    return make_finding(F.NO_LOCAL_CANDIDATES, evidence, at_ms=fail.t_ms, agent=agent,
                        detail=f"{agent} gathered no ICE candidate at all: {why}")


def _ice_failed(v: TimelineView, agent: str, lo: int, hi: int, i: int, fail: Event, said: PeerFailed | None,
                local: list[str], evidence: list[Event]) -> Finding:
    others = peers(v, agent, i)
    remote = _types(v, [agent], "remote", lo, hi)
    peer_local = _types(v, others, "local", lo, hi)
    sent = [e for j, e in v.of(SignalSent, agents=others) if lo <= j < i and e.signal_type == "candidate"]
    got = [e for j, e in v.of(SignalReceived, agent=agent) if lo <= j < i and e.signal_type == "candidate"]
    reason = f" ({said.reason})" if said is not None and said.reason else ""
    detail = (f"ICE failed at {agent}{reason}; local candidates: {', '.join(local) or 'none'}; "
              f"remote: {', '.join(remote) or 'none'}")
    hint: str | None = None
    if not remote and sent and not got:
        detail += f"; none of the {len(sent)} candidate(s) {', '.join(others)} sent arrived"
        hint = ("The peer's ICE candidates travel through the signaling server, each in a message of its "
                "own; the server accepted them but relayed none. Check it relays every signal, not only "
                "offers and answers.")
        evidence.append(sent[0])
    elif not remote:
        detail += "; no remote candidate reached this peer"
    elif "relay" not in {*local, *remote, *peer_local}:
        hint = F.TURN_HINT
    elif "relay" in local:
        hint = F.RELAY_FAILED_HINT
    return make_finding(F.ICE_FAILED, evidence, at_ms=fail.t_ms, agent=agent, detail=detail, hint=hint)


def _media_kind(v: TimelineView, agent: str, idx: int) -> str:
    call = v.call_of(agent, idx)
    if call is not None and call.media:
        return call.media
    if v.ctx.media:
        return v.ctx.media
    created = [e for j, e in v.of(PeerCreated, agent=agent) if j < idx]
    return created[-1].media if created else ""


@rule("media", Link.MEDIA)
def rule_media_not_flowing(v: TimelineView) -> Iterator[Finding]:
    """A connected peer that decoded no frames of the call's media."""
    explicit = v.ctx.probes is not None
    for agent, (lo, hi) in ((a, leg) for a in v.agents for leg in v.legs(a)):
        up = [(i, e) for i, e in v.of(PcState, agent=agent) if lo <= i < hi and e.state == "connected"]
        if not up:
            continue
        i0, connected = up[0]
        stats = [e for i, e in v.of(MediaStats, agent=agent) if i0 < i < hi]
        firsts = {e.media for i, e in v.of(MediaFirstFrame, agent=agent) if i0 < i < hi}
        failed = [e for i, e in v.of(PeerFailed, agent=agent)
                  if i0 < i < hi and "media" in f"{e.reason} {e.setting}".lower()]
        kind = _media_kind(v, agent, i0)
        if failed:
            yield make_finding(
                F.MEDIA_NOT_FLOWING, (connected, failed[0]), at_ms=failed[0].t_ms, agent=agent,
                detail=f"{agent} connected at {ms(connected.t_ms)} but no {kind or 'media'} frame "
                       f"arrived ({failed[0].reason or failed[0].setting})")
            continue
        if not stats:
            if explicit and not firsts:
                yield make_finding(F.MEDIA_NOT_FLOWING, (connected,), at_ms=connected.t_ms, agent=agent,
                                   detail=f"{agent} connected but recorded no media frames or statistics")
            continue
        last = stats[-1]
        if last.t_ms - connected.t_ms < v.ctx.media_grace_ms:
            continue  # hung up (or dropped) right after connecting: too soon to judge
        kinds = {"audio": ["audio"], "video": ["video", "audio"]}.get(kind, ["audio", "video"])
        dry = [k for k in kinds if not last.frames(k) and k not in firsts]
        if dry:
            counts = f"audio {last.audio_frames}, video {last.video_frames}"
            yield make_finding(
                F.MEDIA_NOT_FLOWING, (connected, last), at_ms=last.t_ms, agent=agent,
                detail=f"{agent} connected at {ms(connected.t_ms)} but decoded no "
                       f"{' or '.join(dry)} frames (frames: {counts})")
