"""Rules for the links before a call: login, handshake, auth probes, heartbeat, connection."""

from __future__ import annotations

from callprobe.analysis.diagnostics import diagnose_timeline
from callprobe.analysis.diagnostics.findings import Severity
from tests.analysis.diagnostics.timeline_fakes import (
    ALICE,
    BOB,
    CTX,
    TL,
    codes,
    healthy_walk,
    probes,
)


def test_healthy_walk_has_no_findings_at_all() -> None:
    assert diagnose_timeline(healthy_walk(), CTX) == []


# LOGIN_FAILED

def test_login_failure_without_retry_is_reported_with_the_err_code() -> None:
    tl = TL()
    tl.connect(ALICE)
    tl(BOB, "login_failed", mode="admin", status=200, err_code=1002, err_msg="NoPermissionError")
    found = diagnose_timeline(tl.finish(), CTX)
    assert codes(found) == {"LOGIN_FAILED"}
    assert found[0].agent == BOB
    assert "1002" in found[0].detail and found[0].evidence[0].kind == "login_failed"


def test_login_failure_followed_by_a_successful_login_is_not_reported() -> None:
    tl = TL()
    tl(BOB, "login_failed", mode="admin", status=200, err_code=1002)
    tl.connect(BOB)
    assert codes(diagnose_timeline(tl.finish(), CTX), None) == set()


# HANDSHAKE_REFUSED

def test_refused_ordinary_connect_carries_status_and_err_code() -> None:
    tl = TL()
    tl.connect(ALICE)
    tl(BOB, "login_ok", mode="admin")
    tl(BOB, "ws_refused", status=200, err_code=1501, err_msg="TokenExpiredError", body="{}")
    found = diagnose_timeline(tl.finish(), CTX)
    assert codes(found) == {"HANDSHAKE_REFUSED"}
    f = found[0]
    assert f.agent == BOB and "HTTP 200" in f.detail and "1501" in f.detail
    assert f.evidence[0].status == 200


def test_handshake_crash_on_the_no_token_probe_is_a_refused_handshake_with_status_500() -> None:
    tl = TL()
    tl.connect(ALICE)
    tl.probe("probe_no_token", "refused", 500)
    tl.probe("probe_wrong_token", "refused", 200, 1502)
    found = diagnose_timeline(tl.finish(), CTX)
    assert codes(found) == {"HANDSHAKE_REFUSED"}
    f = found[0]
    assert any(getattr(e, "status", None) == 500 for e in f.evidence)
    # which handshake and its answer, said once: in the title, on the probes' link
    assert "without a token" in f.title and "HTTP 500" in f.title and "HTTP 500" not in f.detail
    assert f.link == "auth_probes" and "valid token" in f.detail


def test_probe_that_gets_no_http_answer_is_a_crash_too() -> None:
    tl = TL()
    tl.probe("probe_no_token", "failed", None)
    found = diagnose_timeline(tl.finish(), CTX)
    assert codes(found) == {"HANDSHAKE_REFUSED"} and "no HTTP answer" in found[0].title


def test_proper_refusal_of_every_probe_is_healthy() -> None:
    tl = TL()
    tl.connect(ALICE)
    probes(tl)
    assert diagnose_timeline(tl.finish(), CTX) == []


def test_refused_connect_that_later_succeeds_is_only_a_warning() -> None:
    tl = TL()
    tl(BOB, "ws_refused", status=200, err_code=1501, err_msg="TokenExpiredError")
    tl.connect(BOB)
    found = diagnose_timeline(tl.finish(), CTX)
    assert [(f.code, f.severity) for f in found] == [("HANDSHAKE_REFUSED", Severity.WARNING)]


# UNAUTHENTICATED_ACCEPTED

def test_accepted_wrong_token_probe_is_unauthenticated_accepted() -> None:
    tl = TL()
    tl.probe("probe_no_token", "refused", 200, 1602)
    tl.probe("probe_wrong_token", "accepted", 101)
    found = diagnose_timeline(tl.finish(), CTX)
    assert codes(found) == {"UNAUTHENTICATED_ACCEPTED"}
    assert "forged token" in found[0].detail and "101" in found[0].detail


def test_the_probe_connection_closing_is_not_a_dropped_connection() -> None:
    tl = TL()
    tl("probe", "step_started", step="probe_no_token")
    tl("probe", "ws_open")
    tl("probe", "ws_closed", code=1006, reason="", by="server")
    tl("probe", "step_finished", step="probe_no_token", ok=True, outcome="refused", status=200,
       err_code=1602)
    assert diagnose_timeline(tl.finish(), CTX) == []


# HEARTBEAT_UNANSWERED

def test_pings_never_answered_are_an_error() -> None:
    tl = TL()
    tl.connect(ALICE)
    tl.heartbeat(ALICE, answered=False)
    tl.heartbeat(ALICE, answered=False)
    found = diagnose_timeline(tl.finish(), CTX)
    assert [(f.code, f.severity) for f in found] == [("HEARTBEAT_UNANSWERED", Severity.ERROR)]
    assert found[0].detail.startswith("2 ping(s)")


def test_one_missed_pong_among_answered_ones_is_a_warning() -> None:
    tl = TL()
    tl.heartbeat(ALICE)
    tl.heartbeat(ALICE, answered=False)
    found = diagnose_timeline(tl.finish(), CTX)
    assert [(f.code, f.severity) for f in found] == [("HEARTBEAT_UNANSWERED", Severity.WARNING)]


