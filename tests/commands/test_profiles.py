"""``callprobe profile`` and ``--profile``: named servers, secrets only by reference, and the
precedence command line > environment > profile > default."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from callprobe.profiles import ProfileError, get_profile, load_profiles, profiles_path
from tests.fakes import run_cli

TEXT_ONLY = """\
name: text only
agents: {alice: {}, bob: {}}
steps:
  - connect: [alice, bob]
  - send_text: {from: alice, to: bob, text: hi}
  - expect: {agent: bob, event: text_received, within: 3s}
"""


@pytest.fixture(autouse=True)
def config_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Profiles in a folder of the test's own; no CALLPROBE_ variable from the caller's shell."""
    import os

    for name in list(os.environ):
        if name.startswith("CALLPROBE_"):
            monkeypatch.delenv(name)
    home = tmp_path / "config"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home))
    return home


def closed_port() -> int:
    """A loopback port nothing listens on: a connection there is refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cli(*args: str) -> tuple[int, str]:
    code, output = run_cli(list(args))
    assert "Traceback" not in output, output
    return code, output


def add(name: str, *args: str) -> None:
    code, output = cli("profile", "add", name, *args)
    assert code == 0, output


# -- the profile command and file -----------------------------------------------------------


def test_add_list_show_remove(config_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    add("prod", "--server", "wss://im.example.com:10001", "--api", "https://im.example.com:10002",
        "--login", "admin_user_token", "--secret-env", "PROD_IM_SECRET", "--caller", "1001", "--callee", "1002")
    path = config_home / "callprobe" / "profiles.yaml"
    assert profiles_path() == path and path.is_file()
    text = path.read_text()
    assert "secret_env: PROD_IM_SECRET" in text and "server: wss://im.example.com:10001" in text

    code, output = cli("profile", "list")
    assert code == 0 and output.split() == ["prod", "kkim", "wss://im.example.com:10001"]

    monkeypatch.setenv("PROD_IM_SECRET", "hunter2-topsecret")
    code, output = cli("profile", "show", "prod")
    assert code == 0 and "secret_env: PROD_IM_SECRET" in output and "set in this environment" in output
    assert "hunter2-topsecret" not in output + path.read_text()

    code, output = cli("profile", "add", "prod", "--server", "ws://other:1", "--api", "http://other:2")
    assert code == 2 and "already exists" in output and "--replace" in output
    add("prod", "--server", "ws://other:1", "--api", "http://other:2", "--replace")
    assert get_profile("prod").get("server") == "ws://other:1"

    code, output = cli("profile", "remove", "prod")
    assert code == 0 and load_profiles() == {}
    code, output = cli("profile", "show", "prod")
    assert code == 2 and "no profile 'prod'" in output


def test_the_default_folder_is_dot_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("XDG_CONFIG_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert profiles_path() == tmp_path / "home" / ".config" / "callprobe" / "profiles.yaml"


@pytest.mark.parametrize(("args", "words"), [
    (("--server", "http://[::1"), "--server: 'http://[::1' is not a usable URL"),
    (("--server", "ws://h:1", "--api", "http://h:99999"), "--api: 'http://h:99999': the port must be a number from 1 to 65535"),
    (("--secret-env", "not a name"), "--secret-env: expected the name of an environment variable"),
    (("--secret-env", "hunter2!"), "not the secret itself"),
    (("--stun", "stun:h:99999"), "port out of range"),
    (("--login", "fixed", "--secret-env", "S"), "--secret-env: secret_env is used by login"),
    (("--backend", "socketio", "--server", "http://h:8000", "--api", "http://h:2"), "--api: api is the KKIM"),
])
def test_add_refuses_what_would_not_work(args: tuple[str, ...], words: str) -> None:
    code, output = cli("profile", "add", "p", *args)
    assert code == 2 and words in output, output
    assert not profiles_path().exists()


def test_a_bad_file_names_file_line_and_field(config_home: Path) -> None:
    path = config_home / "callprobe" / "profiles.yaml"
    path.parent.mkdir(parents=True)
    path.write_text("profiles:\n  prod:\n    server: ws://h:1\n    servr: ws://h:2\n    secret: abc\n"
                    "    login: fixd\n")
    with pytest.raises(ProfileError) as info:
        load_profiles()
    lines = str(info.value).splitlines()
    assert lines == [
        f"{path}:4: profiles.prod.servr: unknown key 'servr' (did you mean 'server'?); expected one of "
        "backend, server, api, login, admin_user, secret_env, password_env, caller, callee, caller_token_env, "
        "callee_token_env, login_url, login_method, login_body, token_path, stun, turn, turn_user, "
        "turn_credential_env or turn_secret_env",
        f"{path}:5: profiles.prod.secret: a profile never holds a secret in clear; put it in an environment "
        "variable and name the variable: secret_env: MY_VARIABLE",
        f"{path}:6: profiles.prod.login: expected one of admin_user_token, user_token, fixed or custom, "
        "got 'fixd' (did you mean 'fixed'?)",
    ]
    code, output = cli("diagnose", "--profile", "prod")
    assert code == 2 and f"{path}:4: profiles.prod.servr" in output


def test_a_yaml_slip_in_the_file_gives_line_and_column(config_home: Path) -> None:
    path = config_home / "callprobe" / "profiles.yaml"
    path.parent.mkdir(parents=True)
    path.write_text("profiles:\n  prod:\n    server: ws://h:1\n     api: http://h:2\n")
    code, output = cli("profile", "list")
    assert code == 2 and f"{path}:4:" in output and "indent it with 4 spaces, like 'server'" in output, output


def test_an_unknown_profile_suggests_the_closest() -> None:
    add("prod", "--server", "ws://h:1", "--api", "http://h:2")
    code, output = cli("diagnose", "--profile", "prd")
    assert code == 2 and "no profile 'prd'" in output and "(did you mean 'prod'?)" in output


# -- precedence: command line > environment > profile > default -------------------------------


def diagnose_target(*args: str, tmp_path: Path) -> dict[str, object]:
    report = tmp_path / f"report-{len(list(tmp_path.iterdir()))}.json"
    code, output = cli("diagnose", "--no-ladder", "--json", str(report), *args)
    assert code == 4, output  # nothing listens: the server is unreachable, which is all this test needs
    target: dict[str, object] = json.loads(report.read_text())["target"]
    return target


def test_diagnose_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    p1, p2, p3 = closed_port(), closed_port(), closed_port()
    add("lab", "--server", f"ws://127.0.0.1:{p1}", "--api", f"http://127.0.0.1:{p1}", "--caller", "pc",
        "--callee", "pe")

    target = diagnose_target("--profile", "lab", tmp_path=tmp_path)  # the profile over the defaults
    assert (target["server"], target["api"], target["caller"], target["callee"]) == (
        f"ws://127.0.0.1:{p1}", f"http://127.0.0.1:{p1}", "pc", "pe")

    monkeypatch.setenv("CALLPROBE_PROFILE", "lab")  # the profile named by the environment
    assert diagnose_target(tmp_path=tmp_path)["server"] == f"ws://127.0.0.1:{p1}"

    monkeypatch.setenv("CALLPROBE_SERVER", f"ws://127.0.0.1:{p2}")  # the environment over the profile
    monkeypatch.setenv("CALLPROBE_API", f"http://127.0.0.1:{p2}")
    target = diagnose_target(tmp_path=tmp_path)
    assert (target["server"], target["caller"]) == (f"ws://127.0.0.1:{p2}", "pc")

    target = diagnose_target("--server", f"ws://127.0.0.1:{p3}", "--api", f"http://127.0.0.1:{p3}",
                             "--caller", "cc", tmp_path=tmp_path)  # the command line over everything
    assert (target["server"], target["api"], target["caller"], target["callee"]) == (
        f"ws://127.0.0.1:{p3}", f"http://127.0.0.1:{p3}", "cc", "pe")


def test_run_plays_the_scenario_against_the_profile_server(tmp_path: Path) -> None:
    port = closed_port()
    add("lab", "--server", f"ws://127.0.0.1:{port}", "--api", f"http://127.0.0.1:{port}")
    scenario, report = tmp_path / "text.yaml", tmp_path / "report.json"
    scenario.write_text(TEXT_ONLY)
    code, output = cli("run", str(scenario), "--profile", "lab", "--json", str(report))
    assert code == 4, output
    server = json.loads(report.read_text())["server"]
    assert (server["ws_url"], server["api_url"]) == (f"ws://127.0.0.1:{port}", f"http://127.0.0.1:{port}")


def test_run_refuses_a_profile_of_another_backend(tmp_path: Path) -> None:
    add("chat", "--backend", "socketio", "--server", "http://127.0.0.1:8000")
    scenario = tmp_path / "text.yaml"
    scenario.write_text(TEXT_ONLY)
    code, output = cli("run", str(scenario), "--profile", "chat")
    assert code == 2 and "profile 'chat' is a socketio server" in output, output


def test_a_secret_the_profile_names_must_be_set() -> None:
    add("lab", "--server", "ws://127.0.0.1:1", "--api", "http://127.0.0.1:1", "--secret-env", "LAB_IM_SECRET")
    code, output = cli("diagnose", "--profile", "lab")
    assert code == 2 and "secret_env names the environment variable LAB_IM_SECRET, which is not set" in output


def test_ice_check_takes_servers_and_credentials_from_the_profile(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    port = closed_port()
    add("lab", "--stun", f"stun:127.0.0.1:{port}", "--turn", f"turn:127.0.0.1:{port}", "--turn-user", "probe",
        "--turn-credential-env", "LAB_TURN_CREDENTIAL")
    code, output = cli("ice-check", "--profile", "lab")
    assert code == 2 and "LAB_TURN_CREDENTIAL, which is not set" in output, output

    monkeypatch.setenv("LAB_TURN_CREDENTIAL", "turn-credential-xyz")
    report = tmp_path / "ice.json"
    code, output = cli("ice-check", "--profile", "lab", "--host-address", "127.0.0.1", "--timeout", "0.3",
                       "--json", str(report))
    assert code == 4, output  # nothing answers there; what matters is which servers were asked
    urls = [s["url"] for s in json.loads(report.read_text())["servers"]]
    assert urls == [f"stun:127.0.0.1:{port}", f"turn:127.0.0.1:{port}"]
    assert "turn-credential-xyz" not in output + report.read_text()
