"""A read-only index over one timeline: events by class, by agent, in time order.

Analysis asks the same questions again and again: which events of these
kinds did these agents record in this index range, which user is this agent,
was it connected at that moment. ``TimelineIndex`` answers them from the
events alone, built once.

Order: events are sorted by time, stably, so equal times keep the order they
were recorded in. A reply may be recorded a moment *before* the request that
caused it (a driver records its send after the write returns), so a receipt
is searched from just after the sender's previous event, not from the send
(``receipt_start``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import TypeVar, overload
from urllib.parse import parse_qs, urlsplit

from callprobe.timeline.events import (
    Event,
    Kicked,
    LoginFailed,
    LoginOk,
    PartyInfo,
    WsClosed,
    WsConnecting,
    WsOpen,
    WsRefused,
)

E = TypeVar("E", bound=Event)
Hit = tuple[int, E]


def as_ids(value: object) -> tuple[str, ...]:
    """A user-ID field that may be a string, a list of strings or empty."""
    if isinstance(value, str):
        return (value,) if value else ()
    if isinstance(value, (list, tuple)):
        return tuple(str(v) for v in value if v not in (None, ""))
    return ()


class TimelineIndex(Sequence[Event]):
    """Indexes over one event list; never mutates the events.

    Args:
        events: the timeline, in any order.
        users: agent name to backend user ID, where the caller knows it;
            others are read from the timeline (login, connection URL), and
            failing that an agent's name is taken as its user ID.
    """

    def __init__(self, events: Iterable[Event], users: dict[str, str] | None = None) -> None:
        self.events: list[Event] = sorted(events, key=lambda e: e.t_ms)
        self.end_ms = self.events[-1].t_ms if self.events else 0.0
        self._by_type: dict[type[Event], list[int]] = {}
        self._prev_same: list[int] = []
        last: dict[str, int] = {}
        for i, e in enumerate(self.events):
            self._by_type.setdefault(type(e), []).append(i)
            self._prev_same.append(last.get(e.agent, -1))
            last[e.agent] = i
        self.agents: list[str] = list(dict.fromkeys(e.agent for e in self.events if e.agent))
        #: what each party is (``PartyInfo``), when the timeline says
        self.parties: dict[str, PartyInfo] = {e.agent: e for e in self.events if isinstance(e, PartyInfo) and e.agent}
        #: parties callprobe does not play: nothing of theirs is on the timeline
        self.external: frozenset[str] = frozenset(n for n, p in self.parties.items() if p.role == "external")
        self.users = self._infer_users(dict(users or {}))

    @overload
    def __getitem__(self, index: int) -> Event: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[Event]: ...

    def __getitem__(self, index: int | slice) -> Event | Sequence[Event]:
        return self.events[index]

    def __len__(self) -> int:
        return len(self.events)

    # ------------------------------------------------------------- lookups

    def of(self, kinds: type[E] | tuple[type[E], ...], agent: str | None = None,
           agents: Iterable[str] | None = None) -> list[Hit[E]]:
        """Events of the given classes (subclasses included) and agent(s), in time order."""
        wanted = kinds if isinstance(kinds, tuple) else (kinds,)
        allowed = set(agents) if agents is not None else None
        idx = sorted(i for cls, hits in self._by_type.items() if issubclass(cls, wanted) for i in hits)
        out: list[Hit[E]] = []
        for i in idx:
            e = self.events[i]
            if (agent is None or e.agent == agent) and (allowed is None or e.agent in allowed):
                out.append((i, e))  # type: ignore[arg-type]  # issubclass above
        return out

    def find(self, kinds: type[E] | tuple[type[E], ...], start: int, end: int | None = None,
             agents: Iterable[str] | None = None, pred: Callable[[E], bool] | None = None) -> Hit[E] | None:
        """First event of ``kinds`` at index in [start, end) matching ``pred``."""
        stop = len(self.events) if end is None else end
        for i, e in self.of(kinds, agents=agents):
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

    def clock_uncertainty(self, *agents: str) -> float | None:
        """How far a time difference between events of ``agents`` may be off, in ms.

        ``None`` when they all ran on this run's own clock (agents and browsers
        of this process). A remote party's events were moved onto the run's
        clock by an estimated offset (``PartyInfo.clock_uncertainty_ms``); a
        figure spanning two clocks carries the sum of their uncertainties.
        """
        clocks = {a for a in agents if a and self.parties.get(a) is not None and self.parties[a].role == "remote"}
        if not clocks or len(set(agents)) < 2:
            return None
        return sum(self.parties[a].clock_uncertainty_ms or 0.0 for a in clocks)

    def last_index_at(self, t_ms: float) -> int:
        """Index just past the last event at or before ``t_ms``."""
        n = 0
        for i, e in enumerate(self.events):
            if e.t_ms <= t_ms:
                n = i + 1
        return n

    # ----------------------------------------------------------- connection

    def connected(self, agent: str, idx: int, skip: Callable[[int], bool] | None = None) -> bool:
        """Whether ``agent`` had an open connection just before ``idx``.

        An agent whose connection the timeline never shows counts as connected:
        analysis then judges what it did receive, not what it cannot see.
        An external party (``PartyInfo`` role ``external``) never counts:
        nothing it receives can be seen; nor, on a timeline that names its
        parties, does a name that is none of them (the caller of a call from
        anyone). ``skip`` leaves out events that belong to something else (a
        probe's own connection). A socket of one call's room (its events carry
        the ``room_id``) is not the agent's connection: leaving a room is no
        disconnect.
        """
        if agent in self.external or (self.parties and agent not in self.parties):
            return False
        state: bool | None = None
        for i, e in self.of((WsOpen, WsClosed, WsRefused, Kicked), agent=agent):
            if i >= idx:
                break
            if (skip is not None and skip(i)) or e.room_id:
                continue
            state = isinstance(e, WsOpen)
        return True if state is None else state

    # ---------------------------------------------------------------- users

    def _infer_users(self, users: dict[str, str]) -> dict[str, str]:
        for e in self.events:
            if (isinstance(e, LoginOk) and e.username and e.user_id and e.agent
                    and users.get(e.agent, e.username) == e.username):
                # a backend whose login returns an id names the user by that id in its messages
                users[e.agent] = e.user_id
                continue
            if not e.agent or e.agent in users:
                continue
            uid = ""
            if isinstance(e, PartyInfo) and e.user_id:
                uid = e.user_id
            elif isinstance(e, WsConnecting) and e.url:
                query = parse_qs(urlsplit(e.url).query)
                uid = (query.get("sendID") or [""])[0]
            elif isinstance(e, (LoginOk, LoginFailed)) and e.user_id:
                uid = e.user_id
            if uid:
                users[e.agent] = uid
        return users
