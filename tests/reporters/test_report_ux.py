"""What a support engineer reads: findings that say what broke once, in words that match the
evidence; a ladder that marks the missing arrow, shows silences, mutes teardown and fits its
width; an HTML page that counts failed checks; reports that match their published schemas."""

from __future__ import annotations

import dataclasses
import io
import json
import re
from typing import Any

import pytest
from rich.console import Console

from callprobe.analysis.diagnostics import diagnose_timeline, first_broken_link
from callprobe.analysis.results import LinkResult, RunResult, StepResult, WalkResult, WalkTargetInfo
from callprobe.reporters import diagnose as walk_report
from callprobe.reporters.console import render as render_run
from callprobe.reporters.html_report import run_html
from callprobe.reporters.json_report import load_report, report_dict
from callprobe.reporters.ladder import build_ladder, render_ladder_html
from callprobe.reporters.ladder.model import GATEWAY, MISSING, QUIET
from callprobe.reporters.ladder.text import render_ladder
from callprobe.timeline.events import EVENT_TYPES, Event, make_event
from callprobe.timeline.json_schema import event_schema
from tests.analysis.diagnostics.test_diagnose import broken
from tests.analysis.diagnostics.timeline_fakes import ALICE, BOB, CTX, TL, codes, probes
from tests.paths import ROOT
from tests.report_schemas import SCHEMAS, validate_event, validate_report


def text_of(renderable: Any, width: int = 120) -> str:
    buf = io.StringIO()
    Console(file=buf, width=width, color_system=None, force_terminal=False).print(renderable)
    return buf.getvalue()


def walk_result(events: list[Event], links: list[LinkResult] | None = None) -> WalkResult:
    found = diagnose_timeline(events, CTX)
    target = WalkTargetInfo(server="ws://127.0.0.1:10001", api="http://127.0.0.1:10002", caller="u_alice",
                            callee="u_bob", media="video")
    return WalkResult(target, events, found, first_broken_link(found), links or [], 1000.0)


def walk_output(result: WalkResult, width: int = 100) -> str:
    buf = io.StringIO()
    walk_report.render(result, Console(file=buf, width=width, color_system=None), show_ladder=True)
    return buf.getvalue()


# ------------------------------------------------------------------ 1. findings that mislead


def handshake_crash() -> list[Event]:
    tl = TL()
    tl.connect(ALICE)
    tl.connect(BOB)
    tl.probe("probe_no_token", "refused", 500, agent=ALICE)
    return tl.finish()


def test_a_crashed_probe_names_its_handshake_once_and_agrees_with_the_checklist() -> None:
    links = [LinkResult("handshake", "connect", ALICE, True), LinkResult("handshake", "connect", BOB, True),
             LinkResult("auth_probes", "probe_no_token", ALICE, False)]
    result = walk_result(handshake_crash(), links)
    first = result.first
    assert first is not None and first.link == "auth_probes"  # the link the checklist shows ✗
    assert first.title == "A probe handshake without a token was answered with HTTP 500"
    out = " ".join(walk_output(result).split())
    assert out.count(first.title) == 1 and out.count("got HTTP 500") == 0  # said once, in the title
    assert "(HTTP 500)" not in out and "real users cannot" not in out.lower()
    assert "✗ auth_probes: probe_no_token" in out
    assert "BROKEN first broken link: auth_probes (HANDSHAKE_REFUSED)" in out


def login_failed(answer: str, status: int = 0) -> list[Event]:
    tl = TL()
    tl(ALICE, "login_failed", mode="admin_user_token", status=status,
       reason="auth API http://127.0.0.1:9/auth/get_admin_token unreachable: [Errno 111] Connect call failed")
    tl("", "endpoint_probe", role="api", url="http://127.0.0.1:9", answer=answer, status=None)
    return tl.finish()


@pytest.mark.parametrize("answer, words, title", [
    ("nothing", "Nothing answered at the auth API address", "nothing answered"),
    ("websocket", "--server and --api look swapped", "WebSocket port"),
    ("closed", "sent no HTTP reply", "no HTTP reply"),
])
def test_a_login_that_got_no_reply_gets_no_errcode_hint(answer: str, words: str, title: str) -> None:
    [f] = [f for f in diagnose_timeline(login_failed(answer), CTX) if f.code == "LOGIN_FAILED"]
    assert words in f.hint and title in f.title
    assert "errCode in the reply" not in f.hint
    assert any(e.kind == "endpoint_probe" for e in f.evidence)


