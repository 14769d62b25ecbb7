"""SQLite storage: users, messages (with their ``extra_data``) and calls.

Every write commits before the server acknowledges it, so with a database file
nothing acknowledged is lost across a restart; without a file the database
lives in memory. A call is two rows written in one transaction: its invitation
(a ``system`` message whose ``extra_data.call_invitation`` carries the status)
and a ``calls`` row for the state machine. A status change rewrites both.

All calls run on the server's event loop thread; statements are short (WAL
journal, ``synchronous=NORMAL``: a process crash loses nothing committed).
Every string reaching this module has been checked to encode as UTF-8.
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from callprobe.backends.database import open_database
from callprobe.backends.socketio.server.calls import Call, Status

_SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    id INTEGER PRIMARY KEY AUTOINCREMENT, username TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL, created_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT, sender_id INTEGER NOT NULL,
    receiver_id INTEGER NOT NULL, message TEXT NOT NULL, message_type TEXT NOT NULL,
    extra_data TEXT, is_read INTEGER NOT NULL DEFAULT 0, created_at TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS messages_by_pair ON messages (sender_id, receiver_id, id);
CREATE TABLE IF NOT EXISTS calls (
    call_id TEXT PRIMARY KEY, message_id INTEGER NOT NULL, caller_id INTEGER NOT NULL,
    callee_id INTEGER NOT NULL, caller_name TEXT NOT NULL, call_type TEXT NOT NULL,
    status TEXT NOT NULL, rang INTEGER NOT NULL, created REAL NOT NULL);
CREATE INDEX IF NOT EXISTS calls_by_status ON calls (status);
"""

_MESSAGE_COLUMNS = "id, sender_id, receiver_id, message, message_type, extra_data, is_read, created_at"
_CALL_COLUMNS = "call_id, caller_id, callee_id, caller_name, call_type, status, rang, created, message_id"


@dataclass(frozen=True)
class User:
    id: int
    username: str

    def public(self) -> dict[str, Any]:
        return {"id": self.id, "username": self.username}


class UsernameTaken(Exception):
    """``register`` of a username that exists."""


def now_iso() -> str:
    """``created_at``: ISO 8601 in UTC, microseconds, explicit offset."""
    return datetime.now(UTC).isoformat()


