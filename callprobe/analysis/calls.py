"""The calls of a timeline: one view, built once, read by metrics, rules and reporters.

A call starts at a caller's ``InviteSent``. Its reply is the caller's next
``InviteAcked`` / ``InviteRefused`` (or a failed or timed-out 1004 request);
its room is the one the server assigned, and every later event carrying that
``room_id`` (or the client's own, before the reply) belongs to it. A call
lasts until the same caller's next invite. Each invited user is an
``Invitee`` with its own rings, answer and outcome, so one invitee declining
ends only that invitee's part of a call to several (``docs/architecture.md#calls``).

A call placed by a party callprobe does not play (an external user,
``docs/peers.md#external-parties``) has no ``InviteSent``: it starts at its
first ring, and is *inbound*. Its invite and reply are stand-ins made from
that ring (the caller's own side cannot be seen), so figures measured from
the caller's invite are left out.

A ring in a room whose invitation a diagnose probe forged to test the server
(the ``forged_rooms`` of its step marker, ``analysis.diagnostics.links``) is
no call's: it is judged by that probe alone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from callprobe.analysis.index import Hit, TimelineIndex, as_ids
from callprobe.timeline.events import (
    AcceptSent,
    Answered,
    CallTimeout,
    Cancelled,
    CancelSent,
    Event,
    HangupSent,
    HungUp,
    InviteAcked,
    InviteRefused,
    InviteSent,
    PeerAction,
    Rejected,
    RejectSent,
    RequestFailed,
    RequestTimeout,
    Ringing,
    StepFinished,
)

#: The reqIdentifier of a KKIM signaling request (its failures refuse an invite).
SIGNAL_REQUEST = 1004

#: What ends a call, on either side.
END_EVENTS: tuple[type[Event], ...] = (HungUp, HangupSent, Rejected, RejectSent, Cancelled, CancelSent,
                                        CallTimeout)


@dataclass
class Invitee:
    """One invited user's part of a call."""

    user: str
    agents: tuple[str, ...]
    rings: list[Hit[Ringing]] = field(default_factory=list)      # first ring per agent
    accept: Hit[AcceptSent] | None = None
    reject: Hit[RejectSent] | None = None
    answered: Hit[Answered] | None = None          # the caller heard this invitee accept
    rejected: Hit[Rejected] | None = None          # the caller heard this invitee decline

    @property
    def rang(self) -> bool:
        return bool(self.rings)

    @property
    def first_ring(self) -> Hit[Ringing] | None:
        return min(self.rings, key=lambda h: h[0]) if self.rings else None


@dataclass
class Call:
    """One invite and what followed it, as the timeline shows."""

    invite_idx: int
    invite: InviteSent
    caller: str
    caller_user: str
    callee_users: tuple[str, ...]
    callee_agents: tuple[str, ...]
    media: str
    window_end: int                         # exclusive: the caller's next invite
    ack: Hit[InviteAcked] | None = None
    refusal: Hit[InviteRefused] | Hit[RequestFailed] | None = None
    timeout: Hit[RequestTimeout] | None = None
    ringing: list[Hit[Ringing]] = field(default_factory=list)
    invitees: list[Invitee] = field(default_factory=list)
    inbound: bool = False                   # placed by a party callprobe does not play: starts at its ring

    @property
    def own_room(self) -> str:
        return self.invite.room_id

    @property
    def server_room(self) -> str:
        """The roomID the server assigned in its invite reply, if any."""
        if self.ack is None:
            return ""
        return self.ack[1].server_room_id or self.ack[1].room_id

    @property
    def room_id(self) -> str:
        """The room the call runs under: the server's when acknowledged, else the client's own."""
        if self.ack is not None and self.ack[1].room_id:
            return self.ack[1].room_id
        return self.own_room

    @property
    def rooms(self) -> frozenset[str]:
        return frozenset(r for r in (self.own_room, self.room_id) if r)

    @property
    def acknowledged(self) -> bool:
        return self.ack is not None and self.refusal is None and self.timeout is None

    def in_room(self, e: Event) -> bool:
        """Whether ``e`` belongs to this call by its room (events without a room do not)."""
        return bool(e.room_id) and e.room_id in self.rooms

    def invitee_of(self, agent: str) -> Invitee | None:
        return next((inv for inv in self.invitees if agent in inv.agents), None)

    @property
    def answered_by(self) -> list[Invitee]:
        """Invitees that accepted (by the callee's own accept, or the caller's notice)."""
        return [inv for inv in self.invitees if inv.accept is not None or inv.answered is not None]


