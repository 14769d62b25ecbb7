"""``callprobe ice-check`` against a real coturn on loopback (coturn must be installed)."""

from __future__ import annotations

import asyncio
import json
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from aioice import stun, turn

from callprobe.errors import ConfigError, ExitCode
from callprobe.net import netns
from callprobe.net.coturn import Coturn, free_port
from callprobe.net.ice_check import (
    VERDICT_TEXT,
    IceCheckResult,
    ServerVerdict,
    probe_stun,
    probe_turn,
    run_check,
    turn_failure_verdict,
)
from callprobe.settings import ClientSettings
from tests.paths import ROOT

LOOPBACK = ("127.0.0.1",)
TIMEOUT_S = 3.0  # servers that answer do so in milliseconds; generous for a loaded CI box
SILENT_S = 1.0  # the deadline of checks that must run out
SETTINGS = ClientSettings(turn_start_timeout_s=5.0, turn_stop_timeout_s=3.0)


def callprobe(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "callprobe", "ice-check", *args], cwd=ROOT,
                          check=False, capture_output=True, text=True, timeout=30,
                          env={"PATH": "/usr/bin:/bin", "COLUMNS": "200", **(env or {})})


def released(port: int, within_s: float = 3.0) -> bool:
    """True once the relay port is free again (coturn closed the allocation's socket)."""
    deadline = time.monotonic() + within_s
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            try:
                probe.bind(("127.0.0.1", port))
                return True
            except OSError:
                pass
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)


async def test_right_credentials_give_relay_and_srflx(coturn: Coturn) -> None:
    stun_url, udp, tcp = coturn.stun_url(), coturn.turn_url("udp"), coturn.turn_url("tcp")
    result = await run_check([stun_url], [udp, tcp], coturn.user, coturn.password,
                             host_addresses=LOOPBACK, timeout_s=TIMEOUT_S)

    assert [(s.url, s.verdict, s.ok) for s in result.servers] == [
        (stun_url, "stun-ok", True), (udp, "turn-ok", True), (tcp, "turn-ok", True)]
    assert result.ok and result.verdict == "ok" and result.exit_code == ExitCode.OK
    [host] = [c for c in result.candidates if c.type == "host"]
    assert (host.address, host.server, host.protocol) == ("127.0.0.1", None, "udp")
    [srflx] = [c for c in result.candidates if c.type == "srflx" and c.server == stun_url]
    # on loopback the server sees the host candidate itself (docs/aiortc-notes.md#stun-on-loopback)
    assert (srflx.address, srflx.port) == (host.address, host.port)
    assert (srflx.related_address, srflx.related_port) == (host.address, host.port)
    relays = {c.server: c for c in result.candidates if c.type == "relay"}
    assert set(relays) == {udp, tcp}
    assert relays[tcp].protocol == "tcp" and relays[udp].protocol == "udp"
    for url, relay in relays.items():
        assert relay.address == "127.0.0.1" and 49152 <= relay.port <= 59999
        mapped = [c for c in result.candidates if c.type == "srflx" and c.server == url]
        assert [(m.address, m.port) for m in mapped] == [(relay.related_address, relay.related_port)]
    assert [c.t_ms for c in result.candidates] == sorted(c.t_ms for c in result.candidates)
    assert "seen as itself" in result.servers[0].detail
    # every allocation was deleted: coturn gave its relay ports back
    assert all(released(r.port) for r in relays.values())


async def test_wrong_credentials_fail_authentication(coturn: Coturn) -> None:
    result = await run_check([], [coturn.turn_url(), coturn.turn_url("tcp")], coturn.user,
                             "not-the-password", host_addresses=LOOPBACK, timeout_s=TIMEOUT_S)
    for server in result.servers:
        assert server.verdict == "turn-auth-failed" and not server.ok
        assert server.error_code == 401
        assert "401" in server.detail and "Unauthorized" in server.detail
        assert "realm 'callprobe'" in server.detail
        assert server.text == "TURN authentication failed"
    assert not [c for c in result.candidates if c.type != "host"]
    assert result.verdict == "failed" and result.exit_code == ExitCode.EXPECTATION_FAILED