def test_a_login_refused_with_an_errcode_keeps_the_catalogue_hint() -> None:
    tl = TL()
    tl(ALICE, "login_failed", mode="admin_user_token", status=200, err_code=1002, err_msg="NoPermission")
    [f] = [f for f in diagnose_timeline(tl.finish(), CTX) if f.code == "LOGIN_FAILED"]
    assert "errCode in the reply" in f.hint


@pytest.mark.parametrize("same_as, words", [("api", "points at the auth API"), ("", "auth API's port")])
def test_server_at_an_http_port_is_said(same_as: str, words: str) -> None:
    tl = TL()
    tl(ALICE, "login_ok", mode="admin", latency_ms=3.0)
    tl(ALICE, "ws_connecting", url="ws://127.0.0.1:10002/?sendID=u_alice")
    tl(ALICE, "ws_refused", status=404, body="404: Not Found", explanation="HTTP 404 instead of 101")
    tl("", "endpoint_probe", role="server", url="ws://127.0.0.1:10002/", answer="http", status=404,
       same_as=same_as)
    [f] = [f for f in diagnose_timeline(tl.finish(), CTX) if f.code == "HANDSHAKE_REFUSED"]
    assert f.title.startswith("No WebSocket gateway at --server") and words in f.hint
    assert "1501-1507" not in f.hint


# ------------------------------------------------------------------ 2. the ladder


@pytest.mark.parametrize("code, sender, receiver", [
    ("INVITE_NOT_DELIVERED", ALICE, BOB),
    ("ANSWER_NOT_DELIVERED", BOB, ALICE),
    ("HANGUP_NOT_DELIVERED", ALICE, BOB),
    ("SDP_NOT_RELAYED", ALICE, BOB),
    ("PUSH_PATH_BROKEN", ALICE, BOB),
])
def test_the_missing_arrow_is_drawn_and_marked_not_the_one_that_worked(code: str, sender: str,
                                                                       receiver: str) -> None:
    events = broken(code)
    found = [f for f in diagnose_timeline(events, CTX) if f.code == code]
    ladder = build_ladder(events, found, CTX)
    [missing] = [r for r in ladder.rows if r.style == MISSING]
    assert (missing.src, missing.dst) == (GATEWAY, receiver) and "never arrived" in missing.label
    assert [f.code for f in missing.findings] == [code]
    # the request that worked carries no mark
    assert not any(r.findings for r in ladder.rows if r.src == sender and r.dst == GATEWAY)
    text = text_of(render_ladder(ladder, width=120, legend=False))
    line = next(x for x in text.splitlines() if "never arrived" in x)
    assert line.lstrip().startswith("never") and "╌" in line and f"✖ {code}" in line


def test_a_late_notice_keeps_its_mark_on_its_own_arrow() -> None:
    tl = TL()
    tl.connect(ALICE)
    tl.connect(BOB)
    tl.invite(rang=False)
    tl(BOB, "frame_in", dt=4000.0, req_identifier=2001, size=300,
       msgs=[{"content_type": 1601, "send_id": "u_alice", "seq": 1}])
    tl(BOB, "ringing", room_id="r1", inviter="u_alice", media="video", via="push_1601", dt=0.1)
    events = tl.finish()
    found = [f for f in diagnose_timeline(events, CTX) if f.code == "INVITE_NOT_DELIVERED"]
    assert found and found[0].detail.startswith("late")
    ladder = build_ladder(events, found, CTX)
    assert not [r for r in ladder.rows if r.style == MISSING]


