"""``callprobe validate`` through click's CliRunner: output and exit codes."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from callprobe.cli import cli
from callprobe.errors import ExitCode
from tests.paths import SCENARIOS

BROKEN = """\
name: broken
agents:
  alice: {platform: webb}
steps:
  - connect: alice
  - expect: {agent: bob, event: ringing}
"""


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["validate", *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.output


def test_a_good_file() -> None:
    code, out = invoke(str(SCENARIOS / "basic.yaml"))
    assert code == int(ExitCode.OK) == 0
    assert out == f"{SCENARIOS / 'basic.yaml'}: ok (2 agents, 11 steps)\n"


def test_a_broken_file_lists_every_problem(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(BROKEN)
    code, out = invoke(str(path))
    assert code == 3 and int(ExitCode.SCENARIO_INVALID) == 3
    assert out.splitlines() == [
        f"{path}:3: agents.alice.platform: unknown platform 'webb' (did you mean 'web'?); "
        "expected 1..11 or one of ios, android, windows, osx, web, mini-web, linux, android-pad, "
        "ipad, admin, harmony-os",
        f"{path}:6: steps[2].expect.agent: unknown agent 'bob'; the agents are: alice",
    ]
    assert "Traceback" not in out


def test_a_directory_and_a_summary(tmp_path: Path) -> None:
    (tmp_path / "good.yaml").write_text((SCENARIOS / "cancel.yaml").read_text())
    (tmp_path / "bad.yml").write_text(BROKEN)
    (tmp_path / "notes.txt").write_text("not a scenario")
    code, out = invoke(str(tmp_path))
    assert code == ExitCode.SCENARIO_INVALID
    lines = out.splitlines()
    assert lines[0].startswith(f"{tmp_path / 'bad.yml'}:3: agents.alice.platform:")
    assert f"{tmp_path / 'good.yaml'}: ok (2 agents, 8 steps)" in lines
    assert lines[-1] == "2 files: 1 ok, 1 invalid"


def test_every_shipped_scenario_validates() -> None:
    code, out = invoke(str(SCENARIOS))
    shipped = sorted(SCENARIOS.rglob("*.yaml"))  # the backends' folders too
    assert code == 0, out
    assert out.splitlines()[-1] == f"{len(shipped)} files: {len(shipped)} ok, 0 invalid"
    assert any("socketio" in p.parts for p in shipped) and any("rooms" in p.parts for p in shipped)


def test_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    code, out = invoke(str(missing))
    assert code == ExitCode.SCENARIO_INVALID
    assert out == f"{missing}: cannot read the file: No such file or directory\n"


def test_empty_directory(tmp_path: Path) -> None:
    code, out = invoke(str(tmp_path))
    assert code == ExitCode.SCENARIO_INVALID
    assert out == f"no scenario files (*.yaml, *.yml) in {tmp_path}\n"


def test_no_arguments_is_a_usage_error() -> None:
    result = CliRunner().invoke(cli, ["validate"])
    assert result.exit_code == ExitCode.USAGE
    assert "Missing argument 'FILES...'" in result.output
