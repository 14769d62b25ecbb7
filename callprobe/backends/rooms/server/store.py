"""SQLite storage of users and calls (``docs/backends/rooms.md#durability``).

With a database file, every write is committed before the server replies
(autocommit; WAL journal, ``synchronous=NORMAL``: a killed process loses
nothing it answered), so users and calls survive a restart; without one the
database lives in memory. Ids are SQLite ``AUTOINCREMENT`` keys: never reused,
even after a restart. All calls run on the server's event loop thread and are
short, so one connection serves the whole server.
"""

from __future__ import annotations

import sqlite3
import uuid as uuidlib
from dataclasses import dataclass
from typing import Any

from callprobe.backends.database import open_database
from callprobe.backends.rooms.server.calls import BUSY, Status

_SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    id INTEGER PRIMARY KEY AUTOINCREMENT, uuid TEXT NOT NULL UNIQUE,
    username TEXT NOT NULL UNIQUE, password_hash TEXT NOT NULL, created_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS calls (
    id INTEGER PRIMARY KEY AUTOINCREMENT, uuid TEXT NOT NULL UNIQUE,
    caller_id INTEGER NOT NULL, callee_id INTEGER NOT NULL, call_type TEXT NOT NULL,
    status TEXT NOT NULL, created_at REAL NOT NULL, updated_at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS calls_by_status ON calls (status);
"""

_CALL_COLUMNS = "id, uuid, caller_id, callee_id, call_type, status, created_at, updated_at"

#: the largest integer SQLite stores; ids from clients beyond it name nobody
MAX_ID = 2**63 - 1


@dataclass(frozen=True)
class User:
    id: int
    uuid: str
    username: str

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "uuid": self.uuid, "username": self.username}


@dataclass(frozen=True)
class Call:
    id: int
    uuid: str
    caller_id: int
    callee_id: int
    call_type: str
    status: Status
    created_at: float
    updated_at: float

    def to_json(self) -> dict[str, Any]:
        """The call as every endpoint returns it."""
        return {"id": self.id, "uuid": self.uuid, "caller_id": self.caller_id,
                "callee_id": self.callee_id, "call_type": self.call_type, "status": self.status.value}

    def party(self, user_id: int | str) -> bool:
        return user_id in (self.caller_id, self.callee_id)


class UsernameTaken(Exception):
    pass


def _call(row: tuple[Any, ...]) -> Call:
    return Call(int(row[0]), str(row[1]), int(row[2]), int(row[3]), str(row[4]), Status(row[5]),
                float(row[6]), float(row[7]))

def _verify(db: sqlite3.Connection) -> None:
    db.execute(f"SELECT {_CALL_COLUMNS} FROM calls LIMIT 1").fetchall()
    db.execute("SELECT id, uuid, username, password_hash FROM users LIMIT 1").fetchall()


class Store:
    """Users and calls; ``path=None`` keeps them in memory."""

    def __init__(self, path: str | None = None) -> None:
        """Open (or create) the database; ``ConfigError`` naming the path if unusable."""
        self.path = path
        self._db = open_database(path, _SCHEMA, "call-room server", _verify)

    def close(self) -> None:
        self._db.close()

    # users

    def add_user(self, username: str, password_hash: str, now: float) -> User:
        """Create a user; ``UsernameTaken`` if the name exists."""
        user_uuid = str(uuidlib.uuid4())
        try:
            cur = self._db.execute("INSERT INTO users (uuid, username, password_hash, created_at) "
                                   "VALUES (?, ?, ?, ?)", (user_uuid, username, password_hash, now))
        except sqlite3.IntegrityError:
            raise UsernameTaken(username) from None
        assert cur.lastrowid is not None
        return User(cur.lastrowid, user_uuid, username)

    def user(self, user_id: int) -> User | None:
        if not 0 < user_id <= MAX_ID:
            return None
        row = self._db.execute("SELECT id, uuid, username FROM users WHERE id = ?", (user_id,)).fetchone()
        return User(int(row[0]), str(row[1]), str(row[2])) if row else None

    def credentials(self, username: str) -> tuple[User, str] | None:
        """The user called ``username`` and its stored password hash."""
        row = self._db.execute("SELECT id, uuid, username, password_hash FROM users WHERE username = ?",
                               (username,)).fetchone()
        return (User(int(row[0]), str(row[1]), str(row[2])), str(row[3])) if row else None

    # calls

    def add_call(self, caller_id: int, callee_id: int, call_type: str, now: float) -> Call:
        call_uuid = str(uuidlib.uuid4())
        cur = self._db.execute(
            "INSERT INTO calls (uuid, caller_id, callee_id, call_type, status, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (call_uuid, caller_id, callee_id, call_type, Status.INITIATED.value, now, now))
        assert cur.lastrowid is not None
        return Call(cur.lastrowid, call_uuid, caller_id, callee_id, call_type, Status.INITIATED, now, now)

    def call(self, call_uuid: str) -> Call | None:
        row = self._db.execute(f"SELECT {_CALL_COLUMNS} FROM calls WHERE uuid = ?", (call_uuid,)).fetchone()
        return _call(row) if row else None

    def set_status(self, call: Call, status: Status, now: float) -> Call:
        self._db.execute("UPDATE calls SET status = ?, updated_at = ? WHERE id = ?", (status.value, now, call.id))
        return Call(call.id, call.uuid, call.caller_id, call.callee_id, call.call_type, status,
                    call.created_at, now)

    def busy_call(self, *user_ids: int) -> Call | None:
        """A call in a busy status naming any of ``user_ids`` as caller or callee."""
        marks = ",".join("?" * len(user_ids))
        states = ",".join("?" * len(BUSY))
        row = self._db.execute(
            f"SELECT {_CALL_COLUMNS} FROM calls WHERE status IN ({states}) "
            f"AND (caller_id IN ({marks}) OR callee_id IN ({marks})) LIMIT 1",
            (*(s.value for s in BUSY), *user_ids, *user_ids)).fetchone()
        return _call(row) if row else None

    def incoming(self, callee_id: int) -> list[Call]:
        """Initiated calls naming ``callee_id`` as callee, newest first."""
        rows = self._db.execute(f"SELECT {_CALL_COLUMNS} FROM calls WHERE status = ? AND callee_id = ? "
                                "ORDER BY id DESC", (Status.INITIATED.value, callee_id)).fetchall()
        return [_call(row) for row in rows]

    def ringing(self) -> list[Call]:
        """Every initiated call, oldest first: their ring timers restart with the server."""
        rows = self._db.execute(f"SELECT {_CALL_COLUMNS} FROM calls WHERE status = ? ORDER BY id",
                                (Status.INITIATED.value,)).fetchall()
        return [_call(row) for row in rows]
