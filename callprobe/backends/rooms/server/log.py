"""The one logger of the call-room server, and how client text goes into it.

Everything the server logs goes to ``callprobe.server.rooms``: one WARNING
line per refused input, INFO for connections and call transitions. Text a
client chose (a username, a path, a reason built from a frame) only enters a
line through ``shown()``, which escapes control characters, so a newline in a
username cannot forge a second log line, and lone surrogates cannot make the
log handler fail (``docs/backends/rooms.md#logging``).
"""

from __future__ import annotations

import logging

LOGGER_NAME = "callprobe.server.rooms"

log = logging.getLogger(LOGGER_NAME)

#: client text longer than this is cut in log lines (memory and readability)
SHOWN_CHARS = 80


def shown(text: object, limit: int = SHOWN_CHARS) -> str:
    """``text`` as a quoted Python literal: one line, printable, at most ``limit`` characters inside.

    ``repr`` escapes newlines, other control characters and lone surrogates;
    the cut happens before escaping, so the result stays short.
    """
    value = text if isinstance(text, str) else str(text)
    if len(value) > limit:
        return repr(value[:limit]) + f"...({len(value)} chars)"
    return repr(value)


def who(key: int | str) -> str:
    """A room identity for a log line: an integer id as it is, any other key escaped."""
    return str(key) if isinstance(key, int) else shown(key)


def whos(keys: list[int | str]) -> str:
    """A room's entries for a log line."""
    return "[" + ", ".join(who(k) for k in keys) + "]"
