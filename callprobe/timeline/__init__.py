"""The neutral, typed timeline every backend records to and every analysis reads.

``events`` holds one frozen dataclass per kind and the kind table;
``recorder`` the ``Timeline`` itself. See ``docs/architecture.md#data-flow``.
"""

from callprobe.timeline.events import EVENT_TYPES, Event, event_from_json, make_event
from callprobe.timeline.recorder import EventSink, Scoped, Timeline, first_of, of_type

__all__ = ["EVENT_TYPES", "Event", "EventSink", "Scoped", "Timeline", "event_from_json", "first_of",
           "make_event", "of_type"]
