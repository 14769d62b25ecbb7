"""`callprobe diagnose` names the exact broken link for every field failure the
embedded gateway can inject, and stays quiet on a healthy gateway."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from dataclasses import replace
from pathlib import Path

import pytest

from callprobe.analysis.diagnostics.findings import Severity
from callprobe.analysis.results import WalkResult
from callprobe.backends.base import WalkTarget
from callprobe.backends.kkim.server import EmbeddedGateway
from callprobe.backends.kkim.server.faults import parse_fault
from callprobe.engine.walk import Walk
from callprobe.rtc.ice_config import IceConfig
from callprobe.scenario.model import LoginConfig
from callprobe.settings import ClientSettings, GatewaySettings
from callprobe.timeline.events import AcceptSent, RejectSent, Ringing, StepFinished
from tests.backends.kkim.server.rawclient import admin_token, api_post
from tests.fakes import fields
from tests.paths import ROOT

#: Short deadlines: each wait still has room on a loaded 2-core machine.
FAST = replace(ClientSettings(), default_expect_within_s=1.5, diagnose_late_window_s=2.0,
               heartbeat_reply_timeout_s=1.0, ice_connect_timeout_s=3.0, media_timeout_s=3.0)


async def walk(*faults: str, settings: ClientSettings = FAST, auto_register: bool = True) -> WalkResult:
    gw_settings = GatewaySettings(ws_port=0, api_port=0, faults=tuple(parse_fault(f) for f in faults),
                                  auto_register=auto_register)
    gateway = EmbeddedGateway(gw_settings)
    await gateway.start()
    try:
        if not auto_register:  # only the walk's two users exist
            users = [{"userID": user, "nickname": user, "faceURL": ""} for user in ("alice", "bob")]
            status, body = await api_post(gateway.api_url, "/user/user_register", {"users": users},
                                          {"operationID": "test-op", "token": await admin_token(gateway.api_url)})
            assert status == 200 and body["errCode"] == 0, body
        target = WalkTarget(server=gateway.ws_url, api=gateway.api_url, caller="alice",
                            callee="bob", ice=IceConfig(host_addresses=("127.0.0.1",)))
        return await Walk(target, settings).run()
    finally:
        await gateway.stop()


def errors(result: WalkResult) -> list[str]:
    return [f.code for f in result.findings if f.severity == Severity.ERROR]


def marker(result: WalkResult, step: str) -> StepFinished:
    [found] = [e for e in result.events if isinstance(e, StepFinished) and e.step == step]
    return found


async def test_healthy_gateway_has_no_error_findings() -> None:
    result = await walk()
    assert errors(result) == [] and result.healthy and result.first is None
    walked = [(link.link, link.step) for link in result.links if link.ok]
    assert walked[-6:] == [("media", "media"), ("hangup", "hangup"), ("history", "history"),
                           ("stale_state", "stale_state"), ("history", "conversation_leak"),
                           ("auth_probes", "forged_invite")]
    assert all(link.ok for link in result.links)
    assert result.findings == []
    # both of the server-trust probes ran to their end and found the server sound
    leak = marker(result, "conversation_leak")
    reader = leak.extra["reader"]
    assert leak.extra["checked"] is True and leak.extra["pulled"], leak.to_json()
    assert {m["send_id"] for m in leak.extra["pulled"]} == {reader}  # only its own message
    forged = marker(result, "forged_invite")
    assert forged.extra["checked"] is True
    # as a system message and as the forger's own: both refused, neither stored nor rung
    assert [(f["msg_from"], f["refused"], f["err_code"]) for f in forged.extra["forged"]] == [(200, True, 1002),
                                                                                             (100, True, 1002)]
    rooms = forged.extra["forged_rooms"]
    assert len(set(rooms)) == 2 and not [e for e in result.events if isinstance(e, Ringing) and e.room_id in rooms]


@pytest.mark.parametrize(("fault", "code", "link"), [
    ("invite-not-pushed", "INVITE_NOT_DELIVERED", "ringing"),
    ("history-without-payload", "HISTORY_PAYLOAD_MISSING", "history"),
    ("answer-not-relayed", "ANSWER_NOT_DELIVERED", "answer"),
    ("handshake-crash", "HANDSHAKE_REFUSED", "auth_probes"),  # a probe's handshake, not the users'

    ("accept-any-token", "UNAUTHENTICATED_ACCEPTED", "auth_probes"),
    ("no-heartbeat-reply", "HEARTBEAT_UNANSWERED", "heartbeat"),
    ("drop-custom=all", "SDP_NOT_RELAYED", "signal_relay"),
    ("drop-custom=candidates", "ICE_FAILED", "ice"),
    ("push-delay=2500", "INVITE_NOT_DELIVERED", "ringing"),
    ("kick-callee", "KICKED_BY_OTHER_LOGIN", "connection"),
    ("stale-call-state", "STALE_CALL_STATE", "stale_state"),
    ("room-id-mismatch", "ROOM_ID_MISMATCH", "ringing"),
    ("drop-all-pushes", "PUSH_PATH_BROKEN", "text_push"),
    ("conversation-by-id", "CONVERSATION_LEAK", "history"),
    ("relay-forged-notices", "FORGED_INVITE_RELAYED", "auth_probes"),  # found last, an auth link
])
async def test_each_fault_gives_its_finding(fault: str, code: str, link: str) -> None:
    result = await walk(fault)
    assert result.first is not None, result.links
    assert (result.first.code, result.first.link) == (code, link), [f.to_json() for f in result.findings]
    assert set(errors(result)) == {code}
    assert result.first.evidence, "a finding carries its evidence"
    assert not result.healthy


async def test_a_conversation_leak_names_both_pairs_and_carries_the_pull() -> None:
    result = await walk("conversation-by-id")
    [leak] = [f for f in result.findings if f.code == "CONVERSATION_LEAK"]
    [step] = leak.evidence
    assert isinstance(step, StepFinished) and step.step == "conversation_leak"
    (a, b_c), (a_b, c) = step.extra["pairs"]
    conv = step.extra["conversation"]
    assert conv == f"si_{a}_{b_c}" == f"si_{a_b}_{c}" and a.startswith("cp") and c not in (a, b_c)
    assert f"({a}, {b_c}) and ({a_b}, {c})" in leak.detail and conv in leak.detail
    assert [(m["send_id"], m["recv_id"]) for m in step.extra["pulled"]] == [(c, a_b), (a, b_c)]
    assert "never from the conversation ID string" in leak.hint


async def test_a_relayed_forgery_carries_the_forged_message_and_the_callees_ring() -> None:
    result = await walk("relay-forged-notices")
    [forged] = [f for f in result.findings if f.code == "FORGED_INVITE_RELAYED"]
    step, *rings = forged.evidence
    assert isinstance(step, StepFinished) and all(isinstance(r, Ringing) for r in rings)
    sent = step.extra["forged"]
    assert [(f["msg_from"], f["content_type"], f["inviter"], f["recv_id"]) for f in sent] == [
        (200, 1601, "alice", "bob"), (100, 1601, "alice", "bob")]
    walked_rooms = {e.room_id for e in result.events if isinstance(e, Ringing)} - set(step.extra["forged_rooms"])
    assert [(r.agent, r.room_id) for r in rings] == [("callee", f["room"]) for f in sent]
    assert not walked_rooms & {f["room"] for f in sent}
    assert [(r.inviter, r.sender, r.msg_from) for r in rings] == [("alice", f["send_id"], f["msg_from"]) for f in sent]
    assert "a system (msgFrom 200) one and an ordinary user's (msgFrom 100) one" in forged.detail
    # the callee never tried to answer them, and the walk's own calls are untouched
    assert not [e for e in result.events if isinstance(e, (AcceptSent, RejectSent))
                and e.room_id in step.extra["forged_rooms"]]
    assert all(link.ok for link in result.links if link.step != "forged_invite")


async def test_a_server_that_registers_nobody_gets_the_throwaway_users_registered() -> None:
    """As an OpenIM server that issues tokens to known users only: the probes register theirs and run."""
    result = await walk(auto_register=False)
    assert result.findings == [] and result.healthy
    for step in ("conversation_leak", "forged_invite"):
        assert marker(result, step).extra["checked"] is True, marker(result, step).reason
    leaky = await walk("conversation-by-id", auto_register=False)
    assert errors(leaky) == ["CONVERSATION_LEAK"]


async def test_probes_the_server_keeps_from_running_are_not_findings() -> None:
    """Login mode fixed has tokens for the walk's two users only: could not be checked, no finding."""
    gateway = EmbeddedGateway(GatewaySettings(ws_port=0, api_port=0))
    await gateway.start()
    try:
        admin = await admin_token(gateway.api_url)
        tokens = {}
        for user in ("alice", "bob"):
            status, body = await api_post(gateway.api_url, "/auth/get_user_token", {"platformID": 5, "userID": user},
                                          {"operationID": "test-op", "token": admin})
            assert status == 200 and body["errCode"] == 0, body
            tokens[user] = body["data"]["token"]
        target = WalkTarget(server=gateway.ws_url, api=gateway.api_url, caller="alice", callee="bob",
                            login=LoginConfig(mode="fixed"), caller_token=tokens["alice"],
                            callee_token=tokens["bob"], ice=IceConfig(host_addresses=("127.0.0.1",)))
        result = await Walk(target, FAST).run()
    finally:
        await gateway.stop()
    assert result.findings == [] and result.healthy and all(link.ok for link in result.links)
    for step in ("conversation_leak", "forged_invite"):
        found = marker(result, step)
        assert found.extra["checked"] is False and found.reason.startswith("could not be checked"), found.reason
        assert "login mode 'fixed'" in found.reason


