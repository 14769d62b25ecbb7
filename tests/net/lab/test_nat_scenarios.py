"""The shipped NAT scenarios in a real lab (root): STUN alone cannot cross the
caller's symmetric NAT, TURN can."""

from __future__ import annotations

import ipaddress
import json
import subprocess
import sys
from pathlib import Path

import pytest

from callprobe.analysis.diagnostics.findings import TURN_HINT
from callprobe.analysis.diagnostics.run_rules import findings_for_run
from callprobe.analysis.results import RunResult
from callprobe.engine.runner import run_scenario
from callprobe.errors import ExitCode
from callprobe.net.lab import builder
from callprobe.scenario.loader import load_scenario
from tests.fakes import fields
from tests.net.lab.conftest import SETTINGS, LabFactory
from tests.paths import SCENARIOS

LAN = {"alice": ipaddress.ip_network("10.201.1.0/24"), "bob": ipaddress.ip_network("10.201.2.0/24")}
PUBLIC = ipaddress.ip_network("198.51.100.0/24")


async def play(name: str) -> RunResult:
    result = await run_scenario(load_scenario(SCENARIOS / name))
    assert result.verdict == "pass", [f"{s.line}: {s.detail}" for s in result.failures] or result.aborted
    return result


def _local_candidates(result: RunResult, agent: str) -> list[tuple[str, str]]:
    return [(str(fields(e).get("type")), str(fields(e).get("address"))) for e in result.events
            if e.kind == "ice_candidate" and e.agent == agent and fields(e).get("side") == "local"]


async def test_stun_only_behind_a_symmetric_nat_is_answered_but_ice_fails(lab: LabFactory) -> None:
    lab()
    result = await play("nat-stun-only.yaml")
    [call] = result.calls
    assert call.outcome == "answered" and call.ice["connected_ms"] is None
    for agent in ("alice", "bob"):
        found = dict(_local_candidates(result, agent))
        # each host sees only its own LAN address; STUN reports its NAT's public address
        assert ipaddress.ip_address(found["host"]) in LAN[agent]
        assert ipaddress.ip_address(found["srflx"]) in PUBLIC
        assert "relay" not in found
    findings = findings_for_run(result.events, load_scenario(SCENARIOS / "nat-stun-only.yaml"))
    assert {f.code for f in findings} == {"ICE_FAILED"}
    assert all(f.hint == TURN_HINT and f.hint.startswith("no relay candidates: configure TURN")
               for f in findings)


async def test_the_same_call_with_turn_connects_over_a_relay(lab: LabFactory) -> None:
    lab()
    result = await play("nat-with-turn.yaml")
    [call] = result.calls
    assert call.ice["relayed"] is True and call.ice["connected_ms"] is not None
    pairs = call.ice["selected"]
    # the symmetric side can only be reached through its relay
    assert pairs["alice"]["local"] == "relay" and pairs["bob"]["remote"] == "relay"
    assert pairs["alice"]["local_address"].startswith("198.51.100.1:")
    for agent in ("alice", "bob"):
        assert call.media[agent]["audio_frames"] > 0
    assert result.server["netns"] == "cplab-public" and result.server["ws_url"].startswith("ws://198.51.100.1:")
    assert findings_for_run(result.events, load_scenario(SCENARIOS / "nat-with-turn.yaml")) == []


def test_a_lab_scenario_without_the_lab_is_a_clear_error(lab_to_ourselves: None) -> None:
    builder.down(SETTINGS)
    outcome = subprocess.run([sys.executable, "-m", "callprobe", "run", str(SCENARIOS / "nat-with-turn.yaml")],
                             capture_output=True, text=True, timeout=60, check=False)
    assert outcome.returncode == int(ExitCode.USAGE), outcome.stderr
    assert "network namespace 'cplab-caller' does not exist" in outcome.stderr
    assert "callprobe lab up" in outcome.stderr and "Traceback" not in outcome.stderr


@pytest.mark.parametrize("name", ["nat-stun-only.yaml", "nat-with-turn.yaml"])
def test_lab_scenarios_say_they_need_the_lab(name: str) -> None:
    scenario = load_scenario(SCENARIOS / name)
    assert "callprobe lab up" in scenario.description
    assert {a.netns for a in scenario.agents.values()} == {"cplab-caller", "cplab-callee"}


def test_diagnose_from_the_stun_only_scenario_names_ice_failed_with_the_turn_hint(
        lab: LabFactory, tmp_path: Path) -> None:
    lab()
    report = tmp_path / "d.json"
    proc = subprocess.run([sys.executable, "-m", "callprobe", "diagnose", "--scenario",
                           str(SCENARIOS / "nat-stun-only.yaml"), "--no-ladder", "--json", str(report)],
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == int(ExitCode.DIAGNOSIS_FOUND_ERRORS), proc.stdout + proc.stderr
    first = json.loads(report.read_text())["first_broken"]
    assert first["code"] == "ICE_FAILED" and first["link"] == "ice"
    assert first["hint"].startswith("no relay candidates: configure TURN")


async def test_with_two_port_restricted_nats_stun_alone_punches_through(lab: LabFactory) -> None:
    """The control: the NAT type, not the lab, is what defeats STUN."""
    from callprobe.net.lab.topology import NatMode
    from callprobe.scenario.loader import load_scenario_text

    lab(NatMode.PORT_RESTRICTED, NatMode.PORT_RESTRICTED)
    text = (SCENARIOS / "nat-stun-only.yaml").read_text().replace(
        "  - expect: {event: ice_connected, absent: true, for: 6s}",
        "  - expect: {event: ice_connected, via: direct, within: 6s}")
    result = await run_scenario(load_scenario_text(text, file="punch.yaml"))
    assert result.verdict == "pass", [f"{s.line}: {s.detail}" for s in result.failures]
    [call] = result.calls
    assert call.ice["relayed"] is False
    kinds = {p["local"] for p in call.ice["selected"].values()} | {p["remote"] for p in call.ice["selected"].values()}
    assert "srflx" in kinds or "prflx" in kinds  # through a NAT mapping, not host to host
