"""`callprobe run` against a gateway it did not start (`--server/--api`)."""

from __future__ import annotations

from callprobe.backends.kkim.server import EmbeddedGateway
from callprobe.engine.runner import run_scenario
from callprobe.scenario.loader import load_scenario_text

CALL = (
    "name: remote call\n"
    "ice: {host_addresses: [127.0.0.1]}\n"
    "agents: {alice: {media: audio}, bob: {}}\n"
    "steps:\n"
    "  - connect: [alice, bob]\n"
    "  - invite: {from: alice, to: bob}\n"
    "  - accept: bob\n"
    "  - expect: {agent: alice, event: answered, within: 2s}\n"
    "  - expect: {event: ice_connected, within: 8s}\n"
    "  - hangup: alice\n"
    "  - expect: {agent: bob, event: hung_up, within: 2s}\n"
)

LEAVES_RINGING = (
    "name: leaves the call ringing\n"
    "ice: {host_addresses: [127.0.0.1]}\n"
    "agents: {alice: {media: audio}, bob: {}}\n"
    "steps:\n"
    "  - connect: [alice, bob]\n"
    "  - invite: {from: alice, to: bob, timeout_s: 60}\n"
    "  - expect: {agent: bob, event: ringing}\n"
)


async def test_accept_right_after_the_ring_against_a_remote_gateway(gateway: EmbeddedGateway) -> None:
    """The accept step acts on a ring the driver saw, however late the agent filed it."""
    for _ in range(3):
        result = await run_scenario(load_scenario_text(CALL, file="remote.yaml"),
                                    ws_url=gateway.ws_url, api_url=gateway.api_url)
        assert result.verdict == "pass", [f"{s.line}: {s.detail}" for s in result.failures]
        assert result.server["embedded"] is False and result.server["ws_url"] == gateway.ws_url


async def test_a_run_leaves_no_call_open_on_the_server(gateway: EmbeddedGateway) -> None:
    first = await run_scenario(load_scenario_text(LEAVES_RINGING, file="ringing.yaml"),
                               ws_url=gateway.ws_url, api_url=gateway.api_url)
    assert first.verdict == "pass"
    # the teardown cancelled the ringing call, and that does not change its outcome
    assert any(e.kind == "cancel_sent" for e in first.events)
    assert first.calls[0].outcome == "no-answer"  # rang, nobody answered before the end
    second = await run_scenario(load_scenario_text(CALL, file="remote.yaml"),
                                ws_url=gateway.ws_url, api_url=gateway.api_url)
    assert second.verdict == "pass", [f"{s.line}: {s.detail}" for s in second.failures]
    assert [c.outcome for c in second.calls] == ["answered"]
