"""Values and files that must be refused: each gives one clear problem with its place, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from callprobe.cli import cli
from callprobe.errors import ScenarioError
from callprobe.scenario import (
    Action,
    Expectation,
    InvalidScenario,
    load_scenario,
    load_scenario_text,
)
from callprobe.scenario.source import MAX_DEPTH, MAX_FILE_BYTES, MAX_VALUES

# Lines 1-7; the next step is line 8.
HEAD = """\
name: t
agents:
  alice: {}
  bob: {}
  carol: {}
steps:
  - connect: [alice, bob, carol]
"""
CALL = HEAD + "  - invite: {from: alice, to: bob}\n"  # line 8; the next step is line 9


def problems(text: str) -> list[tuple[int | None, str, str]]:
    with pytest.raises(InvalidScenario) as info:
        load_scenario_text(text, file="h.yaml")
    for line in str(info.value).splitlines():
        assert line.startswith("h.yaml"), line
    return [(p.line, p.field, p.message) for p in info.value.problems]


def one_problem(text: str) -> tuple[int | None, str, str]:
    found = problems(text)
    assert len(found) == 1, found
    return found[0]


# ------------------------------------------------------------ non-finite and huge numbers

@pytest.mark.parametrize(("text", "line", "field", "words"), [
    (HEAD + "  - wait: .nan\n", 8, "steps[2].wait", "got a number (.nan)"),
    (HEAD + "  - wait: .inf\n", 8, "steps[2].wait", "got a number (.inf), expected at most 3600"),
    (HEAD + "  - wait: -.inf\n", 8, "steps[2].wait", "expected above 0"),
    (CALL + "  - expect: {event: ringing, within: .inf}\n", 9, "steps[3].expect.within", "at most 3600"),
    (CALL + "  - expect: {event: ringing, within: .NaN}\n", 9, "steps[3].expect.within", "(.nan)"),
    (CALL + "  - expect: {event: ringing, absent: true, for: .nan}\n", 9, "steps[3].expect.for", "(.nan)"),
    ("server: {ring_timeout_s: .nan}\n" + HEAD, 1, "server.ring_timeout_s", "(.nan)"),
    ("server: {ring_timeout_s: .inf}\n" + HEAD, 1, "server.ring_timeout_s", "at most 3600"),
    ("settings: {request_timeout_s: .nan}\n" + HEAD, 1, "settings.request_timeout_s",
     "expected a number of seconds from 0 to 1 hour (3600 s), got a number (.nan)"),
    ("settings: {connect_timeout_s: .inf}\n" + HEAD, 1, "settings.connect_timeout_s", "got a number (.inf)"),
    ("settings: {connect_timeout_s: 1.0e+400}\n" + HEAD, 1, "settings.connect_timeout_s", "(.inf)"),
    ("settings: {connect_timeout_s: -.inf}\n" + HEAD, 1, "settings.connect_timeout_s", "(-.inf)"),
    (HEAD + "  - invite: {from: alice, to: bob, timeout_s: .inf}\n", 8, "steps[2].invite.timeout_s",
     "expected a whole number of seconds from 1 to 86400 (24 hours), got a number (.inf)"),
    (CALL + "  - expect: {outcome: answered, call: .nan}\n", 9, "steps[3].expect.call", "(.nan)"),
])
def test_non_finite_numbers_are_refused(text: str, line: int, field: str, words: str) -> None:
    got_line, got_field, message = one_problem(text)
    assert (got_line, got_field) == (line, field)
    assert words in message, message


@pytest.mark.parametrize(("text", "field", "words"), [
    (HEAD + "  - wait: 99999999999\n", "steps[2].wait", "got a number (99999999999), expected at most 3600"),
    (HEAD + "  - wait: 3601\n", "steps[2].wait", "expected at most 3600"),
    (HEAD + "  - wait: 61m\n", "steps[2].wait",
     "expected a duration of at most 1 hour (3600 s), got text '61m' (3660 s)"),
    (HEAD + "  - wait: 1" + "0" * 400 + "\n", "steps[2].wait", "(401 digits)"),
    (HEAD + "  - wait: " + "9" * 400 + "s\n", "steps[2].wait", "at most 1 hour"),
    (CALL + "  - expect: {event: ringing, within: 2h}\n", "steps[3].expect.within", "got text '2h'"),
    (HEAD + "  - invite: {from: alice, to: bob, timeout_s: 86401}\n", "steps[2].invite.timeout_s",
     "expected at most 86400"),
    (HEAD + "  - invite: {from: alice, to: bob, timeout_s: 99999999999999}\n", "steps[2].invite.timeout_s",
     "expected at most 86400"),
    ("settings: {request_timeout_s: 3601}\n" + HEAD, "settings.request_timeout_s", "from 0 to 1 hour"),
    ("settings: {request_timeout_s: 90m}\n" + HEAD, "settings.request_timeout_s", "got text '90m' (5400 s)"),
    ("settings: {request_timeout_s: 1" + "0" * 400 + "}\n" + HEAD, "settings.request_timeout_s", "(401 digits)"),
    ("settings: {diagnose_ring_s: 86401}\n" + HEAD, "settings.diagnose_ring_s",
     "expected a whole number from 0 to 24 hours (86400 s), got 86401"),
])
def test_huge_values_are_refused(text: str, field: str, words: str) -> None:
    _, got_field, message = one_problem(text)
    assert got_field == field
    assert words in message, message


def test_limits_themselves_are_accepted() -> None:
    scenario = load_scenario_text(
        "settings: {request_timeout_s: 3600, diagnose_ring_s: 86400, heartbeat_interval_s: 0}\n"
        "server: {ring_timeout_s: 60m}\n" + HEAD +
        "  - invite: {from: alice, to: bob, timeout_s: 86400}\n  - wait: 3600\n"
        "  - expect: {event: ringing, within: 1h}\n".replace("1h", "3600s"))
    assert scenario.settings.request_timeout_s == 3600.0
    assert scenario.settings.diagnose_ring_s == 86400
    assert scenario.server.ring_timeout_s == 3600.0
    invite, wait = scenario.actions[1:]
    assert invite.params["timeout_s"] == 86400
    assert wait.params == {"duration_s": 3600.0}
    assert scenario.expectations[0].within_s == 3600.0


def test_a_fractional_timeout_gives_one_message() -> None:
    line, field, message = one_problem(HEAD + "  - invite: {from: alice, to: bob, timeout_s: 0.5}\n")
    assert (line, field) == (8, "steps[2].invite.timeout_s")
    assert message == "expected a whole number of seconds from 1 to 86400 (24 hours), got a number (0.5)"


def test_whole_floats_become_ints() -> None:
    scenario = load_scenario_text(CALL.replace("to: bob}", "to: bob, timeout_s: 2.0}")
                                  + "  - expect: {outcome: answered, call: 1.0}\n")
    invite = scenario.actions[1]
    assert invite.params["timeout_s"] == 2 and type(invite.params["timeout_s"]) is int
    outcome = scenario.expectations[0]
    assert outcome.call_index == 1 and type(outcome.call_index) is int


# ------------------------------------------------------------ one invite to several users

def test_an_invite_to_a_list_is_one_call() -> None:
    scenario = load_scenario_text(HEAD + "  - invite: {from: alice, to: [bob, carol]}\n"
                                  "  - expect: {agent: carol, event: ringing}\n"
                                  "  - expect: {outcome: answered, call: 1}\n")
    invite = scenario.actions[1]
    assert isinstance(invite, Action)
    assert (invite.verb, invite.agent, invite.targets) == ("invite", "alice", ("bob", "carol"))
    assert invite.params["call"] == 1
    assert [s.call_index for s in scenario.steps if isinstance(s, Expectation) and s.outcome] == [1]


def test_a_list_invite_places_one_call_only() -> None:
    line, field, message = one_problem(HEAD + "  - invite: {from: alice, to: [bob, carol]}\n"
                                       "  - expect: {outcome: answered, call: 2}\n")
    assert (line, field) == (9, "steps[3].expect.call")
    assert "call 2 does not exist at this step: 1 call placed before it" in message


def test_a_list_invite_names_each_user_once() -> None:
    text = ("name: t\nagents:\n  alice: {}\n  bob: {}\n  bob2: {user_id: bob, platform: android}\n"
            "steps:\n  - connect: [alice, bob, bob2]\n  - invite: {from: alice, to: [bob, bob2]}\n")
    line, field, message = one_problem(text)
    assert (line, field) == (8, "steps[2].invite.to[2]")
    assert "the same user 'bob'" in message


# ------------------------------------------------------------ hostile files

def test_a_file_over_the_size_limit(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_text("# padding\n" * (MAX_FILE_BYTES // 10 + 1))
    with pytest.raises(ScenarioError, match=r"over the limit of 1048576 bytes \(1 MiB\)") as info:
        load_scenario(path)
    assert info.value.file == str(path)
    line, field, message = one_problem("# padding\n" * (MAX_FILE_BYTES // 10 + 1))
    assert (line, field) == (None, "")
    assert "over the limit of 1048576 (1 MiB)" in message


def test_an_endless_device_is_read_only_up_to_the_limit() -> None:
    with pytest.raises(ScenarioError, match="over the limit"):
        load_scenario("/dev/zero")


def test_a_folder_is_named_as_such(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="is a folder; give a scenario file"):
        load_scenario(tmp_path)


def test_a_byte_order_mark_is_fine(tmp_path: Path) -> None:
    path = tmp_path / "bom.yaml"
    path.write_bytes(b"\xef\xbb\xbf" + HEAD.encode())
    assert load_scenario(path).name == "t"
    assert load_scenario_text("\ufeff" + HEAD).name == "t"


@pytest.mark.parametrize(("text", "line"), [
    ("x-deep: " + "[" * 5000 + "]" * 5000 + "\n" + HEAD, 1),
    ("x-deep: " + "{a: " * 2000 + "1" + "}" * 2000 + "\n" + HEAD, 1),
    ("x-deep:\n" + "".join(" " * i + f"k{i}:\n" for i in range(1, 400)) + HEAD, MAX_DEPTH),
], ids=["flow lists", "flow mappings", "block mappings"])
def test_deep_nesting_is_refused(text: str, line: int) -> None:
    got_line, field, message = one_problem(text)
    assert (got_line, field) == (line, "")
    assert message.startswith(f"lists and mappings nested deeper than {MAX_DEPTH} levels")


def test_deep_nesting_through_aliases_is_refused() -> None:
    chain = "x-m:\n  a0: &a0 [v]\n" + "".join(f"  a{i}: &a{i} [*a{i - 1}]\n" for i in range(1, 400))
    line, field, message = one_problem(chain + HEAD)
    assert line is not None and field == ""
    assert f"nested deeper than {MAX_DEPTH} levels (through aliases)" in message
    assert len(message) < 200, message


def _laughs(levels: int) -> str:
    lines = ["  l0: &l0 [lol]"] + [f"  l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 9) + "]"
                                   for i in range(1, levels)]
    return "x-laughs:\n" + "\n".join(lines) + "\n"


def test_a_billion_laughs_is_refused() -> None:
    line, field, message = one_problem(_laughs(10) + HEAD)
    assert line is not None and field == ""
    assert message.startswith(f"the file holds more than {MAX_VALUES} values")


def test_a_few_laughs_are_fine() -> None:
    assert load_scenario_text(_laughs(4) + HEAD).name == "t"


def test_chained_merge_keys_do_not_blow_up() -> None:
    # Each level merges the one before nine times: PyYAML's own flattening copies 9**n pairs.
    lines = ["  m0: &m0 {k: v}"] + [f"  m{i}: &m{i} {{<<: [" + ", ".join([f"*m{i - 1}"] * 9) + f"], k{i}: v}}"
                                    for i in range(1, 14)]
    assert load_scenario_text("x-merge:\n" + "\n".join(lines) + "\n" + HEAD).name == "t"


def test_merge_keys_keep_yaml_meaning() -> None:
    text = ("x-a: &a {platform: android, media: audio}\nx-b: &b {platform: ios, compression: gzip}\n"
            "name: t\nagents:\n  alice: {<<: [*a, *b], media: video}\n  bob: {}\n"
            "steps:\n  - connect: [alice, bob]\n")
    alice = load_scenario_text(text).agents["alice"]
    assert (alice.platform_id, alice.media, alice.compression) == (2, "video", "gzip")


@pytest.mark.parametrize(("merge", "words"), [
    ("<<: 5", "'<<' merges a mapping or a list of mappings (like <<: *phone), got text '5'"),
    ("<<: [{platform: ios}, 5]", "got text '5'"),
    ("<<: [[a]]", "got a list"),
])
def test_a_bad_merge_is_one_problem(merge: str, words: str) -> None:
    line, field, message = one_problem(HEAD.replace("alice: {}", "alice: {" + merge + "}"))
    assert (line, field) == (3, "agents.alice.<<")
    assert message == words or words in message


def test_a_mapping_merging_itself_is_refused() -> None:
    line, field, message = one_problem("x-a: &a {k: 1, <<: *a}\n" + HEAD)
    assert (line, field) == (1, "x-a.<<")
    assert "merges the mapping it is in" in message


@pytest.mark.parametrize(("char", "line"), [("\x00", 3), ("\x07", 3), ("\x7f", 3), ("\x1b", 3)])
def test_control_characters_are_placed(char: str, line: int) -> None:
    got_line, field, message = one_problem(HEAD.replace("alice: {}", f"alice: {{nickname: a{char}b}}"))
    assert (got_line, field) == (line, "")
    assert message.startswith(f"character U+{ord(char):04X} is not allowed in YAML")


def test_a_lone_surrogate_escape_is_refused() -> None:
    line, field, message = one_problem(HEAD.replace("alice: {}", 'alice: {nickname: "a\\ud800"}'))
    assert (line, field) == (3, "agents.alice.nickname")
    assert "half of a UTF-16 surrogate pair" in message


def test_an_unknown_tag_is_one_problem() -> None:
    line, field, message = one_problem("name: !!python/object:os.system ls\n" + HEAD[8:])
    assert (line, field) == (1, "")
    assert message.endswith("a scenario holds plain data: remove the '!' tag")


@pytest.mark.parametrize(("user", "words"), [
    ('"b\\nb"', "expected a user ID of printable characters, got 'b\\nb' (U+000A at position 2)"),
    ('"b\\0"', "(U+0000 at position 2)"),
    ('"b\\u200bb"', "(U+200B at position 2)"),
    ("u" * 257, "expected a user ID of at most 256 characters, got 257"),
])
def test_user_ids_clients_would_ignore_are_refused(user: str, words: str) -> None:
    line, field, message = one_problem(HEAD.replace("bob: {}", f"bob: {{user_id: {user}}}"))
    assert (line, field) == (4, "agents.bob.user_id")
    assert words in message, message


def test_a_header_with_a_line_break_is_refused() -> None:
    text = ("server:\n  ws_url: ws://10.0.0.5:10001\n  login:\n    mode: custom\n"
            "    url: https://chat.example.test/login\n    headers: {X-A: \"1\\r\\nX-B: 2\"}\n" + HEAD)
    line, field, message = one_problem(text)
    assert (line, field) == (6, "server.login.headers.X-A")
    assert "expected a header value without control characters" in message


def test_long_values_are_quoted_short() -> None:
    _, field, message = one_problem(HEAD.replace("alice: {}", "alice: {platform: " + "x" * 200_000 + "}"))
    assert field == "agents.alice.platform"
    assert len(message) < 600 and "xxx..." in message
    _, _, message = one_problem(HEAD + "  - hangup: " + "y" * 200_000 + "\n")
    assert len(message) < 600


def test_a_duration_with_a_long_run_of_spaces_is_refused_at_once() -> None:
    # The old pattern backtracked over every split of the spaces (minutes for this text).
    line, field, message = one_problem(HEAD + '  - wait: "1' + " " * 200_000 + 'x"\n')
    assert (line, field) == (8, "steps[2].wait")
    assert "expected a duration" in message


def test_validate_reports_a_hostile_file_without_a_traceback(tmp_path: Path) -> None:
    path = tmp_path / "laughs.yaml"
    path.write_text(_laughs(12) + HEAD + "  - wait: .nan\n")
    result = CliRunner().invoke(cli, ["validate", str(path)])
    assert result.exit_code == 3, result.output
    assert result.output.startswith(f"{path}:2: the file holds more than {MAX_VALUES} values")
    assert "Traceback" not in result.output


def test_agents_past_the_limit_are_one_problem_pointing_at_load() -> None:
    from callprobe.scenario.values import MAX_AGENTS

    def scenario(n: int) -> str:
        names = [f"a{i}" for i in range(n)]
        return ("name: crowd\nagents:\n" + "".join(f"  {a}: {{}}\n" for a in names)
                + f"steps:\n  - connect: [{', '.join(names)}]\n")

    assert len(load_scenario_text(scenario(MAX_AGENTS)).agents) == MAX_AGENTS == 100
    with pytest.raises(InvalidScenario) as info:
        load_scenario_text(scenario(10_000), file="x.yaml")
    [problem] = info.value.problems
    assert (problem.line, problem.field) == (2, "agents")
    assert problem.message.startswith("10000 agents, over the limit of 100 per scenario")
    assert "use `callprobe load`" in problem.message