class Store:
    """The server's persistent state; ``path=None`` keeps it in memory."""

    def __init__(self, path: str | None = None) -> None:
        """Open (or create) the database; ``ConfigError`` naming the path if unusable."""
        self.path = path
        self._db = open_database(path, _SCHEMA, "chat server", self._verify)

    def _verify(self, db: sqlite3.Connection) -> None:
        self._users = {int(i): User(int(i), str(name)) for i, name in db.execute("SELECT id, username FROM users")}
        db.execute(f"SELECT {_CALL_COLUMNS} FROM calls LIMIT 0")
        db.execute(f"SELECT {_MESSAGE_COLUMNS} FROM messages LIMIT 0")

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One atomic write: committed on leaving, rolled back on an exception."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # ------------------------------------------------------------- users

    def add_user(self, username: str, password_hash: str) -> User:
        """A new user with the next integer id; ``UsernameTaken`` if the name exists."""
        try:
            with self._transaction() as db:
                cur = db.execute("INSERT INTO users (username, password_hash, created_at) VALUES (?, ?, ?)",
                                 (username, password_hash, now_iso()))
        except sqlite3.IntegrityError:
            raise UsernameTaken(username) from None
        assert cur.lastrowid is not None
        user = User(cur.lastrowid, username)
        self._users[user.id] = user
        return user

    def user(self, user_id: int) -> User | None:
        return self._users.get(user_id)

    def credentials(self, username: str) -> tuple[User, str] | None:
        """The user called ``username`` and its stored password hash."""
        row = self._db.execute("SELECT id, password_hash FROM users WHERE username = ?", (username,)).fetchone()
        if row is None:
            return None
        return self._users[int(row[0])], str(row[1])

    # ---------------------------------------------------------- messages

    def add_message(self, sender_id: int, receiver_id: int, text: str, message_type: str) -> dict[str, Any]:
        """Store a message (``extra_data`` null) and return its row."""
        with self._transaction() as db:
            message_id = self._insert_message(db, sender_id, receiver_id, text, message_type, None)
        return self.message(message_id)

    def _insert_message(self, db: sqlite3.Connection, sender_id: int, receiver_id: int, text: str,
                        message_type: str, extra: dict[str, Any] | None) -> int:
        cur = db.execute(
            "INSERT INTO messages (sender_id, receiver_id, message, message_type, extra_data, is_read, "
            "created_at) VALUES (?, ?, ?, ?, ?, 0, ?)",
            (sender_id, receiver_id, text, message_type, None if extra is None else json.dumps(extra),
             now_iso()))
        assert cur.lastrowid is not None
        return cur.lastrowid

    def message(self, message_id: int) -> dict[str, Any]:
        row = self._db.execute(f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE id = ?", (message_id,)).fetchone()
        return _message_row(row)

    def history(self, user_id: int, peer_id: int, page: int, limit: int) -> tuple[list[dict[str, Any]], int]:
        """Page ``page`` of the conversation of two users, ``limit`` rows, and the total.

        Page 1 holds the newest ``limit`` rows; every page lists its rows oldest first.
        """
        pair = (user_id, peer_id, peer_id, user_id)
        where = "(sender_id = ? AND receiver_id = ?) OR (sender_id = ? AND receiver_id = ?)"
        total = int(self._db.execute(f"SELECT COUNT(*) FROM messages WHERE {where}", pair).fetchone()[0])
        offset = (page - 1) * limit
        if offset >= total:
            return [], total
        rows = self._db.execute(
            f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE {where} ORDER BY id DESC LIMIT ? OFFSET ?",
            (*pair, limit, offset)).fetchall()
        return [_message_row(row) for row in reversed(rows)], total

    # ------------------------------------------------------------- calls

    def add_call(self, call: Call, text: str) -> tuple[Call, dict[str, Any]]:
        """Store a call and its invitation message together; return both as stored."""
        with self._transaction() as db:
            message_id = self._insert_message(db, call.caller_id, call.callee_id, text, "system",
                                              {"call_invitation": call.invitation()})
            db.execute(f"INSERT INTO calls ({_CALL_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                       (call.call_id, call.caller_id, call.callee_id, call.caller_name, call.call_type,
                        str(call.status), int(call.rang), call.created, message_id))
        stored = dataclasses.replace(call, message_id=message_id)
        return stored, self.message(message_id)

    def set_call_status(self, call: Call) -> None:
        """Write ``call.status`` to its row and its invitation's ``extra_data``, atomically."""
        extra = json.dumps({"call_invitation": call.invitation()})
        with self._transaction() as db:
            db.execute("UPDATE calls SET status = ? WHERE call_id = ?", (str(call.status), call.call_id))
            db.execute("UPDATE messages SET extra_data = ? WHERE id = ?", (extra, call.message_id))

    def call(self, call_id: str) -> Call | None:
        row = self._db.execute(f"SELECT {_CALL_COLUMNS} FROM calls WHERE call_id = ?", (call_id,)).fetchone()
        return None if row is None else _call_row(row)

    def open_calls(self) -> list[Call]:
        """Calls still pending or accepted, to rebuild the busy rule and ring timers at start."""
        rows = self._db.execute(f"SELECT {_CALL_COLUMNS} FROM calls WHERE status IN (?, ?)",
                                (str(Status.PENDING), str(Status.ACCEPTED))).fetchall()
        return [_call_row(row) for row in rows]


def _message_row(row: tuple[Any, ...]) -> dict[str, Any]:
    """A messages row as the API and the ``message`` event carry it."""
    message_id, sender_id, receiver_id, text, message_type, extra, is_read, created_at = row
    return {"id": message_id, "sender_id": sender_id, "receiver_id": receiver_id, "message": text,
            "message_type": message_type, "extra_data": None if extra is None else json.loads(extra),
            "is_read": bool(is_read), "created_at": created_at}


def _call_row(row: tuple[Any, ...]) -> Call:
    call_id, caller_id, callee_id, caller_name, call_type, status, rang, created, message_id = row
    return Call(call_id=call_id, caller_id=int(caller_id), callee_id=int(callee_id), caller_name=caller_name,
                call_type=call_type, status=Status(status), rang=bool(rang), created=float(created),
                message_id=int(message_id))
