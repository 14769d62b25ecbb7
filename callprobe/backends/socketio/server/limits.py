"""What the server will take from a client, and how refusals are written to the log.

Pure helpers shared by the REST API, the event handlers and the Socket.IO
guard (``docs/backends/socketio.md#refusals-and-limits``): JSON nesting depth, the
per-socket rate limit, and ``quote``, which every log line uses for text a
client chose so that a newline in a username cannot forge a log line.
"""

from __future__ import annotations

import reprlib
from dataclasses import dataclass, field

_REPR = reprlib.Repr()
_REPR.maxstring = 80
_REPR.maxother = 80
_REPR.maxlevel = 3
_REPR.maxdict = _REPR.maxlist = _REPR.maxtuple = 4


def quote(value: object) -> str:
    """``value`` for a log line: ``repr`` (control characters escaped), shortened."""
    return _REPR.repr(value)


def one_line(text: str, limit: int = 300) -> str:
    """Free text (a library's message) on one line: non-printable characters escaped."""
    out = "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text[:limit])
    return out + ("..." if len(text) > limit else "")


def depth_exceeds(value: object, limit: int) -> bool:
    """Whether lists/objects in ``value`` nest deeper than ``limit`` (iterative: no recursion)."""
    stack: list[tuple[object, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: list[object] = list(item.values())
        elif isinstance(item, list):
            children = list(item)
        else:
            continue
        if depth + 1 > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def encodable(text: str) -> bool:
    """Whether ``text`` encodes as UTF-8 (JSON lets a client send lone surrogates)."""
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


@dataclass
class RateLimit:
    """A token bucket per socket: ``burst`` packets at once, ``rate`` per second sustained.

    ``refused`` counts packets refused in a row; an accepted packet resets it.
    """

    rate: float
    burst: int
    tokens: float = field(init=False)
    stamp: float | None = field(default=None, init=False)
    refused: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        self.tokens = float(self.burst)

    def take(self, now: float) -> bool:
        """Spend one token at time ``now`` (monotonic seconds); ``False`` when there is none."""
        if self.stamp is not None:
            self.tokens = min(float(self.burst), self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            self.refused = 0
            return True
        self.refused += 1
        return False
