"""The socketio ``server.backend`` block: defaults, overrides, and file:line:field errors."""

from __future__ import annotations

import re

import pytest

from callprobe.backends.socketio.config import EVENTS, FIELDS, PATHS, SocketioOptions
from callprobe.errors import ScenarioError
from callprobe.scenario import load_scenario_text
from tests.paths import SCENARIOS

HEAD = """\
name: t
server:
  backend:
    family: socketio
"""
TAIL = """\
agents:
  alice: {}
  bob: {}
steps:
  - connect: [alice, bob]
"""


def load(backend_lines: str) -> SocketioOptions:
    scenario = load_scenario_text(HEAD + backend_lines + TAIL, file="x.yaml")
    options = scenario.server.backend
    assert isinstance(options, SocketioOptions)
    return options


def test_defaults_are_the_reference_servers_names() -> None:
    options = load("")
    assert (options.family, options.id_type, options.path, options.namespace, options.transport, options.media) == \
        ("socketio", "int", "/socket.io", "/", "websocket", "peer")
    assert dict(options.paths) == PATHS and dict(options.events) == EVENTS and dict(options.fields) == FIELDS
    assert options.events["invitation"] == "call_invitation" and options.fields["invitation"] == \
        "extra_data.call_invitation"
    assert options.auto_register is False and options.token_in == "auth" and options.history_limit == 50


def test_overrides_replace_only_what_they_name() -> None:
    options = load("    id_type: string\n    transport: polling\n    media: conference\n"
                   "    events: {invitation: incoming_call}\n    fields: {target_user_id: to.id}\n"
                   "    paths: {login: /auth/token}\n    auto_register: true\n")
    assert (options.id_type, options.transport, options.media, options.auto_register) == \
        ("string", "polling", "conference", True)
    assert options.events["invitation"] == "incoming_call" and options.events["invite"] == "call_invitation"
    assert options.fields["target_user_id"] == "to.id" and options.paths["login"] == "/auth/token"
    assert options.paths["history"] == PATHS["history"]


@pytest.mark.parametrize(("lines", "line", "field", "words"), [
    ("    id_type: number\n", 5, "server.backend.id_type", "expected int or string, got 'number'"),
    ("    transport: ws\n", 5, "server.backend.transport", "expected websocket or polling"),
    ("    media: jitsi\n", 5, "server.backend.media", "expected peer or conference"),
    ("    auto_register: yes please\n", 5, "server.backend.auto_register", "expected true or false"),
    ("    path: socket.io\n", 5, "server.backend.path", "starting with '/'"),
    ("    history_limit: 0\n", 5, "server.backend.history_limit", "from 1 to 1000"),
    ("    evnts: {}\n", 5, "server.backend.evnts", "unknown key 'evnts' (did you mean 'events'?)"),
    ("    events:\n      invitaton: x\n", 6, "server.backend.events.invitaton",
     "unknown key 'invitaton' (did you mean 'invitation'?)"),
    ("    fields:\n      caller_id: from..id\n", 6, "server.backend.fields.caller_id", "dotted path"),
    ("    paths:\n      login: auth/token\n", 6, "server.backend.paths.login", "starting with '/'"),
    ("    events:\n      invite: call invite\n", 6, "server.backend.events.invite", "without spaces"),
])
def test_bad_values_are_named_with_file_line_and_field(lines: str, line: int, field: str, words: str) -> None:
    with pytest.raises(ScenarioError) as info:
        load(lines)
    exc = info.value
    assert (exc.file, exc.line, exc.field) == ("x.yaml", line, field), str(exc)
    assert words in str(exc).splitlines()[0], str(exc)


def test_the_documented_example_of_a_renamed_deployment_is_valid() -> None:
    readme = (SCENARIOS / "README.md").read_text()
    section = readme.split("#### family socketio", 1)[1]
    example = re.search(r"```yaml\n(server:\n.*?)```", section, re.S)
    assert example is not None
    text = "name: renamed deployment\n" + example.group(1) + "steps:\n  - connect: [alice, bob]\n"
    scenario = load_scenario_text(text, file="readme.yaml")
    options = scenario.server.backend
    assert isinstance(options, SocketioOptions)
    assert scenario.server.url == "https://chat.example.test" and not scenario.server.embedded
    assert options.id_type == "string" and options.media == "conference" and options.token_in == "query"
    assert options.events["invitation"] == "incoming_call" and options.fields["caller_id"] == "from.id"
    # every role of the tables is one the client knows: renaming cannot invent a role
    assert set(options.events) == set(EVENTS) and set(options.fields) == set(FIELDS)
    documented = set(re.findall(r"^\| `(\w+)` \| `[\w.]+`", section, re.M))
    assert {"send_message", "invitation", "response", "user_status"} <= documented
