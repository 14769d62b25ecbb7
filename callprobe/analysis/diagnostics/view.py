"""The timeline as the rules see it: the index, the calls, the probes and who was meant to do what.

``TimelineView`` adds to ``analysis.index.TimelineIndex`` what only the rules
need: the ``RuleContext`` (who calls whom, deadlines, the links exercised),
the walk's probe windows (events inside a probe belong to the probe), the
calls as rooms with a start and an end (for the busy check), and whether a
notice reached its receivers in time (``deliver``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from callprobe.analysis.calls import END_EVENTS, Call, build_calls, forged_rooms
from callprobe.analysis.diagnostics.context import RuleContext
from callprobe.analysis.diagnostics.links import AUTH_PROBE_STEPS, STEP_HEARTBEAT, STEP_HISTORY
from callprobe.analysis.index import Hit, TimelineIndex, as_ids
from callprobe.timeline.events import Event, Ringing, RunFinished, RunStarted, StepFinished, StepStarted

E = TypeVar("E", bound=Event)

#: Steps whose window holds its own connects and closes (not ordinary ones).
PROBE_STEPS = frozenset(AUTH_PROBE_STEPS)

#: In a finished run, a notice sent at least this long before the end had every
#: chance to arrive: its absence is missing, not inconclusive (a relay takes ms).
SETTLED_MS = 1000.0


@dataclass(frozen=True)
class Delivery:
    """Whether a notice reached a receiver: ``ok``, ``late``, ``missing`` or
    ``inconclusive`` (the timeline ends before the deadline ran out)."""

    status: str
    hit: Hit[Event] | None = None
    delay_ms: float | None = None

    @property
    def arrived(self) -> bool:
        return self.status in ("ok", "late")


@dataclass(frozen=True)
class ProbeWindow:
    step: str
    agent: str
    start: int
    end: int          # index of StepFinished, or the last index when unfinished
    finished: StepFinished | None


@dataclass
class Room:
    """A call's lifetime for the busy check: who is in it, from when to when."""

    room_id: str
    start: int
    users: set[str]
    agents: set[str]
    end: int | None = None


class TimelineView(TimelineIndex):
    """The index, plus the context and the walk's probe markers; built once per diagnosis."""

    def __init__(self, events: Iterable[Event], ctx: RuleContext) -> None:
        super().__init__(events, ctx.known_users())
        self.ctx = ctx
        self.windows = self._probe_windows()
        self.finished = bool(self.of(RunFinished))
        #: the backend family the timeline was recorded against ("": not said, as in older reports)
        self.backend = next((e.backend for _, e in self.of(RunStarted) if e.backend), "")
        self._calls: list[Call] | None = None
        self._rooms: list[Room] | None = None

    # ----------------------------------------------------------- connection

    def connected(self, agent: str, idx: int, skip: Callable[[int], bool] | None = None) -> bool:
        """As ``TimelineIndex.connected``, leaving out the probes' own connections."""
        return super().connected(agent, idx, skip or self.in_probe)

    def any_connected(self, agents: Iterable[str], idx: int) -> bool:
        return any(self.connected(a, idx) for a in agents)

    def legs(self, agent: str) -> list[tuple[int, int]]:
        """[start, end) index ranges of ``agent``'s peer connections, one per PeerCreated."""
        from callprobe.timeline.events import PeerCreated

        starts = [i for i, _ in self.of(PeerCreated, agent=agent)]
        if not starts or starts[0] > 0:
            starts.insert(0, 0)
        return list(zip(starts, [*starts[1:], len(self.events)], strict=True))

    # ---------------------------------------------------------- deliveries

    def deliver(self, send_idx: int, kinds: type[E] | tuple[type[E], ...], receivers: Iterable[str],
                deadline_ms: float | None, pred: Callable[[E], bool] | None = None,
                end: int | None = None) -> Delivery:
        """Did an event of ``kinds`` matching ``pred`` reach one of ``receivers``?

        Late means after ``deadline_ms``; missing means never, once the
        timeline runs past the deadline (before that it is inconclusive).
        """
        sent = self.events[send_idx]
        hit = self.find(kinds, self.receipt_start(send_idx), end, agents=list(receivers), pred=pred)
        if hit is not None:
            delay = hit[1].t_ms - sent.t_ms
            late = deadline_ms is not None and delay > deadline_ms
            return Delivery("late" if late else "ok", hit, delay)
        waited = self.end_ms - sent.t_ms
        if deadline_ms is not None and waited < deadline_ms and not (self.finished and waited >= SETTLED_MS):
            return Delivery("inconclusive")
        return Delivery("missing", delay_ms=waited)

    # --------------------------------------------------------------- probes

    def _probe_windows(self) -> list[ProbeWindow]:
        windows: list[ProbeWindow] = []
        for i, e in self.of(StepStarted):
            step = e.step
            if step not in PROBE_STEPS and step not in (STEP_HEARTBEAT, STEP_HISTORY):
                continue
            fin = self.find(StepFinished, i + 1, agents=[e.agent], pred=_step_is(step))
            end_idx, finished = (fin[0], fin[1]) if fin else (len(self.events) - 1, None)
            windows.append(ProbeWindow(step, e.agent, i, end_idx, finished))
        return windows

    def in_probe(self, idx: int) -> bool:
        """Whether event ``idx`` belongs to an auth probe's own connection."""
        agent = self.events[idx].agent
        return any(w.step in PROBE_STEPS and w.start <= idx <= w.end and (w.agent in ("", agent))
                   for w in self.windows)

    def step_results(self, *steps: str) -> list[Hit[StepFinished]]:
        """StepFinished markers of the given steps."""
        want = set(steps)
        return [(i, e) for i, e in self.of(StepFinished) if e.step in want]

    # ---------------------------------------------------------------- calls

    def calls(self) -> list[Call]:
        """Every invite of the run (``analysis.calls``), callee agents helped by the context."""
        if self._calls is None:
            self._calls = build_calls(self, self._ctx_callees)
        return self._calls

    def _ctx_callees(self, caller: str, users: tuple[str, ...]) -> tuple[str, ...]:
        if caller == self.ctx.caller and self.ctx.callee_agents():
            return self.ctx.callee_agents()
        return ()

    def call_of(self, agent: str, idx: int) -> Call | None:
        """The latest call before ``idx`` that ``agent`` is a party to."""
        found = None
        for call in self.calls():
            if call.invite_idx < idx and (agent == call.caller or agent in call.callee_agents):
                found = call
        return found

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
            for _, r in call.ringing:
                room.agents.add(r.agent)
        forged = forged_rooms(self)
        for j, ring in self.of(Ringing):
            if not ring.room_id or ring.room_id in forged:
                continue
            room = rooms.setdefault(ring.room_id, Room(ring.room_id, j, set(), set()))
            room.start = min(room.start, j)
            room.users |= {self.user_of(ring.agent), *as_ids(ring.inviter)}
            room.agents.add(ring.agent)
        ordered = sorted(rooms.values(), key=lambda r: r.start)
        for j, e in self.of(END_EVENTS):
            target: Room | None
            if e.room_id and e.room_id in rooms:
                target = rooms[e.room_id]
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


def _step_is(step: str) -> Callable[[StepFinished], bool]:
    return lambda f: f.step == step


def view_of(events: Sequence[Event], ctx: RuleContext) -> TimelineView:
    """The view of ``events`` under ``ctx``: reused when already built for it."""
    if isinstance(events, TimelineView) and events.ctx == ctx:
        return events
    return TimelineView(events, ctx)
