"""`run` and `diagnose` while they work and when they are stopped: live progress, the NDJSON
event stream, Ctrl-C and SIGTERM keeping the reports, and one set of exit codes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from callprobe.errors import COMMAND_EXIT_CODES, EXIT_CODE_MEANING, ExitCode, ServerStartError
from tests.fakes import run_cli
from tests.paths import ROOT
from tests.report_schemas import validate_event, validate_report

DEADLINE_S = 120


def start(*args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-m", "callprobe", *args], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)


def read_until(proc: subprocess.Popen[str], words: str) -> tuple[list[str], float]:
    """stdout lines up to the first holding ``words``, and when that line came."""
    assert proc.stdout is not None
    lines: list[str] = []
    end = time.monotonic() + DEADLINE_S
    while time.monotonic() < end:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if words in line:
            return lines, time.monotonic()
    raise AssertionError(f"{words!r} never came; got {''.join(lines)}")


def finish(proc: subprocess.Popen[str]) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=DEADLINE_S)
    return proc.returncode, out, err


def test_run_prints_each_step_as_it_completes_and_streams_events(tmp_path: Path) -> None:
    events, report = tmp_path / "events.ndjson", tmp_path / "run.json"
    proc = start("run", "scenarios/audio.yaml", "--events", str(events), "--json", str(report))
    before, first_at = read_until(proc, "✓ line 11")  # bob's ring, long before the call ends
    code, rest, err = finish(proc)
    done_at = time.monotonic()
    assert code == 0, "".join(before) + rest + err
    out = "".join(before) + rest
    assert done_at - first_at > 1.5, "the first expectation came only with the report"
    assert "waiting for 2 s (wait: 2s)" in out and "deadline +" in out  # the 2 s wait, and its deadline
    for line in (11, 13, 14, 16, 18, 19):
        assert out.count(f"✓ line {line} ") == 1, out  # once, as it completed; no table at the end
    assert "took" in out and out.rstrip().splitlines()[-1].startswith("PASS")
    lines = events.read_text().splitlines()
    assert len(lines) > 50
    for line in lines:
        validate_event(json.loads(line))
    kinds = {json.loads(x)["kind"] for x in lines}
    assert {"run_started", "waiting", "expectation", "ringing", "run_finished"} <= kinds


def test_diagnose_streams_events_to_stdout_and_its_progress_to_stderr() -> None:
    proc = subprocess.run([sys.executable, "-m", "callprobe", "diagnose", "--no-ladder", "--events", "-"],
                          cwd=ROOT, capture_output=True, text=True, timeout=DEADLINE_S)
    assert proc.returncode == 0, proc.stderr
    events = [json.loads(x) for x in proc.stdout.splitlines()]
    for e in events:
        validate_event(e)
    judged = [e for e in events if e["kind"] == "link_judged"]
    assert judged and all(e["ok"] for e in judged)
    assert "✓ login (caller)" in proc.stderr and "HEALTHY" in proc.stderr
    assert proc.stderr.count("✓ ") == len(judged)  # each link once, no checklist again at the end


@pytest.mark.parametrize("command", ["run", "diagnose"])
def test_json_and_events_cannot_share_stdout(command: str) -> None:
    args = ["scenarios/basic.yaml"] if command == "run" else []
    code, output = run_cli([command, *args, "--json", "-", "--events", "-"])
    assert code == 2 and "both name '-' (standard output)" in output


def test_ctrl_c_during_diagnose_writes_the_reports(tmp_path: Path) -> None:
    report, html = tmp_path / "d.json", tmp_path / "d.html"
    proc = start("diagnose", "--fault", "invite-not-pushed", "--deadline", "20", "--no-ladder",
                 "--json", str(report), "--html", str(html))
    read_until(proc, "waiting for ringing at callee")
    proc.send_signal(signal.SIGINT)
    code, out, err = finish(proc)
    assert code == ExitCode.INTERRUPTED, out + err
    assert "INTERRUPTED" in out and "aborted" not in err
    data = json.loads(report.read_text())
    validate_report(data)
    assert data["interrupted"] == "Ctrl-C" and not data["healthy"]
    assert [x["link"] for x in data["links"]][:2] == ["login", "login"]
    assert data["links"][-1] == {"link": "ringing", "step": "invite", "agent": "", "ok": False}
    assert any(e["kind"] == "invite_sent" for e in data["events"])
    assert "checks failed" in html.read_text()


@pytest.mark.parametrize("command", ["run", "diagnose"])
def test_sigterm_is_handled_like_ctrl_c(command: str, tmp_path: Path) -> None:
    report, events = tmp_path / "r.json", tmp_path / "e.ndjson"
    if command == "run":
        scenario = tmp_path / "long.yaml"
        scenario.write_text("name: long wait\nagents: {alice: {media: audio}, bob: {}}\nsteps:\n"
                            "  - connect: [alice, bob]\n  - invite: {from: alice, to: bob}\n"
                            "  - expect: {agent: bob, event: ringing}\n  - wait: 30s\n  - cancel: alice\n"
                            "  - expect: {agent: bob, event: cancelled}\n")
        proc = start("run", str(scenario), "--json", str(report), "--events", str(events))
        read_until(proc, "waiting for 30 s")
    else:
        proc = start("diagnose", "--fault", "invite-not-pushed", "--deadline", "20", "--no-ladder",
                     "--json", str(report), "--events", str(events))
        read_until(proc, "waiting for ringing at callee")
    proc.send_signal(signal.SIGTERM)
    code, out, err = finish(proc)
    assert code == ExitCode.TERMINATED == 143, out + err
    data = json.loads(report.read_text())
    validate_report(data)
    assert data["interrupted"] == "SIGTERM" and "SIGTERM" in data["aborted"]
    last = json.loads(events.read_text().splitlines()[-1])  # the stream says it too, not a clean finish
    assert (last["kind"], last["aborted"]) == ("run_finished", "interrupted")
    if command == "run":
        assert data["verdict"] == "fail" and [x["passed"] for x in data["expectations"]] == [True]
        assert "INTERRUPTED  SIGTERM after 1 step(s) held" in out


def test_a_server_that_answers_http_is_unreachable_for_both_commands(tmp_path: Path) -> None:
    """--server at the auth API's port: an HTTP answer where a WebSocket upgrade was expected."""
    from callprobe.backends.kkim.server import ThreadedGateway
    from callprobe.settings import GatewaySettings

    api = ThreadedGateway(GatewaySettings(ws_port=0, api_port=0))
    api.start()
    try:
        at_api = api.api_url.replace("http://", "ws://")
        diag = subprocess.run([sys.executable, "-m", "callprobe", "diagnose", "--server", at_api, "--api",
                               api.api_url, "--no-ladder", "--json", str(tmp_path / "d.json")],
                              cwd=ROOT, capture_output=True, text=True, timeout=DEADLINE_S)
        run = subprocess.run([sys.executable, "-m", "callprobe", "run", "scenarios/audio.yaml", "--server",
                              at_api, "--api", api.api_url, "--json", str(tmp_path / "r.json")],
                             cwd=ROOT, capture_output=True, text=True, timeout=DEADLINE_S)
    finally:
        api.stop()
    assert diag.returncode == run.returncode == ExitCode.SERVER_UNREACHABLE, diag.stdout + run.stdout
    said = " ".join(diag.stdout.split())
    assert "No WebSocket gateway at --server" in said and "points at the auth API" in said
    assert "1501-1507" not in said
    findings = json.loads((tmp_path / "r.json").read_text())["findings"]
    assert any("points at the auth API" in f["hint"] for f in findings)


