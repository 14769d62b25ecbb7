"""Runs through a real coturn: the embedded one a scenario asks for, and one
with credentials the scenario gets wrong."""

from __future__ import annotations

from pathlib import Path

from callprobe.analysis.diagnostics.run_rules import findings_for_run
from callprobe.engine.runner import run_scenario
from callprobe.net.coturn import Coturn, stun_binding_ok
from callprobe.scenario.loader import load_scenario, load_scenario_text
from tests.paths import SCENARIOS

CALL = ("steps:\n"
        "  - connect: [alice, bob]\n"
        "  - invite: {from: alice, to: bob}\n"
        "  - accept: bob\n"
        "  - expect: {event: ice_connected, within: 8s}\n"
        "  - expect: {event: media_flowing, direction: both, within: 5s}\n"
        "  - hangup: alice\n")


async def test_relay_scenario_connects_relay_to_relay_and_stops_its_coturn() -> None:
    scenario = load_scenario(SCENARIOS / "relay.yaml")
    result = await run_scenario(scenario)
    assert result.verdict == "pass", [f"{s.line}: {s.detail}" for s in result.failures]
    [call] = result.calls
    assert call.ice["relayed"] is True
    for agent in ("alice", "bob"):
        assert call.ice["turn_configured"][agent] is True
        counts = call.ice["candidates"][agent]
        assert counts["relay"] >= 1 and counts["host"] == counts["srflx"] == 0
        pair = call.ice["selected"][agent]
        assert pair["local"] == pair["remote"] == "relay" and pair["protocol"] == "udp"
        assert pair["local_address"].startswith("127.0.0.1:")
    # the report names the coturn it started, never its credential
    stun_url = result.server["coturn"]["stun"]
    created = [e for e in result.events if e.kind == "peer_created"]
    assert all(s.get("username") for e in created for s in e.ice_servers)
    assert not any("credential" in str(e.to_json()) for e in created)
    port = int(stun_url.rsplit(":", 1)[1])
    assert not stun_binding_ok("127.0.0.1", port)  # stopped with the run
    assert findings_for_run(result.events, scenario) == []


async def test_one_relay_only_agent_meets_a_host_candidate_through_the_relay() -> None:
    scenario = load_scenario_text(
        "name: one side relay-only\nice: {embedded_servers: [turn]}\n"
        "agents:\n  alice: {media: audio, ice: {relay_only: true}}\n  bob: {}\n" + CALL)
    result = await run_scenario(scenario)
    assert result.verdict == "pass", [f"{s.line}: {s.detail}" for s in result.failures]
    [call] = result.calls
    assert call.ice["selected"]["alice"]["local"] == "relay"
    assert call.ice["candidates"]["alice"]["host"] == 0
    assert call.ice["candidates"]["bob"]["host"] >= 1
    assert call.ice["relayed"] is True


async def test_wrong_turn_credential_is_probed_and_named_turn_unavailable(tmp_path: Path) -> None:
    with Coturn(workdir=tmp_path, user="probe", password="right-one") as turn:
        scenario = load_scenario_text(
            "name: wrong credential\n"
            "settings: {ice_connect_timeout_s: 2}\n"
            "ice:\n  relay_only: true\n"
            f"  servers: [{{urls: '{turn.turn_url('udp')}', username: probe, credential: wrong-one}}]\n"
            "agents: {alice: {media: audio}, bob: {}}\n"
            "steps:\n"
            "  - connect: [alice, bob]\n"
            "  - invite: {from: alice, to: bob}\n"
            "  - accept: bob\n"
            "  - expect: {event: ice_connected, absent: true, for: 3s}\n"
            "  - hangup: alice\n")
        result = await run_scenario(scenario)
    assert result.verdict == "pass", [f"{s.line}: {s.detail}" for s in result.failures]
    probes = [e for e in result.events if e.kind == "turn_probe"]
    assert {e.agent for e in probes} == {"alice", "bob"}
    assert all(e.verdict == "turn-auth-failed" and e.error_code == 401 for e in probes)
    findings = findings_for_run(result.events, scenario)
    assert {f.code for f in findings} == {"TURN_UNAVAILABLE"}
    for finding in findings:
        assert finding.severity.value == "error"
        assert "refused the username and credential" in finding.hint
        assert "gathered no relay candidate" in finding.detail and "401" in finding.detail


async def test_turn_over_tcp_relays_the_call() -> None:
    scenario = load_scenario_text(
        "name: turn over tcp\nice: {embedded_servers: [turn-tcp], relay_only: true}\n"
        "agents: {alice: {media: audio}, bob: {}}\n" + CALL)
    result = await run_scenario(scenario)
    assert result.verdict == "pass", [f"{s.line}: {s.detail}" for s in result.failures]
    urls = {u for e in result.events if e.kind == "peer_created"
            for s in e.ice_servers for u in s["urls"]}
    assert urls == {result.server["coturn"]["turn_tcp"]} and all(u.endswith("?transport=tcp") for u in urls)
    [call] = result.calls
    assert {p["local"] for p in call.ice["selected"].values()} == {"relay"}
