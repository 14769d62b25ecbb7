"""One CLI: the same option means the same thing in every command.

``-`` is standard output for every report option; the TURN options have one
set of names and environment variables; every secret option has a documented
variable; renamed options keep their old names, hidden, for one release.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import click
import pytest

from callprobe.cli import cli
from tests.fakes import run_cli
from tests.paths import ROOT

#: A scenario that needs no media: a text crosses the embedded gateway in about a second.
TEXT_ONLY = """\
name: text only
agents: {alice: {}, bob: {}}
steps:
  - connect: [alice, bob]
  - send_text: {from: alice, to: bob, text: hi}
  - expect: {agent: bob, event: text_received, within: 3s}
"""


def command(name: str) -> click.Command:
    found = cli.get_command(click.Context(cli), name)
    assert found is not None
    return found


def option(name: str, flag: str) -> click.Option:
    matches = [p for p in command(name).params if isinstance(p, click.Option) and flag in p.opts]
    assert matches, f"{name} has no {flag}"
    return matches[0]


def callprobe(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("CALLPROBE_")}
    return subprocess.run([sys.executable, "-m", "callprobe", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120, env={**base, "PYTHONPATH": str(ROOT), **(env or {})}, check=False)


# -- '-' is standard output everywhere -------------------------------------------------


def test_run_json_dash_is_standard_output_not_a_file_named_dash(tmp_path: Path) -> None:
    (tmp_path / "text.yaml").write_text(TEXT_ONLY)
    proc = callprobe("run", "text.yaml", "--json", "-", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(proc.stdout)  # nothing but the report on standard output
    assert report["verdict"] == "pass" and report["scenario"] == "text only"
    assert "PASS" in proc.stderr  # the terminal report moved to standard error
    assert not (tmp_path / "-").exists()


def test_run_junit_dash_is_standard_output(tmp_path: Path) -> None:
    (tmp_path / "text.yaml").write_text(TEXT_ONLY)
    proc = callprobe("run", "text.yaml", "--junit", "-", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert ET.fromstring(proc.stdout).find("testsuite") is not None
    assert not (tmp_path / "-").exists()


@pytest.mark.parametrize("args", [
    ["run", "scenarios/basic.yaml", "--json", "-", "--junit", "-"],
    ["run", "scenarios/basic.yaml", "--json", "-", "--html", "-"],
    ["diagnose", "--json", "-", "--html", "-"],
])
def test_two_outputs_on_standard_output_are_refused(args: list[str]) -> None:
    code, output = run_cli(args)
    assert code == 2, output
    assert "where only one output can go" in output and "Traceback" not in output


def test_a_bundle_cannot_go_to_standard_output() -> None:
    code, output = run_cli(["diagnose", "--bundle", "-"])
    assert code == 2 and "--bundle cannot go to standard output" in output, output


@pytest.mark.parametrize(("name", "flag"), [("run", "--json"), ("run", "--junit"), ("run", "--html"),
                                            ("diagnose", "--json"), ("diagnose", "--html"),
                                            ("ice-check", "--json")])
def test_every_report_option_says_dash_is_standard_output(name: str, flag: str) -> None:
    assert "'-': standard output" in (option(name, flag).help or "")


# -- TURN options: one set of names and variables ------------------------------------------


@pytest.mark.parametrize("name", ["diagnose", "ice-check"])
@pytest.mark.parametrize(("flag", "variable"), [("--turn-user", "CALLPROBE_TURN_USER"),
                                                ("--turn-credential", "CALLPROBE_TURN_CREDENTIAL"),
                                                ("--turn-secret", "CALLPROBE_TURN_SECRET")])
def test_turn_options_have_one_name_and_variable_everywhere(name: str, flag: str, variable: str) -> None:
    param = option(name, flag)
    assert param.envvar == variable and variable in (param.help or "")
    assert not param.hidden


@pytest.mark.parametrize(("name", "old"), [("ice-check", "--user"), ("ice-check", "--credential"),
                                           ("ice-check", "--secret"), ("diagnose", "--turn-password")])
def test_old_names_are_hidden_aliases(name: str, old: str) -> None:
    assert option(name, old).hidden


def test_diagnose_reads_the_turn_credential_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # before: diagnose ignored CALLPROBE_TURN_CREDENTIAL; now it reads it, so both variables clash
    monkeypatch.setenv("CALLPROBE_TURN_CREDENTIAL", "c")
    monkeypatch.setenv("CALLPROBE_TURN_SECRET", "s")
    code, output = run_cli(["diagnose", "--turn", "turn:127.0.0.1:3478", "--turn-user", "u"])
    assert code == 2 and "give --turn-credential or --turn-secret, not both" in output, output


def test_an_old_name_still_works_with_a_warning(tmp_path: Path) -> None:
    proc = callprobe("ice-check", "--turn", "turn:127.0.0.1:3478", "--user", "u", cwd=tmp_path)
    # the old --user reached --turn-user: the refusal is about the missing credential only
    assert proc.returncode == 2, proc.stderr
    assert "warning: --user is now --turn-user" in proc.stderr
    assert "--turn needs --turn-user and --turn-credential" in proc.stderr


def test_an_old_and_a_new_name_together_are_refused() -> None:
    code, output = run_cli(["ice-check", "--turn", "turn:127.0.0.1:3478", "--user", "a", "--turn-user", "b"])
    assert code == 2 and "--user is the old name of --turn-user" in output, output


# -- secrets: each has a documented variable ---------------------------------------------------


@pytest.mark.parametrize(("name", "flag", "variable"), [
    ("diagnose", "--secret", "CALLPROBE_SECRET"),
    ("diagnose", "--password", "CALLPROBE_PASSWORD"),
    ("diagnose", "--turn-credential", "CALLPROBE_TURN_CREDENTIAL"),
    ("diagnose", "--turn-secret", "CALLPROBE_TURN_SECRET"),
    ("ice-check", "--turn-credential", "CALLPROBE_TURN_CREDENTIAL"),
    ("ice-check", "--turn-secret", "CALLPROBE_TURN_SECRET"),
    ("serve", "--secret", "CALLPROBE_SERVER_SECRET"),
    ("run", "--server", "CALLPROBE_SERVER"),
    ("run", "--api", "CALLPROBE_API"),
    ("diagnose", "--server", "CALLPROBE_SERVER"),
    ("diagnose", "--api", "CALLPROBE_API"),
    ("run", "--profile", "CALLPROBE_PROFILE"),
    ("diagnose", "--profile", "CALLPROBE_PROFILE"),
    ("ice-check", "--profile", "CALLPROBE_PROFILE"),
])
def test_each_option_has_its_documented_variable(name: str, flag: str, variable: str) -> None:
    param = option(name, flag)
    assert param.envvar == variable
    assert variable in (param.help or ""), f"{name} {flag}: the help does not name {variable}"
    assert variable in (ROOT / "README.md").read_text(), f"README.md does not document {variable}"


@pytest.mark.parametrize(("name", "flag"), [("diagnose", "--secret"), ("diagnose", "--password"),
                                            ("diagnose", "--turn-credential"), ("diagnose", "--turn-secret"),
                                            ("ice-check", "--turn-credential"), ("ice-check", "--turn-secret"),
                                            ("serve", "--secret")])
def test_no_secret_is_required_on_the_command_line(name: str, flag: str) -> None:
    param = option(name, flag)
    assert not param.required and not param.show_default
