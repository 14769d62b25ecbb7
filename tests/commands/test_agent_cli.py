"""`callprobe agent` and `run --remote-agents`: the token stays off the command line and the URL."""

from __future__ import annotations

from pathlib import Path

import pytest

from callprobe.cli import main


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    with pytest.raises(SystemExit) as info:
        main(args)
    out = capsys.readouterr()
    return int(info.value.code or 0), out.out + out.err


def test_the_token_is_never_taken_from_the_url(capsys: pytest.CaptureFixture[str]) -> None:
    code, text = run_cli(["agent", "--connect", "ws://127.0.0.1:1/callprobe-control?token=abc", "--as", "bob"], capsys)
    assert code == 2 and "never goes in the URL" in text and "CALLPROBE_AGENT_TOKEN" in text


def test_the_url_must_be_the_control_endpoint(capsys: pytest.CaptureFixture[str]) -> None:
    code, text = run_cli(["agent", "--connect", "http://127.0.0.1:1/", "--as", "bob"], capsys)
    assert code == 2 and "ws://HOST:PORT" in text


def test_without_a_token_or_a_terminal_it_says_where_the_token_goes(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CALLPROBE_AGENT_TOKEN", raising=False)
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    code, text = run_cli(["agent", "--connect", "ws://127.0.0.1:1/callprobe-control", "--as", "bob"], capsys)
    assert code == 2 and "set CALLPROBE_AGENT_TOKEN" in text


def test_an_unreachable_control_endpoint(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALLPROBE_AGENT_TOKEN", "t")
    code, text = run_cli(["agent", "--connect", "ws://127.0.0.1:9/callprobe-control", "--as", "bob"], capsys)
    assert code == 4 and "cannot reach the control endpoint" in text


@pytest.mark.parametrize("names, words", [("zed", "'zed' is not an agent"), ("phone", "phone is external")])
def test_remote_agents_must_be_agents_the_scenario_plays(names: str, words: str, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("name: s\nagents:\n  alice: {}\n  phone: {external: true}\nsteps:\n  - connect: alice\n")
    code, text = run_cli(["run", str(path), "--remote-agents", names], capsys)
    assert code == 2 and words in text