Resolver = Callable[[str, tuple[str, ...]], tuple[str, ...]]

#: The step-marker field listing the rooms whose invitations a probe forged.
FORGED_ROOMS_FIELD = "forged_rooms"


def forged_rooms(index: TimelineIndex) -> frozenset[str]:
    """Rooms whose invitation a diagnose probe forged to test the server: a ring in one is no call's."""
    rooms: set[str] = set()
    for _, e in index.of(StepFinished):
        listed = e.extra.get(FORGED_ROOMS_FIELD)
        rooms.update(str(r) for r in (listed if isinstance(listed, list) else []) if r)
    return frozenset(rooms)


def build_calls(index: TimelineIndex, callee_agents: Resolver | None = None) -> list[Call]:
    """Every invite of the timeline, with its reply, its rings and each invitee's part.

    ``callee_agents(caller, callee_users)`` may name the callee agents when the
    timeline cannot (a diagnose context knows them); by default they are the
    agents logged in as the invited users, else the agents that rang.
    """
    invites = index.of(InviteSent)
    caller_users = {index.user_of(e.agent) for _, e in invites}
    forged = forged_rooms(index)
    calls: list[Call] = []
    for n, (i, e) in enumerate(invites):
        nxt = next((j for j, f in invites[n + 1:] if f.agent == e.agent), len(index))
        users = as_ids(e.callees)
        agents = _callee_agents(index, e.agent, users, callee_agents)
        if not users:
            users = tuple(dict.fromkeys(index.user_of(a) for a in agents))
        call = Call(i, e, e.agent, index.user_of(e.agent), users, agents, e.media, nxt)
        _reply(index, call)
        other_callers = caller_users - {call.caller_user}
        start = index.receipt_start(i)
        for j, ring in index.of(Ringing, agents=agents):
            if ring.room_id in forged:
                continue
            if start <= j < nxt and not (ring.inviter and ring.inviter in other_callers):
                call.ringing.append((j, ring))
        call.invitees = _invitees(index, call)
        calls.append(call)
    calls += _inbound_calls(index, calls, caller_users, forged)
    return sorted(calls, key=lambda c: c.invite_idx)


def _inbound_calls(index: TimelineIndex, placed: list[Call], caller_users: set[str],
                   forged: frozenset[str]) -> list[Call]:
    """Calls whose invite no agent sent: rings from a user no agent of this run called as.

    Every ring of one room is one call; its caller is the party playing the
    inviting user when the timeline names one (an external party), else the
    user ID itself.
    """
    claimed = {j for call in placed for j, _ in call.ringing}
    rooms = {r for call in placed for r in call.rooms}
    by_room: dict[str, list[Hit[Ringing]]] = {}
    for j, ring in index.of(Ringing):
        if (j in claimed or not ring.room_id or ring.room_id in rooms or ring.room_id in forged
                or ring.inviter in caller_users):
            continue
        by_room.setdefault(ring.room_id, []).append((j, ring))
    starts = sorted((hits[0][0], room) for room, hits in by_room.items())
    out: list[Call] = []
    for n, (first, room) in enumerate(starts):
        ring = by_room[room][0][1]
        inviter = ring.inviter
        caller = next(iter(index.agents_of(inviter)), "") if inviter else ""
        caller = caller or inviter or "?"
        rang = tuple(dict.fromkeys(e.agent for _, e in by_room[room]))
        users = as_ids(ring.invitees) or tuple(dict.fromkeys(index.user_of(a) for a in rang))
        agents = tuple(dict.fromkeys([*rang, *(a for u in users for a in index.agents_of(u)
                                                if a != caller and a not in index.external)]))
        nxt = next((s for s, r in starts[n + 1:] if by_room[r][0][1].inviter == inviter), len(index))
        invite = InviteSent(t_ms=ring.t_ms, agent=caller, room_id=room, callees=list(users), media=ring.media)
        call = Call(first, invite, caller, inviter, users, agents, ring.media, nxt, inbound=True)
        call.ack = (first, InviteAcked(t_ms=ring.t_ms, agent=caller, room_id=room, server_room_id=room))
        call.ringing = list(by_room[room])
        call.invitees = _invitees(index, call)
        out.append(call)
    return out


