"""The rooms family's ``server.backend`` block: defaults, renames, and every mistake with its field."""

from __future__ import annotations

import re
from typing import Any

import pytest

from callprobe.backends.options import FieldPath
from callprobe.backends.rooms.config import (
    DEFAULT_FIELDS,
    DEFAULT_MESSAGES,
    DEFAULT_PATHS,
    RoomsOptions,
    parse_options,
)
from callprobe.errors import ScenarioError
from callprobe.scenario.loader import load_scenario_text
from tests.paths import SCENARIOS

PATH: FieldPath = ("server", "backend")


class Sink:
    def __init__(self) -> None:
        self.errors: list[tuple[FieldPath, str]] = []

    def error(self, path: FieldPath, message: str) -> None:
        self.errors.append((path, message))

    def text(self, path: FieldPath, value: Any) -> str:
        return str(value)


def parse(given: dict[str, Any]) -> tuple[RoomsOptions, list[tuple[FieldPath, str]]]:
    sink = Sink()
    return parse_options(sink, PATH, {"family": "rooms", **given}), sink.errors


def test_the_defaults_are_the_reference_servers() -> None:
    options, errors = parse({})
    assert errors == []
    assert options == RoomsOptions()
    assert options.path("room", "u-1") == "/ws/call/u-1"
    assert options.message("candidate") == "ice-candidate"
    assert options.identity == ("token_query", "user_id_query") and options.poll_interval_s == 0.5
    assert not options.register


def test_renames_replace_only_what_they_name() -> None:
    options, errors = parse({"paths": {"login": "/v2/session"}, "messages": {"candidate": "candidate"},
                             "fields": {"token": "access_token"}, "statuses": {"ended": "finished"},
                             "identity": "authorization_header", "poll_interval": "250ms", "register": True})
    assert errors == []
    assert options.path("login") == "/v2/session" and options.path("incoming") == DEFAULT_PATHS["incoming"]
    assert options.message("candidate") == "candidate" and options.message("join") == DEFAULT_MESSAGES["join"]
    assert options.key("token") == "access_token" and options.key("uuid") == DEFAULT_FIELDS["uuid"]
    assert options.status("ended") == "finished"
    assert options.identity == ("authorization_header",) and options.poll_interval_s == 0.25 and options.register


def test_an_empty_identity_list_sends_none() -> None:
    options, errors = parse({"identity": []})
    assert errors == [] and options.identity == ()


@pytest.mark.parametrize(("given", "where", "words"), [
    ({"pathz": {}}, ("pathz",), "did you mean 'paths'"),
    ({"paths": {"room": "/ws/call"}}, ("paths", "room"), "{uuid}"),
    ({"paths": {"login": "api/login"}}, ("paths", "login"), "starting with '/'"),
    ({"paths": {"logon": "/x"}}, ("paths", "logon"), "did you mean 'login'"),
    ({"messages": {"join": "offer"}}, ("messages", "join"), "would both be 'offer'"),
    ({"messages": {"join": "two words"}}, ("messages", "join"), "without spaces"),
    ({"statuses": {"ended": "accepted"}}, ("statuses", "ended"), "would both be 'accepted'"),
    ({"identity": ["cookie"]}, ("identity", 0), "unknown place 'cookie'"),
    ({"identity": ["token_query", "token_query"]}, ("identity", 1), "listed twice"),
    ({"identity": {"a": 1}}, ("identity",), "a list of places"),
    ({"poll_interval": "0s"}, ("poll_interval",), "above zero"),
    ({"poll_interval": "2m"}, ("poll_interval",), "at most 60 s"),
    ({"register": "yes"}, ("register",), "true or false"),
])
def test_mistakes_name_their_field(given: dict[str, Any], where: FieldPath, words: str) -> None:
    _, errors = parse(given)
    assert errors, given
    path, message = errors[0]
    assert path == PATH + where and words in message, errors


def test_the_loader_reports_file_line_and_field() -> None:
    text = ("name: n\n"
            "server:\n"
            "  backend:\n"
            "    family: rooms\n"
            "    poll_interval: soon\n"
            "agents: {alice: {}, bob: {}}\n"
            "steps:\n  - connect: alice\n")
    with pytest.raises(ScenarioError) as info:
        load_scenario_text(text, file="r.yaml")
    assert str(info.value).startswith("r.yaml:5: server.backend.poll_interval: expected a duration")


def test_the_documented_example_with_other_names_is_valid() -> None:
    """The ``server.backend`` example of scenarios/README.md, with steps added, loads and means what it says."""
    readme = (SCENARIOS / "README.md").read_text()
    block = re.search(r"#### family rooms.*?```yaml\n(.*?)```", readme, re.S)
    assert block is not None
    text = "name: documented\n" + block.group(1) + "steps:\n  - connect: [alice, bob]\n"
    scenario = load_scenario_text(text, file="readme.yaml")
    options = scenario.server.backend
    assert isinstance(options, RoomsOptions)
    assert options.path("room", "u") == "/rtc/rooms/u/socket" and options.message("join") == "peer-joined"
    assert options.identity == ("authorization_header", "user_id_header") and options.poll_interval_s == 0.25
    assert scenario.server.url == "http://10.0.0.5:9000" and scenario.agents["bob"].password == "secret-b"
