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
    (["--server", "http://h:1", "--api", "http://h:2"], "is an http URL: the KKIM gateway takes ws://"),
    (["--server", "http://h:1"], "diagnose --backend socketio|rooms"),  # a forgotten --backend, not a missing --api
])
def test_bad_options_exit_2_naming_the_option(args: list[str], words: str) -> None:
    code, output = run_cli(["diagnose", *args])
    assert code == 2, output
    assert words in output
    assert "Traceback" not in output


def test_a_fault_of_another_family_is_refused_before_anything_prints() -> None:
    code, output = run_cli(["diagnose", "--backend", "socketio", "--fault", "no-heartbeat-reply"])
    assert code == 2 and "belongs to the kkim backend, not socketio" in output
    assert "at the embedded" not in output  # no walk header: nothing started
