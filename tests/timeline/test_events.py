"""The typed timeline: recording, the kind table, and the JSON form reports use."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from callprobe.timeline.events import (
    EVENT_TYPES,
    PEER_ACTIONS,
    Event,
    HungUp,
    Note,
    Ringing,
    SelectedPair,
    TextReceived,
    UnknownEvent,
    WsOpen,
    event_from_json,
    make_event,
    peer_action_type,
)
from callprobe.timeline.recorder import Scoped, Timeline, first_of, of_type


class FakeClock:
    """Seconds that advance only when a test says so."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


def _timeline() -> tuple[Timeline, FakeClock]:
    clock = FakeClock()
    return Timeline(clock), clock


def test_record_stamps_milliseconds_since_the_origin_and_keeps_the_type() -> None:
    tl, clock = _timeline()
    assert tl.now_ms() == 0.0
    clock.now += 1.5
    event = tl.record(WsOpen(agent="alice", latency_ms=12.0))
    assert event == WsOpen(t_ms=1500.0, agent="alice", latency_ms=12.0)
    assert isinstance(event, WsOpen) and event.kind == "ws_open"
    assert tl.events == [event] and len(tl) == 1


def test_events_is_a_copy_and_iteration_is_a_snapshot() -> None:
    tl, _ = _timeline()
    tl.record(Note(agent="a", text="1"))
    tl.events.clear()
    assert len(tl) == 1
    seen = []
    for event in tl:
        seen.append(event)
        tl.record(Note(agent="a", text="during"))
    assert len(seen) == 1 and len(tl) == 2


def test_listeners_see_every_later_event_until_unsubscribed() -> None:
    tl, _ = _timeline()
    tl.record(Note(agent="a", text="before"))
    got: list[Event] = []
    tl.subscribe(got.append)
    tl.record(Note(agent="a", text="one"))
    tl.unsubscribe(got.append)
    tl.unsubscribe(got.append)  # twice is harmless
    tl.record(Note(agent="a", text="after"))
    assert [e.text for e in got if isinstance(e, Note)] == ["one"]


def test_scoped_files_events_under_its_room_unless_they_name_one() -> None:
    tl, _ = _timeline()
    scoped = Scoped(tl, "r1")
    a = scoped.record(Note(agent="a", text="x"))
    b = scoped.record(Note(agent="a", room_id="other", text="y"))
    assert (a.room_id, b.room_id) == ("r1", "other")


def test_of_type_and_first_of_select_by_class_including_subclasses() -> None:
    events = [Ringing(t_ms=1, agent="bob", room_id="r1"), HungUp(t_ms=2, agent="bob"),
              Ringing(t_ms=3, agent="carol", room_id="r2")]
    assert [e.t_ms for e in of_type(events, Ringing)] == [1, 3]
    assert [e.t_ms for e in of_type(events, Ringing, agent="carol")] == [3]
    assert first_of(events, HungUp) is events[1] and first_of(events, SelectedPair) is None


def test_every_kind_is_one_class_with_a_unique_stable_string() -> None:
    assert len(EVENT_TYPES) == len(set(EVENT_TYPES))
    for kind, cls in EVENT_TYPES.items():
        assert kind == cls.KIND and kind == kind.lower() and " " not in kind
        assert dataclasses.is_dataclass(cls) and cls.__dataclass_params__.frozen  # type: ignore[attr-defined]
    # the kinds reports written before the typed timeline used are all still read
    for kind in ("ringing", "answered", "ws_open", "frame_in", "media_stats", "step_finished", "expectation",
                 "notice_undecodable", "turn_probe", "selected_pair", "peer_closed"):
        assert kind in EVENT_TYPES
    assert {cls.KIND for cls in PEER_ACTIONS} == {"answered", "rejected", "cancelled", "hung_up", "call_timeout"}
    assert peer_action_type("hung_up") is HungUp
    with pytest.raises(ValueError):
        peer_action_type("ringing")


def test_to_json_is_flat_rounds_time_and_uses_the_wire_names() -> None:
    event = TextReceived(t_ms=12.3456789, agent="bob", sender="alice", seq=4)
    out = event.to_json()
    assert out["t_ms"] == 12.346 and out["kind"] == "text_received" and out["from"] == "alice"
    assert "sender" not in out and "room_id" not in out and "extra" not in out
    assert json.loads(json.dumps(out)) == out


def test_round_trip_through_text_gives_equal_typed_events() -> None:
    events = [Ringing(t_ms=1.0, agent="bob", room_id="r1", inviter="alice", invitees=["bob"], seq=3),
              SelectedPair(t_ms=2.0, agent="bob", local="relay", remote="host", protocol="udp"),
              Note(t_ms=3.0, agent="", note="teardown", text="bye", extra={"count": 2})]
    text = "\n".join(json.dumps(e.to_json()) for e in events)
    loaded = [event_from_json(json.loads(line)) for line in text.splitlines()]
    assert loaded == events
    assert [type(e) for e in loaded] == [Ringing, SelectedPair, Note]
    assert loaded[2].extra == {"count": 2}


def test_a_schema_1_event_loads_with_its_unknown_fields_kept() -> None:
    old = {"t_ms": 5, "agent": "bob", "kind": "ringing", "room_id": "r1", "inviter": "alice",
           "dialect": "bare-SignalInviteReq", "some_future_field": [1, 2]}
    event = event_from_json(old)
    assert isinstance(event, Ringing) and event.t_ms == 5.0 and event.inviter == "alice"
    assert event.extra == {"some_future_field": [1, 2]}
    assert event.to_json() | {} == {**event.to_json()}  # writable again
    assert event.to_json()["some_future_field"] == [1, 2]


def test_an_unknown_kind_loads_as_itself_and_writes_back_unchanged() -> None:
    obj = {"t_ms": 1.0, "agent": "x", "kind": "from_the_future", "room_id": "r", "a": 1}
    event = event_from_json(obj)
    assert isinstance(event, UnknownEvent) and event.kind == "from_the_future"
    assert event.to_json() == obj


def test_loose_types_from_a_hand_written_report_are_repaired() -> None:
    event = make_event("ringing", "7", None, timeout_s=30.0, platform=None, inviter=42)  # type: ignore[arg-type]
    assert isinstance(event, Ringing)
    assert (event.t_ms, event.agent, event.timeout_s, event.platform, event.inviter) == (7.0, "", 30, 0, "42")


@pytest.mark.parametrize("obj, words", [({"t_ms": 1}, "kind"), ({"kind": "ringing"}, "t_ms"),
                                        ({"kind": "ringing", "t_ms": "soon"}, "t_ms")])
def test_an_event_without_kind_or_time_is_refused_by_name(obj: dict[str, object], words: str) -> None:
    with pytest.raises(ValueError, match=words):
        event_from_json(obj)


def test_a_schema_1_report_written_before_the_typed_timeline_still_loads() -> None:
    path = Path(__file__).parent / "schema1_report.json"
    report = json.loads(path.read_text())
    events = [event_from_json(obj) for obj in report["events"]]
    assert len(events) == len(report["events"]) > 20
    assert not [e for e in events if isinstance(e, UnknownEvent)]
    assert [e.to_json() for e in events] != []
    rings = of_type(events, Ringing)
    assert rings and rings[0].inviter