async def test_nothing_listening_is_unreachable_within_the_deadline() -> None:
    port = free_port()
    result = await run_check([f"stun:127.0.0.1:{port}"],
                             [f"turn:127.0.0.1:{port}", f"turn:127.0.0.1:{port}?transport=tcp"],
                             "user", "password", host_addresses=LOOPBACK, timeout_s=SILENT_S)
    stun_v, udp_v, tcp_v = result.servers
    assert [s.verdict for s in result.servers] == ["unreachable"] * 3
    assert stun_v.text == "server unreachable (nothing within the deadline)"
    assert "no answer to a Binding request from 127.0.0.1 within 1 s" in stun_v.detail
    assert "no answer to an Allocate request over udp within 1 s" in udp_v.detail
    assert "connection refused" in tcp_v.detail
    assert result.verdict == "unreachable" and result.exit_code == ExitCode.SERVER_UNREACHABLE
    assert [c.type for c in result.candidates] == ["host"]


async def test_server_error_response_is_an_error_with_its_code() -> None:
    """coturn with a quota of one allocation per user refuses a second one (486)."""
    server = Coturn(settings=SETTINGS, extra_args=("--user-quota=1",))
    server.start()
    try:
        lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        class Holder(asyncio.DatagramProtocol):
            def connection_lost(self, exc: Exception | None) -> None:
                lost.set_result(None)

        held, _ = await turn.create_turn_endpoint(Holder, ("127.0.0.1", server.port),
                                                  server.user, server.password)
        try:
            verdict = await probe_turn(server.turn_url(), server.user, server.password,
                                       timeout_s=TIMEOUT_S)
        finally:
            held.close()
            await asyncio.wait_for(lost, TIMEOUT_S)
    finally:
        server.stop()
    assert (verdict.verdict, verdict.error_code, verdict.ok) == ("error", 486, False)
    assert "486" in verdict.detail and "Quota" in verdict.detail


async def test_probes_for_agents(coturn: Coturn) -> None:
    ok = await probe_stun(coturn.stun_url(), host_address="127.0.0.1", timeout_s=TIMEOUT_S)
    assert (ok.verdict, ok.ok, ok.error_code) == ("stun-ok", True, None)
    relay = await probe_turn(coturn.turn_url("tcp"), coturn.user, coturn.password,
                             timeout_s=TIMEOUT_S)
    assert relay.verdict == "turn-ok" and "allocated over tcp" in relay.detail
    assert relay.to_dict() == {"url": coturn.turn_url("tcp"), "verdict": "turn-ok", "ok": True,
                               "text": VERDICT_TEXT["turn-ok"], "detail": relay.detail,
                               "elapsed_ms": round(relay.elapsed_ms, 1), "error_code": None}
    nobody = await probe_turn(coturn.turn_url(), "nobody", "x", timeout_s=TIMEOUT_S)
    assert nobody.verdict == "turn-auth-failed"
    unbindable = await probe_stun(coturn.stun_url(), host_address="192.0.2.250", timeout_s=0.5)
    assert unbindable.verdict == "error" and "cannot bind 192.0.2.250" in unbindable.detail


@pytest.mark.parametrize(("stun_urls", "turn_urls", "words"), [
    ([], [], "no server to check"),
    (["stun:127.0.0.1:99999"], [], "port out of range"),
    (["http://example.org"], [], "is not of the form"),
    (["turn:127.0.0.1"], [], "takes stun: URLs"),
    ([], ["stun:127.0.0.1"], "takes turn: URLs"),
    ([], ["turns:127.0.0.1:5349"], "not supported by ice-check"),
    (["stuns:127.0.0.1"], [], "not supported by ice-check"),
])
async def test_bad_urls_are_config_errors(stun_urls: list[str], turn_urls: list[str],
                                          words: str) -> None:
    with pytest.raises(ConfigError, match=words):
        await run_check(stun_urls, turn_urls, "u", "p", host_addresses=LOOPBACK, timeout_s=1)


