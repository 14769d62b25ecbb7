"""Fakes the test folders share: hand-built events, timeline queries, an in-memory KKIM gateway.

Rules, metrics and reporters are pure functions of recorded events, so the
events built here are real input. ``MemoryGateway`` answers a sans-I/O
``KkimClient`` with scripted frames, so driver logic is tested without a
socket.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar

from callprobe.timeline.events import Event, make_event

E = TypeVar("E", bound=Event)


def ev(t: float, agent: str, kind: str, **fields: Any) -> Event:
    """An event from a kind string and JSON-named fields (``from``, ``type`` included)."""
    return make_event(kind, t, agent, **fields)


def fields(e: Event) -> dict[str, Any]:
    """An event's fields as its report shows them (JSON names)."""
    return {k: v for k, v in e.to_json().items() if k not in ("t_ms", "agent", "kind")}


def select(events: Iterable[Event], kind: type[E] | str | None = None, agent: str | None = None,
           **match: Any) -> list[Any]:
    """Events of a kind (class or kind string) and agent whose JSON fields equal every ``match``."""
    out = []
    for e in events:
        if isinstance(kind, str) and e.kind != kind:
            continue
        if isinstance(kind, type) and not isinstance(e, kind):
            continue
        if agent is not None and e.agent != agent:
            continue
        if match:
            f = fields(e)
            if any(f.get(k) != v for k, v in match.items()):
                continue
        out.append(e)
    return out


def first(events: Iterable[Event], kind: type[E] | str | None = None, agent: str | None = None,
          **match: Any) -> Any:
    found = select(events, kind, agent, **match)
    return found[0] if found else None
