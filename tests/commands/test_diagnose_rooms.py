"""`callprobe diagnose --backend rooms` names the broken link for every fault of the call-room
server, says which join order lost a join, and stays quiet on a healthy server."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from callprobe.analysis.diagnostics.findings import Severity
from callprobe.analysis.results import WalkResult
from callprobe.backends.base import WalkTarget
from callprobe.backends.rooms.server import EmbeddedRoomServer, parse_fault
from callprobe.engine.walk import Walk
from callprobe.rtc.ice_config import IceConfig
from callprobe.settings import ClientSettings, RoomServerSettings
from tests.fakes import fields
from tests.paths import ROOT

#: Short deadlines: each wait still has room on a loaded 2-core machine.
FAST = replace(ClientSettings(), default_expect_within_s=1.5, diagnose_late_window_s=2.0,
               ice_connect_timeout_s=3.0, media_timeout_s=3.0)

#: No KKIM word belongs in a finding about this backend.
#: KKIM's terms; its codes as numbers of their own, not a duration such as "1004 ms" that a slow run may print
KKIM_WORDS = re.compile(r"(?<![\d.])(1601|1004|1802)(?!\d|\.\d| ?ms)|errCode|sendID|contentType")


async def walk(*faults: str) -> WalkResult:
    settings = RoomServerSettings(port=0, password_iterations=1_000, faults=tuple(parse_fault(f) for f in faults))
    server = EmbeddedRoomServer(settings)
    await server.start()
    try:
        target = WalkTarget(server=server.url, api="", caller="alice", callee="bob", family="rooms",
                            register=True, ice=IceConfig(host_addresses=("127.0.0.1",)))
        return await Walk(target, FAST).run()
    finally:
        await server.stop()


def errors(result: WalkResult) -> list[str]:
    return [f.code for f in result.findings if f.severity == Severity.ERROR]


def words_of(result: WalkResult) -> str:
    return " ".join(f"{f.title} {f.detail} {f.hint}" for f in result.findings)


async def test_a_healthy_server_has_no_findings_and_walks_both_join_orders() -> None:
    result = await walk()
    assert errors(result) == [] and result.healthy and result.first is None, [f.to_json() for f in result.findings]
    assert [(link.link, link.step) for link in result.links][-2:] == [
        ("answer", "join_order_caller_first"), ("answer", "join_order_callee_first")]
    probes = {e.step: e for e in result.events if e.kind == "step_finished" and e.step.startswith("probe_")}
    assert {s: (p.outcome, p.status) for s, p in probes.items()} == {
        "probe_no_token": ("refused", 401), "probe_wrong_token": ("refused", 401),
        "probe_other_user": ("refused", 403)}
    missing = {e.step: fields(e) for e in result.events if e.kind == "step_finished" and e.extra.get("exists") is False}
    assert set(missing) == {"heartbeat", "text_push", "history"}
    assert all(f["ok"] and f["reason"] for f in missing.values())
    orders = [fields(e) for e in result.events if e.kind == "step_finished" and e.step.startswith("join_order")]
    assert [(o["join_order"], o["connection"], o["join"]) for o in orders] == [
        ("caller-first", True, True), ("callee-first", True, True)]


@pytest.mark.parametrize(("fault", "code", "link", "words"), [
    ("handshake-crash", "HANDSHAKE_REFUSED", "auth_probes", "a refusal was expected"),
    ("trust-user-id", "UNAUTHENTICATED_ACCEPTED", "auth_probes", "naming bob (user 2) as its user id was accepted"),
    ("default-identity", "DEFAULT_IDENTITY", "auth_probes", "was let in as 'test-user-"),
    ("join-lost-callee-first", "JOIN_NOTICE_MISSING", "answer",
     "callee joined first, caller second: the callee never got join"),
    ("accept-not-relayed", "ANSWER_NOT_DELIVERED", "answer", "learned the answer by polling the call's status"),
    ("relay-drops-candidates", "ICE_FAILED", "ice", "no remote candidates received"),
])
async def test_each_fault_gives_exactly_its_finding(fault: str, code: str, link: str, words: str) -> None:
    result = await walk(fault)
    assert result.first is not None, result.links
    assert (result.first.code, result.first.link) == (code, link), [f.to_json() for f in result.findings]
    assert set(errors(result)) == {code}
    assert result.first.evidence, "a finding carries its evidence"
    assert words in result.first.detail, result.first.detail
    assert not result.healthy
    assert not KKIM_WORDS.search(words_of(result)), words_of(result)
    if fault == "handshake-crash":
        assert 500 in [fields(e).get("status") for e in result.first.evidence]


def test_cli_walks_the_embedded_rooms_server(tmp_path: Path) -> None:
    report = tmp_path / "d.json"
    proc = subprocess.run(
        [sys.executable, "-m", "callprobe", "diagnose", "--backend", "rooms", "--fault", "accept-not-relayed",
         "--deadline", "1.5", "--no-ladder", "--json", str(report)],
        cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 5, proc.stdout + proc.stderr
    assert "ANSWER_NOT_DELIVERED" in proc.stdout and "Traceback" not in proc.stderr
    data = json.loads(report.read_text())
    assert data["target"]["backend"] == "rooms" and data["first_broken"]["code"] == "ANSWER_NOT_DELIVERED"