def _callee_agents(index: TimelineIndex, caller: str, users: tuple[str, ...],
                   resolver: Resolver | None) -> tuple[str, ...]:
    agents = tuple(a for u in users for a in index.agents_of(u) if a != caller)
    if agents:
        return agents
    if resolver is not None:
        named = resolver(caller, users)
        if named:
            return named
    rang = tuple(dict.fromkeys(e.agent for _, e in index.of(Ringing) if e.agent != caller))
    if rang:
        return rang
    return tuple(a for a in index.agents if a != caller)


def _reply(index: TimelineIndex, call: Call) -> None:
    """The invite's reply: acknowledged, refused, or never answered."""
    start, end, who = index.receipt_start(call.invite_idx), call.window_end, [call.caller]
    reply = index.find((InviteAcked, InviteRefused), start, end, agents=who, pred=lambda r: _answers(r, call.invite))
    if reply is not None:
        j, r = reply
        if isinstance(r, InviteAcked):
            call.ack = (j, r)
        elif isinstance(r, InviteRefused):
            call.refusal = (j, r)
    if call.refusal is None and call.ack is None:
        failed = index.find(RequestFailed, start, end, agents=who,
                            pred=lambda f: f.req_identifier == SIGNAL_REQUEST)
        if failed is not None:
            call.refusal = failed
    if call.ack is None and call.refusal is None:
        call.timeout = index.find(RequestTimeout, start, end, agents=who,
                                  pred=lambda f: f.req_identifier == SIGNAL_REQUEST)


def _answers(reply: Event, invite: InviteSent) -> bool:
    """A reply names the invite it answers by its temporary room, when it says."""
    own = reply.temp_room_id if isinstance(reply, InviteAcked) else reply.room_id
    return not own or not invite.room_id or own == invite.room_id


def _invitees(index: TimelineIndex, call: Call) -> list[Invitee]:
    start, end = call.invite_idx, call.window_end
    out: list[Invitee] = []
    for user in call.callee_users or tuple(dict.fromkeys(index.user_of(a) for a in call.callee_agents)):
        agents = tuple(a for a in call.callee_agents if index.user_of(a) == user) or \
            tuple(a for a in call.callee_agents if a == user)
        inv = Invitee(user, agents)
        seen: set[str] = set()
        for j, ring in call.ringing:
            if ring.agent in agents and ring.agent not in seen:
                seen.add(ring.agent)
                inv.rings.append((j, ring))
        if agents:
            inv.accept = index.find(AcceptSent, start, end, agents=agents, pred=call.in_room)
            inv.reject = index.find(RejectSent, start, end, agents=agents, pred=call.in_room)
        about = _about(call, user)
        inv.answered = index.find(Answered, start, end, agents=[call.caller], pred=about)
        inv.rejected = index.find(Rejected, start, end, agents=[call.caller], pred=about)
        out.append(inv)
    return out


def _about(call: Call, user: str) -> Callable[[PeerAction], bool]:
    """Whether a peer action the caller heard is about ``user``; unnamed ones count for a lone invitee."""
    lone = len(call.callee_users) <= 1
    return lambda e: call.in_room(e) and (e.by == user or (not e.by and lone))
