"""Reports say what each party was, and how far a figure across two clocks can be trusted."""

from __future__ import annotations

import io

from rich.console import Console

from callprobe.analysis.metrics import derive_calls
from callprobe.analysis.results import RunResult
from callprobe.reporters.console import render
from callprobe.reporters.json_report import SCHEMA_VERSION, report_dict
from callprobe.timeline.events import Event, make_event


def timeline() -> list[Event]:
    """alice here calls bob, a remote agent whose clock is known to ± 0.4 ms; a phone is external."""
    room = "r1"
    return [
        make_event("party", 1, "alice", role="agent", user_id="alice"),
        make_event("party", 1, "bob", role="remote", user_id="bob", host="edge-1", plays="agent",
                   clock_offset_ms=-2470.9, clock_uncertainty_ms=0.4),
        make_event("party", 1, "phone", role="external", user_id="1002"),
        make_event("invite_sent", 10, "alice", room_id="tmp", callees=["bob"], media="audio"),
        make_event("invite_acked", 12, "alice", room_id=room, server_room_id=room, temp_room_id="tmp"),
        make_event("ringing", 14, "bob", room_id=room, inviter="alice", media="audio"),
        make_event("accept_sent", 20, "bob", room_id=room, peer="alice"),
        make_event("answered", 23, "alice", room_id=room, by="bob", path="unsolicited_1004"),
        make_event("hangup_sent", 40, "alice", room_id=room, peer="bob"),
        make_event("hung_up", 42, "bob", room_id=room, by="alice", path="unsolicited_1004"),
    ]


def result(events: list[Event]) -> RunResult:
    return RunResult(scenario="s", file="s.yaml", server={}, duration_ms=50.0, events=events, steps=[],
                     calls=derive_calls(events))


def test_cross_clock_figures_carry_the_uncertainty() -> None:
    [call] = derive_calls(timeline())
    assert call.time_to_ring_ms == 4 and call.uncertainty_ms["time_to_ring_ms"] == 0.4
    assert call.uncertainty_ms["join_notice.latency_ms"] == 0.4
    assert call.uncertainty_ms["hangup_notice.latency_ms"] == 0.4
    assert "time_to_answer_ms" not in call.uncertainty_ms  # the caller's own clock both ends


def test_the_json_report_lists_the_parties() -> None:
    out = report_dict(result(timeline()))
    assert out["schema"] == SCHEMA_VERSION == 2
    roles = {p["agent"]: (p["role"], p.get("host")) for p in out["parties"]}
    assert roles == {"alice": ("agent", ""), "bob": ("remote", "edge-1"), "phone": ("external", "")}
    assert out["calls"][0]["uncertainty_ms"]["time_to_ring_ms"] == 0.4


def test_the_console_says_who_each_party_is_and_marks_two_clock_figures() -> None:
    buffer = io.StringIO()
    render(result(timeline()), Console(file=buffer, width=160, force_terminal=False))
    text = buffer.getvalue()
    assert "remote agent on edge-1, clock -2470.9 ms ± 0.4 ms" in text
    assert "external: not played by callprobe" in text
    assert "4.0 ms ± 0.4 ms (two clocks)" in text


def test_an_inbound_call_from_a_user_nobody_plays() -> None:
    events = [make_event("party", 1, "bot", role="agent", user_id="bot"),
              make_event("ringing", 5, "bot", room_id="r9", inviter="1002", media="video", invitees=["bot"]),
              make_event("accept_sent", 9, "bot", room_id="r9", peer="1002"),
              make_event("hung_up", 30, "bot", room_id="r9", by="1002", path="unsolicited_1004")]
    [call] = derive_calls(events)
    assert call.inbound and call.caller == "1002" and call.external == ["1002"] and call.callee == "bot"
    assert call.outcome == "answered" and call.time_to_ring_ms is None
    assert not call.join_notice.observed and call.hangup_notice.delivered
    assert call.signaling["hung_up_by"] == "1002"
