"""Opening an embedded server's SQLite file, and saying why it cannot be used.

Each embedded server keeps its users, calls and messages in SQLite so that a
``--db`` file survives a restart. The file is named by a user, so everything
that can be wrong with it (a missing folder, a directory, someone else's
database, no permission) is a ``ConfigError`` naming the path, never a
traceback. WAL with ``synchronous=NORMAL``: a process crash loses nothing
committed. Take ``DatabaseLock`` (``store_lock.py``) before opening.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable

from callprobe.errors import ConfigError


def _hint(owner: str) -> str:
    return ("give --db a new file in an existing writable directory, "
            f"or a database an earlier run of the {owner} created")


def path_problem(path: str) -> str | None:
    """What the file system says against ``path`` as a database, without creating anything."""
    where = os.path.abspath(path)
    folder = os.path.dirname(where)
    if not os.path.isdir(folder):
        return f"directory {folder} does not exist"
    if os.path.isdir(where):
        return "it is a directory"
    if os.path.exists(where) and not os.access(where, os.R_OK | os.W_OK):
        return "no permission to read and write it"
    if not os.path.exists(where) and not os.access(folder, os.W_OK | os.X_OK):
        return f"no permission to create a file in {folder}"
    return None


def check_path(path: str | None, owner: str) -> None:
    """``ConfigError`` if the file system already tells that ``path`` cannot be ``owner``'s database.

    Nothing is created, so a server checks before it takes the lock (which
    creates ``<path>.lock`` beside the file): a missing folder is then named
    as such, not as an unusable lock file.
    """
    problem = path_problem(path) if path else None
    if problem is not None:
        raise ConfigError(f"cannot use {path!r} as the {owner} database (--db): {problem}", hint=_hint(owner))


def unusable(path: str | None, exc: sqlite3.Error, owner: str) -> ConfigError:
    """Why SQLite refused ``path`` as ``owner``'s database, in words a user can act on."""
    text = str(exc)
    found = path_problem(path) if path else None
    if found is not None:
        problem = f"{found} (SQLite says: {text})"
    elif "not a database" in text:
        problem = f"it is not an SQLite database (SQLite says: {text})"
    elif "no such column" in text or "no such table" in text or "has no column" in text:
        problem = f"it is an SQLite database with other tables than the {owner}'s (SQLite says: {text})"
    else:
        problem = f"SQLite says: {text}"
    return ConfigError(f"cannot use {path!r} as the {owner} database (--db): {problem}", hint=_hint(owner))


def open_database(path: str | None, schema: str, owner: str,
                  verify: Callable[[sqlite3.Connection], None]) -> sqlite3.Connection:
    """Open (or create) ``path`` (``None``: in memory) with ``schema``; ``verify`` reads what the server needs.

    ``verify`` runs a query per table the server relies on, so a database of
    another program with same-named tables is refused at start, not at the
    first call. Raises ``ConfigError`` naming the path.
    """
    try:
        db = sqlite3.connect(path or ":memory:", check_same_thread=False, isolation_level=None)
    except sqlite3.Error as exc:
        raise unusable(path, exc, owner) from None
    try:
        if path:
            db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.executescript(schema)
        verify(db)
    except sqlite3.Error as exc:
        db.close()
        raise unusable(path, exc, owner) from None
    return db