async def test_bad_host_addresses_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="'nowhere' is not an IP address"):
        await run_check(["stun:127.0.0.1"], [], "", "", host_addresses=("nowhere",), timeout_s=1)
    with pytest.raises(ConfigError, match=r"192\.0\.2\.250: cannot bind"):
        await run_check(["stun:127.0.0.1"], [], "", "", host_addresses=("192.0.2.250",),
                        timeout_s=1)


@pytest.fixture
def namespace() -> Iterator[str]:
    """A fresh network namespace with loopback up, deleted after the test."""
    name = f"cptest-icecheck-{secrets.token_hex(3)}"
    subprocess.run(["ip", "netns", "add", name], check=True, timeout=10)
    try:
        subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True, timeout=10)
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=True, timeout=10)


async def test_check_from_inside_a_network_namespace(namespace: str) -> None:
    """coturn on 127.0.0.1 of a fresh namespace: a check placed there reaches it."""
    with Coturn(netns=namespace, settings=SETTINGS) as server:
        urls = ([server.stun_url()], [server.turn_url(), server.turn_url("tcp")])
        with netns.placed(namespace):
            inside = await run_check(*urls, server.user, server.password,
                                     host_addresses=LOOPBACK, timeout_s=TIMEOUT_S)
        outside = await run_check(*urls, server.user, server.password,
                                  host_addresses=LOOPBACK, timeout_s=0.5)
    assert [s.verdict for s in inside.servers] == ["stun-ok", "turn-ok", "turn-ok"]
    assert [s.verdict for s in outside.servers] == ["unreachable"] * 3


# -- pure rules -----------------------------------------------------------------


def failed(code: int, reason: str, **attributes: object) -> stun.TransactionFailed:
    response = stun.Message(message_method=stun.Method.ALLOCATE, message_class=stun.Class.ERROR)
    response.attributes["ERROR-CODE"] = (code, reason)
    response.attributes.update(attributes)
    return stun.TransactionFailed(response)


@pytest.mark.parametrize(("exc", "verdict", "code", "words"), [
    (failed(401, "Unauthorized", REALM="r", NONCE=b"n"), "turn-auth-failed", 401, "retry with realm 'r'"),
    (failed(401, "Unauthorized"), "turn-auth-failed", 401, "without a realm and nonce"),
    (failed(437, "Allocation Mismatch"), "error", 437, "437 'Allocation Mismatch'"),
    (failed(441, "Wrong Credentials"), "error", 441, "441"),
    (TimeoutError(), "unreachable", None, "within 2 s"),
    (stun.TransactionTimeout(), "unreachable", None, "within 2 s"),
    (ConnectionRefusedError(111, "Connection refused"), "unreachable", None, "connection refused"),
    (socket.gaierror(-2, "Name or service not known"), "unreachable", None, "cannot resolve"),
    (OSError(101, "Network is unreachable"), "unreachable", None, "Network is unreachable"),
    (ConnectionError("TURN allocation response is missing LIFETIME"), "error", None, "missing"),
])
def test_turn_failure_verdicts(exc: BaseException, verdict: str, code: int | None,
                               words: str) -> None:
    result = turn_failure_verdict("turn:h", exc, transport="udp", timeout_s=2.0, elapsed_ms=1.0)
    assert (result.verdict, result.error_code, result.ok) == (verdict, code, False)
    assert words in result.detail


