"""Every shipped Socket.IO scenario runs green against the embedded chat backend, its figures say what
the scenario is about, and the same runs work against a server started with `callprobe serve`."""

from __future__ import annotations

import asyncio
import json
import re
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from callprobe.analysis.diagnostics.run_rules import findings_for_run
from callprobe.analysis.results import RunResult
from callprobe.engine.runner import run_scenario
from callprobe.scenario.loader import load_scenario, load_scenario_text
from tests.fakes import fields
from tests.paths import ROOT, SCENARIOS

SHIPPED = sorted(p.name for p in (SCENARIOS / "socketio").glob("*.yaml"))


async def play(name: str) -> RunResult:
    scenario = load_scenario(SCENARIOS / "socketio" / name)
    result = await run_scenario(scenario)
    failed = [f"line {s.line}: {s.text}: {s.detail}" for s in result.failures]
    assert result.verdict == "pass", failed or result.aborted
    result.findings = findings_for_run(result.events, scenario)  # as `callprobe run` attaches them
    return result


def test_the_shipped_set_is_the_documented_one() -> None:
    assert SHIPPED == ["basic.yaml", "busy.yaml", "callee-offline.yaml", "cancel.yaml", "id-as-string.yaml",
                       "reject.yaml", "two-devices.yaml"]
    readme = (SCENARIOS / "README.md").read_text()
    for name in SHIPPED:
        assert f"`socketio/{name}`" in readme, name


async def test_answered_video_call_rings_by_both_paths_and_carries_media() -> None:
    result = await play("basic.yaml")
    [call] = result.calls
    assert call.outcome == "answered" and call.media_kind == "video"
    assert call.join_notice.delivered and call.join_notice.path == "call_response"
    assert call.join_notice.latency_ms is not None
    [bob] = call.invitees
    assert set(bob.ring_paths) == {"call_invitation", "message"} and bob.rang_via in bob.ring_paths
    assert call.time_to_ring_ms == pytest.approx(min(bob.ring_paths.values()), abs=0.001)
    for agent in ("alice", "bob"):
        assert call.media[agent]["first_frame_ms"].keys() == {"audio", "video"}
    assert call.hangup_notice.delivered and call.hangup_notice.path == "call_ended"
    assert [f.code for f in result.findings if f.severity.value != "info"] == []
    # user ids are the integers login returned, not the usernames
    assert {fields(e)["user_id"] for e in result.events if e.kind == "login_ok"} == {"1", "2"}


@pytest.mark.parametrize(("name", "outcome"), [("reject.yaml", "rejected"), ("cancel.yaml", "cancelled")])
async def test_unanswered_outcomes_open_no_media(name: str, outcome: str) -> None:
    result = await play(name)
    [call] = result.calls
    assert call.outcome == outcome and call.media == {}
    assert not any(e.kind == "peer_created" for e in result.events)


async def test_callee_offline_is_acknowledged_offline_and_rings_nothing() -> None:
    result = await play("callee-offline.yaml")
    [call] = result.calls
    acked = [fields(e)["status"] for e in result.events if e.kind == "invite_acked"]
    assert acked == ["offline"] and call.rang == [] and call.invitees[0].ring_paths == {}
    assert not [f for f in result.findings if f.severity.value != "info"]


async def test_busy_callee_refuses_the_second_caller() -> None:
    result = await play("busy.yaml")
    assert [c.outcome for c in result.calls] == ["answered", "busy"]


async def test_two_devices_ring_and_the_other_stops() -> None:
    result = await play("two-devices.yaml")
    [call] = result.calls
    assert sorted(call.rang) == ["bob_laptop", "bob_phone"]
    [stopped] = [e for e in result.events if e.kind == "cancelled" and e.agent == "bob_phone"]
    assert fields(stopped)["server_reason"] == "answered-elsewhere"


