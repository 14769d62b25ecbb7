"""diagnose refuses unusable options before any work, like scenario files do (exit 2, the option named)."""

from __future__ import annotations

import pytest

from tests.fakes import run_cli


@pytest.mark.parametrize("args, words", [
    (["--caller", "", "--callee", "bob"], "--caller: expected a user ID, got empty text"),
    (["--caller", "alice", "--callee", "b\tob"], "--callee: expected a user ID of printable characters"),
    (["--caller", "a" * 300, "--callee", "bob"], "at most 256 characters, got 300"),
    (["--caller", "x", "--callee", "x"], "must be different users"),
    (["--backend", "rooms", "--server", "ws://h:1"], "--server 'ws://h:1' is not a http/https URL"),
    (["--server", "http://h:1", "--api", "http://h:2"], "is not a ws/wss URL"),
])
def test_bad_options_exit_2_naming_the_option(args: list[str], words: str) -> None:
    code, output = run_cli(["diagnose", *args])
    assert code == 2, output
    assert words in output
    assert "Traceback" not in output
