"""Scenario checks for external parties, calls from anyone and browser agents (``docs/peers.md``)."""

from __future__ import annotations

import pytest

from callprobe.scenario.loader import InvalidScenario, load_scenario_text


def load(agents: str, steps: str) -> object:
    return load_scenario_text(f"name: t\nagents:\n{agents}steps:\n{steps}", file="t.yaml")


def problems(agents: str, steps: str) -> str:
    with pytest.raises(InvalidScenario) as info:
        load(agents, steps)
    return str(info.value)


EXT = "  alice: {}\n  phone: {external: true, user_id: '1002'}\n"


def test_an_external_party_is_invited_and_judged_from_the_caller() -> None:
    s = load(EXT, "  - connect: alice\n  - invite: {from: alice, to: phone}\n"
                  "  - expect: {agent: alice, event: answered, within: 60s}\n"
                  "  - expect: {event: media_flowing, agent: alice, direction: to}\n"
                  "  - send_text: {from: alice, to: phone, text: hi}\n  - hangup: alice\n"
                  "  - expect: {outcome: answered}\n")
    assert s.agents["phone"].external and s.agents["phone"].kind == "external"  # type: ignore[attr-defined]
    assert s.played == ("alice",)  # type: ignore[attr-defined]


@pytest.mark.parametrize("step, words", [
    ("  - connect: [alice, phone]\n", "phone is external: callprobe does not play it, so it cannot connect"),
    ("  - connect: alice\n  - invite: {from: phone, to: alice}\n", "cannot invite"),
    ("  - connect: alice\n  - send_text: {from: phone, to: alice, text: x}\n", "cannot send a text"),
    ("  - connect: alice\n  - invite: {from: alice, to: phone}\n  - hangup: phone\n", "cannot hangup"),
    ("  - connect: alice\n  - invite: {from: alice, to: phone}\n  - expect: {agent: phone, event: ringing}\n",
     "cannot be judged: phone is external"),
    ("  - connect: alice\n  - invite: {from: alice, to: phone}\n"
     "  - expect: {event: media_flowing, agent: alice, direction: from}\n",
     "cannot be judged: media from alice would reach phone"),
])
def test_what_an_external_party_cannot_do_or_show(step: str, words: str) -> None:
    assert words in problems(EXT, step)


def test_an_external_party_takes_who_it_is_only() -> None:
    text = problems("  alice: {}\n  phone: {external: true, netns: x, media: audio}\n", "  - connect: alice\n")
    assert "netns does not apply to phone: it is external" in text
    assert "media does not apply to phone" in text


def test_a_call_from_anyone_is_awaited_by_a_ringing_expectation() -> None:
    s = load("  bot: {}\n", "  - connect: bot\n  - expect: {agent: bot, event: ringing, within: 60s}\n"
                            "  - accept: bot\n  - expect: {outcome: answered, call: 1}\n  - hangup: bot\n"
                            "  - expect: {agent: bot, event: ringing, within: 60s}\n  - reject: bot\n"
                            "  - expect: {outcome: rejected, call: 2}\n")
    assert len(s.steps) == 8  # type: ignore[attr-defined]


def test_accept_without_an_invite_or_an_awaited_call_is_refused() -> None:
    text = problems("  bot: {}\n", "  - connect: bot\n  - accept: bot\n")
    assert "no earlier invite calls its user 'bot'" in text
    assert "expect: {agent: bot, event: ringing}" in text


@pytest.mark.parametrize("spec, words", [
    ("{browser: firefox}", "unknown browser 'firefox'"),
    ("{browser: chromium, netns: ns1}", "netns does not apply to browser agent carol"),
    ("{browser: chromium, compression: gzip}", "compression does not apply"),
])
def test_browser_agents(spec: str, words: str) -> None:
    assert words in problems(f"  carol: {spec}\n", "  - connect: carol\n")


def test_a_browser_agent_by_path_and_the_page_families() -> None:
    s = load("  carol: {browser: /usr/bin/chromium}\n", "  - connect: carol\n")
    assert s.agents["carol"].kind == "browser"  # type: ignore[attr-defined]
    with pytest.raises(InvalidScenario, match="speaks kkim only"):
        load_scenario_text("name: t\nserver: {backend: {family: socketio}}\nagents:\n  carol: {browser: chromium}\n"
                           "steps:\n  - connect: carol\n", file="t.yaml")
