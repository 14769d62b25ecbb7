"""A run with an agent in another process: `callprobe agent` as a real second process,
on this machine, and in a second network namespace when root (``docs/peers.md#agents-on-other-hosts``)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from callprobe.analysis.results import RunResult
from callprobe.engine.remote.hub import RemoteHub
from callprobe.engine.remote.worker import AgentWorker, ControlRefused
from callprobe.engine.runner import Runner
from callprobe.errors import ExitCode
from callprobe.scenario.loader import load_scenario_text
from tests.net.lab.conftest import require_root


def call(hosts: str = "ice: {host_addresses: [127.0.0.1]}\n", agents: str = "", server: str = "",
         linger: str = "") -> str:
    return ("name: remote callee\n" + server + hosts
            + "agents:\n" + (agents or "  alice: {media: audio}\n  bob: {media: audio}\n")
            + "steps:\n  - connect: [alice, bob]\n  - invite: {from: alice, to: bob}\n"
            "  - expect: {agent: bob, event: ringing, within: 3s}\n  - accept: bob\n"
            "  - expect: {agent: alice, event: answered, within: 3s}\n"
            "  - expect: {event: ice_connected, within: 10s}\n" + linger
            + "  - wait: 1s\n  - expect: {event: media_flowing, direction: both}\n"
            "  - hangup: alice\n  - expect: {agent: bob, event: hung_up, within: 3s}\n")


async def spawn_agent(hub: RemoteHub, name: str, *prefix: str, token: str | None = None) -> Any:
    env = {**os.environ, "CALLPROBE_AGENT_TOKEN": hub.token if token is None else token}
    return await asyncio.create_subprocess_exec(
        *prefix, sys.executable, "-m", "callprobe", "agent", "--connect", hub.url, "--as", name,
        env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


async def remote_run(text: str, *prefix: str, listen: str = "127.0.0.1") -> tuple[RunResult, Any, bytes]:
    scenario = load_scenario_text(text, file="remote.yaml")
    hub = RemoteHub(("bob",), text, host=listen, settings=scenario.settings, file="remote.yaml")
    await hub.start()
    proc = await spawn_agent(hub, "bob", *prefix)
    try:
        result = await Runner(scenario, remote=hub, remote_agents=("bob",)).run()
        _, err = await asyncio.wait_for(proc.communicate(), 20)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    return result, proc, err


def check_remote_call(result: RunResult, host_words: str) -> None:
    assert result.verdict == "pass", [f"{s.line}: {s.detail}" for s in result.failures] or result.aborted
    bob = next(p for p in result.parties if p.agent == "bob")
    assert bob.role == "remote" and bob.plays == "agent" and bob.host
    assert bob.clock_offset_ms is not None and bob.clock_uncertainty_ms is not None
    assert 0 <= bob.clock_uncertainty_ms < 50, bob.clock_uncertainty_ms  # loopback or a veth: well under
    assert host_words in bob.text
    [c] = result.calls
    assert c.outcome == "answered" and c.rang == ["bob"]
    assert c.media["bob"]["audio_frames"] > 0 and c.media["alice"]["audio_frames"] > 0
    # every figure that spans the two clocks carries the uncertainty
    assert set(c.uncertainty_ms) >= {"time_to_ring_ms", "join_notice.latency_ms", "hangup_notice.latency_ms"}
    # corrected onto the run's clock, cause comes before effect across the two processes
    t = {(e.agent, e.kind): e.t_ms for e in reversed(result.events)}
    slack = bob.clock_uncertainty_ms
    assert t[("alice", "invite_sent")] <= t[("bob", "ringing")] + slack
    assert t[("bob", "accept_sent")] <= t[("alice", "answered")] + slack
    assert t[("alice", "hangup_sent")] <= t[("bob", "hung_up")] + slack


async def test_an_agent_in_another_process_plays_its_part() -> None:
    result, proc, err = await remote_run(call())
    assert proc.returncode == 0, err.decode()
    check_remote_call(result, "played by callprobe agent on")
    assert b"joined" in err and b"the run is over" in err


async def test_a_remote_agent_that_disappears_fails_the_run_at_once() -> None:
    text = call(linger="  - wait: 60s\n")
    scenario = load_scenario_text(text, file="remote.yaml")
    hub = RemoteHub(("bob",), text, settings=scenario.settings)
    await hub.start()
    proc = await spawn_agent(hub, "bob")
    runner = Runner(scenario, remote=hub, remote_agents=("bob",))
    task = asyncio.create_task(runner.run())
    try:
        for _ in range(300):
            if any(e.kind == "pc_state" and e.agent == "bob" and getattr(e, "state", "") == "connected"
                   for e in runner.timeline.events):
                break
            await asyncio.sleep(0.05)
        proc.kill()
        killed = runner.timeline.now_ms()
        result = await asyncio.wait_for(task, 15)
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()
    assert result.verdict == "fail" and "bob was lost" in result.aborted and "control connection" in result.aborted
    lost = [e for e in result.events if e.kind == "party_lost"]
    assert lost and lost[0].agent == "bob" and lost[0].t_ms - killed < 5000  # not the 60 s wait


async def test_a_wrong_token_or_name_is_refused() -> None:
    hub = RemoteHub(("bob",), call())
    await hub.start()
    try:
        with pytest.raises(ControlRefused, match="wrong token"):
            await AgentWorker(hub.url, "bob", "not-the-token").run()
        with pytest.raises(ControlRefused, match="not a remote agent of this run"):
            await AgentWorker(hub.url, "mallory", hub.token).run()
        proc = await spawn_agent(hub, "bob", token="nope")
        _, err = await proc.communicate()
        assert proc.returncode == ExitCode.USAGE and b"wrong token" in err
    finally:
        await hub.close()


# ------------------------------------------------------------------ a second network namespace


@contextlib.contextmanager
def namespace() -> Iterator[tuple[str, str, str]]:
    """A namespace joined to this one by a veth pair: (name, our address, its address)."""
    require_root()
    tag = uuid.uuid4().hex[:6]
    name, here, there = f"cpremote-{tag}", f"cprh{tag}", f"cprn{tag}"

    def ip(*args: str) -> None:
        subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)

    try:
        ip("netns", "add", name)
        ip("link", "add", here, "type", "veth", "peer", "name", there)
        ip("link", "set", there, "netns", name)
        ip("addr", "add", "203.0.113.1/24", "dev", here)
        ip("link", "set", here, "up")
        ip("-n", name, "addr", "add", "203.0.113.2/24", "dev", there)
        ip("-n", name, "link", "set", there, "up")
        ip("-n", name, "link", "set", "lo", "up")
        yield name, "203.0.113.1", "203.0.113.2"
    finally:
        subprocess.run(["ip", "link", "del", here], capture_output=True, timeout=10, check=False)
        subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=10, check=False)


@pytest.fixture
def other_host() -> Iterator[tuple[str, str, str]]:
    with namespace() as made:
        yield made


async def test_an_agent_in_another_network_namespace(other_host: tuple[str, str, str]) -> None:
    name, here, there = other_host
    text = call(hosts="", server=f"server: {{host: {here}}}\n",
                agents=f"  alice: {{media: audio, ice: {{host_addresses: [{here}]}}}}\n"
                       f"  bob: {{media: audio, ice: {{host_addresses: [{there}]}}}}\n")
    result, proc, err = await remote_run(text, "ip", "netns", "exec", name, listen=here)
    assert proc.returncode == 0, err.decode()
    check_remote_call(result, "played by callprobe agent on")
    [c] = result.calls
    assert c.ice["selected"]["bob"]["local_address"].startswith(there)
    assert c.ice["selected"]["alice"]["local_address"].startswith(here)
