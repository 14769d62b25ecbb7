"""TURN credentials made from a shared secret, against a real coturn running
with use-auth-secret (the way most production TURN servers run)."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from callprobe.engine.runner import run_scenario
from callprobe.errors import ConfigError
from callprobe.net.coturn import Coturn
from callprobe.rtc.ice_config import IceServer
from callprobe.rtc.turn_rest import rest_credentials
from callprobe.scenario.loader import load_scenario_text
from tests.paths import ROOT

SECRET = "s3cret-shared"


@pytest.fixture
def rest_turn() -> Iterator[Coturn]:
    with Coturn(extra_args=("--use-auth-secret", f"--static-auth-secret={SECRET}")) as server:
        yield server


def test_username_carries_the_expiry_and_the_password_depends_on_the_secret() -> None:
    username, password = rest_credentials(SECRET, "alice", ttl_s=600, now=1_700_000_000)
    assert username == "1700000600:alice"
    assert len(base64.b64decode(password)) == 20  # an HMAC-SHA1
    assert rest_credentials(SECRET, "alice", ttl_s=600, now=1_700_000_000)[1] == password
    assert rest_credentials("other", "alice", ttl_s=600, now=1_700_000_000)[1] != password
    assert rest_credentials(SECRET, ttl_s=600, now=1_700_000_000)[0] == "1700000600"


def test_an_ice_server_with_a_secret_makes_fresh_credentials_and_never_shows_it() -> None:
    server = IceServer(("turn:127.0.0.1:3478",), username="alice", secret=SECRET)
    username, password = server.credentials()
    assert username.endswith(":alice") and password
    assert server.describe() == {"urls": ["turn:127.0.0.1:3478"], "username": "alice",
                                 "auth": "shared-secret"}
    with pytest.raises(ConfigError, match="a credential or a secret, not both"):
        IceServer(("turn:127.0.0.1:3478",), username="a", credential="b", secret=SECRET)


def _ice_check(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLPROBE_TURN")}
    return subprocess.run([sys.executable, "-m", "callprobe", "ice-check", "--host-address", "127.0.0.1",
                           "--timeout", "2", "--json", "-", *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=60, env=env, check=False)


def test_ice_check_with_the_secret_allocates_and_with_a_wrong_one_is_refused(rest_turn: Coturn) -> None:
    good = _ice_check("--turn", rest_turn.turn_url("udp"), "--turn-secret", SECRET, "--turn-user", "support")
    assert good.returncode == 0, good.stderr
    [verdict] = json.loads(good.stdout)["servers"]
    assert verdict["verdict"] == "turn-ok"
    bad = _ice_check("--turn", rest_turn.turn_url("udp"), "--turn-secret", "not-it")
    assert bad.returncode == 1, bad.stderr
    [verdict] = json.loads(bad.stdout)["servers"]
    assert verdict["verdict"] == "turn-auth-failed" and verdict["error_code"] == 401
    both = _ice_check("--turn", rest_turn.turn_url("udp"), "--turn-secret", SECRET, "--turn-user", "u",
                      "--turn-credential", "c")
    assert both.returncode == 2 and "not both" in both.stderr and "Traceback" not in both.stderr


async def test_a_scenario_with_the_secret_relays_the_call(rest_turn: Coturn) -> None:
    scenario = load_scenario_text(
        "name: rest secret\n"
        "ice:\n  relay_only: true\n"
        f"  servers: [{{urls: '{rest_turn.turn_url('udp')}', secret: {SECRET}}}]\n"
        "agents: {alice: {media: audio}, bob: {}}\n"
        "steps:\n"
        "  - connect: [alice, bob]\n"
        "  - invite: {from: alice, to: bob}\n"
        "  - accept: bob\n"
        "  - expect: {event: ice_connected, via: relay, within: 8s}\n"
        "  - hangup: alice\n")
    result = await run_scenario(scenario)
    assert result.verdict == "pass", [f"{s.line}: {s.detail}" for s in result.failures]
    assert SECRET not in json.dumps([e.to_json() for e in result.events], default=str)
