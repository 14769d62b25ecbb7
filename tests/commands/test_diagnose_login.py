"""``diagnose`` without the admin secret: the login modes of scenarios (fixed tokens per user, a
custom login), from the command line or a profile; and no secret in what it prints or writes."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes import run_cli
from tests.paths import ROOT

START_S = 20.0  # interpreter start and imports on a loaded 2-core machine
SERVER_SECRET = "srv-secret-Qw83"


@pytest.fixture(autouse=True)
def clean_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("CALLPROBE_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))


class Gateway:
    """``callprobe serve`` in its own process, its secret from CALLPROBE_SERVER_SECRET."""

    def __init__(self) -> None:
        env = {**os.environ, "CALLPROBE_SERVER_SECRET": SERVER_SECRET, "PYTHONPATH": str(ROOT)}
        self.proc = subprocess.Popen([sys.executable, "-m", "callprobe", "serve", "--ws-port", "0",
                                      "--api-port", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, env=env)
        self.banner: list[str] = []
        urls: dict[str, str] = {}
        assert self.proc.stdout is not None
        while not self.banner or "ready" not in self.banner[-1]:
            line = self.proc.stdout.readline()
            if not line:
                raise AssertionError(f"serve exited early: {self.banner} {self.proc.stderr.read()}")  # type: ignore[union-attr]
            self.banner.append(line.strip())
            found = re.match(r"(ws|api):\s+(\S+)", line)
            if found:
                urls[found.group(1)] = found.group(2)
        self.ws_url, self.api_url = urls["ws"], urls["api"]

    def post(self, path: str, body: dict[str, object], token: str = "") -> dict[str, object]:
        headers = {"Content-Type": "application/json", "operationID": "test"} | ({"token": token} if token else {})
        request = urllib.request.Request(self.api_url + path, json.dumps(body).encode(), headers)
        with urllib.request.urlopen(request, timeout=10) as reply:
            data: dict[str, object] = json.loads(reply.read())
        return data

    def token(self, user: str) -> str:
        admin = self.post("/auth/get_admin_token", {"secret": SERVER_SECRET, "userID": "imAdmin"})
        reply = self.post("/auth/get_user_token", {"platformID": 5, "userID": user},
                          token=str(admin["data"]["token"]))  # type: ignore[index]
        return str(reply["data"]["token"])  # type: ignore[index]

    def stop(self) -> str:
        self.proc.terminate()
        out, err = self.proc.communicate(timeout=10)
        return "\n".join(self.banner) + out + err


@pytest.fixture
def gateway() -> Iterator[Gateway]:
    server = Gateway()
    try:
        yield server
    finally:
        if server.proc.poll() is None:
            server.stop()


def diagnose(*args: str, report: Path) -> tuple[int, str, dict[str, object]]:
    code, output = run_cli(["diagnose", "--media", "audio", "-v", "--json", str(report), *args])
    assert "Traceback" not in output, output
    data: dict[str, object] = json.loads(report.read_text()) if report.exists() else {}
    return code, output, data


def login_modes(data: dict[str, object]) -> list[str]:
    return [str(e["mode"]) for e in data["events"] if e["kind"] == "login_ok"]  # type: ignore[attr-defined,index]


def test_fixed_tokens_from_the_environment(gateway: Gateway, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    caller, callee = gateway.token("u_caller"), gateway.token("u_callee")
    monkeypatch.setenv("CALLPROBE_CALLER_TOKEN", caller)  # the default variables
    monkeypatch.setenv("MY_CALLEE_TOKEN", callee)         # or one --callee-token-env names
    code, output, data = diagnose("--server", gateway.ws_url, "--caller", "u_caller", "--callee", "u_callee",
                                  "--login-mode", "fixed", "--callee-token-env", "MY_CALLEE_TOKEN",
                                  report=tmp_path / "r.json")
    assert code == 0, output  # no --api: a fixed login asks the auth API nothing
    assert login_modes(data) == ["fixed", "fixed"] and data["healthy"] is True
    everything = output + json.dumps(data) + gateway.stop()
    for secret in (caller, callee, SERVER_SECRET):
        assert secret not in everything


def test_fixed_tokens_from_a_profile(gateway: Gateway, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAB_CALLER_TOKEN", gateway.token("p_caller"))
    monkeypatch.setenv("LAB_CALLEE_TOKEN", gateway.token("p_callee"))
    code, output = run_cli(["profile", "add", "lab", "--server", gateway.ws_url, "--login", "fixed",
                            "--caller", "p_caller", "--callee", "p_callee",
                            "--caller-token-env", "LAB_CALLER_TOKEN", "--callee-token-env", "LAB_CALLEE_TOKEN"])
    assert code == 0, output
    code, output, data = diagnose("--profile", "lab", report=tmp_path / "r.json")
    assert code == 0, output
    assert login_modes(data) == ["fixed", "fixed"]
    assert data["target"]["caller"] == "p_caller"  # type: ignore[index]


def test_a_custom_login_with_the_secret_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The embedded gateway's own user_token endpoint, reached as any app's login would be.
    monkeypatch.setenv("CALLPROBE_SECRET", "custom-secret-Lp02")
    code, output, data = diagnose(
        "--login-mode", "custom", "--login-url", "/auth/user_token", "--token-path", "data.token",
        "--login-body", '{"secret": "{secret}", "platformID": "{platform_id}", "userID": "{user_id}"}',
        report=tmp_path / "r.json")
    assert code == 0, output
    assert login_modes(data) == ["custom", "custom"] and data["healthy"] is True
    assert "custom-secret-Lp02" not in output + json.dumps(data)


@pytest.mark.parametrize(("args", "words"), [
    (["--login-mode", "fixed"], "--login-mode fixed needs --server"),
    (["--server", "ws://127.0.0.1:1", "--login-mode", "fixed"],
     "the environment variable CALLPROBE_CALLER_TOKEN (--caller-token-env) holds no token"),
    (["--server", "ws://127.0.0.1:1", "--login-mode", "fixed", "--caller-token-env", "eyJ.a-token"],
     "expected the name of an environment variable, like CALLPROBE_CALLER_TOKEN, not the token itself"),
    (["--login-mode", "custom"], "--login-mode custom needs --login-url"),
    (["--login-mode", "custom", "--login-url", "/login", "--login-body", '{"a": "{usr}"}'],
     "unknown placeholder {usr} (did you mean 'user_id'?)"),
    (["--login-mode", "custom", "--login-url", "/login", "--login-body", "{not json"],
     "--login-body must be JSON"),
    (["--login-mode", "custom", "--login-url", "/login", "--login-body", '{"p": "{password}"}'],
     "--login-body uses {password}"),
    (["--login-url", "/login"], "--login-url is used by login mode custom only (mode is admin_user_token)"),
    (["--login-mode", "fixed", "--admin-user", "x"], "--admin-user is used by login mode admin_user_token only"),
    (["--backend", "rooms", "--login-mode", "fixed"], "login modes are the KKIM gateway's"),
])
def test_login_options_that_cannot_work_are_refused(args: list[str], words: str) -> None:
    code, output = run_cli(["diagnose", *args])
    assert code == 2, output
    assert words in output and "Traceback" not in output
    assert "eyJ.a-token" not in output  # a token given where a variable's name belongs is not echoed
