"""The indentation slips scenario authors make, each said once, in words, with line and column."""

from __future__ import annotations

import pytest

from callprobe.scenario import InvalidScenario, format_problem, load_scenario_text
from tests.fakes import run_cli


def problems(text: str) -> list[str]:
    with pytest.raises(InvalidScenario) as info:
        load_scenario_text(text, file="x.yaml")
    return [format_problem("x.yaml", p) for p in info.value.problems]


@pytest.mark.parametrize(("text", "expected"), [
    ("name: x\nagents:\n  alice: {}\n   bob: {}\nsteps:\n  - connect: [alice, bob]\n",
     "x.yaml:4:4: YAML syntax error: 'bob' is indented 3 spaces, where no key above it is: a key at this "
     "indentation belongs to no mapping. To put it under agents: (line 2), indent it with 2 spaces, like "
     "'alice' on line 3"),
    ("name: x\nagents:\n  alice:\n    platform: web\n bob:\n    platform: web\nsteps:\n  - connect: alice\n",
     "x.yaml:5:2: YAML syntax error: 'bob' is indented 1 space, where no key above it is: a key at this "
     "indentation belongs to no mapping. To put it under agents: (line 2), indent it with 2 spaces, like "
     "'alice' on line 3"),
    ("name: x\nagents:\n  alice:\n    platform: web\n   media: audio\nsteps:\n  - connect: alice\n",
     "x.yaml:5:4: YAML syntax error: 'media' is indented 3 spaces, where no key above it is: a key at this "
     "indentation belongs to no mapping. To put it under alice: (line 3), indent it with 4 spaces, like "
     "'platform' on line 4"),
    ("name: x\nagents:\n  alice:\n    platform: web\n      media: audio\nsteps:\n  - connect: alice\n",
     "x.yaml:5:7: YAML syntax error: 'media' is indented 6 spaces, where no key above it is: a key at this "
     "indentation belongs to no mapping. To put it under alice: (line 3), indent it with 4 spaces, like "
     "'platform' on line 4"),
    ("name: x\nagents: {alice: {}}\nsteps:\n  - connect: alice\n   - wait: 1s\n",
     "x.yaml:5:4: YAML syntax error: '- wait' is indented 3 spaces, where no item above it is: an item at "
     "this indentation belongs to no list. To put it under steps: (line 3), indent it with 2 spaces, like "
     "'- connect' on line 4"),
])
def test_a_misindented_key_gets_its_column_and_where_it_belongs(text: str, expected: str) -> None:
    assert problems(text) == [expected]


def test_a_key_inside_a_value_line_gets_a_hint() -> None:
    [problem] = problems("name: x\nagents:\n  alice: platform: web\nsteps:\n  - connect: alice\n")
    assert problem.startswith("x.yaml:3:18: YAML syntax error: mapping values are not allowed here; ")
    assert "write it in braces (alice: {platform: web})" in problem


@pytest.mark.parametrize("agents", ["alice: {}\nbob: {}\n", "alice:\n  platform: web\nbob:\n"])
def test_agents_beside_agents_are_said_once(agents: str) -> None:
    text = "name: x\nagents:\n" + agents + "steps:\n  - connect: [alice, bob]\n  - invite: {from: alice, to: bob}\n"
    assert problems(text) == ["x.yaml:3: agents: 'alice' and 'bob' look like agents: indent them under "
                              "agents: (line 2), like '  alice: ...'"]


def test_one_agent_without_an_agents_key() -> None:
    assert problems("name: x\nalice: {platform: web}\nsteps:\n  - connect: alice\n") == [
        "x.yaml:2: agents: 'alice' looks like an agent: put it under an agents: key, indented like "
        "'  alice: ...'"]


def test_a_real_unknown_key_beside_empty_agents_is_still_named() -> None:
    # 'servr' holds a URL, not an agent's keys: it is a misspelt key, said as such
    lines = problems("name: x\nagents:\nservr: {ws_url: 'ws://h:1'}\nsteps:\n  - connect: alice\n")
    assert any("unknown key 'servr' (did you mean 'server'?)" in line for line in lines), lines
    assert not any("look" in line and "like an agent" in line for line in lines), lines


def test_steps_do_not_repeat_a_missing_agents_block() -> None:
    lines = problems("name: x\nagents: {}\nsteps:\n  - connect: [alice, bob]\n  - invite: {from: alice, to: bob}\n")
    assert lines == ["x.yaml:2: agents: expected a mapping of agent names to agents (alice: {platform: web}), "
                     "got an empty mapping"]


def test_serve_suggests_the_fault_meant() -> None:
    code, output = run_cli(["serve", "--fault", "invite-not-push"])
    assert code == 2 and "unknown fault 'invite-not-push' (did you mean 'invite-not-pushed'?)" in output, output
