"""The payload helpers, pure: dotted paths, id types, tolerant reads, the invitation checklist."""

from __future__ import annotations

import json

from callprobe.backends.socketio.config import SocketioOptions
from callprobe.backends.socketio.protocol import Payloads, first_arg, get, id_text, missing_parts, put, wire_id


def test_dotted_paths_read_and_write_nested_objects() -> None:
    obj: dict[str, object] = {}
    put(obj, "data.user.id", 7)
    put(obj, "data.token", "t")
    assert obj == {"data": {"user": {"id": 7}, "token": "t"}}
    assert get(obj, "data.user.id") == 7 and get(obj, "data.nope") is None and get([1], "a") is None


def test_ids_go_out_as_the_deployment_sends_them_and_come_back_as_text() -> None:
    assert (wire_id("7", "int"), wire_id("7", "string"), wire_id("u-7", "int")) == (7, "7", "u-7")
    assert (id_text(7), id_text("7"), id_text(7.0), id_text(True), id_text(None)) == ("7", "7", "7", "", "")


def test_an_acknowledgement_is_its_one_argument_or_all_of_them() -> None:
    assert (first_arg([]), first_arg([{"ok": True}]), first_arg(["a", "b"])) == (None, {"ok": True}, ["a", "b"])


def test_a_row_with_extra_data_as_text_or_missing_is_read_without_error() -> None:
    p = Payloads(SocketioOptions())
    inv = {"call_id": "c1", "room_name": "call-c1", "caller_id": "1", "caller_name": "a", "call_type": "video",
           "status": "pending"}
    text = p.row({"id": 1, "sender_id": 1, "receiver_id": 2, "message": "x", "message_type": "system",
                  "extra_data": json.dumps({"call_invitation": inv})})
    assert text is not None and text.invitation is not None and text.invitation.caller_id == "1"
    bare = p.row({"id": 2, "sender_id": 1, "receiver_id": 2, "message": "x", "message_type": "system",
                  "extra_data": None})
    assert bare is not None and bare.invitation is None and bare.raw_invitation is None
    assert p.row({"message": "no sender"}) is None and p.row("not a row") is None


def test_the_history_checklist_names_what_a_stored_invitation_lacks() -> None:
    p = Payloads(SocketioOptions())
    whole = {"call_id": "c1", "room_name": "r", "caller_id": 1, "caller_name": "a", "call_type": "audio",
             "status": "ended"}
    assert missing_parts(p, whole) == []
    assert missing_parts(p, {**whole, "room_name": "", "status": None}) == ["room_name", "status"]
    assert missing_parts(p, None) == ["extra_data.call_invitation"]
    assert missing_parts(p, json.dumps(whole)) == []
