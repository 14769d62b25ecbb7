"""`callprobe diagnose --backend socketio`: every fault of the Socket.IO chat backend gives exactly its
finding, the healthy server none, and the findings speak this backend's words, not KKIM's."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest

from callprobe.analysis.diagnostics.findings import Severity
from callprobe.analysis.results import WalkResult
from callprobe.backends.base import WalkTarget
from callprobe.backends.socketio.config import SocketioOptions
from callprobe.backends.socketio.server import EmbeddedChatServer
from callprobe.backends.socketio.server.faults import parse_fault
from callprobe.engine.walk import Walk
from callprobe.rtc.ice_config import IceConfig
from callprobe.settings import ChatServerSettings, ClientSettings
from tests.fakes import fields
from tests.paths import ROOT

#: Short deadlines: each wait still has room on a loaded 2-core machine.
FAST = replace(ClientSettings(), default_expect_within_s=1.5, diagnose_late_window_s=2.0,
               heartbeat_reply_timeout_s=1.0, ice_connect_timeout_s=3.0, media_timeout_s=3.0)
SERVER = ChatServerSettings(port=0, password_iterations=1000, shutdown_timeout_s=3.0)
#: What only the KKIM gateway says: none of it may reach a finding about this backend.
#: KKIM's terms; its codes as numbers of their own, not a duration such as "1004 ms" that a slow run may print
KKIM_WORDS = re.compile(r"(?<![\d.])(1601|1004|1802|1801)(?!\d|\.\d| ?ms)|errCode|contentType|SignalResp|roomID|gateway"
                        r"|OpenIM|sendID|platformID")


async def walk(*faults: str, options: SocketioOptions | None = None, settings: ClientSettings = FAST,
               server: ChatServerSettings = SERVER) -> WalkResult:
    chat = EmbeddedChatServer(replace(server, faults=tuple(parse_fault(f) for f in faults)))
    await chat.start()
    try:
        target = WalkTarget(server=chat.url, api="", caller="alice", callee="bob", family="socketio",
                            register=True, backend=options, ice=IceConfig(host_addresses=("127.0.0.1",)))
        return await Walk(target, settings).run()
    finally:
        await chat.stop()


def reported(result: WalkResult) -> dict[str, str]:
    """Code -> severity of every error and warning."""
    return {f.code: f.severity.value for f in result.findings if f.severity is not Severity.INFO}


def assert_no_kkim_words(result: WalkResult) -> None:
    for f in result.findings:
        for text in (f.title, f.hint, f.detail):
            assert not KKIM_WORDS.search(text), f"{f.code}: {text}"


async def test_healthy_server_has_no_findings_and_walks_every_link() -> None:
    result = await walk()
    assert reported(result) == {} and result.healthy and result.first is None, \
        [f.to_json() for f in result.findings]
    steps = [link.step for link in result.links]
    assert steps.index("text_push") < steps.index("id_type") < steps.index("invite")
    assert steps[-4:] == ["media", "hangup", "history", "stale_state"]
    assert all(link.ok for link in result.links)
    heartbeat = [e for e in result.events if e.kind == "step_finished" and fields(e).get("step") == "heartbeat"]
    assert {fields(e)["ping_interval_s"] for e in heartbeat} == {30.0}
    assert {fields(e)["awaited"] for e in heartbeat} == {False}  # 30 s does not fit the walk's deadline
    probe = next(e for e in result.events if e.kind == "step_finished" and fields(e).get("step") == "id_type")
    assert fields(probe)["id_type"] == "string" and fields(probe)["rang"] is True
    sent = [fields(e)["id_type"] for e in result.events if e.kind == "invite_sent"]
    assert sent[:2] == ["string", "int"]  # the invite placed both ways


@pytest.mark.parametrize(("fault", "code", "severity", "link"), [
    ("target-id-type", "ID_TYPE_DECIDES_DELIVERY", "error", "ringing"),
    ("history-without-extra-data", "HISTORY_PAYLOAD_MISSING", "error", "history"),
    ("call-event-only-message", "INVITE_NOT_DELIVERED", "warning", "ringing"),
    ("response-not-relayed", "ANSWER_NOT_DELIVERED", "error", "answer"),
    ("signal-drops-candidates", "ICE_FAILED", "error", "ice"),
    ("accept-any-token", "UNAUTHENTICATED_ACCEPTED", "error", "auth_probes"),
])
async def test_each_fault_gives_exactly_its_finding(fault: str, code: str, severity: str, link: str) -> None:
    result = await walk(fault)
    assert reported(result) == {code: severity}, [f.to_json() for f in result.findings]
    found = next(f for f in result.findings if f.code == code)
    assert found.link == link and found.evidence
    if severity == "error":
        assert result.first is not None and result.first.code == code and not result.healthy
    assert_no_kkim_words(result)


async def test_the_id_type_finding_says_which_type_rings_and_what_to_fix() -> None:
    result = await walk("target-id-type")
    assert result.first is not None
    assert result.first.detail.startswith("the server finds the callee with an integer id but not with a string id: "
                                          "it looks the id up without converting it; clients that send strings "
                                          "never ring anyone")
    assert "Convert the callee's id" in result.first.hint
    kinds = [e.kind for e in result.first.evidence]
    assert kinds[:2] == ["invite_sent", "invite_acked"] and "ringing" in kinds and "ws_open" in kinds
    statuses = [fields(e).get("status") for e in result.first.evidence if e.kind == "invite_acked"]
    assert statuses == ["offline"]


async def test_a_client_that_sends_strings_is_told_the_same_from_its_own_invite() -> None:
    """The deployment's type is the broken one: the walk's own invite fails, the probe's rang."""
    result = await walk("target-id-type", options=replace(SocketioOptions(), id_type="string"))
    assert reported(result) == {"ID_TYPE_DECIDES_DELIVERY": "error"}, [f.to_json() for f in result.findings]
    assert result.first is not None and "with an integer id but not with a string id" in result.first.detail


