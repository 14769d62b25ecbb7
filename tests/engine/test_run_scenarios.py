"""Every shipped scenario runs green against the embedded gateway, with real
WebRTC media, and its figures say what the scenario is about."""

from __future__ import annotations

from pathlib import Path

import pytest

from callprobe.analysis.results import RunResult
from callprobe.engine.runner import run_scenario
from callprobe.scenario.loader import load_scenario
from tests.fakes import fields
from tests.paths import SCENARIOS


async def play(name: str) -> RunResult:
    result = await run_scenario(load_scenario(SCENARIOS / name))
    failed = [f"line {s.line}: {s.text}: {s.detail}" for s in result.failures]
    assert result.verdict == "pass", failed or result.aborted
    return result


async def test_basic_video_call_has_media_both_ways() -> None:
    result = await play("basic.yaml")
    [call] = result.calls
    assert call.outcome == "answered" and call.media_kind == "video"
    assert call.time_to_ring_ms is not None and call.time_to_ring_ms > 0
    assert call.join_notice.delivered and call.join_notice.path in ("unsolicited_1004", "push_1601")
    assert call.ice["connected_ms"] is not None
    for agent in ("alice", "bob"):
        assert call.ice["candidates"][agent]["host"] >= 1
        assert call.ice["candidates"][agent]["relay"] == 0
        assert call.ice["selected"][agent]["local"] == "host"
        assert call.media[agent]["first_frame_ms"].keys() == {"audio", "video"}
    assert call.hangup_notice.delivered
    # the embedded gateway keeps every candidate on loopback
    addresses = {fields(e).get("address") for e in result.events if e.kind == "ice_candidate"}
    assert addresses == {"127.0.0.1"}
    assert result.server["embedded"] is True


async def test_audio_call_carries_no_video() -> None:
    result = await play("audio.yaml")
    [call] = result.calls
    assert call.media_kind == "audio" and call.outcome == "answered"
    for media in call.media.values():
        assert set(media["first_frame_ms"]) == {"audio"}


@pytest.mark.parametrize(("name", "outcome"), [
    ("reject.yaml", "rejected"),
    ("cancel.yaml", "cancelled"),
    ("no-answer.yaml", "no-answer"),
])
async def test_unanswered_outcomes_open_no_media(name: str, outcome: str) -> None:
    result = await play(name)
    [call] = result.calls
    assert call.outcome == outcome
    assert call.media == {} and call.ice["connected_ms"] is None
    assert not any(e.kind == "peer_created" for e in result.events)


async def test_busy_callee_refuses_second_caller() -> None:
    result = await play("busy.yaml")
    outcomes = [c.outcome for c in result.calls]
    assert "answered" in outcomes and "busy" in outcomes


async def test_callee_hangs_up() -> None:
    result = await play("callee-hangs-up.yaml")
    [call] = result.calls
    assert call.signaling["hung_up_by"] == call.callee
    assert call.hangup_notice.delivered


async def test_two_devices_ring_and_the_other_is_cancelled() -> None:
    result = await play("two-devices.yaml")
    [call] = result.calls
    assert len(call.rang) == 2
    cancelled = {e.agent for e in result.events if e.kind == "cancelled"}
    assert cancelled and call.callee not in cancelled


async def test_failing_run_says_why_with_the_diagnostic_rules() -> None:
    from callprobe.analysis.diagnostics.run_rules import findings_for_run
    from callprobe.scenario.loader import load_scenario_text

    scenario = load_scenario_text(
        "name: invite lost by the server\n"
        "server: {faults: [invite-not-pushed]}\n"
        "agents: {alice: {media: audio}, bob: {}}\n"
        "steps:\n"
        "  - connect: [alice, bob]\n"
        "  - send_text: {from: alice, to: bob, text: hello}\n"
        "  - expect: {agent: bob, event: text_received, within: 2s}\n"
        "  - invite: {from: alice, to: bob}\n"
        "  - expect: {agent: bob, event: ringing, within: 1s}\n",
        file="lost.yaml",
    )
    result = await run_scenario(scenario)
    assert result.verdict == "fail"
    assert [s.line for s in result.failures] == [9]
    assert "no ringing on bob" in result.failures[0].detail
    codes = [f.code for f in findings_for_run(result.events, scenario)]
    assert codes == ["INVITE_NOT_DELIVERED"]


async def test_relay_only_call_through_a_real_turn_server(tmp_path: Path) -> None:
    """ICE servers from the scenario reach the peers: relay-only through coturn."""
    from callprobe.scenario.loader import load_scenario_text
    from tests.rtc.coturn import Coturn

    with Coturn(tmp_path) as turn:
        scenario = load_scenario_text(
            "name: relay only\n"
            "ice:\n"
            f"  servers: [{{urls: '{turn.url}?transport=udp', username: {turn.user}, "
            f"credential: {turn.password}}}]\n"
            "  relay_only: true\n"
            "agents: {alice: {media: audio}, bob: {}}\n"
            "steps:\n"
            "  - connect: [alice, bob]\n"
            "  - invite: {from: alice, to: bob}\n"
            "  - accept: bob\n"
            "  - expect: {event: ice_connected, within: 10s}\n"
            "  - expect: {event: media_flowing, direction: both, within: 5s}\n"
            "  - hangup: alice\n",
            file="relay.yaml",
        )
        result = await run_scenario(scenario)
    failed = [f"line {s.line}: {s.detail}" for s in result.failures]
    assert result.verdict == "pass", failed
    [call] = result.calls
    for agent in ("alice", "bob"):
        counts = call.ice["candidates"][agent]
        assert counts["relay"] >= 1 and counts["host"] == 0
        assert call.ice["selected"][agent]["local"] == "relay"


async def test_a_caller_that_drops_ends_the_call_for_the_callee() -> None:
    from callprobe.analysis.diagnostics.run_rules import findings_for_run
    from callprobe.scenario.loader import load_scenario_text

    scenario = load_scenario_text(
        "name: caller drops\n"
        "agents: {alice: {media: audio}, bob: {}}\n"
        "steps:\n"
        "  - connect: [alice, bob]\n"
        "  - invite: {from: alice, to: bob}\n"
        "  - accept: bob\n"
        "  - expect: {event: ice_connected, within: 8s}\n"
        "  - disconnect: alice\n"
        "  - expect: {agent: bob, event: hung_up, within: 2s}\n",
        file="drop.yaml",
    )
    result = await run_scenario(scenario)
    assert result.verdict == "pass", [f"{s.line}: {s.detail}" for s in result.failures]
    [hung] = [e for e in result.events if e.kind == "hung_up"]
    assert hung.agent == "bob" and fields(hung).get("by") == "alice"
    # the call ended before media could flow: no finding blames the media path
    assert findings_for_run(result.events, scenario) == []


async def test_one_of_two_callees_declining_ends_only_its_part() -> None:
    result = await play("group-one-declines.yaml")
    [call] = result.calls
    assert call.outcome == "answered" and call.rang == ["bob", "carol"]
    by_agent = {inv.agent: inv for inv in call.invitees}
    assert by_agent["bob"].outcome == "answered" and by_agent["carol"].outcome == "rejected"
    assert all(inv.time_to_ring_ms is not None for inv in call.invitees)
    assert by_agent["bob"].time_to_answer_ms is not None
    # the caller's notice of carol's decline names nobody rather than the wrong invitee
    rejected = [e for e in result.events if e.kind == "rejected" and e.agent == "alice"]
    assert rejected and fields(rejected[0])["by"] in ("", "carol")
    for agent in ("alice", "bob"):
        assert call.media[agent]["audio_frames"] > 0
    assert "carol" not in call.media
