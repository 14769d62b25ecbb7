"""Load runs end to end, small: worker processes, the embedded server in its own process,
real calls, exact totals, thresholds, and every output checked (the JSON against its schema).

Each run takes a few seconds; the big figures are `benchmarks/load.py`'s.
"""

from __future__ import annotations

import csv
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from xml.etree import ElementTree

import jsonschema
import pytest
from click.testing import CliRunner

from callprobe.analysis.load.thresholds import parse_threshold
from callprobe.cli import cli
from callprobe.engine.load.controller import LoadController
from callprobe.engine.load.plan import LoadOptions
from callprobe.reporters.load.files import write_csv, write_json, write_junit
from callprobe.reporters.load.html import render_load_html
from callprobe.scenario.loader import load_scenario
from tests.paths import ROOT, SCENARIOS
from tests.processes import descendants, running

SCHEMA = json.loads((ROOT / "docs" / "schemas" / "load-report.schema.json").read_text())

pytestmark = pytest.mark.timeout(180)


def faulty(tmp_path: Path, fault: str) -> Path:
    """basic.yaml with an embedded-server fault switched on."""
    text = (SCENARIOS / "basic.yaml").read_text()
    path = tmp_path / "faulty.yaml"
    path.write_text(text.replace("agents:", f"server:\n  faults: [{fault}]\n\nagents:", 1))
    return path


def test_signaling_only_pairs_all_pass_and_every_output_follows_its_format(tmp_path: Path) -> None:
    options = LoadOptions(pairs=4, media="none", workers=2, thresholds=("ring.p99<5s", "success>=100%"))
    thresholds = [parse_threshold(t) for t in options.thresholds]
    report = LoadController(load_scenario(SCENARIOS / "basic.yaml"), options, thresholds).run()
    t = report.totals
    assert (t.started, t.completed, t.passed, t.failed) == (4, 4, 4, 0), (report.errors, dict(t.failures))
    assert t.figure("ring").count == 4 and t.figure("accept_notice").count == 4
    assert t.figure("ice").count == 0 and t.media == {}
    assert report.verdict == "pass" and all(r.passed for r in report.thresholds)
    assert report.server["embedded"] and report.server["process"] == "own"
    assert report.server["limits_raised"] == {"max_connections": None, "api_max_connections": 4096,
                                              "listen_backlog": 4096}
    assert {w["place"] for w in report.workers} == {"process"} and len(report.workers) == 2
    assert report.peak_active_agents >= 2
    assert sum(r["completed"] for r in report.series) == 4
    assert report.kept_counts["failed_total"] == 0 and report.kept_counts["good_kept"] >= 1

    write_json(report, tmp_path / "r.json")
    data = json.loads((tmp_path / "r.json").read_text())
    jsonschema.validate(data, SCHEMA)
    assert data["totals"]["figures"]["ring"]["count"] == 4

    write_csv(report, tmp_path / "r.csv")
    rows = list(csv.DictReader((tmp_path / "r.csv").open()))
    assert [int(r["second"]) for r in rows] == list(range(1, len(rows) + 1))
    assert sum(int(r["completed"]) for r in rows) == 4

    write_junit(report, tmp_path / "r.xml")
    cases = ElementTree.parse(tmp_path / "r.xml").getroot().iter("testcase")
    assert [c.get("name") for c in cases] == ["threshold ring.p99<5s", "threshold success>=100%"]

    page = render_load_html(report)
    assert page.count("<svg") == 4
    # readable offline: nothing is fetched (the SVG namespace is a name, not a request)
    assert not re.findall(r"(?:src|href)=\"?https?:", page)
    assert "<script" not in page


@pytest.mark.parametrize("scenario", ["socketio/basic.yaml", "rooms/answered-callee-first.yaml"])
def test_the_password_backends_register_their_numbered_users_and_pass(scenario: str) -> None:
    """Their embedded server starts empty: each numbered user is created, logs in, rings and is answered;
    on call rooms the callee still enters the room with no WebRTC leg."""
    options = LoadOptions(pairs=3, media="none", workers=1, thresholds=("failed==0",))
    report = LoadController(load_scenario(SCENARIOS / scenario), options,
                            [parse_threshold(t) for t in options.thresholds]).run()
    t = report.totals
    assert (t.started, t.passed, t.failed) == (3, 3, 0), (report.errors, dict(t.failures))
    assert t.figure("ring").count == 3 and t.figure("accept_notice").count == 3
    assert report.server["embedded"] and report.verdict == "pass"


