"""The shipped call-room scenarios run green against the embedded server, and a run against a
remote one (``callprobe serve --backend rooms`` in a subprocess) reports the same figures."""

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
from tests.paths import ROOT, SCENARIOS

ROOMS = sorted(p.name for p in (SCENARIOS / "rooms").glob("*.yaml"))


async def play(name: str) -> RunResult:
    result = await run_scenario(load_scenario(SCENARIOS / "rooms" / name))
    failed = [f"line {s.line}: {s.text}: {s.detail}" for s in result.failures]
    assert result.verdict == "pass", failed or result.aborted
    return result


def test_every_fault_of_the_family_has_its_scenario() -> None:
    from callprobe.backends.rooms.faults import FAULTS

    assert {f"fault-{name}.yaml" for name in FAULTS} <= set(ROOMS)


@pytest.mark.parametrize("name", [n for n in ROOMS if n.startswith("fault-")])
async def test_each_fault_scenario_shows_its_finding(name: str) -> None:
    scenario = load_scenario(SCENARIOS / "rooms" / name)
    result = await play(name)
    expected = {s.finding for s in scenario.expectations if s.finding and not s.absent}
    found = findings_for_run(result.events, scenario)
    assert len(expected) == 1 and expected <= {f.code for f in found}
    # as `callprobe run` reports them: the finding the scenario provokes is expected, so info
    assert all(f.severity.value == "info" for f in found if f.code in expected)


@pytest.mark.parametrize(("name", "order", "told"), [
    ("answered-caller-first.yaml", "caller-first", "alice"),
    ("answered-callee-first.yaml", "callee-first", "bob"),
])
async def test_an_answered_call_reports_its_join_order_and_each_partys_notices(name: str, order: str,
                                                                             told: str) -> None:
    result = await play(name)
    [call] = result.calls
    assert call.outcome == "answered" and call.time_to_ring_ms is not None
    assert call.join_notice.delivered
    assert call.join_notice.path == ("room_notice" if order == "caller-first" else "status_poll")
    room = call.room
    assert room["join_order"] == order
    assert room["join_notice"]["to"] == told and room["join_notice"]["delivered"]
    assert room["join_notice"]["latency_ms"] is not None and room["join_notice"]["latency_ms"] < 1000
    kinds = {agent: [n["notice"] for n in notices] for agent, notices in room["notices"].items()}
    assert kinds[told][:2] == ["connection", "join"]
    assert {j["own"] for j in room["joined"].values()} == {True}
    for agent in ("alice", "bob"):
        assert call.media[agent]["first_frame_ms"].keys() == {"audio", "video"}
    assert call.hangup_notice.delivered and call.hangup_notice.path == "room_notice"
    assert [f.code for f in result.findings] == []


async def test_both_orders_in_one_run_by_join_room_steps() -> None:
    result = await play("join-orders.yaml")
    assert [c.room["join_order"] for c in result.calls] == ["callee-first", "caller-first"]
    assert [c.room["join_notice"]["to"] for c in result.calls] == ["bob", "alice"]
    assert all(c.room["join_notice"]["delivered"] for c in result.calls)


@pytest.mark.parametrize(("name", "outcomes"), [
    ("reject.yaml", ["rejected"]),
    ("caller-ends.yaml", ["answered"]),
    ("callee-ends.yaml", ["answered"]),
    ("unknown-user.yaml", ["failed"]),
    ("busy.yaml", ["answered", "busy"]),
])
async def test_the_other_scenarios(name: str, outcomes: list[str]) -> None:
    result = await play(name)
    assert [c.outcome for c in result.calls] == outcomes


# ------------------------------------------------------------------ a remote server


@pytest.fixture
async def remote() -> AsyncIterator[str]:
    """``callprobe serve --backend rooms --port 0`` in a subprocess; its URL."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "callprobe", "serve", "--backend", "rooms", "--port", "0",
        cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    assert proc.stdout is not None
    lines: list[str] = []
    try:
        async with asyncio.timeout(15.0):
            while not lines or "ready" not in lines[-1]:
                line = (await proc.stdout.readline()).decode()
                assert line, f"serve exited early: {lines}"
                lines.append(line.strip())
        yield next(m.group(1) for line in lines if (m := re.fullmatch(r"url:\s+(\S+)", line)))
    finally:
        proc.terminate()
        await proc.wait()


CALL = """\
name: remote call-room call
server:
  url: {url}
  backend: {{family: rooms, register: true, poll_interval: 200ms}}
ice: {{host_addresses: [127.0.0.1]}}
agents:
  alice: {{media: audio, password: alice-secret}}
  bob: {{media: audio, password: bob-secret}}
steps:
  - connect: [alice, bob]
  - invite: {{from: alice, to: bob, join_order: callee-first}}
  - expect: {{agent: bob, event: ringing, within: 2s}}
  - accept: bob
  - expect: {{agent: alice, event: answered, within: 2s}}
  - expect: {{agent: bob, event: join_notice, within: 3s}}
  - expect: {{event: ice_connected, within: 8s}}
  - hangup: bob
  - expect: {{agent: alice, event: hung_up, within: 2s}}
"""


async def test_a_run_and_a_walk_against_a_remote_server(remote: str, tmp_path: Path) -> None:
    scenario = load_scenario_text(CALL.format(url=remote), file="remote-rooms.yaml")
    for _ in range(2):  # the second run logs in to the accounts the first registered
        result = await run_scenario(scenario)
        assert result.verdict == "pass", [f"{s.line}: {s.detail}" for s in result.failures] or result.aborted
        assert result.server["embedded"] is False and result.server["ws_url"] == remote
        [call] = result.calls
        assert call.room["join_order"] == "callee-first" and call.room["join_notice"]["delivered"]
    walk = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "callprobe", "diagnose", "--backend", "rooms", "--server", remote,
        "--caller", "carol", "--callee", "dave", "--password", "secret-cd", "--register", "--no-ladder",
        "--json", str(tmp_path / "walk.json"), cwd=ROOT, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(walk.communicate(), 120)
    assert walk.returncode == 0, out.decode()[-3000:] + err.decode()[-2000:]
    report = json.loads((tmp_path / "walk.json").read_text())
    assert report["healthy"] and report["target"]["backend"] == "rooms"


def test_the_benchmark_runs_and_reports_every_figure() -> None:
    """benchmarks/rooms.py at a tiny size: every figure is printed (the figures themselves are not judged)."""
    import subprocess

    proc = subprocess.run([sys.executable, "benchmarks/rooms.py", "--ring-calls", "3", "--poll", "0.05",
                           "--calls", "5"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "time to ring, poll 50 ms: n=3" in proc.stdout
    for order in ("caller-first", "callee-first"):
        assert f"{order}: join to the first in, from the newcomer's upgrade  n=5" in proc.stdout