def test_silences_show_as_gaps_and_teardown_is_muted() -> None:
    tl = TL()
    tl.connect(ALICE)
    tl.connect(BOB)
    tl.invite()
    tl("", "step_started", dt=6000.0, step="hangup: alice")
    tl("", "note", note="teardown", text="teardown: releasing open calls")
    tl(ALICE, "cancel_sent", room_id="r1")
    tl(ALICE, "action_refused", action="cancel", room_id="r1", err_code=1801, explanation="1801 call not found")
    events = tl.finish()
    ladder = build_ladder(events, [], CTX)
    refused = next(r for r in ladder.rows if "refused" in r.label)
    assert refused.style == QUIET and refused.teardown
    text = text_of(render_ladder(ladder, width=100, legend=False))
    assert re.search(r"⋮.*6\.0 s later", text)
    assert len(re.findall(r"s later", text)) == 1  # short steps get no gap line
    for width in (60, 80):  # narrow: the gap still reads as time elapsed, whole, within the width
        narrow = text_of(render_ladder(ladder, width=width, legend=False), width=width)
        gaps = [line for line in narrow.splitlines() if "6.0 s" in line]
        assert len(gaps) == 1 and len(gaps[0].rstrip()) <= width, gaps
        assert "later" in gaps[0] or "+6.0 s" in gaps[0]


@pytest.mark.parametrize("width", [80, 140])
def test_the_terminal_ladder_fits_its_width(width: int) -> None:
    events = broken("ICE_FAILED")
    found = diagnose_timeline(events, CTX)
    ladder = build_ladder(events, found, CTX)
    text = text_of(render_ladder(ladder, width=width, legend=False), width=width)
    lines = text.splitlines()
    assert lines and max(len(x) for x in lines) <= width
    marked = [x for x in lines if "✖" in x]
    assert marked and all(x.rstrip().endswith("ICE_FAILED") for x in marked)  # whole marks, no wrap
    assert not any(x.startswith(("ICE_FAILED", "HANDSHAKE")) for x in lines)


# ------------------------------------------------------------------ 3. each finding once


def test_each_finding_prints_once_with_its_evidence_and_the_verdict_names_the_code() -> None:
    events = broken("ICE_FAILED")
    result = walk_result(events)
    assert result.first is not None
    f = result.first
    twin = dataclasses.replace(f, agent=BOB if f.agent != BOB else ALICE, detail="the other side")
    result.findings = [f, twin]  # both ends saw ICE fail: one entry
    out = walk_output(result)
    assert out.count(f.title) == 1 and out.count(f.hint[:40]) == 1
    assert "evidence +" in out and "the other side" in out
    assert out.splitlines()[-1].strip() == f"BROKEN  first broken link: {f.link} ({f.code})"


def test_a_failed_run_says_why_once() -> None:
    events = broken("ANSWER_NOT_DELIVERED")
    found = diagnose_timeline(events, CTX)
    step = StepResult(9, "expect: {agent: alice, event: answered}", False, "no answered on alice")
    result = RunResult("s", "s.yaml", {"embedded": True}, 100.0, events, [step], [], found)
    buf = io.StringIO()
    render_run(result, Console(file=buf, width=100, color_system=None), verbose=True)
    out = buf.getvalue()
    assert out.count(found[0].title) == 1
    assert "first broken link: answer (ANSWER_NOT_DELIVERED)" in out


# ------------------------------------------------------------------ 4. the HTML page


def test_the_html_of_a_failing_run_counts_its_failed_checks() -> None:
    tl = TL()
    tl.connect(ALICE)
    tl.connect(BOB)
    tl("", "step_finished", line=8, step="hangup: alice", ok=False, error="agent alice has no active call")
    tl("", "step_finished", line=9, step=None, ok=False, error="no step text in this report")
    events = tl.finish()
    steps = [StepResult(n, f"expect {n}", False, f"failed {n}") for n in (5, 6, 7)]
    steps.append(StepResult(8, "hangup: alice", False, "agent alice has no active call", kind="action"))
    page = run_html(RunResult("s", "s.yaml", {"embedded": True}, 100.0, events, steps, [], []))
    assert "4 of 4 checks failed" in page and 'class="failed"' in page
    assert "agent alice has no active call" in page
    assert "✗ None" not in page and "✗ hangup: alice" in page and "✗ line 9" in page


def test_a_healthy_page_has_no_banner() -> None:
    page = render_ladder_html(build_ladder(broken("ICE_FAILED")[:5]), checks=())
    assert 'class="failed"' not in page


# ------------------------------------------------------------------ 9. schemas


def test_the_event_schema_file_is_generated_from_the_event_classes() -> None:
    committed = json.loads((SCHEMAS / "event.schema.json").read_text())
    assert committed == event_schema(), "regenerate: python -m callprobe.timeline.json_schema"
    assert set(committed["$defs"]) == set(EVENT_TYPES)


