"""A read-only index over an event list, and the calls it contains.

Rules ask the same questions again and again: which user is this agent, was
it connected at that moment, did a notice of this kind reach one of those
agents in time, which call does this ring belong to. ``TimelineView``
answers them from the events alone, once, so each rule stays a few lines of
plain logic.

Order: events are sorted by time, stably, so equal times keep the order they
were recorded in. A reply may be recorded a moment *before* the request that
caused it (a driver records its send after the write returns), so a receipt
is searched from just after the sender's previous event, not from the send.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, overload
from urllib.parse import parse_qs, urlsplit

from callprobe.analysis.diagnostics.context import RuleContext
from callprobe.analysis.diagnostics.links import AUTH_PROBE_STEPS, STEP_HEARTBEAT, STEP_HISTORY
from callprobe.timeline.events import Event, Kind

Hit = tuple[int, Event]

#: Steps whose window holds its own connects and closes (not ordinary ones).
PROBE_STEPS = frozenset(AUTH_PROBE_STEPS)

#: Notices that end a call, on either side.
END_KINDS = frozenset({
    Kind.HUNG_UP.value, Kind.HANGUP_SENT.value, Kind.REJECTED.value, Kind.REJECT_SENT.value,
    Kind.CANCELLED.value, Kind.CANCEL_SENT.value, Kind.CALL_TIMEOUT.value,
})

SIGNAL_REQUEST = 1004
SEND_MSG = 1003


def as_ids(value: Any) -> tuple[str, ...]:
    """A user-ID field that may be a string, a list of strings or empty."""
    if isinstance(value, str):
        return (value,) if value else ()
    if isinstance(value, (list, tuple)):
        return tuple(str(v) for v in value if v not in (None, ""))
    return ()


@dataclass(frozen=True)
class Delivery:
    """Whether a notice reached a receiver: ``ok``, ``late``, ``missing`` or
    ``inconclusive`` (the timeline ends before the deadline ran out)."""

    status: str
    hit: Hit | None = None
    delay_ms: float | None = None

    @property
    def arrived(self) -> bool:
        return self.status in ("ok", "late")


@dataclass(frozen=True)
class ProbeWindow:
    step: str
    agent: str
    start: int
    end: int          # index of STEP_FINISHED, or the last index when unfinished
    finished: Event | None


@dataclass
class CallView:
    """One invite and what followed it, as the timeline shows."""

    invite_idx: int
    invite: Event
    caller: str
    caller_user: str
    callee_users: tuple[str, ...]
    callee_agents: tuple[str, ...]
    media: str
    window_end: int                     # exclusive: the caller's next invite
    ack: Hit | None = None
    refusal: Hit | None = None          # INVITE_REFUSED, or REQUEST_FAILED 1004
    timeout: Hit | None = None          # REQUEST_TIMEOUT 1004
    ringing: list[Hit] = field(default_factory=list)

    @property
    def own_room(self) -> str:
        return str(self.invite.get("room_id") or "")

    @property
    def server_room(self) -> str:
        """The roomID the server assigned in its invite reply, if any."""
        if self.ack is None:
            return ""
        e = self.ack[1]
        return str(e.get("server_room_id") or e.get("room_id") or "")

    @property
    def room_id(self) -> str:
        """The room the call runs under: the server's when acknowledged, else the client's own."""
        if self.ack is not None and self.ack[1].get("room_id"):
            return str(self.ack[1].get("room_id"))
        return self.own_room

    @property
    def answered_ok(self) -> bool:
        return self.ack is not None and self.refusal is None and self.timeout is None


@dataclass
class Room:
    """A call's lifetime for the busy check: who is in it, from when to when."""

    room_id: str
    start: int
    users: set[str]
    agents: set[str]
    end: int | None = None


