"""The reasons recorded with PEER_FAILED."""

from __future__ import annotations

import pytest

from callprobe.rtc import diagnosis as d


@pytest.mark.parametrize("local, remote, relay_only, turn, ice_state, reason", [
    ((), (), True, False, "new", d.NO_LOCAL_RELAY_ONLY),
    ((), ("host",), True, True, "new", d.TURN_ALLOCATION_FAILED),
    ((), ("host",), False, False, "new", d.NO_LOCAL_CANDIDATES),
    (("host",), (), False, False, "checking", d.NO_REMOTE_CANDIDATES),
    (("host",), ("host",), False, False, "completed", d.DTLS_NOT_CONNECTED),
    (("host", "srflx"), ("host", "srflx"), False, False, "checking", d.CONFIGURE_TURN),
    (("host", "srflx"), ("host",), False, True, "failed", d.TURN_ALLOCATION_FAILED),
    (("host", "relay"), ("host", "relay"), False, True, "checking", d.RELAY_FAILED),
    (("host",), ("relay",), False, False, "failed", d.RELAY_FAILED),
])
def test_connect_failure_reasons(local: tuple[str, ...], remote: tuple[str, ...], relay_only: bool,
                                 turn: bool, ice_state: str, reason: str) -> None:
    assert d.explain_connect_failure(local_types=local, remote_types=remote, relay_only=relay_only,
                                     turn_configured=turn, ice_state=ice_state) == reason


def test_configure_turn_wording_matches_the_field_report() -> None:
    assert d.CONFIGURE_TURN == "no relay candidates: configure TURN"


def test_media_failure_reasons() -> None:
    assert d.explain_media_failure("video", 0) == "no video packets received"
    assert d.explain_media_failure("audio", 12) == "audio packets received (12) but no frame decoded"
