"""Broken scenario files: each error names file, line and field, and says what was expected."""

from __future__ import annotations

from pathlib import Path

import pytest

from callprobe.errors import ExitCode, ScenarioError
from callprobe.scenario import InvalidScenario, load_scenario, load_scenario_text

# Lines 1-6; steps continue on line 7.
HEAD = """\
name: t
agents:
  alice: {}
  bob: {platform: android}
steps:
  - connect: [alice, bob]
"""
CALL = HEAD + "  - invite: {from: alice, to: bob}\n"  # line 7; next step is line 8

# (id, text, line, field, words the message must contain)
CASES: list[tuple[str, str, int | None, str, str]] = [
    ("yaml syntax", "name: t\nagents:\n  a: [\nsteps: []\n", 5, "", "YAML syntax error"),
    ("tab indent", "name: t\nagents:\n\ta: {}\n", 3, "", "indent with spaces, not tabs"),
    ("two documents", "name: t\n---\nname: u\n", 2, "", "single document"),
    ("empty file", "", 1, "", "the file is empty"),
    ("not a mapping", "- connect: a\n", 1, "", "expected a scenario mapping"),
    ("missing name", "agents: {a: }\nsteps: [{connect: a}]\n", 1, "name", "missing key 'name'"),
    ("missing steps", "name: t\n\nagents: {a: }\n", 1, "steps", "missing key 'steps' in the scenario"),
    ("misspelt top key", "name: t\nagents: {a: }\nstep: [{connect: a}]\n", 3, "step",
     "unknown key 'step' (did you mean 'steps'?)"),
    ("duplicate key", "name: t\nagents: {a: }\nname: u\nsteps: [{connect: a}]\n", 3, "name",
     "duplicate key 'name' (first given on line 1)"),
    ("empty steps", "name: t\nagents: {a: }\nsteps: []\n", 3, "steps", "expected at least one step"),
    ("steps not a list", "name: t\nagents: {a: }\nsteps:\n  connect: a\n", 3, "steps",
     "expected a list of steps"),
    ("no agents", "name: t\nagents: {}\nsteps: [{connect: a}]\n", 2, "agents", "got an empty mapping"),
    ("bad agent name", "name: t\nagents:\n  al ice: {}\nsteps: [{connect: x}]\n", 3, "agents.al ice",
     "expected an agent name of letters"),
    ("unknown agent key", "name: t\nagents:\n  a: {platfrom: web}\nsteps: [{connect: a}]\n", 3,
     "agents.a.platfrom", "unknown key 'platfrom' (did you mean 'platform'?)"),
    ("unknown platform", HEAD.replace("android", "andriod"), 4, "agents.bob.platform",
     "unknown platform 'andriod' (did you mean 'android'?)"),
    ("platform out of range", HEAD.replace("android", "12"), 4, "agents.bob.platform",
     "expected a platformID from 1 to 11, got 12"),
    ("bad media", HEAD.replace("platform: android", "media: vidoe"), 4, "agents.bob.media",
     "expected one of audio or video, got text 'vidoe' (did you mean 'video'?)"),
    ("unknown action", HEAD + "  - invit: {from: alice, to: bob}\n", 7, "steps[2].invit",
     "unknown action 'invit' (did you mean 'invite'?)"),
    ("two actions in a step", HEAD + "  - accept: bob\n    hangup: alice\n", 7, "steps[2]",
     "a step has exactly one action key, found 'accept', 'hangup'"),
    ("parameters not indented", CALL + "  - expect:\n    agent: bob\n    event: ringing\n", 9,
     "steps[3].agent", "indent it under 'expect:'"),
    ("empty step", HEAD + "  - {}\n", 7, "steps[2]", "empty step"),
    ("step is plain text", HEAD + "  - hangup\n", 7, "steps[2]", "got text 'hangup'"),
    ("unknown agent in invite", HEAD + "  - invite: {from: alice, to: bobb}\n", 7, "steps[2].invite.to",
     "unknown agent 'bobb' (did you mean 'bob'?); the agents are: alice, bob"),
    ("unknown agent in a list", HEAD.replace("[alice, bob]", "[alice, carol]"), 6, "steps[1].connect[2]",
     "unknown agent 'carol'"),
    ("invite names the caller", HEAD + "  - invite: {from: alice, to: [bob, alice]}\n", 7,
     "steps[2].invite.to[2]", "names the caller 'alice'"),
    ("invite the caller's own user",
     "name: t\nagents:\n  a: {}\n  a2: {user_id: a, platform: 2}\nsteps:\n  - connect: [a, a2]\n"
     "  - invite: {from: a, to: a2}\n", 7, "steps[2].invite.to", "the caller's own user 'a'"),
    ("invite missing to", HEAD + "  - invite:\n      from: alice\n", 7, "steps[2].invite.to",
     "missing key 'to' in invite"),
    ("invite timeout not whole", HEAD + "  - invite: {from: alice, to: bob, timeout_s: 1.5}\n", 7,
     "steps[2].invite.timeout_s", "expected a whole number of seconds"),
    ("accept with a typo key", CALL + "  - accept: {agnet: bob}\n", 8, "steps[3].accept.agnet",
     "unknown key 'agnet' (did you mean 'agent'?)"),
    ("accept without an invite", HEAD + "  - accept: bob\n", 7, "steps[2].accept",
     "no earlier invite calls its user 'bob'"),
    ("cancel by the callee", CALL + "  - cancel: bob\n", 8, "steps[3].cancel", "has not invited anyone"),
    ("act before connect", "name: t\nagents: {a: , b: }\nsteps:\n  - invite: {from: a, to: b}\n", 4,
     "steps[1].invite.from", "add '- connect: a' before this step"),
    ("connect twice", HEAD + "  - connect: bob\n", 7, "steps[2].connect", "bob is already connected (line 6)"),
    ("disconnect when not connected", "name: t\nagents: {a: }\nsteps:\n  - disconnect: a\n", 4,
     "steps[1].disconnect", "a is not connected"),
    ("reconnect never connected", "name: t\nagents: {a: , b: }\nsteps:\n  - connect: a\n  - reconnect: b\n",
     5, "steps[2].reconnect", "b was never connected"),
    ("agent listed twice", HEAD.replace("[alice, bob]", "[alice, bob, alice]"), 6, "steps[1].connect[3]",
     "agent 'alice' is listed twice"),
    ("unknown event", CALL + "  - expect: {agent: bob, event: ringin}\n", 8, "steps[3].expect.event",
     "got text 'ringin' (did you mean 'ringing'?)"),
    ("unknown expectation key", CALL + "  - expect: {agent: bob, event: ringing, whithin: 2s}\n", 8,
     "steps[3].expect.whithin", "unknown key 'whithin' (did you mean 'within'?)"),
    ("bad duration text", CALL + "  - expect: {agent: bob, event: ringing, within: 3 secs}\n", 8,
     "steps[3].expect.within", "a duration: a number of seconds, or text like '2s'"),
    ("negative duration", HEAD + "  - wait: -2\n", 7, "steps[2].wait", "expected above 0"),
    ("expect with neither", CALL + "  - expect: {agent: bob, within: 2s}\n", 8, "steps[3].expect",
     "needs event (ringing, answered, ...) or outcome"),
    ("expect with both", CALL + "  - expect: {event: ringing, outcome: answered}\n", 8,
     "steps[3].expect.outcome", "not both"),
    ("absent with within", CALL + "  - expect: {agent: bob, event: answered, absent: true, within: 1s}\n", 8,
     "steps[3].expect.within", "takes 'for'"),
    ("for without absent", CALL + "  - expect: {agent: bob, event: ringing, for: 1s}\n", 8,
     "steps[3].expect.for", "'for' goes with absent: true"),
    ("direction without media", CALL + "  - expect: {event: ringing, direction: to}\n", 8,
     "steps[3].expect.direction", "media_flowing only"),
    ("outcome before any invite", HEAD + "  - expect: {outcome: answered}\n", 7, "steps[2].expect.outcome",
     "no invite before this step"),
    ("call that does not exist", CALL + "  - expect: {outcome: answered, call: 3}\n", 8,
     "steps[3].expect.call", "call 3 does not exist at this step: 1 call placed"),
    ("unknown outcome", CALL + "  - expect: {outcome: no_answer}\n", 8, "steps[3].expect.outcome",
     "(did you mean 'no-answer'?)"),
    ("text to oneself",
     "name: t\nagents:\n  a: {}\n  b: {user_id: a, platform: 2}\nsteps:\n  - connect: [a, b]\n"
     "  - send_text: {from: a, to: b, text: hi}\n", 7, "steps[2].send_text.to", "errCode 1004"),
    ("send_text without text", HEAD + "  - send_text: {from: alice, to: bob}\n", 7, "steps[2].send_text.text",
     "missing key 'text'"),
    ("faults with a remote server",
     "name: t\nserver:\n  ws_url: ws://10.0.0.5:10001\n  api_url: http://10.0.0.5:10002\n"
     "  faults: [invite-not-pushed]\nagents: {a: }\nsteps: [{connect: a}]\n", 5, "server.faults",
     "faults need the embedded server"),
    ("unknown fault", "name: t\nserver:\n  faults:\n    - push-delay=10\n    - invite-not-pushd\n"
     "agents: {a: }\nsteps: [{connect: a}]\n", 5, "server.faults[2]",
     "unknown fault 'invite-not-pushd' (did you mean 'invite-not-pushed'?)"),
    ("bad fault value", "name: t\nserver:\n  faults: [push-delay=soon]\nagents: {a: }\nsteps: [{connect: a}]\n",
     3, "server.faults[1]", "push-delay"),
    ("ring timeout with a remote server",
     "name: t\nserver:\n  ws_url: ws://10.0.0.5:10001\n  api_url: http://10.0.0.5:10002\n"
     "  ring_timeout_s: 2\nagents: {a: }\nsteps: [{connect: a}]\n", 5, "server.ring_timeout_s",
     "embedded server's ring time"),
    ("embedded and ws_url", "name: t\nserver:\n  embedded: true\n  ws_url: ws://10.0.0.5:10001\n"
     "agents: {a: }\nsteps: [{connect: a}]\n", 3, "server.embedded", "exclude each other"),
    ("remote without api_url", "name: t\nserver:\n  ws_url: ws://10.0.0.5:10001\nagents: {a: }\n"
     "steps: [{connect: a}]\n", 2, "server.api_url", "missing key 'api_url' in server: login mode"),
    ("relative custom url without api_url", "name: t\nserver:\n  ws_url: ws://h:1\n  login:\n"
     "    mode: custom\n    url: /login\nagents: {a: }\nsteps: [{connect: a}]\n", 2, "server.api_url",
     "the custom login url '/login' is relative to it"),
    ("ws_url not a websocket url", "name: t\nserver:\n  ws_url: http://10.0.0.5:10001\nagents: {a: }\n"
     "steps: [{connect: a}]\n", 3, "server.ws_url", "a WebSocket URL like ws://"),
    ("unknown login mode", "name: t\nserver:\n  login: {mode: admin_token}\nagents: {a: }\n"
     "steps: [{connect: a}]\n", 3, "server.login.mode", "(did you mean 'admin_user_token'?)"),
    ("fixed mode without token", "name: t\nserver:\n  login: {mode: fixed}\nagents:\n  a: {token: x}\n"
     "  b: {}\nsteps: [{connect: a}]\n", 6, "agents.b.token", "login mode fixed needs a token"),
    ("token without fixed mode", "name: t\nagents:\n  a: {token: x}\nsteps: [{connect: a}]\n", 3,
     "agents.a.token", "login mode fixed only"),
    ("custom-only key in another mode", "name: t\nserver:\n  login:\n    token_path: data.token\n"
     "agents: {a: }\nsteps: [{connect: a}]\n", 4, "server.login.token_path", "login mode custom only"),
    ("custom without url", "name: t\nserver:\n  login: {mode: custom}\nagents: {a: }\nsteps: [{connect: a}]\n",
     3, "server.login.mode", "needs a url"),
    ("unknown placeholder", "name: t\nserver:\n  login:\n    mode: custom\n    url: /login\n"
     "    body: {id: '{userid}'}\nagents: {a: }\nsteps: [{connect: a}]\n", 6, "server.login.body",
     "unknown placeholder {userid} (did you mean 'user_id'?)"),
    ("text body not JSON", "name: t\nserver:\n  login:\n    mode: custom\n    url: /login\n"
     "    body: '{id: {user_id}}'\nagents: {a: }\nsteps: [{connect: a}]\n", 6, "server.login.body",
     "must be JSON once placeholders are filled"),
    ("password missing for custom login", "name: t\nserver:\n  login:\n    mode: custom\n"
     "    url: /login\n    body: {pw: '{password}'}\nagents:\n  a: {}\nsteps: [{connect: a}]\n", 8,
     "agents.a.password", "missing key 'password' in a: the custom login uses {password}"),
    ("unknown setting", HEAD + "settings:\n  request_timeout: 5\n", 8, "settings.request_timeout",
     "(did you mean 'request_timeout_s'?)"),
    ("setting of the wrong type", HEAD + "settings:\n  connect_timeout_s: fast\n", 8,
     "settings.connect_timeout_s", "expected a number, got text 'fast'"),
    ("negative setting", HEAD + "settings:\n  connect_timeout_s: -1\n", 8, "settings.connect_timeout_s",
     "expected a number of seconds from 0 to 1 hour (3600 s), got a number (-1)"),
    ("ice url scheme", HEAD + "ice:\n  servers:\n    - urls: http://h:3478\n", 9, "ice.servers[1].urls",
     "expected a URL starting with stun:"),
    ("turn without credential", HEAD + "ice:\n  servers:\n    - urls: turn:127.0.0.1:3478\n", 9,
     "ice.servers[1]", "needs a username and a credential"),
    ("bad host address", HEAD + "ice:\n  host_addresses: [127.0.0.1, 10.0.0]\n", 8,
     "ice.host_addresses[2]", "expected an IP address"),
    ("relay only without turn", HEAD + "ice:\n  servers: [{urls: 'stun:127.0.0.1:3478'}]\n"
     "  relay_only: true\n", 9, "ice.relay_only", "needs a TURN server"),
]