def test_answered_pings_and_a_passing_heartbeat_probe_are_healthy() -> None:
    tl = TL()
    tl.heartbeat(ALICE)
    tl(ALICE, "step_finished", step="heartbeat", ok=True, replies=1, sent=1)
    assert diagnose_timeline(tl.finish(), CTX) == []


def test_failed_heartbeat_probe_marker_alone_is_reported() -> None:
    tl = TL()
    tl(ALICE, "step_started", step="heartbeat")
    tl(ALICE, "step_finished", step="heartbeat", ok=False, replies=0, sent=2)
    assert codes(diagnose_timeline(tl.finish(), CTX)) == {"HEARTBEAT_UNANSWERED"}


# CONNECTION_DROPPED and KICKED_BY_OTHER_LOGIN

def test_server_close_is_a_dropped_connection_with_the_close_code_explained() -> None:
    tl = TL()
    tl.connect(ALICE)
    tl(ALICE, "frame_out", req_identifier=1003, msg_incr="7", size=60000, over_limit=True)
    tl(ALICE, "ws_closed", code=1009, reason="", by="server",
       explanation="message too big: the frame was over the server's 51200-byte limit")
    found = diagnose_timeline(tl.finish(), CTX)
    assert codes(found) == {"CONNECTION_DROPPED"}
    f = found[0]
    assert "1009" in f.detail and "51200" in f.detail
    assert [e.kind for e in f.evidence] == ["ws_closed", "frame_out"]


def test_close_after_missed_heartbeats_says_so() -> None:
    tl = TL()
    tl.connect(ALICE)
    tl.heartbeat(ALICE, answered=False)
    tl(ALICE, "ws_closed", code=1006, reason="", by="server", explanation="closed without a close frame")
    found = diagnose_timeline(tl.finish(), CTX)
    drop = next(f for f in found if f.code == "CONNECTION_DROPPED")
    assert "heartbeat" in drop.detail and "closed without a close frame" in drop.detail


def test_close_the_client_asked_for_or_after_logout_is_not_a_drop() -> None:
    tl = TL()
    tl.connect(ALICE)
    tl.connect(BOB)
    tl(ALICE, "ws_closed", code=1000, reason="", by="client")
    tl(BOB, "frame_out", req_identifier=2003, msg_incr="5", size=40)
    tl(BOB, "ws_closed", code=1006, reason="", by="server")
    assert diagnose_timeline(tl.finish(), CTX) == []


def test_kick_by_a_second_login_is_kicked_not_dropped() -> None:
    tl = TL()
    tl.connect(BOB)
    tl.connect("bob-phone", user="u_bob")
    tl(BOB, "kicked", by=2002)
    tl(BOB, "ws_closed", code=1006, reason="", by="server")
    found = diagnose_timeline(tl.finish(), CTX)
    assert codes(found) == {"KICKED_BY_OTHER_LOGIN"}
    assert found[0].agent == BOB and "bob-phone" in found[0].detail


def test_no_kick_no_kicked_finding() -> None:
    tl = TL()
    tl.connect(BOB)
    tl.connect("bob-phone", user="u_bob")
    assert codes(diagnose_timeline(tl.finish(), CTX), None) == set()


def test_server_logout_2003_is_a_dropped_connection_not_a_kick_by_another_login() -> None:
    tl = TL()
    tl.connect(BOB)
    tl(BOB, "kicked", by="2003", text="the server logged this connection out")
    tl(BOB, "ws_closed", code=1006, reason="", by="server")
    found = diagnose_timeline(tl.finish(), CTX)
    assert codes(found) == {"CONNECTION_DROPPED"} and "logged it out (2003)" in found[0].detail


def test_unreachable_auth_api_is_a_login_failure_in_words_not_http_0() -> None:
    tl = TL()
    tl(ALICE, "login_failed", mode="admin", status=0, err_code=0, err_msg="",
       reason="connection refused: http://127.0.0.1:10002", user_id="u_alice")
    found = diagnose_timeline(tl.finish(), CTX)
    assert codes(found) == {"LOGIN_FAILED"}
    assert "connection refused" in found[0].detail and "HTTP 0" not in found[0].detail


def test_a_password_backends_login_failure_speaks_of_its_server_not_of_an_auth_api() -> None:
    for backend in ("socketio", "rooms"):
        refused = TL()
        refused("", "run_started", backend=backend)
        refused(ALICE, "login_failed", mode="password", status=401, err_msg="Incorrect username or password")
        [f] = diagnose_timeline(refused.finish(), CTX)
        assert "--register" in f.hint and "--api" not in f.hint and "errCode" not in f.hint, (backend, f.hint)
        silent = TL()
        silent("", "run_started", backend=backend)
        silent(ALICE, "login_failed", mode="password", status=0, reason="connection refused")
        [g] = diagnose_timeline(silent.finish(), CTX)
        assert "--server" in g.hint and "--api" not in g.hint and "nothing answered" in g.title, (backend, g)
    kkim = TL()
    kkim(ALICE, "login_failed", mode="admin", status=0, reason="connection refused")
    [k] = diagnose_timeline(kkim.finish(), CTX)
    assert "--api" in k.hint