async def test_a_deployment_with_another_socketio_path_is_a_refused_handshake_in_this_backends_words() -> None:
    result = await walk(options=replace(SocketioOptions(), path="/realtime/socket.io"))
    assert result.first is not None and result.first.code == "HANDSHAKE_REFUSED"
    assert result.first.title == "The server refused the Socket.IO connect"
    assert 404 in [fields(e).get("status") for e in result.first.evidence]
    assert "server.backend.path" in result.first.hint
    assert_no_kkim_words(result)


async def test_heartbeat_is_awaited_when_the_servers_ping_fits_the_deadline() -> None:
    result = await walk(server=replace(SERVER, ping_interval_s=0.3, ping_timeout_s=2.0))
    assert reported(result) == {}
    heartbeat = [fields(e) for e in result.events if e.kind == "step_finished" and fields(e).get("step") == "heartbeat"]
    assert [h["awaited"] for h in heartbeat] == [True, True] and all(h["replies"] == 1 for h in heartbeat)


async def test_conference_media_checks_the_room_name_instead_of_peer_media() -> None:
    result = await walk(options=replace(SocketioOptions(), media="conference"))
    assert reported(result) == {} and result.healthy
    media = next(fields(e) for e in result.events if e.kind == "step_finished" and fields(e).get("step") == "media")
    assert media["conference"] is True and media["room_name"] == media["callee_room_name"]
    assert media["room_name"].startswith("call-")
    assert not any(e.kind in ("peer_created", "signal_sent") for e in result.events)


# ---------------------------------------------------------------- the command, remote and embedded


@pytest.fixture
async def serve() -> AsyncIterator[list[asyncio.subprocess.Process]]:
    procs: list[asyncio.subprocess.Process] = []
    try:
        yield procs
    finally:
        for proc in procs:
            if proc.returncode is None:
                proc.terminate()
                await proc.wait()


async def serve_url(procs: list[asyncio.subprocess.Process], *args: str) -> str:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "callprobe", "serve", "--backend", "socketio", "--port", "0", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    procs.append(proc)
    assert proc.stdout is not None
    async with asyncio.timeout(15):
        while True:
            line = (await proc.stdout.readline()).decode()
            assert line, "serve exited early"
            found = re.match(r"url:\s+(\S+)", line.strip())
            if found:
                return found.group(1)


async def diagnose(*args: str) -> subprocess.CompletedProcess[str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "callprobe", "diagnose", "--backend", "socketio", "--deadline", "1.5", "--no-ladder",
        *args, cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    return subprocess.CompletedProcess(args, proc.returncode or 0, out.decode(), err.decode())


async def test_cli_against_a_remote_server_registers_and_walks_it(serve: list[asyncio.subprocess.Process],
                                                                  tmp_path: Path) -> None:
    url = await serve_url(serve)
    report = tmp_path / "d.json"
    first = await diagnose("--server", url, "--caller", "alice", "--callee", "bob", "--password", "pw-1",
                           "--register", "--json", str(report))
    assert first.returncode == 0, first.stdout + first.stderr
    assert "HEALTHY" in first.stdout and "Traceback" not in first.stderr
    data = json.loads(report.read_text())
    assert data["healthy"] is True
    # the accounts now exist: without --register the same walk logs in
    again = await diagnose("--server", url, "--caller", "alice", "--callee", "bob", "--password", "pw-1")
    assert again.returncode == 0, again.stdout + again.stderr
    wrong = await diagnose("--server", url, "--caller", "alice", "--callee", "bob", "--password", "nope")
    assert wrong.returncode == 5 and "LOGIN_FAILED" in wrong.stdout and "401" in wrong.stdout


async def test_cli_a_faulty_remote_server_exits_5_with_its_finding(serve: list[asyncio.subprocess.Process]) -> None:
    url = await serve_url(serve, "--fault", "response-not-relayed")
    proc = await diagnose("--server", url, "--register")
    assert proc.returncode == 5, proc.stdout + proc.stderr
    assert "ANSWER_NOT_DELIVERED" in proc.stdout


async def test_cli_embedded_server_with_a_fault() -> None:
    proc = await diagnose("--fault", "history-without-extra-data")
    assert proc.returncode == 5, proc.stdout + proc.stderr
    assert "HISTORY_PAYLOAD_MISSING" in proc.stdout and "Traceback" not in proc.stderr


async def test_cli_nothing_listening_exits_4() -> None:
    proc = await diagnose("--server", "http://127.0.0.1:9", "--register")
    assert proc.returncode == 4, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr


async def test_cli_scenario_brings_its_backend_block_and_faults() -> None:
    """A client that sends strings (the scenario's id_type) against target-id-type: the walk still names the type."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "callprobe", "diagnose", "--scenario", "scenarios/socketio/id-as-string.yaml",
        "--no-ladder", "--deadline", "1.5", cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode == 5, out.decode() + err.decode()
    assert "first broken link: ringing (ID_TYPE_DECIDES_DELIVERY)" in " ".join(out.decode().split())