@pytest.mark.parametrize(("text", "line", "field", "words"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_broken_file(text: str, line: int, field: str, words: str) -> None:
    with pytest.raises(ScenarioError) as info:
        load_scenario_text(text, file="x.yaml")
    exc = info.value
    assert (exc.file, exc.line, exc.field) == ("x.yaml", line, field), str(exc)
    syntax = "YAML syntax error" in str(exc)  # a syntax error gives its column too: FILE:LINE:COLUMN
    assert (exc.column is not None) == syntax, str(exc)
    column = f":{exc.column}" if syntax else ""
    where = f"x.yaml:{line}{column}: {field}: " if field else f"x.yaml:{line}{column}: "
    assert str(exc).startswith(where), str(exc)
    assert words in str(exc).splitlines()[0], str(exc)
    assert exc.exit_code == ExitCode.SCENARIO_INVALID
    assert "Traceback" not in str(exc)


def test_every_problem_in_a_file_is_reported() -> None:
    text = (
        "name: t\n"                                      # 1
        "agents:\n"                                      # 2
        "  alice: {platform: webb}\n"                    # 3
        "  bob: {}\n"                                    # 4
        "steps:\n"                                       # 5
        "  - connect: [alice, bob]\n"                    # 6
        "  - invite: {from: alice, to: bobby}\n"         # 7
        "  - expect: {agent: bob, event: rining}\n"      # 8
        "  - wait: forever\n"                            # 9
        "  - hangup: carol\n"                            # 10
    )
    with pytest.raises(InvalidScenario) as info:
        load_scenario_text(text, file="many.yaml")
    problems = info.value.problems
    assert [(p.line, p.field) for p in problems] == [
        (3, "agents.alice.platform"),
        (7, "steps[2].invite.to"),
        (8, "steps[3].expect.event"),
        (9, "steps[4].wait"),
        (10, "steps[5].hangup"),
    ]
    lines = str(info.value).splitlines()
    assert len(lines) == 5
    assert lines[0].startswith("many.yaml:3: agents.alice.platform: unknown platform 'webb'")
    assert lines[4].startswith("many.yaml:10: steps[5].hangup: unknown agent 'carol'")


def test_one_slip_gives_one_message() -> None:
    # A shape error in a step skips that step's meaning checks: no cascade.
    with pytest.raises(InvalidScenario) as info:
        load_scenario_text(HEAD + "  - invite: {from: alice, to: bob, media: vidoe}\n  - accept: bob\n")
    assert [p.line for p in info.value.problems] == [7]


def test_unreadable_and_non_utf8_files(tmp_path: Path) -> None:
    missing = tmp_path / "missing.yaml"
    with pytest.raises(ScenarioError) as info:
        load_scenario(missing)
    assert str(info.value).startswith(f"{missing}: cannot read the file")
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"name: t\ndescription: caf\xe9\n")
    with pytest.raises(ScenarioError) as info:
        load_scenario(binary)
    assert str(info.value) == f"{binary}:2: not UTF-8 text: byte 0xE9 at offset 24; save the file as UTF-8"
    assert info.value.line == 2
    utf16 = tmp_path / "utf16.yaml"
    utf16.write_text("name: t\n", encoding="utf-16")
    with pytest.raises(ScenarioError, match=r"not UTF-8 text \(it looks like UTF-16\)"):
        load_scenario(utf16)
    with pytest.raises(ScenarioError) as info:
        load_scenario(tmp_path)
    assert info.value.file == str(tmp_path)
    assert "is a folder; give a scenario file" in str(info.value)


def test_hint_points_at_the_format() -> None:
    with pytest.raises(ScenarioError) as info:
        load_scenario_text("name: t\n")
    assert "scenarios/README.md" in info.value.hint


def test_an_unquoted_question_mark_in_a_flow_list(monkeypatch: pytest.MonkeyPatch) -> None:
    """libyaml reads ``[turn:h:3478?transport=udp]`` as the URL it is; PyYAML alone refuses it, with a hint."""
    from callprobe.scenario import source

    text = HEAD + "ice:\n  servers:\n    - urls: [turn:h:3478?transport=udp]\n      username: u\n      credential: p\n"
    if source._CParser is not None:
        assert load_scenario_text(text).ice.servers[0].urls == ("turn:h:3478?transport=udp",)
    monkeypatch.setattr(source, "_CParser", None)
    with pytest.raises(ScenarioError) as info:
        load_scenario_text(text, file="x.yaml")
    assert str(info.value).startswith("x.yaml:9:") and "must be quoted" in str(info.value)
