"""The run's one timeline: an append-only list of typed events on one clock.

Everything that happens is recorded here once, with the milliseconds since
the run started; nothing downstream touches a live agent, socket or peer
connection, so the same analysis runs on a live run, a report loaded from
disk, or a capture (``docs/architecture.md#data-flow``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from typing import Protocol, TypeVar

from callprobe.timeline.events import Event, stamped

E = TypeVar("E", bound=Event)
Listener = Callable[[Event], None]


class EventSink(Protocol):
    """Where a component records events: a ``Timeline`` or a ``Scoped`` view of one."""

    def now_ms(self) -> float: ...

    def record(self, event: E) -> E: ...


class Timeline:
    """Append-only event list with one monotonic origin for every agent."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._origin = clock()
        self._events: list[Event] = []
        self._listeners: list[Listener] = []

    def now_ms(self) -> float:
        return (self._clock() - self._origin) * 1000.0

    def record(self, event: E) -> E:
        """Append ``event`` stamped with the current time; return the stamped copy."""
        stamped_event = stamped(event, t_ms=self.now_ms())
        self._events.append(stamped_event)
        for listener in self._listeners:
            listener(stamped_event)
        return stamped_event

    def record_at(self, event: E, t_ms: float) -> E:
        """Append ``event`` that happened at ``t_ms`` (run ms) and is only now delivered.

        For what is observed elsewhere and reported later: a browser page's
        events, a remote agent's (moved onto this clock). Never stamped later
        than now; the list stays in arrival order, and readers sort by time.
        """
        stamped_event = stamped(event, t_ms=min(t_ms, self.now_ms()))
        self._events.append(stamped_event)
        for listener in self._listeners:
            listener(stamped_event)
        return stamped_event

    def subscribe(self, listener: Listener) -> None:
        """Call ``listener`` for every event recorded from now on."""
        self._listeners.append(listener)

    def unsubscribe(self, listener: Listener) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    @property
    def events(self) -> list[Event]:
        return list(self._events)

    def __iter__(self) -> Iterator[Event]:
        return iter(list(self._events))

    def __len__(self) -> int:
        return len(self._events)


class Scoped:
    """A timeline view that files every event under one call (``room_id``).

    Lets a component that knows nothing of calls (a peer connection) write
    events a call's figures can still attribute.
    """

    def __init__(self, timeline: EventSink, room_id: str) -> None:
        self._timeline = timeline
        self._room_id = room_id

    def now_ms(self) -> float:
        return self._timeline.now_ms()

    def record(self, event: E) -> E:
        if not event.room_id:
            event = stamped(event, room_id=self._room_id)
        return self._timeline.record(event)


def of_type(events: Iterable[Event], cls: type[E], agent: str | None = None) -> list[E]:
    """Events of one class (and agent), in order."""
    return [e for e in events if isinstance(e, cls) and (agent is None or e.agent == agent)]


def first_of(events: Iterable[Event], cls: type[E], agent: str | None = None) -> E | None:
    for e in events:
        if isinstance(e, cls) and (agent is None or e.agent == agent):
            return e
    return None