async def test_an_id_sent_as_a_string_is_named_and_lowered_to_info() -> None:
    result = await play("id-as-string.yaml")
    codes = {f.code: f.severity.value for f in result.findings}
    assert codes == {"INVITE_ACKED_OFFLINE": "info"}, [f.to_json() for f in result.findings]
    [sent] = [e for e in result.events if e.kind == "invite_sent"]
    assert fields(sent)["id_type"] == "string"


async def test_an_expected_finding_that_does_not_come_fails_the_step() -> None:
    text = (SCENARIOS / "socketio" / "id-as-string.yaml").read_text().replace("faults: [target-id-type]",
                                                                              "faults: []")
    text = text.replace("  - expect: {agent: bob, event: ringing, absent: true, for: 1s}\n", "")
    result = await run_scenario(load_scenario_text(text, file="no-fault.yaml"))
    assert result.verdict == "fail"
    [failed] = result.failures
    assert "INVITE_ACKED_OFFLINE" in failed.text and "no INVITE_ACKED_OFFLINE finding" in failed.detail


# ---------------------------------------------------------------- against `callprobe serve`


@pytest.fixture
async def served() -> AsyncIterator[str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "callprobe", "serve", "--backend", "socketio", "--port", "0",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        assert proc.stdout is not None
        url = ""
        async with asyncio.timeout(15):
            while not url:
                line = (await proc.stdout.readline()).decode()
                assert line, "serve exited early"
                found = re.match(r"url:\s+(\S+)", line.strip())
                url = found.group(1) if found else ""
        yield url
    finally:
        proc.terminate()
        await proc.wait()


async def run_cli(*args: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "callprobe", "run", *args, cwd=ROOT,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await asyncio.wait_for(proc.communicate(), 120)
    return proc.returncode or 0, out.decode()


async def test_run_against_a_served_backend(served: str, tmp_path: Path) -> None:
    scenario = tmp_path / "remote.yaml"
    scenario.write_text((SCENARIOS / "socketio" / "basic.yaml").read_text().replace(
        "  backend: {family: socketio}", "  backend: {family: socketio, auto_register: true}"))
    report = tmp_path / "run.json"
    code, out = await run_cli(str(scenario), "--server", served, "--json", str(report))
    assert code == 0, out
    data = json.loads(report.read_text())
    assert data["verdict"] == "pass" and data["server"]["embedded"] is False
    assert data["server"]["ws_url"] == served
    assert data["calls"][0]["outcome"] == "answered"
    # the accounts exist now: the shipped file, which registers nothing, runs too
    code, out = await run_cli(str(SCENARIOS / "socketio" / "reject.yaml"), "--server", served)
    assert code == 0, out


async def test_conference_media_opens_no_peer_and_both_parties_get_the_room() -> None:
    text = (
        "name: conference call\n"
        "server: {backend: {family: socketio, media: conference}}\n"
        "agents: {alice: {}, bob: {}}\n"
        "steps:\n"
        "  - connect: [alice, bob]\n"
        "  - invite: {from: alice, to: bob}\n"
        "  - expect: {agent: bob, event: ringing, within: 3s}\n"
        "  - accept: bob\n"
        "  - expect: {agent: alice, event: answered, within: 2s}\n"
        "  - expect: {event: ice_connected, absent: true, for: 500ms}\n"
        "  - hangup: alice\n"
        "  - expect: {agent: bob, event: hung_up, within: 2s}\n"
        "  - expect: {finding: ROOM_ID_MISMATCH, absent: true, for: 100ms}\n"
    )
    result = await run_scenario(load_scenario_text(text, file="conference.yaml"))
    assert result.verdict == "pass", [f"{s.line}: {s.detail}" for s in result.failures]
    assert result.calls[0].outcome == "answered"
    assert not any(e.kind in ("peer_created", "signal_sent") for e in result.events)
    acked = next(fields(e)["room_name"] for e in result.events if e.kind == "invite_acked")
    rang = next(fields(e)["room_name"] for e in result.events if e.kind == "ringing")
    assert acked == rang and acked.startswith("call-")