def test_audio_calls_measure_delivery_from_rtp(tmp_path: Path) -> None:
    options = LoadOptions(pairs=2, media="audio", hold_s=1.0, workers=1)
    report = LoadController(load_scenario(SCENARIOS / "basic.yaml"), options, []).run()
    t = report.totals
    assert t.passed == 2, dict(t.failures)
    sent, received = t.media["audio"]
    assert sent > 80 and 0.9 <= received / sent <= 1.0
    assert t.legs == 4 and t.figure("ice").count == 2 and t.figure("media").count == 2
    assert "not decoded" in report.measured["media_delivery"]


def test_the_open_model_places_calls_at_the_rate() -> None:
    options = LoadOptions(rate=4.0, duration_s=2.0, media="none", workers=2)
    report = LoadController(load_scenario(SCENARIOS / "basic.yaml"), options, []).run()
    t = report.totals
    assert t.started == 8 and t.completed == 8 and t.dropped == 0, dict(t.failures)
    assert t.passed == 8


def test_failed_calls_keep_their_timeline_and_findings(tmp_path: Path) -> None:
    options = LoadOptions(pairs=2, media="none", workers=1, keep_failed=1, thresholds=("failed==0",))
    report = LoadController(load_scenario(faulty(tmp_path, "answer-not-relayed")), options,
                            [parse_threshold("failed==0")]).run()
    t = report.totals
    assert t.failed == 2 and t.notices_lost["accept"] == 2
    assert t.findings, "the rules name why"
    assert report.kept_counts["failed_total"] == 2 and report.kept_counts["failed_kept"] == 1
    [kept] = [k for k in report.kept if k["verdict"] == "fail"]
    assert kept["events"] and kept["findings"] and "answered" in kept["reason"]
    assert report.verdict == "fail"
    jsonschema.validate(report.to_json(), SCHEMA)


def test_abort_on_fail_stops_at_the_first_failed_threshold() -> None:
    options = LoadOptions(pairs=2, media="none", workers=1, duration_s=60.0, abort_on_fail=True,
                          thresholds=("completed<1",))
    report = LoadController(load_scenario(SCENARIOS / "basic.yaml"), options,
                            [parse_threshold("completed<1")]).run()
    assert "completed<1" in report.stop_reason and "--abort-on-fail" in report.stop_reason
    assert report.duration_s < 30
    assert report.verdict == "fail"


def test_the_command_exits_1_on_a_failed_threshold_and_2_on_a_bad_one(tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "load.json"
    result = runner.invoke(cli, ["load", str(SCENARIOS / "basic.yaml"), "--pairs", "1", "--media", "none",
                                 "--workers", "1", "--threshold", "ring.max<0.001ms", "--json", str(out),
                                 "--csv", str(tmp_path / "load.csv"), "--html", str(tmp_path / "load.html"),
                                 "--junit", str(tmp_path / "load.xml")])
    assert result.exit_code == 1, result.output
    assert "✗" in result.output and "ring.max<0.001ms" in result.output
    jsonschema.validate(json.loads(out.read_text()), SCHEMA)
    assert (tmp_path / "load.html").read_text().startswith("<!DOCTYPE html>")

    from callprobe.cli import main

    with pytest.raises(SystemExit) as bad:
        main(["load", str(SCENARIOS / "basic.yaml"), "--pairs", "1", "--threshold", "ring.p99 < fast"])
    assert bad.value.code == 2
    both = runner.invoke(cli, ["load", str(SCENARIOS / "basic.yaml"), "--pairs", "1", "--rate", "2/s"])
    assert both.exit_code != 0


@pytest.mark.parametrize("sig, code", [(signal.SIGKILL, -9), (signal.SIGTERM, 143)])
def test_no_worker_or_server_outlives_the_command(sig: signal.Signals, code: int) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "callprobe", "load", str(SCENARIOS / "basic.yaml"), "--pairs", "2",
                             "--workers", "2", "--media", "none", "--hold", "60s"],
                            cwd=ROOT, env={**os.environ, "PYTHONUNBUFFERED": "1"}, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    deadline = time.monotonic() + 90
    for line in proc.stdout:
        if "running]" in line and "active 2 calls" in line:
            break
        assert time.monotonic() < deadline, "the load never got going"
    children = descendants(proc.pid)
    assert len(children) >= 3  # the server and two workers
    proc.send_signal(sig)
    rest = proc.communicate(timeout=60)[0]
    assert proc.returncode == code, rest
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and any(running(p) for p in children):
        time.sleep(0.2)
    assert not [p for p in children if running(p)]
    if sig == signal.SIGTERM:
        assert "terminated (SIGTERM)" in rest
