"""Judge a scenario expectation against the timeline, purely.

``judge`` looks at the events recorded so far and the current time and says
``pass``, ``fail`` or ``pending``; the runner re-asks on every new event until
the answer is final. The window of an expectation opens at its *anchor* (the
start of the latest action step before it) and closes ``within`` seconds
later; an ``absent`` expectation holds when nothing matches for ``for``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from callprobe.analysis.diagnostics.findings import Finding
from callprobe.analysis.metrics import CallMetrics, derive_calls, is_busy_refusal, media_flowing
from callprobe.scenario.model import Expectation
from callprobe.timeline.events import (
    Answered,
    CallTimeout,
    Cancelled,
    Event,
    ExpectationJudged,
    FrameIn,
    FrameOut,
    HeartbeatReply,
    HeartbeatSent,
    HungUp,
    IceCandidate,
    InviteAcked,
    JoinNotice,
    Kicked,
    Note,
    PcState,
    Rejected,
    Ringing,
    RoomJoined,
    SelectedPair,
    StepFinished,
    StepStarted,
    TextReceived,
    WsClosed,
)

PASS, FAIL, PENDING = "pass", "fail", "pending"

#: expectation event name -> predicate over one event.
_MATCHERS: dict[str, Callable[[Event], bool]] = {
    "ringing": lambda e: isinstance(e, Ringing),
    "answered": lambda e: isinstance(e, Answered),
    "rejected": lambda e: isinstance(e, Rejected),
    # a server ending an unanswered call cancels the callee's ringing: that counts
    "cancelled": lambda e: isinstance(e, Cancelled) or (isinstance(e, CallTimeout) and e.action == "cancel"),
    "hung_up": lambda e: isinstance(e, HungUp),
    "call_timeout": lambda e: isinstance(e, CallTimeout),
    "busy": is_busy_refusal,
    "invite_acked": lambda e: isinstance(e, InviteAcked),
    "ice_connected": lambda e: isinstance(e, PcState) and e.state == "connected",
    "text_received": lambda e: isinstance(e, TextReceived),
    "kicked": lambda e: isinstance(e, Kicked),
    "disconnected": lambda e: isinstance(e, WsClosed),
    # call rooms: this agent's own entry acknowledged, and a notice that another party came
    "room_joined": lambda e: isinstance(e, RoomJoined),
    "join_notice": lambda e: isinstance(e, JoinNotice) and e.notice == "join",
}

#: Kinds too frequent or too internal to list as "seen instead".
_NOISE: tuple[type[Event], ...] = (FrameOut, FrameIn, HeartbeatSent, HeartbeatReply, StepStarted, StepFinished,
                                   ExpectationJudged, IceCandidate)

EVENT_NAMES = (*_MATCHERS, "media_flowing")


@dataclass(frozen=True)
class Verdict:
    state: str
    detail: str = ""


@dataclass(frozen=True)
class Window:
    """Where to look: from ``anchor_ms`` to ``deadline_ms`` (run time, ms)."""

    anchor_ms: float
    deadline_ms: float


def call_parties(call: CallMetrics | None) -> list[str]:
    """Agents with a leg in the call that callprobe plays: the caller and whoever accepted.

    A party callprobe does not play (``CallMetrics.external``) has no leg
    anyone can see, so it is never among them.
    """
    if call is None:
        return []
    parties = [call.caller]
    parties += [a for a in call.callee.split(",") if a and a in call.rang and a not in parties]
    return [p for p in parties if p not in call.external]


def _fmt(ms: float) -> str:
    return f"{ms:.0f} ms" if ms < 10_000 else f"{ms / 1000:.1f} s"


def _seen_instead(events: Sequence[Event], agent: str | None, since_ms: float) -> str:
    recent = [e for e in events if e.t_ms >= since_ms and (agent is None or e.agent == agent)
              and not isinstance(e, _NOISE)]
    if not recent:
        return "nothing at all" if agent is None else f"{agent} saw nothing"
    shown = ", ".join(f"{e.kind}{'@' + e.agent if agent is None else ''} at +{_fmt(e.t_ms - since_ms)}"
                      for e in recent[:6])
    more = f" and {len(recent) - 6} more" if len(recent) > 6 else ""
    return f"{agent + ' saw ' if agent else 'seen: '}{shown}{more}"


#: What finds the findings of a run so far (the runner's: the scenario's context).
FindingsOf = Callable[[Sequence[Event]], Sequence[Finding]]


def _call(events: Sequence[Event], index: int | None) -> CallMetrics | None:
    """The figures of call ``index`` (1-based), or of the last call; built only for expectations that read them."""
    calls = derive_calls(events)
    if not calls:
        return None
    return calls[index - 1] if index and 0 < index <= len(calls) else calls[-1]


def judge(expectation: Expectation, events: Sequence[Event], window: Window, now_ms: float,
          agents: dict[str, str], findings: FindingsOf | None = None) -> Verdict:
    """Judge one expectation. ``agents`` maps agent names to user IDs; ``findings``
    runs the diagnostic rules for a ``finding`` expectation (default: every rule,
    a context knowing only ``agents``)."""
    if expectation.finding:
        return _judge_finding(expectation.finding, expectation.absent, events, window, now_ms, agents, findings)
    index = expectation.call_index
    if expectation.outcome:
        return _judge_outcome(expectation.outcome, _call(events, index), index, now_ms, window)
    event = expectation.event or ""
    if event == "media_flowing":
        return _judge_media(expectation, _call(events, index), now_ms, window)

    match = _MATCHERS[event]
    via = expectation.via
    if via is not None:  # ice_connected over a pair of this kind: judged on SELECTED_PAIR
        def match(e: Event) -> bool:
            return isinstance(e, SelectedPair) and e.relayed == (via == "relay")
    if expectation.agent:
        who = [expectation.agent]
    elif expectation.event in ("ice_connected",):
        who = call_parties(_call(events, index))
    else:
        who = []  # anyone
    in_window = [e for e in events if window.anchor_ms <= e.t_ms and match(e)
                 and (not who or e.agent in who)]
    on_time = [e for e in in_window if e.t_ms <= window.deadline_ms]
    late = [e for e in in_window if e.t_ms > window.deadline_ms]
    label = event + (f" on {expectation.agent}" if expectation.agent else "")

    if expectation.absent:
        if on_time:
            e = on_time[0]
            return Verdict(FAIL, f"{e.kind} on {e.agent} at +{_fmt(e.t_ms - window.anchor_ms)}, "
                                 "expected none")
        if now_ms >= window.deadline_ms:
            return Verdict(PASS, f"no {label} for {_fmt(window.deadline_ms - window.anchor_ms)}")
        return Verdict(PENDING)

    required = who if (who and not expectation.agent) else [None]
    missing = [a for a in required if not any(a is None or e.agent == a for e in on_time)]
    if not missing:
        last = max(on_time, key=lambda e: e.t_ms)
        return Verdict(PASS, f"{label} at +{_fmt(last.t_ms - window.anchor_ms)}")
    if now_ms < window.deadline_ms:
        return Verdict(PENDING)
    if late:
        e = late[0]
        return Verdict(FAIL, f"{label} came late: +{_fmt(e.t_ms - window.anchor_ms)}, "
                             f"deadline {_fmt(window.deadline_ms - window.anchor_ms)}")
    if expectation.event == "ice_connected" and not who:
        return Verdict(FAIL, "no call with media legs to check")
    if via is not None:
        pairs = [e for e in events if window.anchor_ms <= e.t_ms and isinstance(e, SelectedPair)
                 and e.agent in [a for a in missing if a] + ([expectation.agent] if expectation.agent else [])]
        if pairs:
            shown = "; ".join(f"{e.agent}: {e.local} → {e.remote}" for e in pairs)
            return Verdict(FAIL, f"ice_connected, but not via {via}: selected pair {shown}")
    absentees = ", ".join(a for a in missing if a) or expectation.agent or "any agent"
    return Verdict(FAIL, f"no {expectation.event} on {absentees} within "
                         f"{_fmt(window.deadline_ms - window.anchor_ms)}; "
                         + _seen_instead(events, expectation.agent, window.anchor_ms))


def _judge_outcome(want: str, call: CallMetrics | None, index: int | None, now_ms: float,
                   window: Window) -> Verdict:
    if call is None:
        return Verdict(FAIL if now_ms >= window.deadline_ms else PENDING, "no call was placed")
    if call.outcome == want:
        return Verdict(PASS, f"call {index or 'last'} outcome {want}")
    if now_ms < window.deadline_ms:
        return Verdict(PENDING)
    return Verdict(FAIL, f"call outcome is {call.outcome}, expected {want}")


def _judge_media(expectation: Expectation, call: CallMetrics | None, now_ms: float, window: Window) -> Verdict:
    parties = call_parties(call)
    direction = expectation.direction or "both"
    if expectation.agent and call is not None:
        other = [p for p in parties if p != expectation.agent]
        receivers = [expectation.agent] if direction == "to" else other if direction == "from" else parties
    else:
        receivers = parties
    external = call.external if call is not None else []
    if call is None or len(parties) + len(external) < 2 or not parties:
        return Verdict(FAIL if now_ms >= window.deadline_ms else PENDING, "no answered call with two legs")
    if not receivers:
        return Verdict(FAIL, f"cannot be judged: the media would reach {', '.join(external)}, "
                             "a party callprobe does not play")
    missing = [a for a in receivers if not media_flowing(call, a)]
    if not missing:
        return Verdict(PASS, "; ".join(_media_seen(call, a) for a in receivers))
    if now_ms < window.deadline_ms:
        return Verdict(PENDING)
    return Verdict(FAIL, "no decoded " + ("audio/video" if call.media_kind == "video" else "audio")
                   + f" frames received by {', '.join(missing)}")


def _media_seen(call: CallMetrics, agent: str) -> str:
    entry = call.media.get(agent, {})
    firsts = entry.get("first_frame_ms", {})
    parts = []
    for kind in ("audio", "video"):
        if kind in firsts:
            parts.append(f"{kind} +{_fmt(firsts[kind] - call.invite_sent_ms)}")
        elif entry.get(f"{kind}_frames", 0):
            parts.append(f"{entry[f'{kind}_frames']} {kind} frames")
    return f"{agent}: " + ", ".join(parts)


def _judge_finding(code: str, absent: bool, events: Sequence[Event], window: Window, now_ms: float,
                   agents: dict[str, str], findings: FindingsOf | None) -> Verdict:
    """A finding on the whole run so far; the rules see the timeline reach ``now_ms``, so a
    notice that is overdue by now counts as missing even when nothing else happened since."""
    if findings is None:
        from callprobe.analysis.diagnostics.context import RuleContext
        from callprobe.analysis.diagnostics.rules import diagnose_timeline
        from callprobe.settings import ClientSettings

        context = RuleContext.from_settings(ClientSettings(), users=tuple(agents.items()))

        def findings(evs: Sequence[Event]) -> Sequence[Finding]:
            return diagnose_timeline(evs, context)

    every = findings([*events, Note(t_ms=now_ms, note="judged")])
    found = [f for f in every if f.code == code]
    if found:
        f = found[0]
        detail = f"{code} ({f.severity.value}): {f.detail or f.title}"
        return Verdict(FAIL, f"{detail}, expected none") if absent else Verdict(PASS, detail)
    if now_ms < window.deadline_ms:
        return Verdict(PENDING)
    span = _fmt(window.deadline_ms - window.anchor_ms)
    if absent:
        return Verdict(PASS, f"no {code} for {span}")
    others = sorted({f.code for f in every})
    return Verdict(FAIL, f"no {code} finding within {span}; "
                         + (f"findings: {', '.join(others)}" if others else "no findings at all"))
