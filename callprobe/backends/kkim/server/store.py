"""SQLite storage: users, tokens, messages with per-conversation seq, call records.

Every write is committed before the gateway acknowledges it, so with a
database file nothing acknowledged is lost across a restart (docs/backends/kkim.md#history).
Without a file the database lives in memory. Seq is assigned synchronously
here, unlike upstream's asynchronous transfer (docs/backends/kkim.md#messages): the pushed copy
and any later pull agree at once.

All calls run on the gateway's event loop thread; SQLite calls are short
(WAL journal, ``synchronous=NORMAL``: a process crash loses nothing committed).
"""

from __future__ import annotations

import json
import os
import sqlite3
from dataclasses import dataclass

from callprobe.backends.kkim.protocol._pb.openim import sdkws_pb2
from callprobe.errors import ConfigError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    user_id TEXT PRIMARY KEY, nickname TEXT NOT NULL, face_url TEXT NOT NULL,
    created_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS tokens (
    token TEXT PRIMARY KEY, user_id TEXT NOT NULL, platform_id INTEGER NOT NULL,
    state INTEGER NOT NULL, expires INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS tokens_by_user ON tokens (user_id, platform_id);
CREATE TABLE IF NOT EXISTS messages (
    conversation_id TEXT NOT NULL, seq INTEGER NOT NULL, send_id TEXT NOT NULL,
    send_time INTEGER NOT NULL, data BLOB NOT NULL,
    PRIMARY KEY (conversation_id, seq)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS members (
    user_id TEXT NOT NULL, conversation_id TEXT NOT NULL,
    PRIMARY KEY (user_id, conversation_id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS calls (
    room_id TEXT PRIMARY KEY, inviter TEXT NOT NULL, invitees TEXT NOT NULL,
    media_type TEXT NOT NULL, started_ms INTEGER NOT NULL, ended_ms INTEGER,
    end_reason TEXT);
"""

#: Token states as upstream keeps them (docs/backends/kkim.md#tokens).
TOKEN_NORMAL, TOKEN_INVALID, TOKEN_KICKED, TOKEN_EXPIRED = 0, 1, 2, 3


@dataclass(frozen=True)
class CallRecord:
    room_id: str
    inviter: str
    invitees: tuple[str, ...]
    media_type: str
    started_ms: int
    ended_ms: int | None
    end_reason: str | None


def _unusable(path: str | None, exc: sqlite3.Error) -> ConfigError:
    """Why ``path`` cannot hold the gateway's database, in words a user can act on."""
    where = os.path.abspath(path) if path else ":memory:"
    folder = os.path.dirname(where)
    if path and not os.path.isdir(folder):
        problem = f"directory {folder} does not exist"
    elif path and os.path.isdir(where):
        problem = "it is a directory"
    elif path and os.path.exists(where) and not os.access(where, os.R_OK | os.W_OK):
        problem = "no permission to read and write it"
    elif path and not os.path.exists(where) and not os.access(folder, os.W_OK | os.X_OK):
        problem = f"no permission to create a file in {folder}"
    elif isinstance(exc, sqlite3.DatabaseError) and "not a database" in str(exc):
        problem = "it is not an SQLite database"
    elif "no such column" in str(exc) or "no such table" in str(exc):
        problem = "it is an SQLite database with other tables than the gateway's"
    else:
        problem = f"SQLite says: {exc}"
    if not problem.startswith("SQLite"):
        problem += f" (SQLite says: {exc})"
    return ConfigError(f"cannot use {path!r} as the gateway database: {problem}",
                       hint="give --db a new file in an existing writable directory, "
                            "or a database an earlier run of the gateway created")


class Store:
    """The gateway's persistent state; ``path=None`` keeps it in memory."""

    def __init__(self, path: str | None = None) -> None:
        """Open (or create) the database; raise ``ConfigError`` naming the path if unusable."""
        self.path = path
        try:
            self._db = sqlite3.connect(path or ":memory:", check_same_thread=False,
                                       isolation_level=None)
        except sqlite3.Error as exc:
            raise _unusable(path, exc) from None
        try:
            if path:
                self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
            self._load()
        except sqlite3.Error as exc:
            self._db.close()
            raise _unusable(path, exc) from None

    def _load(self) -> None:
        self._users: set[str] = {row[0] for row in self._db.execute("SELECT user_id FROM users")}
        self._max_seq: dict[str, int] = dict(self._db.execute(
            "SELECT conversation_id, MAX(seq) FROM messages GROUP BY conversation_id").fetchall())
        self._members: set[tuple[str, str]] = set(self._db.execute(
            "SELECT user_id, conversation_id FROM members").fetchall())
        # the token map is read on every request that carries a token: mirror it in memory
        self._token_state: dict[str, int] = {}
        self._tokens_of: dict[tuple[str, int], set[str]] = {}
        for token, user_id, platform_id, state in self._db.execute(
                "SELECT token, user_id, platform_id, state FROM tokens"):
            self._token_state[token] = int(state)
            self._tokens_of.setdefault((user_id, int(platform_id)), set()).add(token)

    def close(self) -> None:
        self._db.close()

    # users

    def register_user(self, user_id: str, nickname: str = "", face_url: str = "", now_ms: int = 0) -> bool:
        """Create a user; ``False`` if it already exists."""
        if user_id in self._users:
            return False
        self._db.execute("INSERT INTO users VALUES (?, ?, ?, ?)", (user_id, nickname, face_url, now_ms))
        self._users.add(user_id)
        return True

    def user_exists(self, user_id: str) -> bool:
        return user_id in self._users

    def nickname(self, user_id: str) -> str:
        row = self._db.execute("SELECT nickname FROM users WHERE user_id = ?", (user_id,)).fetchone()
        return str(row[0]) if row else ""

    # tokens

    def add_token(self, token: str, user_id: str, platform_id: int, expires: int) -> None:
        self._db.execute("INSERT OR REPLACE INTO tokens VALUES (?, ?, ?, ?, ?)",
                         (token, user_id, platform_id, TOKEN_NORMAL, expires))
        self._token_state[token] = TOKEN_NORMAL
        self._tokens_of.setdefault((user_id, platform_id), set()).add(token)

    def token_state(self, token: str) -> int | None:
        """Upstream's token map: ``None`` when the token was never issued here."""
        return self._token_state.get(token)

    def kick_tokens(self, user_id: str, platform_id: int, keep: str = "") -> int:
        """Mark the user's other tokens on that platform kicked (policy 1, docs/backends/kkim.md#multi-login)."""
        victims = [t for t in self._tokens_of.get((user_id, platform_id), ())
                   if t != keep and self._token_state.get(t) == TOKEN_NORMAL]
        if victims:
            self._db.executemany("UPDATE tokens SET state = ? WHERE token = ?",
                                 [(TOKEN_KICKED, t) for t in victims])
            for token in victims:
                self._token_state[token] = TOKEN_KICKED
        return len(victims)

    # messages

    def append_message(self, conversation_id: str, msg: sdkws_pb2.MsgData, members: tuple[str, ...]) -> int:
        """Assign the next seq to ``msg`` (set in place), store it, return the seq.

        ``members`` get the conversation in their list. One INSERT per message
        (autocommit); the first message of a conversation also adds its members
        in the same transaction. A sender has read up to its own last message.
        """
        seq = self._max_seq.get(conversation_id, 0) + 1
        msg.seq = seq
        row = (conversation_id, seq, msg.sendID, msg.sendTime, msg.SerializeToString())
        new = [(uid, conversation_id) for uid in dict.fromkeys(members)
               if (uid, conversation_id) not in self._members]
        db = self._db
        if not new:
            db.execute("INSERT INTO messages VALUES (?, ?, ?, ?, ?)", row)
        else:
            db.execute("BEGIN")
            try:
                db.execute("INSERT INTO messages VALUES (?, ?, ?, ?, ?)", row)
                db.executemany("INSERT OR IGNORE INTO members VALUES (?, ?)", new)
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            self._members.update(new)
        self._max_seq[conversation_id] = seq
        return seq

    def max_seq(self, conversation_id: str) -> int:
        return self._max_seq.get(conversation_id, 0)

    def conversations_of(self, user_id: str) -> dict[str, int]:
        """The user's conversation list: conversation -> hasReadSeq (its own last message)."""
        return dict(self._db.execute(
            "SELECT m.conversation_id, COALESCE((SELECT MAX(seq) FROM messages g WHERE "
            "g.conversation_id = m.conversation_id AND g.send_id = m.user_id), 0) "
            "FROM members m WHERE m.user_id = ?", (user_id,)).fetchall())

    def messages(self, conversation_id: str, seqs: list[int]) -> dict[int, sdkws_pb2.MsgData]:
        """Stored messages by seq; absent seqs are left out."""
        out: dict[int, sdkws_pb2.MsgData] = {}
        for start in range(0, len(seqs), 500):
            chunk = seqs[start:start + 500]
            marks = ",".join("?" * len(chunk))
            rows = self._db.execute(
                f"SELECT seq, data FROM messages WHERE conversation_id = ? AND seq IN ({marks})",
                (conversation_id, *chunk)).fetchall()
            for seq, data in rows:
                msg = sdkws_pb2.MsgData()
                msg.ParseFromString(data)
                out[int(seq)] = msg
        return out

    def message_time(self, conversation_id: str, seq: int) -> int:
        row = self._db.execute("SELECT send_time FROM messages WHERE conversation_id = ? AND seq = ?",
                               (conversation_id, seq)).fetchone()
        return int(row[0]) if row else 0

    # calls

    def record_call(self, room_id: str, inviter: str, invitees: tuple[str, ...], media_type: str,
                    started_ms: int) -> None:
        self._db.execute("INSERT OR REPLACE INTO calls VALUES (?, ?, ?, ?, ?, NULL, NULL)",
                         (room_id, inviter, json.dumps(list(invitees)), media_type, started_ms))

    def end_call(self, room_id: str, ended_ms: int, reason: str) -> None:
        self._db.execute("UPDATE calls SET ended_ms = ?, end_reason = ? WHERE room_id = ?",
                         (ended_ms, reason, room_id))

    def calls(self) -> list[CallRecord]:
        rows = self._db.execute("SELECT * FROM calls ORDER BY started_ms").fetchall()
        return [CallRecord(r[0], r[1], tuple(json.loads(r[2])), r[3], r[4], r[5], r[6]) for r in rows]