async def test_handshake_crash_evidence_carries_http_500() -> None:
    result = await walk("handshake-crash")
    assert result.first is not None
    statuses = [fields(e).get("status") for e in result.first.evidence]
    assert 500 in statuses


async def test_push_delay_below_deadline_is_healthy_and_above_is_late() -> None:
    quick = await walk("push-delay=300")
    assert errors(quick) == []
    slow = await walk("push-delay=2500")
    assert slow.first is not None and "late" in slow.first.detail


async def test_ice_failure_names_the_candidates_the_server_dropped() -> None:
    result = await walk("drop-custom=candidates")
    assert result.first is not None
    assert "no remote candidates received" in result.first.detail
    assert "relay" in result.first.hint  # the server relayed none of them


def test_cli_exit_codes_and_outputs(tmp_path: Path) -> None:
    report, html, bundle = tmp_path / "d.json", tmp_path / "ladder.html", tmp_path / "bundle.zip"
    proc = subprocess.run(
        [sys.executable, "-m", "callprobe", "diagnose", "--fault", "invite-not-pushed", "--deadline", "1.5",
         "--json", str(report), "--html", str(html), "--bundle", str(bundle)],
        cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 5, proc.stdout + proc.stderr
    assert "INVITE_NOT_DELIVERED" in proc.stdout and "Traceback" not in proc.stderr
    data = json.loads(report.read_text())
    assert data["healthy"] is False and data["first_broken"]["code"] == "INVITE_NOT_DELIVERED"
    assert "<svg" in html.read_text() and "INVITE_NOT_DELIVERED" in html.read_text()
    with zipfile.ZipFile(bundle) as zf:
        assert set(zf.namelist()) == {"report.json", "ladder.html", "ladder.txt"}
    healthy = subprocess.run([sys.executable, "-m", "callprobe", "diagnose", "--no-ladder"], cwd=ROOT,
                             capture_output=True, text=True, timeout=120)
    assert healthy.returncode == 0, healthy.stdout + healthy.stderr
    assert "HEALTHY" in healthy.stdout


@pytest.mark.parametrize(("fault", "code"), [("conversation-by-id", "CONVERSATION_LEAK"),
                                           ("relay-forged-notices", "FORGED_INVITE_RELAYED")])
def test_cli_the_server_trust_faults_exit_5_naming_their_finding(fault: str, code: str) -> None:
    proc = subprocess.run([sys.executable, "-m", "callprobe", "diagnose", "--fault", fault, "--no-ladder"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 5, proc.stdout + proc.stderr
    assert code in proc.stdout and "BROKEN  first broken link" in proc.stdout and "Traceback" not in proc.stderr


def test_cli_unreachable_server_exits_4() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "callprobe", "diagnose", "--server", "ws://127.0.0.1:9", "--api",
         "http://127.0.0.1:9", "--no-ladder"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 4, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr


def test_cli_a_gateway_that_never_answers_the_handshake_is_broken_not_healthy() -> None:
    """A TCP listener that accepts and stays silent: the handshake deadline
    breaks the link, and the walk must not call that healthy."""
    import socket

    from callprobe.backends.kkim.server import ThreadedGateway

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen()
    api = ThreadedGateway(GatewaySettings(ws_port=0, api_port=0))
    api.start()
    try:
        port = silent.getsockname()[1]
        proc = subprocess.run(
            [sys.executable, "-m", "callprobe", "diagnose", "--server", f"ws://127.0.0.1:{port}",
             "--api", api.api_url, "--no-ladder", "--json", "/dev/stdout"],
            cwd=ROOT, capture_output=True, text=True, timeout=60)
    finally:
        api.stop()
        silent.close()
    assert proc.returncode == 4, proc.stdout + proc.stderr  # as `run` for the same server
    assert "HEALTHY" not in proc.stdout and "HANDSHAKE_REFUSED" in proc.stdout
    assert "connect_timeout_s" in proc.stdout and "errCode here say why" not in proc.stdout


def test_cli_diagnose_from_a_scenario_uses_its_turn_server(tmp_path: Path) -> None:
    """--scenario: the walk runs relay-only through the coturn the scenario asks for."""
    report = tmp_path / "relay.json"
    proc = subprocess.run(
        [sys.executable, "-m", "callprobe", "diagnose", "--scenario", str(ROOT / "scenarios" / "relay.yaml"),
         "--no-ladder", "--json", str(report)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    data = json.loads(report.read_text())
    pairs = [e for e in data["events"] if e["kind"] == "selected_pair"]
    assert {(e["agent"], e["local"]) for e in pairs} == {("caller", "relay"), ("callee", "relay")}
    assert data["target"]["caller"] == "alice" and data["target"]["callee"] == "bob"


@pytest.mark.parametrize(("args", "words"), [
    (["--stun", "stun:127.0.0.1:3478"], "drop --stun"),
    (["--server", "ws://127.0.0.1:9", "--api", "http://127.0.0.1:9"], "drop --server, --api"),
])
def test_cli_diagnose_scenario_refuses_options_it_replaces(args: list[str], words: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "callprobe", "diagnose", "--scenario", str(ROOT / "scenarios" / "basic.yaml"),
         *args], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and words in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr


async def test_candidates_lost_one_way_are_a_finding_though_the_call_connects() -> None:
    result = await walk("drop-custom=candidates-to-callee")
    lost = [f for f in result.findings if f.code == "SIGNALS_LOST"]
    assert len(lost) == 1 and lost[0].severity == Severity.WARNING
    assert "caller → callee" in lost[0].detail and "candidates 0/" in lost[0].detail
    assert not errors(result)  # ICE connected through the peer-reflexive path: no link broke
    assert any(link.link == "media" and link.ok for link in result.links)
