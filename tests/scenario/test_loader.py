"""Loading good scenario files: the shipped ones, defaults, and what the model holds."""

from __future__ import annotations

from pathlib import Path

import pytest

from callprobe.rtc.ice_config import IceConfig, IceServer
from callprobe.scenario import Action, Expectation, load_scenario, load_scenario_text
from callprobe.scenario.model import EXPECT_EVENTS, OUTCOMES
from callprobe.settings import ClientSettings
from tests.paths import SCENARIOS
from tests.scenario.samples import FULL

SHIPPED = sorted(SCENARIOS.glob("*.yaml"))


def test_the_expected_scenarios_are_shipped() -> None:
    names = {p.name for p in SHIPPED}
    assert {"basic.yaml", "audio.yaml", "reject.yaml", "cancel.yaml", "busy.yaml", "no-answer.yaml",
            "callee-hangs-up.yaml", "two-devices.yaml"} <= names


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_every_shipped_scenario_loads(path: Path) -> None:
    scenario = load_scenario(path)
    assert scenario.file == str(path)
    assert scenario.name and scenario.description
    assert scenario.server.embedded and scenario.server.ws_url == ""
    assert scenario.ice.servers == ()
    assert scenario.steps and isinstance(scenario.steps[0], Action)
    assert scenario.steps[0].verb == "connect"
    lines = [s.line for s in scenario.steps]
    assert lines == sorted(lines) and len(set(lines)) == len(lines)
    text = path.read_text().splitlines()
    for step in scenario.steps:
        assert "\n" not in step.text
        verb = step.verb if isinstance(step, Action) else "expect"
        assert text[step.line - 1].lstrip().startswith(f"- {verb}:"), step


def test_basic_scenario_model() -> None:
    scenario = load_scenario(SCENARIOS / "basic.yaml")
    assert set(scenario.agents) == {"alice", "bob"}
    alice = scenario.agents["alice"]
    assert (alice.user_id, alice.platform_id, alice.media, alice.data_encoding, alice.compression) == (
        "alice", 5, "video", "array", "none")
    assert scenario.server.login.mode == "admin_user_token"
    assert scenario.settings == ClientSettings()
    steps = scenario.steps
    assert steps[0] == Action(steps[0].line, "connect: [alice, bob]", "connect", None, ("alice", "bob"), {})
    invite = steps[1]
    assert isinstance(invite, Action)
    assert (invite.verb, invite.agent, invite.targets) == ("invite", "alice", ("bob",))
    assert invite.params == {"media": "video", "timeout_s": None, "call": 1}
    ringing = steps[2]
    assert isinstance(ringing, Expectation)
    assert (ringing.agent, ringing.event, ringing.within_s, ringing.absent) == ("bob", "ringing", 3.0, False)
    assert ringing.text == "expect: {agent: bob, event: ringing, within: 3s}"
    accept = steps[3]
    assert isinstance(accept, Action) and (accept.verb, accept.agent, accept.targets) == ("accept", "bob", ())
    ice = steps[5]
    assert isinstance(ice, Expectation) and ice.agent is None and ice.within_s == 8.0
    wait = steps[6]
    assert isinstance(wait, Action) and wait.params == {"duration_s": 2.0}
    media = steps[7]
    assert isinstance(media, Expectation) and (media.event, media.direction, media.within_s) == (
        "media_flowing", "both", None)
    outcome = steps[-1]
    assert isinstance(outcome, Expectation)
    assert (outcome.event, outcome.outcome, outcome.call_index) == (None, "answered", None)


def test_two_devices_share_a_user() -> None:
    scenario = load_scenario(SCENARIOS / "two-devices.yaml")
    web, android = scenario.agents["bob_web"], scenario.agents["bob_android"]
    assert (web.user_id, web.platform_id) == ("bob", 5)
    assert (android.user_id, android.platform_id) == ("bob", 2)
    absent = [s for s in scenario.expectations if s.absent]
    assert absent and absent[0].agent == "bob_android" and absent[0].for_s == 1.0


def test_busy_numbers_its_calls() -> None:
    scenario = load_scenario(SCENARIOS / "busy.yaml")
    invites = [a for a in scenario.actions if a.verb == "invite"]
    assert [a.params["call"] for a in invites] == [1, 2]
    outcomes = [(e.outcome, e.call_index) for e in scenario.expectations if e.outcome]
    assert outcomes == [("busy", 2), ("answered", 1)]


def test_no_answer_uses_a_short_invite_timeout() -> None:
    scenario = load_scenario(SCENARIOS / "no-answer.yaml")
    invite = next(a for a in scenario.actions if a.verb == "invite")
    assert invite.params["timeout_s"] == 2
    assert any(e.outcome == "no-answer" for e in scenario.expectations)


