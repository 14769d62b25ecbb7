"""The neutral timeline: recording, selection and the JSON form reports use."""

from __future__ import annotations

import json

from callprobe.timeline.events import Event, Kind, Timeline, first, select


class FakeClock:
    """Seconds that advance only when a test says so."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


def _timeline() -> tuple[Timeline, FakeClock]:
    clock = FakeClock()
    return Timeline(clock), clock


def test_times_are_milliseconds_since_the_origin() -> None:
    tl, clock = _timeline()
    assert tl.now_ms() == 0.0
    clock.now += 1.5
    event = tl.record("alice", Kind.WS_OPEN, latency_ms=12.0)
    assert event == Event(1500.0, "alice", "ws_open", {"latency_ms": 12.0})
    assert tl.events == [event] and len(tl) == 1


def test_kind_enum_or_string_are_stored_as_the_string() -> None:
    tl, _ = _timeline()
    a = tl.record("a", Kind.RINGING, room_id="r")
    b = tl.record("a", "custom_kind")
    assert (a.kind, b.kind) == ("ringing", "custom_kind")
    assert isinstance(a.kind, str) and type(a.kind) is str


def test_events_is_a_copy_and_iteration_is_a_snapshot() -> None:
    tl, _ = _timeline()
    tl.record("a", Kind.NOTE, text="1")
    tl.events.clear()
    assert len(tl) == 1
    seen = []
    for event in tl:
        seen.append(event)
        tl.record("a", Kind.NOTE, text="during")
    assert len(seen) == 1 and len(tl) == 2


def test_listeners_see_every_later_event_until_unsubscribed() -> None:
    tl, _ = _timeline()
    tl.record("a", Kind.NOTE, text="before")
    got: list[Event] = []
    tl.subscribe(got.append)
    tl.record("a", Kind.RUN_STARTED)
    tl.unsubscribe(got.append)
    tl.unsubscribe(got.append)  # a second unsubscribe is harmless
    tl.record("a", Kind.RUN_FINISHED)
    assert [e.kind for e in got] == ["run_started"]


def _sample() -> list[Event]:
    return [
        Event(1.0, "alice", "invite_sent", {"callee": "bob", "room_id": "r1"}),
        Event(2.0, "bob", "ringing", {"room_id": "r1", "dialect": "bare"}),
        Event(3.0, "carol", "ringing", {"room_id": "r2"}),
        Event(4.0, "bob", "accept_sent", {"room_id": "r1"}),
    ]


def test_select_by_kind_agent_and_fields() -> None:
    events = _sample()
    assert [e.t_ms for e in select(events, Kind.RINGING)] == [2.0, 3.0]
    assert [e.t_ms for e in select(events, "ringing", agent="carol")] == [3.0]
    assert [e.t_ms for e in select(events, room_id="r1")] == [1.0, 2.0, 4.0]
    assert [e.t_ms for e in select(events, agent="bob", room_id="r1", dialect="bare")] == [2.0]
    assert select(events, Kind.HUNG_UP) == []
    assert select(events) == events


def test_first() -> None:
    events = _sample()
    found = first(events, Kind.RINGING)
    assert found is not None and found.agent == "bob"
    assert first(events, Kind.RINGING, room_id="r2") is events[2]
    assert first(events, Kind.HUNG_UP) is None


def test_event_get() -> None:
    event = _sample()[1]
    assert event.get("dialect") == "bare"
    assert event.get("missing") is None and event.get("missing", 7) == 7


def test_to_json_is_flat_and_rounds_time() -> None:
    event = Event(12.3456789, "bob", "frame_in", {"req_identifier": 2001, "size": 40})
    assert event.to_json() == {"t_ms": 12.346, "agent": "bob", "kind": "frame_in",
                               "req_identifier": 2001, "size": 40}


def test_json_round_trip_through_text() -> None:
    tl, clock = _timeline()
    for step, kind in enumerate([Kind.LOGIN_OK, Kind.INVITE_SENT, Kind.ICE_CANDIDATE]):
        clock.now += 0.25
        tl.record(f"agent{step}", kind, n=step, nested={"list": [1, "x", None]}, flag=True)
    text = json.dumps([e.to_json() for e in tl])
    back = [Event.from_json(obj) for obj in json.loads(text)]
    assert back == tl.events


def test_from_json_defaults_agent_and_coerces_types() -> None:
    event = Event.from_json({"t_ms": 5, "kind": "run_started", "scenario": "s.yaml"})
    assert event == Event(5.0, "", "run_started", {"scenario": "s.yaml"})
    assert type(event.t_ms) is float


def test_kind_values_are_unique_stable_strings() -> None:
    values = [k.value for k in Kind]
    assert len(values) == len(set(values))
    assert Kind.PC_STATE.value == "pc_state" and Kind.WS_CLOSED.value == "ws_closed"