@pytest.mark.parametrize("command", ["run", "diagnose"])
def test_an_embedded_server_that_cannot_start_exits_6(command: str, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from callprobe.engine import services

    async def refuse(self: object) -> None:
        raise ServerStartError("cannot listen on 127.0.0.1:10001 (--ws-port): port in use")

    monkeypatch.setattr(services.EmbeddedServices, "start", refuse)
    report = tmp_path / "r.json"
    args = ["run", "scenarios/audio.yaml"] if command == "run" else ["diagnose", "--no-ladder"]
    code, output = run_cli([*args, "--json", str(report)])
    assert code == ExitCode.SERVER_START_FAILED, output
    assert "port in use" in output
    if command == "run":  # the run had begun: its report says why it stopped
        data = json.loads(report.read_text())
        assert "could not start" in data["aborted"] and data["verdict"] == "fail"


@pytest.mark.parametrize("command", sorted(COMMAND_EXIT_CODES))
def test_help_lists_every_exit_code_of_the_command(command: str) -> None:
    code, output = run_cli([command, "--help"])
    assert code == 0
    text = " ".join(output.split())
    for exit_code in COMMAND_EXIT_CODES[command]:
        assert f"{int(exit_code)} {EXIT_CODE_MEANING[exit_code]}" in text, exit_code
