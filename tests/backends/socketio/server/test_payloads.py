"""Event payloads checked into typed values, without a server."""

from __future__ import annotations

import pytest

from callprobe.backends.socketio.server.payloads import (
    BadPayload,
    Invitation,
    SendMessage,
    Signal,
    parse_invitation,
    parse_response,
    parse_send_message,
    parse_signal,
)


def test_ids_may_be_integers_or_decimal_strings() -> None:
    assert parse_send_message([{"target_user_id": "7", "message": "m"}], 10) == SendMessage(7, "m", "text")
    assert parse_invitation([{"target_user_id": "7"}]) == Invitation(7, "7", "video")
    assert parse_invitation([{"target_user_id": 7, "call_type": "audio"}]).raw_target == 7


@pytest.mark.parametrize("bad", [True, 1.0, "7.0", " 7", "1" * 19, 10**18, None, [7], {"id": 7}])
def test_other_ids_are_refused(bad: object) -> None:
    with pytest.raises(BadPayload, match="target_user_id must be an integer user id"):
        parse_invitation([{"target_user_id": bad}])


def test_signal_data_is_passed_through() -> None:
    data = {"candidate": "candidate:1 1 udp 1 127.0.0.1 9 typ host", "sdpMid": "0"}
    assert parse_signal([{"call_id": "c", "target_user_id": 2, "signal_type": "candidate", "data": data}]) == \
        Signal("c", 2, "candidate", data)


@pytest.mark.parametrize(("args", "error"), [
    ([], "payload missing"),
    (["x"], "not a string"),
    ([{"call_id": "c", "accepted": 1}], "accepted must be true or false, not a number"),
    ([{"call_id": "c" * 65, "accepted": True}], "call_id longer than 64"),
    ([{"call_id": "\udc00", "accepted": True}], "lone surrogate"),
    ([{"accepted": True}], "call_id is required"),
])
def test_response_refusals(args: list[object], error: str) -> None:
    with pytest.raises(BadPayload, match=error):
        parse_response(args)
