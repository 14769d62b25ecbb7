"""SQLite storage: users, tokens, conversations, messages with per-conversation seq, calls.

Every write is committed before the gateway acknowledges it, so with a
database file nothing acknowledged is lost across a restart (docs/backends/kkim.md#history).
Without a file the database lives in memory. Seq is assigned synchronously
here, unlike upstream's asynchronous transfer (docs/backends/kkim.md#messages): the pushed copy
and any later pull agree at once.

All calls run on the gateway's event loop thread; SQLite calls are short
(WAL journal, ``synchronous=NORMAL``: a process crash loses nothing committed).

A single chat's wire ID (``si_`` + the sorted pair joined by ``_``, docs/backends/kkim.md#conversation-ids) is
ambiguous once user IDs contain ``_``: (a, b_c) and (a_b, c) both give
``si_a_b_c``. So a conversation is stored under a *key* that belongs to
exactly one pair (the ``conversations`` table), and who may read it is that
stored pair, never a parse of the ID. The first pair to use a wire ID keeps
it as its key (the databases of earlier versions keep working); a second pair
gets the key ``<id>#<n>``. One user never has two conversations with the same
wire ID, so a wire ID in a user's request names one key
(``docs/backends/kkim.md#limits``).
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass

from callprobe.backends.database import open_database
from callprobe.backends.kkim.protocol._pb.openim import sdkws_pb2

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
CREATE TABLE IF NOT EXISTS conversations (
    conversation_key TEXT PRIMARY KEY, conversation_id TEXT NOT NULL,
    user_lo TEXT NOT NULL, user_hi TEXT NOT NULL, UNIQUE (user_lo, user_hi)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS conversations_by_hi ON conversations (user_hi);
CREATE TABLE IF NOT EXISTS calls (
    room_id TEXT PRIMARY KEY, inviter TEXT NOT NULL, invitees TEXT NOT NULL,
    media_type TEXT NOT NULL, started_ms INTEGER NOT NULL, ended_ms INTEGER,
    end_reason TEXT);
"""

#: Token states as upstream keeps them (docs/backends/kkim.md#tokens).
TOKEN_NORMAL, TOKEN_INVALID, TOKEN_KICKED, TOKEN_EXPIRED = 0, 1, 2, 3


@dataclass(frozen=True)
class Conversation:
    """One of a user's conversations: its storage key and the user's read seq."""

    key: str
    has_read_seq: int


def _pair(user_a: str, user_b: str) -> tuple[str, str]:
    """The pair sorted by UTF-8 bytes, as conversation IDs sort it (docs/backends/kkim.md#conversation-ids)."""
    lo, hi = sorted((user_a, user_b), key=lambda uid: uid.encode())
    return lo, hi


@dataclass(frozen=True)
class CallRecord:
    room_id: str
    inviter: str
    invitees: tuple[str, ...]
    media_type: str
    started_ms: int
    ended_ms: int | None
    end_reason: str | None

OWNER = "gateway"  # as error messages name the database