class TimelineView(Sequence[Event]):
    """Indexes over one event list for the rules; never mutates the events.

    It is itself a sequence of the (time-sorted) events, so a rule called with
    a view built once by ``diagnose_timeline`` reuses it (``view_of``).
    """

    def __init__(self, events: Iterable[Event], ctx: RuleContext) -> None:
        self.ctx = ctx
        self.events: list[Event] = sorted(events, key=lambda e: e.t_ms)
        self.end_ms = self.events[-1].t_ms if self.events else 0.0
        self._by_kind: dict[str, list[int]] = {}
        self._prev_same: list[int] = []
        last: dict[str, int] = {}
        for i, e in enumerate(self.events):
            self._by_kind.setdefault(e.kind, []).append(i)
            self._prev_same.append(last.get(e.agent, -1))
            last[e.agent] = i
        self.agents: list[str] = list(dict.fromkeys(e.agent for e in self.events if e.agent))
        self.users = self._infer_users()
        self.windows = self._probe_windows()
        self._calls: list[CallView] | None = None
        self._rooms: list[Room] | None = None

    @overload
    def __getitem__(self, index: int) -> Event: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[Event]: ...

    def __getitem__(self, index: int | slice) -> Event | Sequence[Event]:
        return self.events[index]

    def __len__(self) -> int:
        return len(self.events)

    # ------------------------------------------------------------- lookups

    def of(self, *kinds: Kind | str, agent: str | None = None,
           agents: Iterable[str] | None = None) -> list[Hit]:
        """Events of the given kinds (and agent or agents), in time order."""
        wanted = {k.value if isinstance(k, Kind) else k for k in kinds}
        allowed = set(agents) if agents is not None else None
        idx = sorted(i for k in wanted for i in self._by_kind.get(k, ()))
        return [(i, self.events[i]) for i in idx
                if (agent is None or self.events[i].agent == agent)
                and (allowed is None or self.events[i].agent in allowed)]

    def find(self, kinds: Iterable[Kind | str], start: int, end: int | None = None,
             agents: Iterable[str] | None = None,
             pred: Callable[[Event], bool] | None = None) -> Hit | None:
        """First event of ``kinds`` at index in [start, end) matching ``pred``."""
        stop = len(self.events) if end is None else end
        for i, e in self.of(*kinds, agents=agents):
            if start <= i < stop and (pred is None or pred(e)):
                return i, e
        return None

    def prev_of_agent(self, idx: int) -> int:
        """Index of the same agent's previous event, or -1."""
        return self._prev_same[idx]

    def receipt_start(self, send_idx: int) -> int:
        """Where to look for what a send caused (see the module docstring)."""
        return self.prev_of_agent(send_idx) + 1

    def user_of(self, agent: str) -> str:
        return self.users.get(agent, agent)

    def agents_of(self, user: str) -> tuple[str, ...]:
        return tuple(a for a in self.agents if self.user_of(a) == user)

    def last_index_at(self, t_ms: float) -> int:
        """Index just past the last event at or before ``t_ms``."""
        n = 0
        for i, e in enumerate(self.events):
            if e.t_ms <= t_ms:
                n = i + 1
        return n

    # ----------------------------------------------------------- connection

    def connected(self, agent: str, idx: int) -> bool:
        """Whether ``agent`` had an open connection just before ``idx``.

        An agent whose connection the timeline never shows counts as connected:
        the rules then judge what it did receive, not what they cannot see.
        """
        state: bool | None = None
        for i, e in self.of(Kind.WS_OPEN, Kind.WS_CLOSED, Kind.WS_REFUSED, Kind.KICKED, agent=agent):
            if i >= idx:
                break
            if self.in_probe(i):
                continue
            state = e.kind == Kind.WS_OPEN.value
        return True if state is None else state

    def any_connected(self, agents: Iterable[str], idx: int) -> bool:
        return any(self.connected(a, idx) for a in agents)

    def legs(self, agent: str) -> list[tuple[int, int]]:
        """[start, end) index ranges of ``agent``'s peer connections, one per PEER_CREATED."""
        starts = [i for i, _ in self.of(Kind.PEER_CREATED, agent=agent)]
        if not starts or starts[0] > 0:
            starts.insert(0, 0)
        return list(zip(starts, starts[1:] + [len(self.events)]))

    # ---------------------------------------------------------- deliveries

    def deliver(self, send_idx: int, kinds: Iterable[Kind | str], receivers: Iterable[str],
                deadline_ms: float | None, pred: Callable[[Event], bool] | None = None,
                end: int | None = None) -> Delivery:
        """Did a ``kinds`` event matching ``pred`` reach one of ``receivers``?

        Late means after ``deadline_ms``; missing means never, once the
        timeline runs past the deadline (before that it is inconclusive).
        """
        sent = self.events[send_idx]
        hit = self.find(kinds, self.receipt_start(send_idx), end, agents=list(receivers), pred=pred)
        if hit is not None:
            delay = hit[1].t_ms - sent.t_ms
            late = deadline_ms is not None and delay > deadline_ms
            return Delivery("late" if late else "ok", hit, delay)
        if deadline_ms is not None and self.end_ms - sent.t_ms < deadline_ms:
            return Delivery("inconclusive")
        return Delivery("missing")

    # --------------------------------------------------------------- probes

    def _probe_windows(self) -> list[ProbeWindow]:
        windows: list[ProbeWindow] = []
        for i, e in self.of(Kind.STEP_STARTED):
            step = str(e.get("step", ""))
            if step not in PROBE_STEPS and step not in (STEP_HEARTBEAT, STEP_HISTORY):
                continue
            fin = self.find([Kind.STEP_FINISHED], i + 1, agents=[e.agent], pred=_step_is(step))
            end_idx, finished = (fin[0], fin[1]) if fin else (len(self.events) - 1, None)
            windows.append(ProbeWindow(step, e.agent, i, end_idx, finished))
        return windows

    def in_probe(self, idx: int) -> bool:
        """Whether event ``idx`` belongs to an auth probe's own connection."""
        agent = self.events[idx].agent
        return any(w.step in PROBE_STEPS and w.start <= idx <= w.end and (w.agent in ("", agent))
                   for w in self.windows)

    def step_results(self, *steps: str) -> list[Hit]:
        """STEP_FINISHED markers of the given steps."""
        want = set(steps)
        return [(i, e) for i, e in self.of(Kind.STEP_FINISHED) if e.get("step") in want]

    # ---------------------------------------------------------------- users

    def _infer_users(self) -> dict[str, str]:
        users = self.ctx.known_users()
        for e in self.events:
            if not e.agent or e.agent in users:
                continue
            uid = ""
            if e.kind == Kind.WS_CONNECTING.value and isinstance(e.get("url"), str):
                query = parse_qs(urlsplit(e.get("url")).query)
                uid = (query.get("sendID") or [""])[0]
            elif e.kind in (Kind.LOGIN_OK.value, Kind.LOGIN_FAILED.value) and e.get("user_id"):
                uid = str(e.get("user_id"))
            if uid:
                users[e.agent] = uid
        return users

    # ---------------------------------------------------------------- calls

    def calls(self) -> list[CallView]:
        """Every invite of the run, with its reply and the rings it caused."""
        if self._calls is None:
            self._calls = self._build_calls()
        return self._calls

    def _callee_agents(self, caller: str, callee_users: tuple[str, ...], start: int,
                       end: int) -> tuple[str, ...]:
        agents = tuple(a for u in callee_users for a in self.agents_of(u) if a != caller)
        if agents:
            return agents
        if caller == self.ctx.caller and self.ctx.callee_agents():
            return self.ctx.callee_agents()
        rang = tuple(dict.fromkeys(e.agent for _, e in self.of(Kind.RINGING)
                                   if e.agent != caller))
        if rang:
            return rang
        return tuple(a for a in self.agents if a != caller)

    def _build_calls(self) -> list[CallView]:
        invites = self.of(Kind.INVITE_SENT)
        callers = {e.agent for _, e in invites}
        caller_users = {self.user_of(a) for a in callers}
        calls: list[CallView] = []
        for n, (i, e) in enumerate(invites):
            nxt = next((j for j, f in invites[n + 1:] if f.agent == e.agent), len(self.events))
            callee_users = as_ids(e.get("callees", e.get("callee", e.get("to"))))
            callee_agents = self._callee_agents(e.agent, callee_users, i, nxt)
            if not callee_users:
                callee_users = tuple(dict.fromkeys(self.user_of(a) for a in callee_agents))
            media = str(e.get("media") or self.ctx.media or "")
            call = CallView(i, e, e.agent, self.user_of(e.agent), callee_users, callee_agents,
                            media, nxt)
            start = self.receipt_start(i)
            reply = self.find([Kind.INVITE_ACKED, Kind.INVITE_REFUSED], start, nxt, agents=[e.agent])
            if reply is not None:
                if reply[1].kind == Kind.INVITE_ACKED.value:
                    call.ack = reply
                else:
                    call.refusal = reply
            if call.refusal is None:
                failed = self.find([Kind.REQUEST_FAILED], start, nxt, agents=[e.agent],
                                   pred=lambda f: f.get("req_identifier") == SIGNAL_REQUEST)
                if failed is not None and call.ack is None:
                    call.refusal = failed
            if call.ack is None and call.refusal is None:
                call.timeout = self.find([Kind.REQUEST_TIMEOUT], start, nxt, agents=[e.agent],
                                         pred=lambda f: f.get("req_identifier") == SIGNAL_REQUEST)
            other_callers = caller_users - {call.caller_user}
            for j, r in self.of(Kind.RINGING, agents=callee_agents):
                if not start <= j < nxt:
                    continue
                inviter = str(r.get("inviter") or "")
                if inviter and inviter in other_callers:
                    continue
                call.ringing.append((j, r))
            calls.append(call)
        return calls

    def rooms(self) -> list[Room]:
        """Calls as rooms with a start and an end, from both sides' events."""
        if self._rooms is None:
            self._rooms = self._build_rooms()
        return self._rooms

    def _build_rooms(self) -> list[Room]:
        rooms: dict[str, Room] = {}
        for call in self.calls():
            if call.ack is None or not call.room_id:
                continue
            room = rooms.setdefault(call.room_id, Room(call.room_id, call.ack[0], set(), set()))
            room.users |= {call.caller_user, *call.callee_users}
            room.agents |= {call.caller}
            for j, r in call.ringing:
                room.agents.add(r.agent)
        for j, r in self.of(Kind.RINGING):
            rid = str(r.get("room_id") or "")
            if not rid:
                continue
            room = rooms.setdefault(rid, Room(rid, j, set(), set()))
            room.start = min(room.start, j)
            room.users |= {self.user_of(r.agent), *as_ids(r.get("inviter"))}
            room.agents.add(r.agent)
        ordered = sorted(rooms.values(), key=lambda r: r.start)
        for j, e in self.of(*END_KINDS):
            rid = str(e.get("room_id") or "")
            if rid and rid in rooms:
                target: Room | None = rooms[rid]
            else:
                open_rooms = [r for r in ordered if r.end is None and r.start < j and e.agent in r.agents]
                target = open_rooms[-1] if open_rooms else None
            if target is not None and target.end is None and target.start < j:
                target.end = j
        return ordered

    def active_room(self, user: str, idx: int) -> Room | None:
        """A call involving ``user`` that is open just before ``idx``."""
        for room in self.rooms():
            if user in room.users and room.start < idx and (room.end is None or room.end > idx):
                return room
        return None


def _step_is(step: str) -> Callable[[Event], bool]:
    return lambda e: e.get("step") == step


def view_of(events: Sequence[Event], ctx: RuleContext) -> TimelineView:
    """The view of ``events`` under ``ctx``: reused when already built for it."""
    if isinstance(events, TimelineView) and events.ctx == ctx:
        return events
    return TimelineView(events, ctx)
