"""SQLite storage, without a server: ids, paging, call rows, reopening a file."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from callprobe.backends.socketio.server.calls import Call, Status
from callprobe.backends.socketio.server.store import Store, UsernameTaken


def new_call(caller: int, callee: int) -> Call:
    return Call(call_id="c1", caller_id=caller, callee_id=callee, caller_name="alice", call_type="audio",
                status=Status.PENDING, rang=True, created=1.0)


def test_users_get_consecutive_ids_and_unique_names() -> None:
    store = Store()
    assert [store.add_user(name, "h").id for name in ("a", "b")] == [1, 2]
    with pytest.raises(UsernameTaken):
        store.add_user("a", "h")
    assert store.credentials("b") == (store.user(2), "h") and store.credentials("zz") is None


def test_history_pages_count_from_the_newest() -> None:
    store = Store()
    for n in range(5):
        store.add_message(1 + n % 2, 2 - n % 2, f"m{n}", "text")
    store.add_message(1, 3, "elsewhere", "text")
    rows, total = store.history(2, 1, page=1, limit=3)
    assert [r["message"] for r in rows] == ["m2", "m3", "m4"] and total == 5
    assert [r["message"] for r in store.history(1, 2, page=2, limit=3)[0]] == ["m0", "m1"]
    assert store.history(1, 2, page=10**17, limit=100) == ([], 5)


def test_call_status_rewrites_the_invitation(tmp_path: Path) -> None:
    path = str(tmp_path / "chat.db")
    store = Store(path)
    call, row = store.add_call(new_call(1, 2), "alice invites you to a audio call")
    assert row["extra_data"]["call_invitation"]["status"] == "pending" and call.message_id == row["id"]
    store.set_call_status(dataclasses.replace(call, status=Status.ACCEPTED))
    store.close()
    reopened = Store(path)
    assert reopened.open_calls() == [dataclasses.replace(call, status=Status.ACCEPTED)]
    assert reopened.message(row["id"])["extra_data"]["call_invitation"]["status"] == "accepted"
    reopened.set_call_status(dataclasses.replace(call, status=Status.ENDED))
    assert reopened.open_calls() == [] and reopened.call("c1") is not None