class Store:
    """The gateway's persistent state; ``path=None`` keeps it in memory."""

    def __init__(self, path: str | None = None) -> None:
        """Open (or create) the database; raise ``ConfigError`` naming the path if unusable."""
        self.path = path
        self._db = open_database(path, _SCHEMA, OWNER, self._load)

    def _load(self, db: sqlite3.Connection) -> None:
        self._db = db  # the loaders below read through it
        self._users: set[str] = {row[0] for row in self._db.execute("SELECT user_id FROM users")}
        self._max_seq: dict[str, int] = dict(self._db.execute(
            "SELECT conversation_id, MAX(seq) FROM messages GROUP BY conversation_id").fetchall())
        self._adopt_legacy_conversations()
        # pair -> key, key -> (wire ID, pair): membership comes from here only
        self._key_of: dict[tuple[str, str], str] = {}
        self._conv: dict[str, tuple[str, tuple[str, str]]] = {}
        for key, wire, lo, hi in self._db.execute(
                "SELECT conversation_key, conversation_id, user_lo, user_hi FROM conversations"):
            self._key_of[(lo, hi)] = key
            self._conv[key] = (wire, (lo, hi))
        # the token map is read on every request that carries a token: mirror it in memory
        self._token_state: dict[str, int] = {}
        self._tokens_of: dict[tuple[str, int], set[str]] = {}
        for token, user_id, platform_id, state in self._db.execute(
                "SELECT token, user_id, platform_id, state FROM tokens"):
            self._token_state[token] = int(state)
            self._tokens_of.setdefault((user_id, int(platform_id)), set()).add(token)

    def _adopt_legacy_conversations(self) -> None:
        """Give conversations stored before the ``conversations`` table their pair.

        The pair is the sender and recipient of the conversation's first
        message; a user an older version let into a colliding conversation
        is not that pair, and reads it no more.
        """
        rows = self._db.execute(
            "SELECT m.conversation_id, m.data FROM messages m WHERE m.seq = (SELECT MIN(seq) FROM messages g "
            "WHERE g.conversation_id = m.conversation_id) AND m.conversation_id NOT IN "
            "(SELECT conversation_key FROM conversations)").fetchall()
        for key, data in rows:
            first = sdkws_pb2.MsgData()
            first.ParseFromString(data)
            lo, hi = _pair(first.sendID, first.recvID)
            self._db.execute("INSERT OR IGNORE INTO conversations VALUES (?, ?, ?, ?)", (key, key, lo, hi))

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

    def single_chat(self, user_a: str, user_b: str) -> str:
        """The storage key of the pair's single chat, made on first use."""
        pair = _pair(user_a, user_b)
        key = self._key_of.get(pair)
        if key is not None:
            return key
        wire = f"si_{pair[0]}_{pair[1]}"
        key, n = wire, 1
        while key in self._conv:  # another pair has this wire ID: the pair still gets a key of its own
            n += 1
            key = f"{wire}#{n}"
        self._db.execute("INSERT INTO conversations VALUES (?, ?, ?, ?)", (key, wire, *pair))
        self._key_of[pair] = key
        self._conv[key] = (wire, pair)
        return key

    def wire_id(self, key: str) -> str:
        """The conversation ID clients see for a storage key."""
        return self._conv[key][0]

    def append_message(self, key: str, msg: sdkws_pb2.MsgData) -> int:
        """Assign the next seq to ``msg`` (set in place), store it under ``key``, return the seq.

        One INSERT per message (autocommit). A sender has read up to its own
        last message.
        """
        seq = self._max_seq.get(key, 0) + 1
        msg.seq = seq
        self._db.execute("INSERT INTO messages VALUES (?, ?, ?, ?, ?)",
                         (key, seq, msg.sendID, msg.sendTime, msg.SerializeToString()))
        self._max_seq[key] = seq
        return seq

    def max_seq(self, key: str) -> int:
        return self._max_seq.get(key, 0)

    def conversations_of(self, user_id: str) -> dict[str, Conversation]:
        """The user's conversation list by wire ID: its pairs with a message, and the read seq.

        Membership is the stored pair: a conversation is the user's only when
        the user is one of the two it was made for.
        """
        rows = self._db.execute(
            "SELECT c.conversation_key, c.conversation_id, COALESCE((SELECT MAX(seq) FROM messages g WHERE "
            "g.conversation_id = c.conversation_key AND g.send_id = ?), 0) FROM conversations c "
            "WHERE (c.user_lo = ? OR c.user_hi = ?) AND EXISTS (SELECT 1 FROM messages g WHERE "
            "g.conversation_id = c.conversation_key)",
            (user_id, user_id, user_id)).fetchall()
        return {wire: Conversation(key, int(read)) for key, wire, read in rows}

    def conversations_named(self, user_id: str) -> dict[str, Conversation]:
        """Fault ``conversation-by-id``: the conversations a server that parses IDs lets the user read.

        Such a server stores a single chat under its wire ID alone (every pair
        that makes the ID shares it) and takes the user as a member of every
        ``si_`` ID that starts ``si_<user>_`` or ends ``_<user>``: with ``_``
        in user IDs, (a, b_c) and (a_b, c) share ``si_a_b_c`` and all four
        read it. Keys a pair got of its own (``<id>#<n>``) are not wire IDs
        and are left out.
        """
        head, tail = f"si_{user_id}_", f"_{user_id}"
        rows = self._db.execute(
            "SELECT conversation_id, COALESCE(MAX(CASE WHEN send_id = ? THEN seq END), 0) FROM messages "
            "GROUP BY conversation_id", (user_id,)).fetchall()
        return {key: Conversation(key, int(read)) for key, read in rows
                if "#" not in key and (key.startswith(head) or key.endswith(tail))}

    def messages(self, key: str, seqs: list[int]) -> dict[int, sdkws_pb2.MsgData]:
        """Stored messages by seq; absent seqs are left out."""
        out: dict[int, sdkws_pb2.MsgData] = {}
        for start in range(0, len(seqs), 500):
            chunk = seqs[start:start + 500]
            marks = ",".join("?" * len(chunk))
            rows = self._db.execute(
                f"SELECT seq, data FROM messages WHERE conversation_id = ? AND seq IN ({marks})",
                (key, *chunk)).fetchall()
            for seq, data in rows:
                msg = sdkws_pb2.MsgData()
                msg.ParseFromString(data)
                out[int(seq)] = msg
        return out

    def message_time(self, key: str, seq: int) -> int:
        row = self._db.execute("SELECT send_time FROM messages WHERE conversation_id = ? AND seq = ?",
                               (key, seq)).fetchone()
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