def test_exit_code_rules() -> None:
    def of(*verdicts: str) -> IceCheckResult:
        servers = tuple(ServerVerdict(f"stun:h{i}", v, v.endswith("-ok"), "", 0.0)
                        for i, v in enumerate(verdicts))
        return IceCheckResult((), servers, (), 1.0, 0.0)

    assert of("stun-ok", "turn-ok").exit_code == ExitCode.OK
    assert of("turn-ok", "turn-auth-failed").exit_code == ExitCode.EXPECTATION_FAILED
    assert of("stun-ok", "error").exit_code == ExitCode.EXPECTATION_FAILED
    assert of("turn-auth-failed", "unreachable").exit_code == ExitCode.SERVER_UNREACHABLE
    assert set(of("unreachable").to_dict()) == {"schema", "verdict", "host_addresses",
                                                "timeout_s", "elapsed_ms", "candidates", "servers"}


# -- the command ----------------------------------------------------------------


def test_cli_all_ok_prints_tables_and_writes_json(coturn: Coturn, tmp_path: Path) -> None:
    report = tmp_path / "ice.json"
    proc = callprobe("--stun", coturn.stun_url(), "--turn", coturn.turn_url(), "--turn-user",
                     coturn.user, "--host-address", "127.0.0.1", "--json", str(report),
                     env={"CALLPROBE_TURN_CREDENTIAL": coturn.password})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for words in ("STUN reachable (srflx seen)", "TURN allocation works (relay seen)",
                  "Candidates", "relay", "srflx", "all 2 server(s) work"):
        assert words in proc.stdout
    data = json.loads(report.read_text())
    assert data["verdict"] == "ok" and data["host_addresses"] == ["127.0.0.1"]
    assert {c["type"] for c in data["candidates"]} == {"host", "srflx", "relay"}
    for candidate in data["candidates"]:
        assert set(candidate) == {"t_ms", "type", "protocol", "address", "port", "server",
                                  "related_address", "related_port"}
    assert [(s["url"], s["verdict"]) for s in data["servers"]] == [
        (coturn.stun_url(), "stun-ok"), (coturn.turn_url(), "turn-ok")]
    assert coturn.password not in report.read_text() + proc.stdout


def test_cli_wrong_credential_exits_1_and_json_to_stdout(coturn: Coturn) -> None:
    proc = callprobe("--turn", coturn.turn_url("tcp"), "--turn-user", coturn.user, "--turn-credential",
                     "wrong", "--host-address", "127.0.0.1", "--json", "-")
    assert proc.returncode == ExitCode.EXPECTATION_FAILED, proc.stdout + proc.stderr
    data = json.loads(proc.stdout)  # the tables went to stderr
    assert data["verdict"] == "failed"
    [server] = data["servers"]
    assert server["verdict"] == "turn-auth-failed" and server["error_code"] == 401
    assert "TURN authentication failed" in proc.stderr and "401" in proc.stderr


def test_cli_unreachable_exits_4() -> None:
    port = free_port()
    proc = callprobe("--stun", f"stun:127.0.0.1:{port}", "--host-address", "127.0.0.1",
                     "--timeout", str(SILENT_S))
    assert proc.returncode == ExitCode.SERVER_UNREACHABLE, proc.stdout + proc.stderr
    assert "server unreachable (nothing within the deadline)" in proc.stdout


@pytest.mark.parametrize(("args", "words"), [
    ((), "give at least one --stun or --turn"),
    (("--stun", "stun:127.0.0.1:0x10"), "is not of the form"),
    (("--turn", "turns:turn.example.org"), "not supported by ice-check"),
    (("--turn", "turn:127.0.0.1"), "--turn needs --turn-user and --turn-credential"),
    (("--stun", "stun:127.0.0.1", "--host-address", "nowhere"), "not an IP address"),
    (("--stun", "stun:127.0.0.1", "--json", "/nonexistent/ice.json"), "does not exist"),
    (("--stun", "stun:127.0.0.1", "--timeout", "-1"), "--timeout"),
])
def test_cli_bad_input_exits_2_without_traceback(args: tuple[str, ...], words: str) -> None:
    proc = callprobe(*args)
    assert proc.returncode == ExitCode.USAGE, proc.stdout + proc.stderr
    assert words in proc.stderr and "Traceback" not in proc.stderr
