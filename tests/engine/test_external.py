"""External parties: an agent calls a user callprobe does not play, and another
answers a call from anyone (``docs/peers.md#external-parties``).

Two runs share one gateway, each the other's external party, so both sides
of the feature are played for real: what one run sees of the other is only
what the gateway tells it.
"""

from __future__ import annotations

import asyncio

import pytest

from callprobe.analysis.diagnostics.run_rules import findings_for_run
from callprobe.analysis.results import RunResult
from callprobe.backends.kkim.server import EmbeddedGateway
from callprobe.engine.runner import run_scenario
from callprobe.scenario.loader import load_scenario_text
from callprobe.scenario.model import Scenario

CALLER = """
name: calls a real user
ice: {host_addresses: [127.0.0.1]}
agents:
  alice: {media: audio}
  phone: {external: true, user_id: bob}
steps:
  - connect: alice
  - wait: 1s
  - invite: {from: alice, to: phone, timeout_s: 30}
  - expect: {agent: alice, event: invite_acked, within: 3s}
  - expect: {agent: alice, event: answered, within: 10s}
  - expect: {event: ice_connected, within: 10s}
  - wait: 1500ms
  - expect: {event: media_flowing, agent: alice, direction: to}
  - hangup: alice
  - expect: {outcome: answered}
"""

ANSWERER = """
name: answers anyone
ice: {host_addresses: [127.0.0.1]}
agents:
  bob: {media: audio}
steps:
  - connect: bob
  - expect: {agent: bob, event: ringing, within: 15s}
  - accept: bob
  - expect: {event: ice_connected, within: 10s}
  - expect: {agent: bob, event: hung_up, within: 15s}
  - expect: {outcome: answered}
"""


def _passed(result: RunResult) -> None:
    assert result.verdict == "pass", [f"{s.line}: {s.text}: {s.detail}" for s in result.failures] or result.aborted


async def _both(gateway: EmbeddedGateway, *texts: str) -> tuple[tuple[Scenario, RunResult], ...]:
    scenarios = [load_scenario_text(t, file=f"s{n}.yaml") for n, t in enumerate(texts)]
    results = await asyncio.gather(*(run_scenario(s, ws_url=gateway.ws_url, api_url=gateway.api_url)
                                     for s in scenarios))
    return tuple(zip(scenarios, results, strict=True))


async def test_an_agent_calls_an_external_user_and_another_answers_a_call_from_anyone(
        gateway: EmbeddedGateway) -> None:
    (caller_s, caller), (answerer_s, answerer) = await _both(gateway, CALLER, ANSWERER)
    _passed(caller)
    _passed(answerer)

    [out] = caller.calls
    assert out.caller == "alice" and out.callee == "phone" and out.external == ["phone"]
    assert not out.inbound and out.outcome == "answered"
    assert out.time_to_answer_ms is not None and out.join_notice.delivered
    assert out.time_to_ring_ms is None  # the phone's ring is not ours to see
    assert not out.hangup_notice.observed  # it went to the phone
    party = next(e for e in caller.events if e.kind == "party" and e.agent == "phone")
    assert party.role == "external" and party.user_id == "bob"  # type: ignore[attr-defined]

    [inbound] = answerer.calls
    assert inbound.inbound and inbound.caller == "alice" and inbound.external == ["alice"]
    assert inbound.callee == "bob" and inbound.outcome == "answered"
    assert inbound.time_to_ring_ms is None and not inbound.join_notice.observed
    assert inbound.signaling["hung_up_by"] == "alice" and inbound.hangup_notice.delivered
    assert inbound.ice["connected_ms"] is not None  # from the offer's arrival
    assert inbound.media["bob"]["audio_frames"] > 0

    # nothing is blamed on what callprobe could not see
    for scenario, result in ((caller_s, caller), (answerer_s, answerer)):
        errors = [f.code for f in findings_for_run(result.events, scenario) if f.severity.value == "error"]
        assert errors == [], errors


async def test_a_call_from_anyone_can_be_rejected(gateway: EmbeddedGateway) -> None:
    rejecter = ANSWERER.replace("  - accept: bob\n  - expect: {event: ice_connected, within: 10s}\n"
                                "  - expect: {agent: bob, event: hung_up, within: 15s}\n"
                                "  - expect: {outcome: answered}\n",
                                "  - reject: bob\n  - expect: {outcome: rejected}\n")
    caller = ("name: refused\nagents:\n  alice: {media: audio}\n  bob: {external: true}\nsteps:\n"
              "  - connect: alice\n  - wait: 1s\n  - invite: {from: alice, to: bob}\n"
              "  - expect: {agent: alice, event: rejected, within: 10s}\n  - expect: {outcome: rejected}\n")
    (_, calling), (_, rejecting) = await _both(gateway, caller, rejecter)
    _passed(calling)
    _passed(rejecting)
    assert rejecting.calls[0].inbound and rejecting.calls[0].outcome == "rejected"


@pytest.mark.parametrize(("family_name", "register"), [("socketio", "auto_register: true"),
                                                        ("rooms", "register: true")])
async def test_external_parties_on_the_password_backends(family_name: str, register: str) -> None:
    """The same two runs on the Socket.IO chat backend and the call-room service. The Socket.IO backend
    names users by the id its login returns, so the caller names the external user by that id."""
    from callprobe.backends.base import EmbeddedConfig
    from callprobe.backends.registry import family
    from callprobe.engine.runner import Runner
    from callprobe.timeline.events import LoginOk

    head = f"server: {{backend: {{family: {family_name}, {register}}}}}\n"
    server = family(family_name).module("server").embedded(EmbeddedConfig())
    await server.start()
    try:
        url = server.endpoints.server
        answerer = Runner(load_scenario_text(head + ANSWERER, file="a.yaml"), ws_url=url)
        answering = asyncio.create_task(answerer.run())
        for _ in range(100):  # bob's login: his id, which the other run only knows as an external user
            login = next((e for e in answerer.timeline.events if isinstance(e, LoginOk)), None)
            if login is not None:
                break
            await asyncio.sleep(0.05)
        assert login is not None
        phone = login.user_id if family_name == "socketio" else "bob"
        caller = CALLER.replace("user_id: bob", f"user_id: \"{phone}\"")
        called = await run_scenario(load_scenario_text(head + caller, file="c.yaml"), ws_url=url)
        answered = await answering
    finally:
        await server.stop()
    _passed(called)
    _passed(answered)
    [call] = called.calls
    assert call.outcome == "answered" and call.external == ["phone"] and call.join_notice.observed is not False
    [inbound] = answered.calls
    assert inbound.inbound and inbound.outcome == "answered"
