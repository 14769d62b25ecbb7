"""Scenario keys that place servers and agents: server host/netns, agent netns,
ice.embedded_servers, per-agent ice, and ice_connected ``via``."""

from __future__ import annotations

import pytest

from callprobe.scenario import InvalidScenario, load_scenario_text
from callprobe.scenario.model import Expectation

STEPS = "steps:\n  - connect: [alice, bob]\n"


def test_lab_placement_is_read_into_the_model() -> None:
    scenario = load_scenario_text(
        "name: t\n"
        "server: {host: 198.51.100.1, netns: cplab-public}\n"
        "ice: {embedded_servers: [stun, turn, stun]}\n"
        "agents:\n"
        "  alice: {netns: cplab-caller, ice: {relay_only: true}}\n"
        "  bob: {netns: cplab-callee}\n" + STEPS)
    assert scenario.server.host == "198.51.100.1" and scenario.server.netns == "cplab-public"
    assert scenario.embedded_ice == ("stun", "turn")
    assert scenario.agents["alice"].netns == "cplab-caller"
    assert scenario.ice_for("alice").relay_only and not scenario.ice_for("bob").relay_only
    # alice's own block inherits the scenario's embedded servers
    assert scenario.embedded_ice_for("alice") == ("stun", "turn") == scenario.embedded_ice_for("bob")
    assert scenario.needs_coturn


def test_an_agent_ice_block_replaces_only_the_keys_it_gives() -> None:
    scenario = load_scenario_text(
        "name: t\n"
        "ice:\n  servers: [{urls: 'stun:192.0.2.1:3478'}]\n  host_addresses: [127.0.0.1]\n"
        "agents:\n"
        "  alice: {ice: {host_addresses: [127.0.0.2]}}\n"
        "  bob: {ice: {embedded_servers: [turn], relay_only: true}}\n" + STEPS)
    alice, bob = scenario.ice_for("alice"), scenario.ice_for("bob")
    assert alice.host_addresses == ("127.0.0.2",)
    assert [s.urls for s in alice.servers] == [("stun:192.0.2.1:3478",)]
    assert bob.relay_only and bob.host_addresses == ("127.0.0.1",)
    assert scenario.embedded_ice == () and scenario.embedded_ice_for("bob") == ("turn",)
    assert scenario.embedded_ice_for("alice") == ()


def test_no_embedded_servers_means_no_coturn() -> None:
    scenario = load_scenario_text("name: t\nagents: {alice: {}, bob: {}}\n" + STEPS)
    assert not scenario.needs_coturn and scenario.server.netns is None
    assert scenario.server.host == "127.0.0.1"


def test_via_is_read_for_ice_connected() -> None:
    scenario = load_scenario_text(
        "name: t\nagents: {alice: {}, bob: {}}\n" + STEPS
        + "  - invite: {from: alice, to: bob}\n  - accept: bob\n"
          "  - expect: {event: ice_connected, via: relay, within: 5s}\n")
    [expectation] = [s for s in scenario.steps if isinstance(s, Expectation)]
    assert expectation.via == "relay"


@pytest.mark.parametrize(("text", "line", "field", "words"), [
    ("server: {netns: cplab-public}\n", 2, "server.netns", "needs server.host"),
    ("server: {host: here}\n", 2, "server.host", "expected an IP address"),
    ("server: {ws_url: 'ws://10.0.0.5:1', api_url: 'http://10.0.0.5:2', host: 10.0.0.9}\n", 2,
     "server.host", "a remote server (ws_url) runs where it runs"),
    ("server: {host: 10.0.0.1, netns: 'bad/name'}\n", 2, "server.netns",
     "network namespace name"),
    ("ice: {embedded_servers: [turns]}\n", 2, "ice.embedded_servers[1]", "stun, turn or turn-tcp"),
    ("ice: {relay_only: true, embedded_servers: [stun]}\n", 2, "ice.relay_only",
     "relay_only needs a TURN server"),
])
def test_bad_placement_is_named_with_file_line_and_field(text: str, line: int, field: str,
                                                         words: str) -> None:
    with pytest.raises(InvalidScenario) as caught:
        load_scenario_text("name: t\n" + text + "agents: {alice: {}, bob: {}}\n" + STEPS, file="p.yaml")
    message = str(caught.value)
    assert f"p.yaml:{line}: {field}:" in message and words in message, message


def test_an_agent_in_a_namespace_cannot_reach_a_gateway_on_loopback() -> None:
    with pytest.raises(InvalidScenario) as caught:
        load_scenario_text("name: t\nagents:\n  alice: {netns: cplab-caller}\n  bob: {}\n" + STEPS,
                           file="p.yaml")
    message = str(caught.value)
    assert "p.yaml:3: agents.alice.netns:" in message and "cannot be reached" in message
    with pytest.raises(InvalidScenario) as caught:  # a bad host is named once, without a crash
        load_scenario_text("name: t\nserver: {host: here}\nagents:\n  alice: {netns: cplab-caller}\n"
                           "  bob: {}\n" + STEPS, file="p.yaml")
    assert str(caught.value).count("p.yaml:") == 1 and "server.host" in str(caught.value)
    # the same namespace as the gateway is fine, and so is a gateway on a routable address
    for server in ("{host: 127.0.0.1, netns: cplab-caller}", "{host: 10.0.0.1}"):
        load_scenario_text(f"name: t\nserver: {server}\nagents:\n  alice: {{netns: cplab-caller}}\n"
                           "  bob: {}\n" + STEPS)


def test_a_relay_only_agent_without_any_turn_is_named_at_its_own_ice() -> None:
    with pytest.raises(InvalidScenario) as caught:
        load_scenario_text("name: t\nice: {embedded_servers: [stun]}\nagents:\n"
                           "  alice: {ice: {relay_only: true}}\n  bob: {}\n" + STEPS, file="p.yaml")
    assert "p.yaml:4: agents.alice.ice.relay_only: relay_only needs a TURN server" in str(caught.value)


@pytest.mark.parametrize(("step", "field", "words"), [
    ("{event: answered, via: relay}", "via", "via applies to event ice_connected only"),
    ("{outcome: answered, via: relay}", "via", "does not apply to an outcome"),
    ("{event: ice_connected, via: turn}", "via", "relay or direct"),
])
def test_bad_via(step: str, field: str, words: str) -> None:
    with pytest.raises(InvalidScenario) as caught:
        load_scenario_text("name: t\nagents: {alice: {}, bob: {}}\n" + STEPS
                           + "  - invite: {from: alice, to: bob}\n"
                           + f"  - expect: {step}\n", file="v.yaml")
    assert f"v.yaml:6: steps[3].expect.{field}:" in str(caught.value)
    assert words in str(caught.value)