def test_audio_invite_takes_the_callers_media() -> None:
    scenario = load_scenario(SCENARIOS / "audio.yaml")
    invite = next(a for a in scenario.actions if a.verb == "invite")
    assert invite.params["media"] == "audio"




def test_every_key_once() -> None:
    s = load_scenario_text(FULL, file="full.yaml")
    assert s.file == "full.yaml" and s.description == "every key once"
    assert not s.server.embedded
    assert (s.server.ws_url, s.server.api_url) == ("wss://im.example.test:10001", "https://im.example.test:10002")
    login = s.server.login
    assert (login.mode, login.url, login.method, login.token_path) == ("custom", "/account/login", "POST",
                                                                        "data.imToken")
    assert login.headers == {"X-Tenant": "{user_id}"}
    assert login.body == {"account": "{user_id}", "password": "{password}", "platform": "{platform_id}"}
    assert s.ice == IceConfig(
        servers=(IceServer(("stun:127.0.0.1:3478",)),
                 IceServer(("turn:127.0.0.1:3478?transport=udp",), "u", "1234")),
        host_addresses=("127.0.0.1",), relay_only=True)
    assert s.settings.request_timeout_s == 7.0 and s.settings.default_expect_within_s == 0.5
    alice, bob = s.agents["alice"], s.agents["bob"]
    assert (alice.user_id, alice.password, alice.nickname, alice.media) == ("0042", "123456", "Alice", "audio")
    assert (bob.platform_id, bob.compression, bob.data_encoding, bob.password) == (2, "gzip", "base64", "pw")
    invite = s.steps[2]
    assert isinstance(invite, Action)
    assert invite.text == "invite: {from: alice, to: bob, timeout_s: 30}"
    assert invite.params == {"media": "audio", "timeout_s": 30, "call": 1}
    ringing = s.steps[3]
    assert isinstance(ringing, Expectation) and ringing.within_s is None
    absent = s.steps[5]
    assert isinstance(absent, Expectation) and absent.absent and absent.for_s == 1.5
    outcome = s.steps[6]
    assert isinstance(outcome, Expectation) and (outcome.call_index, outcome.within_s) == (1, 60.0)
    text = s.steps[7]
    assert isinstance(text, Action) and text.params == {"text": "yes"} and text.targets == ("bob",)
    media = s.steps[-1]
    assert isinstance(media, Expectation) and media.direction == "to" and media.agent == "alice"
    assert [a.verb for a in s.actions] == ["connect", "connect", "invite", "reject", "send_text", "wait",
                                          "disconnect", "reconnect"]


def test_fixed_tokens_and_faults() -> None:
    s = load_scenario_text(
        "name: f\nserver:\n  login: {mode: fixed}\n  faults: [invite-not-pushed, push-delay=200]\n"
        "  ring_timeout_s: 2s\nagents:\n  a: {token: t1, platform: Web}\nsteps:\n  - connect: a\n")
    assert s.server.embedded and s.server.ring_timeout_s == 2.0
    assert s.server.faults == ("invite-not-pushed", "push-delay=200")
    assert s.server.fault_pairs() == (("invite-not-pushed", ""), ("push-delay", "200"))
    assert s.agents["a"].token == "t1" and s.agents["a"].platform_id == 5
    assert s.file == "<string>"


def test_agent_with_no_mapping_takes_every_default() -> None:
    s = load_scenario_text("name: d\nagents:\n  solo:\nsteps:\n  - connect: solo\n")
    agent = s.agents["solo"]
    assert (agent.name, agent.user_id, agent.platform_id, agent.token, agent.nickname) == ("solo", "solo", 5, "", "")


def test_names_are_taken_as_written() -> None:
    # YAML 1.1 reads "no" as false and 0123 as an octal number; a scenario means the text.
    s = load_scenario_text("name: n\nagents:\n  no: {user_id: 0123}\n  on: {}\n"
                           "steps:\n  - connect: [no, on]\n")
    assert list(s.agents) == ["no", "on"]
    assert s.agents["no"].user_id == "0123"
    first = s.steps[0]
    assert isinstance(first, Action) and first.targets == ("no", "on")


def test_model_constants_match_the_schema() -> None:
    from callprobe.scenario.schema import action_keys, scenario_schema

    defs = scenario_schema()["$defs"]
    assert tuple(defs["expect"]["properties"]["event"]["enum"]) == EXPECT_EVENTS
    assert tuple(defs["expect"]["properties"]["outcome"]["enum"]) == OUTCOMES
    from callprobe.scenario.model import ACTION_VERBS
    assert tuple(action_keys()) == ACTION_VERBS + ("expect",)