@pytest.mark.parametrize("kind", sorted(EVENT_TYPES))
def test_every_event_kind_matches_the_schema(kind: str) -> None:
    validate_event(make_event(kind, 1.5, "alice").to_json())


def test_the_event_schema_rejects_a_wrong_type_and_accepts_a_newer_field() -> None:
    from jsonschema import ValidationError

    good = make_event("ringing", 1.0, "bob", inviter="u_alice").to_json()
    validate_event({**good, "added_in_a_later_version": 1})
    validate_event({"t_ms": 1.0, "agent": "", "kind": "a_kind_from_the_future", "x": 1})
    with pytest.raises(ValidationError):
        validate_event({**good, "seq": "seven"})


@pytest.mark.parametrize("code", ["ICE_FAILED", "INVITE_NOT_DELIVERED", "HANDSHAKE_REFUSED"])
def test_reports_built_from_timelines_match_their_schemas(code: str) -> None:
    events = broken(code)
    result = walk_result(events, [LinkResult("login", "login", ALICE, True)])
    validate_report(walk_report.report_dict(result))
    run = RunResult("s", "s.yaml", {"embedded": False, "ws_url": "ws://h:1", "api_url": "http://h:2"}, 1.0,
                    events, [StepResult(3, "expect", False, "no")], [], result.findings)
    data = report_dict(run)
    validate_report(data)
    assert data["server"]["host"] is None and data["server"]["netns"] is None  # present, null
    assert data["schema"] == 2


def test_a_schema_1_report_still_loads() -> None:
    old = json.loads((ROOT / "tests" / "timeline" / "schema1_report.json").read_text())
    assert old["schema"] == 1
    result = load_report(old)
    assert result.verdict == old["verdict"] and len(result.events) == len(old["events"])
    data = report_dict(result)
    validate_report(data)
    assert [c["invitees"][0]["agent"] for c in data["calls"]] == [c["callee"] for c in old["calls"]]


def _readme_json_keys() -> set[str]:
    readme = (ROOT / "README.md").read_text()
    block = readme.split("### JSON report", 1)[1].split("```", 2)[1]
    return set(re.findall(r'"(\w+)":', block))


def _schema_keys(schema: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(schema, dict):
        found.update(k for k in schema.get("properties", {}) if not k.startswith("$"))
        for k, v in schema.items():
            if k != "$defs":
                found |= _schema_keys(v)
    elif isinstance(schema, list):
        for v in schema:
            found |= _schema_keys(v)
    return found


def test_readme_json_report_agrees_with_the_schemas() -> None:
    documented = _readme_json_keys()
    published: set[str] = set()
    for name in ("run-report", "finding"):
        published |= _schema_keys(json.loads((SCHEMAS / f"{name}.schema.json").read_text()))
    published -= {"t_ms", "agent", "kind"} - documented
    assert published - documented == set(), "README's JSON report omits these keys"
    assert documented - published - {"t_ms", "agent", "kind"} == set(), "README documents keys no schema has"


def test_readme_exit_codes_are_the_table_of_errors_py() -> None:
    from callprobe.errors import EXIT_CODE_MEANING

    readme = (ROOT / "README.md").read_text()
    rows = dict(re.findall(r"^\| (\d+) \| (.+?) \|", readme.split("### Exit codes", 1)[1], re.M))
    assert {int(k) for k in rows} == {int(c) for c in EXIT_CODE_MEANING}
    for code, meaning in EXIT_CODE_MEANING.items():
        assert rows[str(int(code))].strip() == meaning, code


def test_codes_helper_still_reads_findings() -> None:
    assert codes(diagnose_timeline(handshake_crash(), CTX)) == {"HANDSHAKE_REFUSED"}
    tl = TL()
    probes(tl)
    assert not codes(diagnose_timeline(tl.finish(), CTX))


def test_a_healthy_walk_with_a_warning_says_so_on_the_verdict_line() -> None:
    from tests.analysis.diagnostics.test_diagnose import signals_lost_one_way

    tl = TL()
    signals_lost_one_way(tl)
    result = walk_result(tl.finish(), [LinkResult("media", "media", ALICE, True)])
    assert result.healthy and result.first is None
    line = walk_report.verdict_line(result).plain
    assert line.startswith("HEALTHY") and line.endswith("; 1 warning(s): SIGNALS_LOST")
