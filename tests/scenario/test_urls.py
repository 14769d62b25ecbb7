"""A URL no client could open is refused before anything runs: in a scenario with file, line and
field, on the command line with the option named (exit 2), never as an internal error."""

from __future__ import annotations

import pytest

from callprobe.scenario import InvalidScenario, format_problem, load_scenario_text
from tests.fakes import run_cli

KKIM = "name: x\nserver:\n  ws_url: {ws}\n  api_url: {api}\nagents: {{alice: {{}}}}\nsteps:\n  - connect: alice\n"
SOCKETIO = "name: x\nserver:\n  url: {url}\n  backend: {{family: socketio}}\nagents: {{alice: {{}}}}\nsteps:\n  - connect: alice\n"
ICE = ("name: x\nice:\n  servers:\n    - urls: '{url}'\n      username: u\n      credential: c\n"
       "agents: {{alice: {{}}}}\nsteps:\n  - connect: alice\n")
LOGIN = ("name: x\nserver:\n  ws_url: ws://h:1\n  login: {{mode: custom, url: '{url}', body: {{a: b}}}}\n"
         "agents: {{alice: {{}}}}\nsteps:\n  - connect: alice\n")


@pytest.mark.parametrize(("text", "expected"), [
    (KKIM.format(ws="ws://h:1", api="'http://[::1'"),
     "x.yaml:4: server.api_url: 'http://[::1' is not a usable URL: Invalid IPv6 URL"),
    (KKIM.format(ws="ws://h:1", api="http://h:99999"),
     "x.yaml:4: server.api_url: 'http://h:99999': the port must be a number from 1 to 65535"),
    (KKIM.format(ws="'ws://[::1'", api="http://h:1"),
     "x.yaml:3: server.ws_url: 'ws://[::1' is not a usable URL: Invalid IPv6 URL"),
    (KKIM.format(ws="ws://h:0", api="http://h:1"), "x.yaml:3: server.ws_url: 'ws://h:0': port 0 cannot be connected to"),
    (SOCKETIO.format(url="http://h:99999"),
     "x.yaml:3: server.url: 'http://h:99999': the port must be a number from 1 to 65535"),
    (ICE.format(url="turn:[::1"), "x.yaml:4: ice.servers[1].urls: ICE server URL 'turn:[::1' is not of the form "
                                  "stun:HOST[:PORT] or turn:HOST[:PORT][?transport=udp|tcp]"),
    (ICE.format(url="stun:h:99999"), "x.yaml:4: ice.servers[1].urls: ICE server URL 'stun:h:99999': port out of range"),
    (ICE.format(url="stun:h:0"), "x.yaml:4: ice.servers[1].urls: ICE server URL 'stun:h:0': port out of range"),
    (LOGIN.format(url="http://[::1"), "x.yaml:4: server.login.url: 'http://[::1' is not a usable URL: Invalid IPv6 URL"),
    (LOGIN.format(url="http://h:99999/login"),
     "x.yaml:4: server.login.url: 'http://h:99999/login': the port must be a number from 1 to 65535"),
])
def test_a_scenario_url_no_client_could_open(text: str, expected: str) -> None:
    with pytest.raises(InvalidScenario) as info:
        load_scenario_text(text, file="x.yaml")
    assert [format_problem("x.yaml", p) for p in info.value.problems] == [expected]


@pytest.mark.parametrize(("args", "words"), [
    (["diagnose", "--server", "ws://[::1", "--api", "http://h:2"], "--server 'ws://[::1' is not a usable URL"),
    (["diagnose", "--server", "ws://h:1", "--api", "http://[::1"], "--api 'http://[::1' is not a usable URL"),
    (["diagnose", "--server", "ws://h:99999", "--api", "http://h:2"], "the port must be a number from 1 to 65535"),
    (["diagnose", "--server", "ws://h:0", "--api", "http://h:2"], "port 0 cannot be connected to"),
    (["diagnose", "--backend", "socketio", "--server", "http://h:99999"], "the port must be a number from 1 to 65535"),
    (["run", "scenarios/basic.yaml", "--server", "ws://h:1", "--api", "http://h:99999"], "the port must be a number from 1 to 65535"),
    (["run", "scenarios/basic.yaml", "--server", "ws://[::1", "--api", "http://h:2"], "Invalid IPv6 URL"),
    (["diagnose", "--stun", "stun:h:99999"], "ICE server URL 'stun:h:99999': port out of range"),
    (["diagnose", "--turn", "turn:[::1", "--turn-user", "u", "--turn-credential", "c"], "is not of the form"),
    (["diagnose", "--login-mode", "custom", "--login-url", "http://[::1"], "--login-url 'http://[::1'"),
    (["ice-check", "--stun", "stun:h:99999"], "99999"),
])
def test_a_command_line_url_no_client_could_open(args: list[str], words: str) -> None:
    code, output = run_cli(args)
    assert code == 2, output
    assert words in output and "internal error" not in output and "Traceback" not in output
