"""The CallprobeError tree: stable codes, exit codes, and where-first messages."""

from __future__ import annotations

import pytest

from callprobe.errors import (
    CallprobeError,
    ConfigError,
    DeadlineExceeded,
    ExitCode,
    ScenarioError,
    ServerUnreachable,
)


@pytest.mark.parametrize(("kwargs", "expected"), [
    ({"file": "call.yaml", "line": 12, "field": "steps[2].expect"},
     "call.yaml:12: steps[2].expect: unknown key 'ringz'"),
    ({"file": "call.yaml", "line": 12}, "call.yaml:12: unknown key 'ringz'"),
    ({"file": "call.yaml"}, "call.yaml: unknown key 'ringz'"),
    ({"line": 3}, "line 3: unknown key 'ringz'"),
    ({"line": 3, "field": "agents"}, "line 3: agents: unknown key 'ringz'"),
    ({"field": "agents"}, "agents: unknown key 'ringz'"),
    ({"file": "call.yaml", "field": "agents"}, "call.yaml: agents: unknown key 'ringz'"),
    ({}, "unknown key 'ringz'"),
    ({"file": "c.yaml", "line": 0}, "c.yaml:0: unknown key 'ringz'"),
])
def test_scenario_error_message_names_the_place(kwargs: dict[str, object], expected: str) -> None:
    err = ScenarioError("unknown key 'ringz'", **kwargs)  # type: ignore[arg-type]
    assert str(err) == expected == err.message


def test_scenario_error_keeps_its_parts_and_codes() -> None:
    err = ScenarioError("bad", file="s.yaml", line=4, field="x", hint="see scenarios/README.md")
    assert (err.file, err.line, err.field, err.hint) == ("s.yaml", 4, "x", "see scenarios/README.md")
    assert err.code == "SCENARIO_INVALID"
    assert err.exit_code == ExitCode.SCENARIO_INVALID == 3
    assert isinstance(err, CallprobeError)


def test_hint_defaults_per_class_and_can_be_overridden() -> None:
    assert ServerUnreachable("no route").hint.startswith("check the --server")
    assert ServerUnreachable("no route", hint="start the gateway").hint == "start the gateway"
    assert CallprobeError("x").hint == ""
    assert ScenarioError("x").hint == ""


def test_deadline_exceeded_names_the_setting() -> None:
    err = DeadlineExceeded("waiting for ringing", "ring_timeout_s", 7.5)
    assert str(err) == "waiting for ringing: no result within 7.5 s (setting ring_timeout_s)"
    assert (err.setting, err.seconds) == ("ring_timeout_s", 7.5)
    assert err.exit_code == ExitCode.EXPECTATION_FAILED


def test_exit_codes_are_distinct_per_class() -> None:
    assert ConfigError("x").exit_code == ExitCode.USAGE == 2
    assert ServerUnreachable("x").exit_code == ExitCode.SERVER_UNREACHABLE
    assert CallprobeError("x").exit_code == ExitCode.INTERNAL == 70
    assert len({int(c) for c in ExitCode}) == len(ExitCode)
