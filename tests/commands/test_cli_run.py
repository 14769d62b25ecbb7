"""`callprobe run` as a user meets it: a real process, real exit codes, real files."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

from tests.paths import ROOT

RUN_DEADLINE_S = 120


def callprobe(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "callprobe", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=RUN_DEADLINE_S)


def test_basic_run_writes_json_and_junit(tmp_path: Path) -> None:
    report, junit = tmp_path / "report.json", tmp_path / "junit.xml"
    proc = callprobe("run", "scenarios/basic.yaml", "--json", str(report), "--junit", str(junit))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "PASS" in proc.stdout and "Traceback" not in proc.stderr
    data = json.loads(report.read_text())
    assert data["verdict"] == "pass" and data["scenario"] == "basic video call"
    [call] = data["calls"]
    assert {"caller", "callee", "room_id", "media_kind", "outcome", "time_to_ring_ms", "join_notice",
            "ice", "media"} <= call.keys()
    assert call["caller"] == "alice" and call["callee"] == "bob" and call["outcome"] == "answered"
    assert call["join_notice"]["delivered"] is True and call["join_notice"]["latency_ms"] > 0
    assert call["ice"]["candidates"]["alice"]["host"] >= 1
    assert call["ice"]["selected"]["bob"]["local"] == "host"
    assert call["media"]["bob"]["audio_frames"] > 0 and call["media"]["bob"]["video_frames"] > 0
    assert all(e["passed"] for e in data["expectations"]) and data["expectations"][0]["line"] > 0
    kinds = {e["kind"] for e in data["events"]}
    assert {"invite_sent", "ringing", "answered", "pc_state", "media_first_frame"} <= kinds
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None
    cases = suite.findall("testcase")
    assert len(cases) == len(data["expectations"]) and not suite.findall(".//failure")


def test_failed_expectation_exits_1_and_names_the_line(tmp_path: Path) -> None:
    scenario = tmp_path / "wrong.yaml"
    scenario.write_text(
        "name: expects a reject that never comes\n"
        "agents: {alice: {media: audio}, bob: {}}\n"
        "steps:\n"
        "  - connect: [alice, bob]\n"
        "  - invite: {from: alice, to: bob}\n"
        "  - accept: bob\n"
        "  - expect: {outcome: rejected, within: 1s}\n"
        "  - hangup: alice\n"
    )
    junit, html = tmp_path / "junit.xml", tmp_path / "ladder.html"
    proc = callprobe("run", str(scenario), "--junit", str(junit), "--html", str(html))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "<svg" in html.read_text() and "accept" in html.read_text()
    assert "FAIL" in proc.stdout and "line 7" in proc.stdout
    assert "answered, expected rejected" in " ".join(proc.stdout.split())
    failures = ET.parse(junit).getroot().findall(".//failure")
    assert len(failures) == 1


def test_invalid_scenario_exits_3_without_traceback(tmp_path: Path) -> None:
    scenario = tmp_path / "bad.yaml"
    scenario.write_text("name: x\nagents: {alice: {}}\nsteps:\n  - invite: {from: alice, to: carol}\n")
    proc = callprobe("run", str(scenario))
    assert proc.returncode == 3
    assert f"{scenario}:4" in proc.stderr and "carol" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_unreachable_server_exits_4(tmp_path: Path) -> None:
    report = tmp_path / "r.json"
    proc = callprobe("run", "scenarios/audio.yaml", "--server", "ws://127.0.0.1:9", "--api",
                     "http://127.0.0.1:9", "--json", str(report))
    assert proc.returncode == 4, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    data = json.loads(report.read_text())
    assert data["verdict"] == "fail" and "127.0.0.1:9" in data["aborted"]


def test_bad_options_are_refused_before_any_work(tmp_path: Path) -> None:
    cases = [
        (("--server", "http://127.0.0.1:1", "--api", "http://127.0.0.1:2"), "is an http URL: the KKIM gateway takes ws://"),
        (("--api", "http://127.0.0.1:2"), "--api needs --server"),
        (("--server", "ws://127.0.0.1:1"), "--server needs --api"),
        (("--json", str(tmp_path / "missing" / "r.json")), "does not exist"),
    ]
    for args, message in cases:
        proc = callprobe("run", "scenarios/basic.yaml", *args)
        assert proc.returncode == 2, (args, proc.stdout, proc.stderr)
        assert message in proc.stderr and "Traceback" not in proc.stderr
        assert proc.stdout == ""  # refused before anything ran


def test_a_silent_server_stops_the_run_at_the_connect_step(tmp_path: Path) -> None:
    """A listener that never answers the handshake: exit 4 after the connect
    deadline, not after every later expectation waited out its window."""
    import socket

    from callprobe.backends.kkim.server import ThreadedGateway
    from callprobe.settings import GatewaySettings

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen()
    api = ThreadedGateway(GatewaySettings(ws_port=0, api_port=0))
    api.start()
    report = tmp_path / "r.json"
    try:
        proc = callprobe("run", "scenarios/basic.yaml", "--server", f"ws://127.0.0.1:{silent.getsockname()[1]}",
                         "--api", api.api_url, "--json", str(report))
    finally:
        api.stop()
        silent.close()
    assert proc.returncode == 4, proc.stdout + proc.stderr
    data = json.loads(report.read_text())
    assert "connect_timeout_s" in data["aborted"]
    assert len(data["expectations"]) == 1 and data["expectations"][0]["kind"] == "action"
