"""diagnose_timeline as a whole: every code reachable, JSON round trips, first broken link."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from callprobe.analysis.diagnostics import (
    CATALOGUE,
    CODES,
    RULES,
    Finding,
    diagnose_timeline,
    first_broken_link,
)
from callprobe.analysis.diagnostics.findings import Severity, make_finding
from callprobe.analysis.diagnostics.links import LINK_ORDER, Link
from callprobe.timeline.events import Event, event_from_json
from tests.analysis.diagnostics.timeline_fakes import (
    ALICE,
    BOB,
    CTX,
    TL,
    healthy_walk,
    probes,
)


def _call(tl: TL, **invite: object) -> None:
    tl.connect(ALICE)
    tl.connect(BOB)
    tl.text(ALICE, BOB)
    tl.invite(**invite)  # type: ignore[arg-type]


def login_failed(tl: TL) -> None:
    tl(BOB, "login_failed", mode="admin", status=200, err_code=1002)


def handshake_crash(tl: TL) -> None:
    tl.probe("probe_no_token", "refused", 500)


def unauthenticated(tl: TL) -> None:
    tl.probe("probe_no_token", "accepted", 101)


def heartbeat(tl: TL) -> None:
    tl.connect(ALICE)
    tl.heartbeat(ALICE, answered=False)


def dropped(tl: TL) -> None:
    tl.connect(ALICE)
    tl(ALICE, "ws_closed", code=1006, reason="", by="server")


def kicked(tl: TL) -> None:
    tl.connect(BOB)
    tl.connect("bob-2", user="u_bob")
    tl(BOB, "kicked", by=2002)


def push_broken(tl: TL) -> None:
    tl.connect(ALICE)
    tl.connect(BOB)
    tl.text(ALICE, BOB, pushed=False)


def invite_refused(tl: TL) -> None:
    tl.connect(ALICE)
    tl.invite(refused=1004)


def invite_lost(tl: TL) -> None:
    _call(tl, rang=False)


def invite_malformed(tl: TL) -> None:
    _call(tl, ring_fields={"room_id": ""})


def room_mismatch(tl: TL) -> None:
    _call(tl, ring_room="r-x")


def answer_lost(tl: TL) -> None:
    _call(tl)
    tl.accept(delivered=False)


def sdp_lost(tl: TL) -> None:
    _call(tl)
    tl.accept()
    tl.sdp(offer=False)


def signals_lost_one_way(tl: TL) -> None:
    _call(tl)
    tl.accept()
    tl.sdp(lost_to=BOB)
    tl.ice()  # connected anyway: bob learned alice's address from her checks
    tl.media()
    tl.hangup()
    tl.close_all(ALICE, BOB)


def ice_failed(tl: TL) -> None:
    _call(tl)
    tl.accept()
    tl.sdp()
    tl.ice(ok=False)


TURN_SERVER = {"urls": ["turn:198.51.100.1:3478?transport=udp"], "username": "probe"}


def no_candidates(tl: TL) -> None:
    _call(tl)
    tl.accept()
    tl.sdp(relay_only=True, local=())
    tl.ice(ok=False)


def turn_unavailable(tl: TL) -> None:
    _call(tl)
    tl.accept()
    tl.sdp(ice_servers=[TURN_SERVER])
    for me in (ALICE, BOB):
        tl(me, "turn_probe", url=TURN_SERVER["urls"][0], verdict="turn-auth-failed", ok=False,
           detail="TURN authentication failed (401 Unauthorized)", error_code=401)
    tl.ice(ok=False)


def no_media(tl: TL) -> None:
    _call(tl)
    tl.accept()
    tl.sdp()
    tl.ice()
    tl.media(video=0, audio=0)


def hangup_lost(tl: TL) -> None:
    _call(tl)
    tl.accept()
    tl.hangup(delivered=False)


def history_stripped(tl: TL) -> None:
    tl.history(complete=False)


def stale(tl: TL) -> None:
    _call(tl)
    tl.accept()
    tl.hangup()
    tl.invite(room="r2", refused=1802, busy=["u_bob"])


def acked_offline(tl: TL) -> None:
    tl.connect(ALICE)
    tl.connect(BOB)
    tl(ALICE, "presence", user="u_bob", status="online")
    tl.text(ALICE, BOB)
    tl(ALICE, "invite_sent", callees=["u_bob"], media="video", id_type="string")
    tl(ALICE, "invite_acked", room_id="c1", server_room_id="c1", status="offline")


def id_type_decides(tl: TL) -> None:
    acked_offline(tl)
    tl(ALICE, "cancel_sent", room_id="c1")
    tl(ALICE, "invite_sent", callees=["u_bob"], media="video", id_type="int")
    tl(ALICE, "invite_acked", room_id="c2", server_room_id="c2", status="ringing")
    tl(BOB, "ringing", room_id="c2", inviter="u_alice", media="video", via="call_invitation")


def join_lost(tl: TL) -> None:
    _call(tl)
    tl.accept()
    tl.enter_room(BOB)
    tl.enter_room(ALICE, users=["u_bob", "u_alice"])  # no join to bob, who was there first


def default_identity(tl: TL) -> None:
    tl("probe", "step_started", step="probe_no_token")
    tl("probe", "step_finished", step="probe_no_token", ok=True, outcome="accepted", status=101,
       identity="test-user-r1", claimed="")


def conversation_leak(tl: TL) -> None:
    tl.conversation_probe(leaked=True)


def forged_invite(tl: TL) -> None:
    tl.connect(ALICE)
    tl.connect(BOB)
    tl.forged_invite_probe(relayed=True)


BROKEN: dict[str, Callable[[TL], None]] = {
    "LOGIN_FAILED": login_failed,
    "HANDSHAKE_REFUSED": handshake_crash,
    "UNAUTHENTICATED_ACCEPTED": unauthenticated,
    "HEARTBEAT_UNANSWERED": heartbeat,
    "CONNECTION_DROPPED": dropped,
    "KICKED_BY_OTHER_LOGIN": kicked,
    "PUSH_PATH_BROKEN": push_broken,
    "INVITE_REJECTED_BY_SERVER": invite_refused,
    "INVITE_NOT_DELIVERED": invite_lost,
    "INVITE_MALFORMED": invite_malformed,
    "ROOM_ID_MISMATCH": room_mismatch,
    "ANSWER_NOT_DELIVERED": answer_lost,
    "SDP_NOT_RELAYED": sdp_lost,
    "ICE_FAILED": ice_failed,
    "NO_LOCAL_CANDIDATES": no_candidates,
    "TURN_UNAVAILABLE": turn_unavailable,
    "MEDIA_NOT_FLOWING": no_media,
    "HANGUP_NOT_DELIVERED": hangup_lost,
    "HISTORY_PAYLOAD_MISSING": history_stripped,
    "STALE_CALL_STATE": stale,
    "INVITE_ACKED_OFFLINE": acked_offline,
    "ID_TYPE_DECIDES_DELIVERY": id_type_decides,
    "JOIN_NOTICE_MISSING": join_lost,
    "DEFAULT_IDENTITY": default_identity,
    "CONVERSATION_LEAK": conversation_leak,
    "FORGED_INVITE_RELAYED": forged_invite,
}


#: Codes that are warnings by design: a timeline that yields each (and nothing worse).
WARNED: dict[str, Callable[[TL], None]] = {
    "SIGNALS_LOST": signals_lost_one_way,
}


def broken(code: str) -> list[Event]:
    tl = TL()
    BROKEN[code](tl)
    return tl.finish()


def test_catalogue_has_exactly_the_stable_codes_each_with_words_and_a_link() -> None:
    assert set(CODES) == set(BROKEN) | set(WARNED)
    for code, info in CATALOGUE.items():
        assert info.title and info.hint and info.link.value in LINK_ORDER, code


@pytest.mark.parametrize("code", sorted(BROKEN))
def test_each_broken_timeline_yields_its_code_as_the_first_broken_link(code: str) -> None:
    found = diagnose_timeline(broken(code), CTX)
    first = first_broken_link(found)
    assert first is not None and first.code == code
    assert first.evidence and first.at_ms is not None
    # a probe that crashed the handshake says so in its title; every other finding has the catalogue's
    assert first.title == ("A probe handshake without a token was answered with HTTP 500"
                           if code == "HANDSHAKE_REFUSED" else CATALOGUE[code].title)


@pytest.mark.parametrize("code", sorted(WARNED))
def test_each_warning_timeline_yields_its_code_and_no_error(code: str) -> None:
    tl = TL()
    WARNED[code](tl)
    found = diagnose_timeline(tl.finish(), CTX)
    assert [f.code for f in found if f.severity is Severity.WARNING] == [code]
    assert first_broken_link(found) is None


@pytest.mark.parametrize("code", sorted(BROKEN))
def test_json_round_trip_of_the_events_gives_the_same_findings(code: str) -> None:
    events = broken(code)
    live = diagnose_timeline(events, CTX)
    text = json.dumps([e.to_json() for e in events])
    loaded = [event_from_json(obj) for obj in json.loads(text)]
    again = diagnose_timeline(loaded, CTX)
    assert [f.to_json() for f in again] == [f.to_json() for f in live]
    assert again == live


def test_finding_json_round_trip() -> None:
    f = diagnose_timeline(broken("ICE_FAILED"), CTX)[0]
    obj = json.loads(json.dumps(f.to_json()))
    assert obj["code"] == "ICE_FAILED" and obj["severity"] == "error" and obj["link"] == "ice"
    assert Finding.from_json(obj) == f


def test_healthy_walk_yields_no_error_findings_and_no_first_broken_link() -> None:
    found = diagnose_timeline(healthy_walk(), CTX)
    assert [f for f in found if f.severity is Severity.ERROR] == []
    assert first_broken_link(found) is None


def test_first_broken_link_is_the_earliest_link_not_the_earliest_time() -> None:
    tl = TL()
    _call(tl)
    tl.accept(delivered=False)                        # answer link, early in time
    tl(BOB, "ws_refused", status=200, err_code=1501)  # handshake link, later in time
    found = diagnose_timeline(tl.finish(), CTX)
    assert [f.code for f in found] == ["ANSWER_NOT_DELIVERED", "HANDSHAKE_REFUSED"]  # by time
    first = first_broken_link(found)
    assert first is not None and first.code == "HANDSHAKE_REFUSED"


def test_warnings_never_lead_as_first_broken_link() -> None:
    w = make_finding("INVITE_NOT_DELIVERED", (), at_ms=1.0, severity=Severity.WARNING)
    e = make_finding("HISTORY_PAYLOAD_MISSING", (), at_ms=9.0)
    assert first_broken_link([w, e]) is e
    assert first_broken_link([w]) is None


def test_rules_run_on_a_recorded_file_without_any_context(tmp_path: object) -> None:
    tl = TL()
    probes(tl)
    tl.probe("probe_other_user", "accepted", 101)
    path = tl.finish()
    text = "\n".join(json.dumps(e.to_json()) for e in path)
    events = [event_from_json(json.loads(line)) for line in text.splitlines()]
    found = diagnose_timeline(events)
    assert [f.code for f in found] == ["UNAUTHENTICATED_ACCEPTED"]
    assert "another user's token" in found[0].detail


def test_registry_covers_every_link_that_has_a_code() -> None:
    linked = {info.link for info in CATALOGUE.values()}
    assert linked <= set(Link)
    assert len(RULES) >= len(linked)
    assert all(callable(fn) for fn in RULES.values())


def test_rules_are_pure_and_do_not_touch_the_event_list() -> None:
    events = broken("STALE_CALL_STATE")
    before = [e.to_json() for e in events]
    diagnose_timeline(events, CTX)
    diagnose_timeline(list(reversed(events)), CTX)  # order of the input list does not matter
    assert [e.to_json() for e in events] == before
    assert diagnose_timeline(list(reversed(events)), CTX) == diagnose_timeline(events, CTX)


def test_empty_timeline_has_no_findings_and_findings_are_hashable() -> None:
    assert diagnose_timeline([]) == []
    found = diagnose_timeline(broken("ICE_FAILED"), CTX)
    assert len(set(found)) == len(found) == 2
